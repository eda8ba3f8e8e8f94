"""The ``mentormatch`` command: serve, migrate, create organizations, run workers.

Start-up is cheap: each command imports what it uses when it runs, so ``--help`` and
the offline ``generate`` and ``match`` load neither the web stack nor the database
layer (``tests/services/test_cli_startup.py``).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from api.cli_batch import FORMATS, BadInput, DataCommand, PhaseProgress, bad_input, summary
from api.cli_program import COMMANDS as PROGRAM_COMMANDS
from models.vocabulary import Objective

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from api.settings import Settings


def _settings() -> Settings:
    """This command's settings, read from the environment once; bad values end it."""
    from api.settings import Settings, SettingsError

    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


# models.tenant_guard's functions, imported when a command first uses the database.


def require_scope(session: Session) -> Session:
    from models.tenant_guard import require_scope as require

    return require(session)


def scope_session(session: Session, organization_id: uuid.UUID) -> Session:
    from models.tenant_guard import scope_session as scope

    return scope(session, organization_id)


@contextmanager
def unguarded(session: Session) -> Iterator[Session]:
    from models.tenant_guard import unguarded as open_guard

    with open_guard(session) as opened:
        yield opened


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """A session on the settings' database whose engine is disposed afterwards.

    It refuses tenant queries until the command scopes it to an organization, or opts
    out with ``unguarded`` for work across organizations (models.tenant_guard).
    """
    from api.settings import SettingsError
    from models import make_engine, make_session_factory

    try:
        info = {"audit_key": settings.audit_secret()}
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine, info=info)() as session:
            yield require_scope(session)
    finally:
        engine.dispose()


@click.group(help="mentormatch: mentor-mentee matching service.")
@click.version_option(package_name="mentormatch", prog_name="mentormatch")
def main() -> None:
    pass


@main.group(help="Database maintenance.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply every pending migration (MENTORMATCH_DATABASE_URL).")
def db_upgrade() -> None:
    from models.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    click.echo("database is up to date")
    _seal_audit_chains(settings)


def _seal_audit_chains(settings: Settings) -> None:
    """Seal the chains of organizations written before the keyed scheme (api.services.audit)."""
    from api.services import audit as audit_log

    with _session(settings) as session:
        sealed = audit_log.seal_all(session)
    if sealed:
        click.echo(f"audit chains of {sealed} organizations sealed with the audit key")


@main.command("create-org", help="Create an organization and its owner; prints the owner's key.")
@click.argument("name")
@click.option("--owner", "owner_email", required=True, help="Email of the owner admin.")
def create_org(name: str, owner_email: str) -> None:
    from api.services.errors import ServiceError
    from api.services.organizations import create_organization

    with _session(_settings()) as session, unguarded(session):  # a new tenant
        try:
            created = create_organization(session, name, owner_email)
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from exc
    click.echo(f"organization {created.admin.organization_id} created; owner {created.admin.id}")
    click.echo("the owner's API key (shown once, store it now):")
    click.echo(created.api_key)


@main.command("demo", help="Make sure a demo organization exists and print a fresh key for it.")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
def demo(host: str, port: int) -> None:
    from api.services.demo import ensure_demo_key, tour

    with _session(_settings()) as session, unguarded(session):  # finds or makes the tenant
        key = ensure_demo_key(session)
    click.echo(tour(f"http://{host}:{port}/v1", key))


@main.command("serve", help="Serve the HTTP API (gunicorn).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, type=int, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    show_default="MENTORMATCH_WEB_WORKERS, 2",
)
def serve(host: str, port: int, workers: int | None) -> None:
    from api.logs import configure_logging
    from api.server import run_server
    from api.settings import SettingsError

    settings = _settings()
    configure_logging(settings.log_level)  # the companion worker's supervisor logs
    try:
        settings.audit_secret()  # a missing key stops serve here, not in each web worker
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    _seal_audit_chains(settings)
    workers = workers or settings.web_workers
    sys.exit(run_server(settings, host=host, port=port, workers=workers))


@main.group(help="Admins of an organization.")
def admin() -> None:
    pass


@admin.command(
    "create",
    help="Add an admin without an API key: the way back for an organization that lost "
    "its owners. Audited as the system; prints the new admin's key on its last line.",
)
@click.option("--org", "org_id", required=True, type=click.UUID, help="The organization's id.")
@click.option("--email", required=True, help="Email of the new admin.")
@click.option("--role", type=click.Choice(["owner", "admin"]), default="owner", show_default=True)
def admin_create(org_id: Any, email: str, role: str) -> None:
    from api.services.errors import ServiceError
    from api.services.organizations import restore_owner

    with _session(_settings()) as session:
        scope_session(session, org_id)
        try:
            created = restore_owner(session, org_id, email, role=role)
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from exc
    click.echo(f"admin {created.admin.id} ({created.admin.role}) created")
    click.echo("their API key (shown once, store it now):")
    click.echo(created.api_key)


@main.group(help="The audit log.")
def audit() -> None:
    pass


@audit.command("verify", help="Check the audit hash chain; exit code 1 if any chain is broken.")
@click.option(
    "--org", "org_id", type=click.UUID, default=None, help="One organization (default: all)."
)
def audit_verify(org_id: Any) -> None:
    from api.services import audit as audit_log

    with _session(_settings()) as session:
        audit_log.seal_all(session)
        if org_id:
            orgs = [org_id]
        else:
            with unguarded(session):  # every organization's chain
                orgs = audit_log.organization_ids(session)
        # Each chain is checked in a session scoped to its organization.
        reports = {org: audit_log.verify(scope_session(session, org), org) for org in orgs}
    for org, report in reports.items():
        state = "valid" if report.valid else "BROKEN"
        line = f"organization {org}: {state}, {report.events} events"
        if not report.valid:
            line += f"; first bad seq {report.first_bad_seq}: {report.problem}"
        click.echo(line)
    if not all(r.valid for r in reports.values()):
        sys.exit(1)


@main.command("export", help="Export all of an organization's data to a file (audited).")
@click.option("--org", "org_id", required=True, type=click.UUID)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="json: one document; csv: a zip of one CSV per table.",
)
def export(org_id: Any, out_path: str, fmt: str) -> None:
    from pathlib import Path

    from api.services.context import Actor
    from api.services.errors import ServiceError
    from api.services.export_jobs import ExportFile, export_organization

    with _session(_settings()) as session:
        scope_session(session, org_id)
        try:
            # The system acts (no admin): the audit event has no actor.
            actor = Actor(org_id, None, "owner")
            result = export_organization(session, actor, fmt=fmt, threshold=None)
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from exc
    assert isinstance(result, ExportFile)  # threshold=None: never a job
    Path(out_path).write_bytes(result.content)
    click.echo(f"organization {org_id}: {len(result.content)} bytes of {fmt} in {out_path}")


@main.group(help="Weights versions learned from realized outcomes.")
def weights() -> None:
    pass


_ACTS_AS = (
    "Acts as the first owner of the program's organization (the CLI has no API key); "
    "audited as that owner."
)


def _print_version(v: dict[str, Any]) -> None:
    state = "active" if v["active"] else "inactive"
    weights_text = ", ".join(f"{k}={w:.3g}" for k, w in v["weights"].items())
    click.echo(f"version {v['version']} ({v['source']}, {state}, {v['samples']} outcomes)")
    click.echo(f"  weights: {weights_text}")
    if v["evaluation"].get("reason"):
        click.echo(f"  {v['evaluation']['reason']}")
    if v["summary"]:
        click.echo(f"  {v['summary']}")


@weights.command("learn", help=f"Learn weights from the program's outcomes. {_ACTS_AS}")
@click.option("--program", "program_id", required=True, type=click.UUID)
def weights_learn(program_id: Any) -> None:
    from api.services import learning
    from api.services.errors import ServiceError

    with _session(_settings()) as session:
        try:
            with unguarded(session):  # the program decides the organization
                actor = learning.program_owner(session, program_id)
            scope_session(session, actor.organization_id)
            _print_version(learning.learn_weights(session, actor, program_id))
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from exc


@weights.command("list", help=f"List the program's weights versions. {_ACTS_AS}")
@click.option("--program", "program_id", required=True, type=click.UUID)
def weights_list(program_id: Any) -> None:
    from api.services import learning
    from api.services.errors import ServiceError

    with _session(_settings()) as session:
        try:
            with unguarded(session):  # the program decides the organization
                actor = learning.program_owner(session, program_id)
            scope_session(session, actor.organization_id)
            cursor = None
            while True:
                page = learning.list_weights(session, actor, program_id, cursor=cursor)
                for version in page.items:
                    _print_version(version)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from exc


@main.command(
    "report", help=f"A program's report: match rate, scores, baselines, outcomes. {_ACTS_AS}"
)
@click.option("--program", "program_id", required=True, type=click.UUID)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write it as HTML.")
def report(program_id: Any, html_path: str | None) -> None:
    from pathlib import Path

    from api.services import learning, reports
    from api.services.errors import ServiceError

    with _session(_settings()) as session:
        try:
            with unguarded(session):  # the program decides the organization
                actor = learning.program_owner(session, program_id)
            scope_session(session, actor.organization_id)
            answer = reports.program_report(session, actor, program_id)
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from exc
    rate, quality = answer["match_rate"], answer["quality"]
    if answer["run"] is None:
        click.echo("no succeeded run yet")
    else:
        click.echo(
            f"latest run {answer['run']['id']}: matched {rate['run_matched']} of "
            f"{rate['run_mentees']} mentees"
        )
        click.echo(quality["summary"] or f"baselines {quality['status']}: {quality['reason']}")
    if answer["outcomes"] is not None:
        o = answer["outcomes"]
        click.echo(f"outcomes: {o['samples']}, mean success {o['mean_success']:.3f}")
    if html_path:
        from api.services.report_html import MissingPlotting, render_html

        try:
            text = render_html(answer, title=f"Program report {program_id}")
        except MissingPlotting as exc:
            raise click.ClickException(str(exc)) from exc
        Path(html_path).write_text(text, encoding="utf-8")
        click.echo(f"wrote {html_path}")


@main.command(
    "purge",
    help="Delete for good the programs and organizations deleted more than "
    "MENTORMATCH_RETENTION_DAYS ago; prints the rows per table (the worker also runs it daily).",
)
@click.option("--dry-run", is_flag=True, help="Count what is due; delete nothing.")
def purge(dry_run: bool) -> None:
    from datetime import UTC, datetime

    from api.services.retention import purge_due

    settings = _settings()
    with _session(settings) as session:
        report = purge_due(
            session,
            now=datetime.now(UTC),
            retention_days=settings.retention_days,
            dry_run=dry_run,
        )
    verb = "would purge" if dry_run else "purged"
    for item in report.purged:
        owner = "" if item.kind == "organization" else f" of organization {item.organization_id}"
        click.echo(f"{verb} {item.kind} {item.id}{owner} (deleted {item.deleted_at:%Y-%m-%d})")
        for table, rows in item.rows.items():
            click.echo(f"  {table}: {rows}")
    totals = ", ".join(f"{table} {rows}" for table, rows in report.totals.items() if rows)
    click.echo(
        f"{len(report.purged)} due (deleted before {report.cutoff:%Y-%m-%d %H:%M} UTC); "
        f"rows {'due' if dry_run else 'deleted'}: {totals or 'none'}"
    )


@main.command("worker", help="Run the jobs worker: executes matching runs from the queue.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    show_default="MENTORMATCH_JOB_WORKERS, 1",
    help="Runs executed at once.",
)
@click.option(
    "--worker-type",
    type=click.Choice(["thread", "process"]),
    default="thread",
    show_default=True,
    help="process: each run in a process of its own (CPU-heavy cohorts; PostgreSQL only).",
)
def worker(workers: int | None, worker_type: str) -> None:
    from sqlalchemy.engine import make_url

    from api.app import make_jobs
    from api.logs import configure_logging
    from api.services.runs.queue import run_worker
    from api.settings import SettingsError
    from models import make_engine, make_session_factory

    settings = _settings()
    if worker_type == "process" and make_url(settings.database_url).get_backend_name() == (
        "sqlite"
    ):
        # Runs in forked processes met "database is locked" on SQLite in our tests.
        raise click.UsageError(
            "--worker-type process needs PostgreSQL (MENTORMATCH_DATABASE_URL): a SQLite "
            "database is not shared safely with forked processes; use --worker-type thread"
        )
    configure_logging(settings.log_level)
    try:
        info = {"audit_key": settings.audit_secret()}
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    engine = make_engine(settings.database_url)
    jobs = make_jobs(settings, make_session_factory(engine, info=info))
    run_worker(jobs, workers=workers or settings.job_workers, worker_type=worker_type)


@main.command("generate", help="Write a synthetic cohort: mentees.csv, mentors.csv, program.json.")
@click.option("--mentees", "n_mentees", required=True, type=click.IntRange(min=0))
@click.option("--mentors", "n_mentors", required=True, type=click.IntRange(min=0))
@click.option("--seed", default=0, type=int, show_default=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
def generate(n_mentees: int, n_mentors: int, seed: int, out_dir: str) -> None:
    from pathlib import Path

    from api.services.batch import generate as write_cohort

    for path in write_cohort(n_mentees, n_mentors, seed=seed, out=Path(out_dir)):
        click.echo(str(path))


@main.command(
    "match",
    cls=DataCommand,
    help="Offline batch: match two participant CSVs, no database. Each file is checked as "
    "an upload is. Exit codes: 0 done, 1 usage error, 2 bad input (file, row and column "
    "named).",
)
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--mentees", "mentees_path", required=True, type=click.Path(dir_okay=False))
@click.option("--mentors", "mentors_path", required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option(
    "--unmatched",
    "unmatched_path",
    type=click.Path(dir_okay=False),
    help="Also write the unmatched mentees with their reasons (CSV).",
)
@click.option(
    "--objective", type=click.Choice([str(o) for o in Objective]), help="Override the config's."
)
@click.option("--min-score", type=float, help="Override the config's min_score.")
@click.option(
    "--capacity",
    type=int,
    help="Override the config's default_capacity (mentors whose row gives none).",
)
@click.option(
    "--tolerance",
    type=float,
    default=None,
    help="Accept a total this close to the optimum (objective total): the fast auction "
    "path for large cohorts; the gap proven is reported. Default: the config's "
    "tolerance, else 0 (the exact optimum).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress line per phase on stderr [default: when stderr is a terminal].",
)
def match(
    config_path: str,
    mentees_path: str,
    mentors_path: str,
    out_path: str,
    fmt: str,
    unmatched_path: str | None,
    objective: str | None,
    min_score: float | None,
    capacity: int | None,
    tolerance: float | None,
    progress: bool | None,
) -> None:
    from pathlib import Path

    from api.services.batch import Overrides, match_files
    from api.services.errors import ValidationFailed
    from matcher import MatcherError

    overrides = Overrides(
        objective=objective, min_score=min_score, default_capacity=capacity, tolerance=tolerance
    )
    try:
        with PhaseProgress(progress) as display:
            result = match_files(
                Path(config_path),
                Path(mentees_path),
                Path(mentors_path),
                Path(out_path),
                fmt=fmt,
                unmatched_out=Path(unmatched_path) if unmatched_path else None,
                overrides=overrides,
                on_phase=display.phase,
            )
    except ValidationFailed as exc:
        raise bad_input(exc.detail, exc.errors) from exc
    except MatcherError as exc:
        raise BadInput(str(exc)) from exc
    except OSError as exc:  # writing the output
        raise BadInput(f"cannot write: {exc}") from exc
    for line in summary(result):
        click.echo(line)


for _command in PROGRAM_COMMANDS:  # import, run: launching a program (api/cli_program.py)
    main.add_command(_command)


if __name__ == "__main__":
    main()
