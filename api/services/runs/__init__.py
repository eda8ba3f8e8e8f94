"""A matching run, in reading order.

1. :mod:`~api.services.runs.trigger`: the admin presses "run matching";
   :func:`start_run` validates, stores a ``queued`` run with its
   :class:`~api.services.runs.options.RunOptions`, audits and enqueues it.
2. :mod:`~api.services.runs.queue`: Huey carries the run's id to a worker
   (built by ``create_app`` and the CLI from the settings, never at import).
3. :mod:`~api.services.runs.execution`: the worker claims the run under a lease
   (:func:`execute_run`); :func:`expire_stale_runs` fails runs whose worker died.
4. :mod:`~api.services.runs.cohort`: who is matched, by the rules of
   :mod:`api.services.eligibility`, then a pure build step into arrays.
5. :mod:`api.services.cohort_matching` (outside this package, so that the offline
   batch imports it without the database and queue this ``__init__`` loads): one
   cohort scored, assigned and explained through the typed
   :class:`~api.services.cohort_matching.Engines` protocol.
6. back in execution: proposals, the unmatched and the final status are written in
   one transaction, or nothing is.
7. :mod:`~api.services.runs.reading`: a run, a program's runs, two runs compared; a
   run past its lease reads as failed at once.
8. :mod:`~api.services.runs.cancel`: an admin cancels a queued or running run.
"""

from api.services.runs.cancel import cancel_run
from api.services.runs.cohort import RunError
from api.services.runs.execution import execute_run, expire_stale_runs
from api.services.runs.options import RunOptions
from api.services.runs.reading import compare_runs, get_run, list_runs
from api.services.runs.trigger import ActiveRunConflict, start_run

__all__ = [
    "ActiveRunConflict",
    "RunError",
    "RunOptions",
    "cancel_run",
    "compare_runs",
    "execute_run",
    "expire_stale_runs",
    "get_run",
    "list_runs",
    "start_run",
]
