"""``mentormatch import`` and ``mentormatch run``: launching a program through the service.

Both act as the admin named by ``--as EMAIL`` (a live admin of the program's
organization, :func:`api.services.batch_launch.acting_admin`), are audited as that
admin, and call the service functions the HTTP routes call: the CSV upload
(:func:`api.services.participants.import_csv`), the run trigger
(:func:`api.services.runs.start_run`) and publication
(:func:`api.services.publication.publish`).

``run --wait`` waits for the run to finish. With the embedded SQLite queue and no
worker of its own (``MENTORMATCH_REDIS_URL`` and ``MENTORMATCH_NO_WORKER`` unset),
the command starts the companion worker ``serve`` starts
(:class:`api.server.CompanionWorker`) for the wait; otherwise the configured workers
execute the run. A run still active when the wait ends is cancelled if the command's
own worker was executing it (no one else would), else left to its workers.

Exit codes: 0 done; 1 a usage error; 2 bad input: an unknown program, ``--as`` naming
no admin of its organization, a file missing, unreadable or failing the upload's
checks (file, row and column named; nothing is imported), a run the service refuses
(e.g. another run is active); 3 the run failed, was cancelled or did not finish
within ``--wait``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from api.cli_batch import EXIT_USAGE, BadInput, DataCommand, PhaseProgress, bad_input
from models.vocabulary import RUN_ACTIVE_STATUSES, RunStatus, Scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from api.services.context import Actor
    from api.settings import Settings
    from models import Run

EXIT_RUN_NOT_DONE = 3
#: How long one poll of a waiting run may block, so that the phase shown stays current.
POLL_SECONDS = 1.0

_AS_HELP = "Email of the admin of the program's organization to act as (audited as them)."


class RunNotDone(click.ClickException):
    """The run failed, was cancelled or is still active: exit code 3."""

    exit_code = EXIT_RUN_NOT_DONE


class CommandUsageError(click.UsageError):
    """A usage error the command finds itself: exit 1, as the option parser's."""

    exit_code = EXIT_USAGE


@contextmanager
def service_errors(prefix: str = "") -> Iterator[None]:
    """The service's refusals as bad input (exit 2); a ``prefix`` before each problem key."""
    from api.services.errors import ServiceError, ValidationFailed

    try:
        yield
    except ValidationFailed as exc:
        errors = {f"{prefix}{key}": messages for key, messages in exc.errors.items()}
        raise bad_input(f"{prefix}{exc.detail}" if prefix else exc.detail, errors) from exc
    except ServiceError as exc:
        raise BadInput(exc.detail) from exc


@contextmanager
def acting_as(program_id: uuid.UUID, email: str) -> Iterator[tuple[Session, Actor, Settings]]:
    """A database session scoped to the program's organization, and the admin acting."""
    # api.cli registers this module's commands: its helpers are imported once it has loaded.
    from api.cli import _session, _settings, scope_session, unguarded
    from api.services.batch_launch import acting_admin

    settings = _settings()
    with _session(settings) as session:
        with service_errors(), unguarded(session):  # the program decides the organization
            actor = acting_admin(session, program_id, email)
        scope_session(session, actor.organization_id)
        yield session, actor, settings


@click.command(
    "import",
    cls=DataCommand,
    help="Upload a participants CSV into a program, as the upload route does (every row "
    "checked; nothing imported if any fails). Exit codes: 0 done, 1 usage error, 2 bad "
    "input (file, row and column named).",
)
@click.option("--program", "program_id", required=True, type=click.UUID)
@click.option("--as", "email", required=True, help=_AS_HELP)
@click.argument("csv_path", metavar="FILE.csv", type=click.Path(dir_okay=False))
def import_participants(program_id: uuid.UUID, email: str, csv_path: str) -> None:
    from pathlib import Path

    from api.services.batch_launch import read_upload
    from api.services.participants import import_csv

    path = Path(csv_path)
    with service_errors():
        data = read_upload(path)
    with acting_as(program_id, email) as (session, actor, _), service_errors(f"{path.name} "):
        result = import_csv(session, actor, program_id, data)
    click.echo(
        f"{path.name}: {len(result.ids)} rows into program {program_id}: "
        f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged"
    )


@click.command(
    "run",
    cls=DataCommand,
    help="Start a matching run of a program, as the run button does; optionally wait for "
    "it and publish its proposals. Exit codes: 0 done, 1 usage error, 2 bad input or a "
    "run the service refuses, 3 the run failed, was cancelled or did not finish in --wait.",
)
@click.option("--program", "program_id", required=True, type=click.UUID)
@click.option("--as", "email", required=True, help=_AS_HELP)
@click.option(
    "--scope",
    type=click.Choice([str(s) for s in Scope]),
    default=str(Scope.ALL),
    show_default=True,
    help="all: every eligible mentee; unmatched: those without a published match.",
)
@click.option("--dry-run", is_flag=True, help="Propose only: a dry run is never published.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for the run to finish (0: queue it and return).",
)
@click.option("--publish", is_flag=True, help="Publish every proposal once the run succeeded.")
@click.option(
    "--tolerance",
    type=float,
    default=None,
    help="Accept a total this close to the optimum (relative, in [0, 1); objective total): "
    "the fast auction path for large cohorts [default: the program's config].",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="The run's phase on stderr while waiting [default: when stderr is a terminal].",
)
def run_program(
    program_id: uuid.UUID,
    email: str,
    scope: str,
    dry_run: bool,
    wait: float,
    publish: bool,
    tolerance: float | None,
    progress: bool | None,
) -> None:
    from api.services import runs

    if publish and (dry_run or wait <= 0):
        raise CommandUsageError(
            "--publish needs --wait (a finished run) and no --dry-run (never published)"
        )
    with acting_as(program_id, email) as (session, actor, settings):
        from api.app import make_jobs
        from api.server import CompanionWorker, needs_companion_worker

        jobs = make_jobs(settings, _session_factory(session, settings))
        with service_errors():
            run = runs.start_run(
                session,
                actor,
                program_id,
                scope=scope,
                dry_run=dry_run,
                tolerance=tolerance,
                enqueue=jobs.enqueue_run,
            )
        click.echo(f"run {run.id} {run.status}")
        if wait <= 0:
            if run.status == RunStatus.QUEUED and needs_companion_worker(settings):
                click.echo(
                    "queued: `mentormatch serve` or `mentormatch worker` on this database "
                    "executes it; --wait SECONDS executes it here"
                )
            return
        own_worker = needs_companion_worker(settings) and not settings.jobs_immediate
        companion = CompanionWorker(settings).start() if own_worker else None
        try:
            run = _wait(session, run, wait, progress)
        finally:
            if companion is not None:
                companion.stop()
        if run.status in RUN_ACTIVE_STATUSES and own_worker:
            with service_errors():
                run = runs.cancel_run(session, actor, program_id, run.id)
            raise RunNotDone(f"run {run.id} did not finish within {wait:g} s: cancelled")
        _print_summary(run)
        if run.status != RunStatus.SUCCEEDED:
            raise RunNotDone(f"run {run.id} {run.status}: {run.error or 'not finished'}")
        if publish:
            from api.services.publication import publish as publish_run

            with service_errors():
                done = publish_run(session, actor, program_id, run.id)
            click.echo(f"published {done.newly_published} proposals of run {run.id}")


def _session_factory(session: Session, settings: Settings) -> Any:
    """Sessions on the command's engine for the queue's tasks, as ``mentormatch worker``'s."""
    from models import make_session_factory

    engine = session.get_bind().engine
    return make_session_factory(engine, info={"audit_key": settings.audit_secret()})


def _wait(session: Session, run: Run, seconds: float, progress: bool | None) -> Run:
    """Poll the run until it finished or ``seconds`` passed, showing its phase."""
    from api.services.runs.reading import wait_for_finish

    deadline = time.monotonic() + seconds
    shown: str | None = None
    with PhaseProgress(progress) as display:
        while True:
            left = deadline - time.monotonic()
            run = wait_for_finish(session, run, timeout=max(0.0, min(POLL_SECONDS, left)))
            if run.status not in RUN_ACTIVE_STATUSES or left <= 0:
                return run
            phase = run.phase or run.status
            if phase != shown:
                display.phase(phase)
                shown = phase


def _print_summary(run: Run) -> None:
    """The run's stats as a table (rich): counts, scores, stability, seconds."""
    from rich.console import Console
    from rich.table import Table

    stats: dict[str, Any] = run.stats or {}
    table = Table(title=f"run {run.id}", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for label, value in _summary_rows(run, stats):
        table.add_row(label, value)
    Console(soft_wrap=True).print(table)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _summary_rows(run: Run, stats: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [("status", run.status + (" (dry run)" if run.dry_run else "")), ("scope", run.scope)]
    if "matched" not in stats:
        return rows
    by_reason = ", ".join(f"{r} {n}" for r, n in stats.get("unmatched_by_reason", {}).items())
    seconds = stats.get("seconds", {})
    phases = ", ".join(f"{k} {v:.3f}" for k, v in seconds.items() if k != "total")
    return [
        *rows,
        ("mentees", str(stats["n_mentees"])),
        ("mentors", str(stats["n_mentors"])),
        ("matched", f"{stats['matched']} ({stats['coverage']:.1%} of the mentees)"),
        ("unmatched", f"{stats['unmatched']}" + (f" ({by_reason})" if by_reason else "")),
        ("score total", _number(stats["score_total"])),
        ("score mean", _number(stats["score_mean"])),
        ("score min", _number(stats["score_min"])),
        ("blocking pairs", str(stats.get("blocking_pairs", "-"))),
        ("objective", f"{stats['objective']} ({stats['method']}, gap {stats['gap']:.3g})"),
        ("tolerance", f"{stats.get('tolerance') or 0:g}"),
        ("seconds", f"{seconds.get('total', 0.0):.3f} ({phases})"),
    ]


COMMANDS = (import_participants, run_program)
