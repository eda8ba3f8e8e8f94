"""An admin stops a run: a queued one never starts, a running one stops at its next phase.

:func:`cancel_run` moves a queued or running run to ``cancelled`` with one conditional
update (the status it was read with must still hold, so a run that finishes meanwhile
is not cancelled after the fact) and audits ``run.cancelled``. The program is free for
a new run at once (the one-active-run index counts queued and running only). A
queued run's job finds it no longer queued and does nothing; a running run's worker
finds it no longer running at its next heartbeat or phase and stops, writing nothing
(:class:`~api.services.runs.execution.RunStopped`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from api.services import audit
from api.services.context import Actor
from api.services.errors import Conflict
from api.services.runs.reading import get_run
from models import Run
from models.vocabulary import RUN_ACTIVE_STATUSES, RunStatus

CANCELLED_ERROR = "cancelled by an admin"


def cancel_run(session: Session, actor: Actor, program_id: uuid.UUID, run_id: uuid.UUID) -> Run:
    """Cancel the queued or running run (audited); a finished one is a :class:`Conflict`."""
    run = get_run(session, actor, program_id, run_id)
    was = run.status
    if was not in RUN_ACTIVE_STATUSES:
        raise Conflict(f"run {run_id} is {was} already; only a queued or running run is cancelled")
    changed = session.execute(
        update(Run)
        .where(Run.id == run.id, Run.status == was)
        .values(
            status=RunStatus.CANCELLED,
            error=CANCELLED_ERROR,
            finished_at=datetime.now(UTC),
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        session.rollback()
        now = session.get(Run, run.id, populate_existing=True)
        status = now.status if now is not None else "gone"
        raise Conflict(f"run {run_id} became {status} meanwhile; only an active run is cancelled")
    audit.record(
        session,
        actor,
        "run.cancelled",
        program_id=program_id,
        target_type="run",
        target_ids=[run.id],
        details={"was": was},
    )
    session.commit()
    session.refresh(run)
    return run
