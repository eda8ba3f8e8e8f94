"""Organization exports: answered at once, or built by a job and downloaded once.

:func:`export_organization` counts the rows an export would hold
(:func:`~api.services.export.count_rows`). Up to ``threshold`` (default
:data:`EXPORT_JOB_ROWS`) it builds the file in the request. Above it, it stores a
``queued`` row in ``exports`` and hands its id to the queue (an export the queue
refuses, Redis down, is failed in the same request, which answers 503); the worker
(:func:`build_export`) builds the file into the row (``ready``). The file is
downloadable once, by the same organization (:func:`download`): the download
deletes the row in the same statement that reads it, so two concurrent downloads
get it once. A file not downloaded within :data:`EXPORT_TTL` is deleted
(:func:`expire_exports`, run hourly by the worker for every organization, and before
each export request for the requesting one).
Each request is audited as ``organization.exported`` (format, rows, job id if any).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from huey import Huey, crontab
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from api.services import audit
from api.services.context import Actor
from api.services.errors import NotFound, ValidationFailed
from api.services.export import count_rows, organization_data, organization_document
from api.services.export_files import CONTENT_TYPES, csv_zip, json_bytes
from models import Export, Organization
from models.tenant_guard import scoped_factory, unguarded
from models.vocabulary import ExportFormat, ExportStatus

log = logging.getLogger("mentormatch.exports")

#: An export holding more rows than this (all tables together) is built by a job.
EXPORT_JOB_ROWS = 20_000
#: How long a built export waits for its one download.
EXPORT_TTL = timedelta(hours=24)

SessionFactory = Callable[[], Session]


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    content_type: str
    filename: str


@dataclass(frozen=True)
class ExportJob:
    """An export being built (or that failed); ``status`` is an ExportStatus."""

    id: uuid.UUID
    status: str
    format: str
    rows: int
    created_at: datetime
    expires_at: datetime
    error: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _format(fmt: str) -> ExportFormat:
    try:
        return ExportFormat(fmt)
    except ValueError:
        choices = ", ".join(f.value for f in ExportFormat)
        raise ValidationFailed({"format": [f"must be one of {choices}, got {fmt!r}"]}) from None


def build_file(session: Session, organization_id: uuid.UUID, fmt: str) -> ExportFile:
    """The organization's export file in ``fmt`` (``json`` or ``csv``: a zip of CSVs)."""
    chosen = _format(fmt)
    data = organization_data(session, organization_id)
    if chosen == ExportFormat.CSV:
        content = csv_zip(data)
    else:
        content = json_bytes(organization_document(data))
    stamp = _now().strftime("%Y%m%dT%H%M%SZ")
    suffix = "zip" if chosen == ExportFormat.CSV else "json"
    return ExportFile(
        content, CONTENT_TYPES[chosen], f"mentormatch-export-{organization_id}-{stamp}.{suffix}"
    )


def export_organization(
    session: Session,
    actor: Actor,
    *,
    fmt: str = ExportFormat.JSON,
    threshold: int | None = EXPORT_JOB_ROWS,
    enqueue: Callable[[uuid.UUID], None] | None = None,
) -> ExportFile | ExportJob:
    """The actor's organization export: the file, or the job building it.

    A job is used when the export holds more than ``threshold`` rows and ``enqueue``
    is given; ``threshold=None`` always builds at once (the CLI). Audited; commits.
    """
    chosen = _format(fmt)
    if session.get(Organization, actor.organization_id) is None:
        raise NotFound("organization", actor.organization_id)
    expire_exports(session)
    rows = count_rows(session, actor.organization_id)
    details: dict[str, Any] = {"format": chosen.value, "rows": rows}
    if threshold is not None and rows > threshold and enqueue is not None:
        now = _now()
        job = Export(
            id=uuid.uuid4(),
            organization_id=actor.organization_id,
            requested_by=actor.admin_id,
            format=chosen,
            status=ExportStatus.QUEUED,
            rows=rows,
            created_at=now,
            expires_at=now + EXPORT_TTL,
        )
        session.add(job)
        audit.record(
            session,
            actor,
            "organization.exported",
            target_type="export",
            target_ids=[job.id],
            details={**details, "job": True},
        )
        session.commit()
        _enqueue(session, job.id, enqueue)
        session.expire_all()  # in immediate mode the job already ran in its own session
        return _job(session.get(Export, job.id) or job)
    file = build_file(session, actor.organization_id, chosen)
    audit.record(
        session,
        actor,
        "organization.exported",
        target_type="organization",
        target_ids=[actor.organization_id],
        details={**details, "job": False},
    )
    session.commit()
    return file


def _enqueue(session: Session, export_id: uuid.UUID, enqueue: Callable[[uuid.UUID], None]) -> None:
    """Hand the committed export to the queue; if that fails (the queue is down: a 503),
    fail the export first, so that no ``queued`` row waits for a job that never was."""
    try:
        enqueue(export_id)
    except Exception as exc:
        # The message may hold the queue's address and credentials: the class only.
        log.warning("could not queue the export", extra={"export_id": str(export_id)})
        session.execute(
            update(Export)
            .where(Export.id == export_id, Export.status == ExportStatus.QUEUED)
            .values(
                status=ExportStatus.FAILED,
                error=f"could not queue the export: {type(exc).__name__}",
                finished_at=_now(),
            )
        )
        session.commit()
        raise


def _job(row: Export) -> ExportJob:
    return ExportJob(
        row.id, row.status, row.format, row.rows, row.created_at, row.expires_at, row.error
    )


def build_export(session_factory: SessionFactory, export_id: uuid.UUID) -> str:
    """The worker's side: build the queued export ``export_id`` into its row.

    An export deleted meanwhile (an erasure discards unfinished exports, which may
    hold the person) is dropped. Returns the final status, or ``"missing"``.
    """
    with session_factory() as session, unguarded(session):  # the row decides the organization
        organization = session.scalar(select(Export.organization_id).where(Export.id == export_id))
    if organization is None:
        return "missing"
    session_factory = scoped_factory(session_factory, organization)
    with session_factory() as session:
        claimed = session.execute(
            update(Export)
            .where(Export.id == export_id, Export.status == ExportStatus.QUEUED)
            .values(status=ExportStatus.RUNNING)
            .returning(Export.organization_id, Export.format)
        ).one_or_none()
        session.commit()
    if claimed is None:
        return "missing"
    organization_id, fmt = claimed
    try:
        with session_factory() as session:
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            file = build_file(session, organization_id, fmt)
    except Exception as exc:
        # The message may quote data; the export keeps the class, the log the rest.
        log.exception("export failed", extra={"export_id": str(export_id)})
        _finish(session_factory, export_id, status=ExportStatus.FAILED, error=type(exc).__name__)
        return ExportStatus.FAILED
    if not _finish(session_factory, export_id, status=ExportStatus.READY, content=file.content):
        log.info("export discarded meanwhile", extra={"export_id": str(export_id)})
        return "missing"
    return ExportStatus.READY


def _finish(session_factory: SessionFactory, export_id: uuid.UUID, **values: Any) -> bool:
    now = _now()
    with session_factory() as session:
        result = session.execute(
            update(Export)
            .where(Export.id == export_id, Export.status == ExportStatus.RUNNING)
            .values(finished_at=now, expires_at=now + EXPORT_TTL, **values)
        )
        session.commit()
    # An UPDATE without RETURNING gives a CursorResult (sqlalchemy/sqlalchemy#12913).
    return cast(CursorResult[Any], result).rowcount == 1


def download(session: Session, actor: Actor, export_id: uuid.UUID) -> ExportFile | ExportJob:
    """A ready export's file, once (the row goes with it); else the job as it stands.

    Another organization's export, a downloaded one and an expired one are NotFound.
    """
    expire_exports(session)
    row = session.get(Export, export_id)
    if row is None or row.organization_id != actor.organization_id:
        raise NotFound("export", export_id)
    if row.status != ExportStatus.READY:
        return _job(row)
    taken = session.execute(
        delete(Export)
        .where(Export.id == export_id, Export.status == ExportStatus.READY)
        .returning(Export.content, Export.format, Export.created_at)
    ).one_or_none()
    session.commit()
    if taken is None or taken.content is None:  # downloaded concurrently
        raise NotFound("export", export_id)
    chosen = ExportFormat(taken.format)
    stamp = taken.created_at.strftime("%Y%m%dT%H%M%SZ")
    suffix = "zip" if chosen == ExportFormat.CSV else "json"
    return ExportFile(
        taken.content,
        CONTENT_TYPES[chosen],
        f"mentormatch-export-{actor.organization_id}-{stamp}.{suffix}",
    )


def expire_exports(session: Session, *, now: datetime | None = None) -> int:
    """Delete every export past its ``expires_at``; in the caller's transaction."""
    result = session.execute(delete(Export).where(Export.expires_at < (now or _now())))
    return cast(CursorResult[Any], result).rowcount or 0


def register_export_tasks(
    huey: Huey, session_factory: SessionFactory
) -> Callable[[uuid.UUID], None]:
    """Register the export tasks on ``huey``; returns the function that queues one."""

    # Huey ships no type hints: its decorators are untyped (the tasks' own types hold).
    @huey.task(name="build_export")  # type: ignore[untyped-decorator]
    def build_export_task(export_id: str) -> str:
        return build_export(session_factory, uuid.UUID(export_id))

    @huey.periodic_task(crontab(minute="17"), name="expire_exports")  # type: ignore[untyped-decorator]
    def expire_exports_task() -> None:
        with session_factory() as session, unguarded(session):  # every organization's
            expire_exports(session)
            session.commit()

    def enqueue(export_id: uuid.UUID) -> None:
        build_export_task(str(export_id))

    return enqueue
