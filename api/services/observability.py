"""The service's Prometheus metrics that have no web in them: run phases and run counts.

Two kinds of numbers, kept apart because they are gathered differently:

* **Run phase durations**, observed by the worker as each run succeeds
  (:func:`observe_run_phases`, called by :mod:`api.services.runs.execution`): a
  histogram per phase (``load``, ``score``, ..., ``total``). In a process started
  with ``PROMETHEUS_MULTIPROC_DIR`` (``mentormatch serve`` sets it from
  ``MENTORMATCH_METRICS_DIR`` for its web workers and its companion worker), the
  observations go to files there, and any web process's ``/metrics`` serves them.
* **Runs by status and queue depth per organization**, read from the database at
  scrape time (:class:`RunsCollector`): the database is the truth about runs, shared
  by every process on every machine, so no process needs to count them itself.

No Flask here: the worker imports this module (the import contracts in setup.cfg).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from models import Run
from models.tenant_guard import unguarded
from models.vocabulary import RunStatus

log = logging.getLogger("mentormatch.metrics")

#: From a 10 x 10 dry run (milliseconds) to a 13,000 x 5,000 cohort (minutes).
PHASE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
RUN_PHASE_SECONDS = Histogram(
    "mentormatch_run_phase_seconds",
    "Seconds a succeeded run spent in each phase (load, score, assign, explain, persist, "
    "total), observed by the worker that ran it.",
    ["phase"],
    buckets=PHASE_BUCKETS,
)
#: At most this many organizations in ``mentormatch_queue_depth`` (the deepest
#: queues first): a scrape stays a few kilobytes however many tenants there are.
MAX_ORGANIZATIONS = 200
#: A scrape never waits long on the database (PostgreSQL's statement_timeout).
QUERY_TIMEOUT_MS = 2000


def serve_worker_metrics(port: int, *, forks: bool) -> None:
    """Serve this worker's metrics at ``http://<any address>:<port>/metrics`` from a
    daemon thread (``MENTORMATCH_WORKER_METRICS_PORT``): for a worker on a machine of
    its own, whose run phases no API process can see.

    In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set, e.g. to the directory of
    ``serve`` on the same machine) it serves what every process wrote there. A worker
    that ``forks`` process workers and has no such directory gets a private one, made
    now, before the first fork: the runs' phases are observed in the forked processes.
    """
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory is None and forks:
        from prometheus_client import values

        directory = tempfile.mkdtemp(prefix="mentormatch-worker-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        atexit.register(_remove_when_exiting, directory, os.getpid())
        # The value class is chosen when prometheus-client is first imported: choose
        # again (the histogram has labels, so it holds no value yet).
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    registry = REGISTRY
    if directory is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    start_http_server(port, registry=registry)
    log.info("worker metrics served", extra={"port": port, "multiprocess_dir": directory})


def _remove_when_exiting(directory: str, owner: int) -> None:
    """The private metrics directory goes with the worker that made it (not with a
    process worker it forked, which runs the same exit handlers)."""
    if os.getpid() == owner:
        shutil.rmtree(directory, ignore_errors=True)


def observe_run_phases(seconds: Mapping[str, float]) -> None:
    """Record one succeeded run's ``run.stats["seconds"]``: phase name -> seconds."""
    for phase, value in seconds.items():
        RUN_PHASE_SECONDS.labels(phase=phase).observe(value)


class RunsCollector(Collector):
    """``mentormatch_runs{status}`` and ``mentormatch_queue_depth{organization_id}``,
    counted by the database when Prometheus scrapes.

    Two grouped counts over ``runs`` per scrape, across organizations (the tenant
    guard's explicit opt-out, :func:`~models.tenant_guard.unguarded`), with a
    statement timeout on PostgreSQL. If the database does not answer, the scrape
    still succeeds: ``mentormatch_runs_collector_up`` is 0 and the counts are absent.
    """

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # counted at scrape time only; registering must not query

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "mentormatch_runs_collector_up",
            "1 if the database answered this scrape's run counts, else 0.",
        )
        try:
            by_status, queued = self._count()
        except Exception:  # a scrape must not fail because the database is down
            log.warning("run metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        runs = GaugeMetricFamily(
            "mentormatch_runs", "Runs in the database, by status.", labels=["status"]
        )
        for status in RunStatus:
            runs.add_metric([status.value], by_status.get(status.value, 0))
        yield runs
        depth = GaugeMetricFamily(
            "mentormatch_queue_depth",
            f"Queued runs per organization (organizations with any; the "
            f"{MAX_ORGANIZATIONS} deepest).",
            labels=["organization_id"],
        )
        for organization_id, count in queued:
            depth.add_metric([organization_id], count)
        yield depth

    def _count(self) -> tuple[dict[str, int], list[tuple[str, int]]]:
        with self.session_factory() as session, unguarded(session):
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SET LOCAL statement_timeout = {QUERY_TIMEOUT_MS}"))
            by_status = {
                str(status): int(count)
                for status, count in session.execute(
                    select(Run.status, func.count()).group_by(Run.status)
                )
            }
            count = func.count().label("n")
            queued = [
                (str(organization_id), int(n))
                for organization_id, n in session.execute(
                    select(Run.organization_id, count)
                    .where(Run.status == RunStatus.QUEUED)
                    .group_by(Run.organization_id)
                    .order_by(count.desc(), Run.organization_id)
                    .limit(MAX_ORGANIZATIONS)
                )
            ]
        return by_status, queued
