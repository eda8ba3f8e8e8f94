"""Matching runs: press the button, watch progress, compare what-ifs.

The trigger answers ``Retry-After`` (seconds, :func:`~api.services.runs.reading.
retry_after_seconds`) on its 202 and on the 409 naming the active run. Its ``?wait``
runs after the run is committed; a database error during the wait still answers
202 with the run as last read, so the client always learns the run's id.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor
from api.db import get_jobs, get_session
from api.errors import problem
from api.limits import expensive
from api.schemas.common import PageArgs
from api.schemas.runs import (
    CompareArgs,
    RunComparisonSchema,
    RunCreateSchema,
    RunListSchema,
    RunSchema,
    RunWaitArgs,
)
from api.services import runs
from api.services.runs.reading import retry_after_active, retry_after_seconds, wait_for_finish
from api.services.runs.trigger import MAX_WAIT_SECONDS
from models.vocabulary import RUN_ACTIVE_STATUSES

blp = Blueprint("runs", __name__, url_prefix="/v1/programs", description="Matching runs")


@blp.route("/<uuid:program_id>/runs")
class Runs(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, RunListSchema)
    def get(self, args: dict[str, Any], program_id: uuid.UUID) -> Any:
        """List the program's runs (cursor-paginated, oldest first)."""
        return runs.list_runs(get_session(), current_actor(), program_id, **args)

    @blp.arguments(RunCreateSchema)
    @blp.arguments(RunWaitArgs, location="query")
    @blp.response(202, RunSchema)
    @blp.alt_response(201, schema=RunSchema, description="Finished within ?wait=")
    def post(self, body: dict[str, Any], query: dict[str, Any], program_id: uuid.UUID) -> Any:
        """Run matching: queue a run (202), or wait for it to finish (201)."""
        session = get_session()
        try:
            run = runs.start_run(
                session, current_actor(), program_id, **body, enqueue=get_jobs().enqueue_run
            )
        except runs.ActiveRunConflict as conflict:
            return _active_run_conflict(conflict)
        if query["wait"] > 0:
            run = wait_for_finish(session, run, timeout=min(query["wait"], MAX_WAIT_SECONDS))
        headers = {"Location": url_for("runs.RunById", program_id=program_id, run_id=run.id)}
        if run.status not in RUN_ACTIVE_STATUSES and query["wait"] > 0:
            return run, 201, headers
        return run, 202, {**headers, "Retry-After": str(retry_after_seconds(run))}


def _active_run_conflict(conflict: runs.ActiveRunConflict) -> Response:
    """The 409 naming the active run, with when to try again (``Retry-After``)."""
    answer = problem(409, conflict.title, conflict.detail, **conflict.extra)
    wait = retry_after_active(get_session(), uuid.UUID(conflict.extra["active_run_id"]))
    answer.headers["Retry-After"] = str(wait)
    return answer


@blp.route("/<uuid:program_id>/runs/<uuid:run_id>")
class RunById(MethodView):
    @blp.response(200, RunSchema)
    def get(self, program_id: uuid.UUID, run_id: uuid.UUID) -> Any:
        """A run: status, progress, stats, versions used, error."""
        return runs.get_run(get_session(), current_actor(), program_id, run_id)


@blp.route("/<uuid:program_id>/runs/<uuid:run_id>/cancel")
class RunCancel(MethodView):
    @blp.response(200, RunSchema)
    def post(self, program_id: uuid.UUID, run_id: uuid.UUID) -> Any:
        """Cancel a queued or running run (a running one stops at its next phase)."""
        return runs.cancel_run(get_session(), current_actor(), program_id, run_id)


@blp.route("/<uuid:program_id>/runs/<uuid:run_id>/compare")
class RunComparison(MethodView):
    @expensive
    @blp.arguments(CompareArgs, location="query")
    @blp.response(200, RunComparisonSchema)
    def get(self, args: dict[str, Any], program_id: uuid.UUID, run_id: uuid.UUID) -> Any:
        """Compare two runs: totals, coverage, minimum score, pairs that differ."""
        return runs.compare_runs(get_session(), current_actor(), program_id, run_id, args["with_"])
