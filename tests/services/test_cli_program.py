"""``mentormatch import`` and ``mentormatch run`` on a real database, as a named admin.

Each test runs the commands with click's runner against SQLite and PostgreSQL (the
``db_url`` fixture); the run tests execute the run in the command's own process
(``MENTORMATCH_JOBS_IMMEDIATE``) except the one that starts the companion worker.
"""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.cli import main
from api.services.batch import generate
from api.services.context import Actor
from api.services.organizations import create_admin, create_organization
from api.services.programs import create_program
from models import AuditEvent, Match, Participant, Run
from models.tenant_guard import scope_session, unguarded
from models.vocabulary import MatchStatus

OWNER = "owner@launch.example"
HELPER = "helper@launch.example"


@dataclass(frozen=True)
class Launch:
    program_id: uuid.UUID
    organization_id: uuid.UUID
    owner_id: uuid.UUID
    helper_id: uuid.UUID  # a plain admin of the same organization
    stranger: str  # the owner of another organization
    files: Path  # mentees.csv, mentors.csv, program.json (60 x 40)


@pytest.fixture
def launch(
    session_factory: sessionmaker[Session],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Launch:
    files = tmp_path / "cohort"
    generate(60, 40, seed=5, out=files)
    document = json.loads((files / "program.json").read_text())
    with session_factory() as session, unguarded(session):
        owner = create_organization(session, "Launch", OWNER).admin
        create_organization(session, "Elsewhere", "owner@elsewhere.example")
        actor = Actor(owner.organization_id, owner.id, "owner")
        helper = create_admin(session, actor, HELPER).admin
        program = create_program(session, actor, name="Launch", config=document["config"])
        session.commit()
        launched = Launch(
            program.id,
            owner.organization_id,
            owner.id,
            helper.id,
            "owner@elsewhere.example",
            files,
        )
    session_factory.kw["bind"].dispose()  # SQLite: the commands open their own connections
    monkeypatch.setenv("MENTORMATCH_DATABASE_URL", db_url)
    monkeypatch.setenv("MENTORMATCH_JOBS_PATH", str(tmp_path / "jobs.sqlite3"))
    monkeypatch.setenv("MENTORMATCH_LOG_LEVEL", "WARNING")
    return launched


def _cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _import(launch: Launch, path: Path, email: str = OWNER) -> Result:
    return _cli("import", "--program", launch.program_id, "--as", email, path)


def _count(session_factory: sessionmaker[Session], launch: Launch, model: type) -> int:
    with session_factory() as session:
        scope_session(session, launch.organization_id)
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _actors(session_factory: sessionmaker[Session], launch: Launch, action: str) -> list[object]:
    with session_factory() as session:
        scope_session(session, launch.organization_id)
        return list(
            session.scalars(
                select(AuditEvent.actor_id)
                .where(AuditEvent.action == action)
                .order_by(AuditEvent.seq)
            )
        )


def test_import_uploads_each_file_audited_as_the_named_admin(
    launch: Launch, session_factory: sessionmaker[Session]
) -> None:
    mentees = _import(launch, launch.files / "mentees.csv", email="  Helper@Launch.example ")
    assert mentees.exit_code == 0, mentees.output
    assert "mentees.csv: 60 rows" in mentees.output
    assert "60 created" in mentees.output
    mentors = _import(launch, launch.files / "mentors.csv")
    assert mentors.exit_code == 0, mentors.output
    again = _import(launch, launch.files / "mentors.csv")
    assert "0 created, 0 updated, 40 unchanged" in again.output
    assert _count(session_factory, launch, Participant) == 100
    imports = _actors(session_factory, launch, "participants.imported")
    assert imports == [launch.helper_id, launch.owner_id, launch.owner_id]


def test_a_bad_row_names_file_row_and_column_and_imports_nothing(
    launch: Launch, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with (launch.files / "mentors.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    rows[2][1] = "boss"  # row 3 (the header is row 1), column role
    rows[4][3] = "not-an-email"  # row 5, column email
    bad = tmp_path / "people.csv"
    with bad.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    result = _import(launch, bad)
    assert result.exit_code == 2, result.output
    assert "people.csv row 3.role: must be one of" in result.output
    assert "people.csv row 5.email: " in result.output
    assert "nothing was saved" in result.output
    assert _count(session_factory, launch, Participant) == 0


def test_a_csv_saved_by_excel_imports_as_the_plain_one(
    launch: Launch, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    text = (launch.files / "mentees.csv").read_text()
    excel = tmp_path / "excel.csv"
    excel.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    result = _import(launch, excel)
    assert result.exit_code == 0, result.output
    plain = _import(launch, launch.files / "mentees.csv")
    assert "0 created, 0 updated, 60 unchanged" in plain.output  # the same participants
    with session_factory() as session:
        scope_session(session, launch.organization_id)
        names = set(session.scalars(select(Participant.external_id)))
    assert names == {line.split(",")[0] for line in text.splitlines()[1:]}


def test_a_file_not_in_utf_8_is_refused(launch: Launch, tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    text = (launch.files / "mentees.csv").read_text()
    latin.write_bytes(text.replace("e0,mentee,", "e0,mentee,Jos\xe9 ", 1).encode("latin-1"))
    result = _import(launch, latin)
    assert result.exit_code == 2, result.output
    assert "latin.csv csv: not UTF-8 text" in result.output


def test_a_missing_file_is_bad_input(launch: Launch, tmp_path: Path) -> None:
    result = _import(launch, tmp_path / "nowhere.csv")
    assert result.exit_code == 2
    assert "nowhere.csv: cannot read" in result.output
    assert "No such file" in result.output


def test_an_unknown_program_or_an_outsider_is_bad_input(launch: Launch) -> None:
    path = launch.files / "mentees.csv"
    unknown = _cli("import", "--program", uuid.uuid4(), "--as", OWNER, path)
    assert unknown.exit_code == 2
    assert "not found" in unknown.output
    outsider = _import(launch, path, email=launch.stranger)
    assert outsider.exit_code == 2
    assert "is not an admin of the organization of program" in outsider.output
    nobody = _import(launch, path, email="nobody@launch.example")
    assert nobody.exit_code == 2


def test_usage_errors_exit_1(launch: Launch) -> None:
    missing_as = _cli("import", "--program", launch.program_id, launch.files / "mentees.csv")
    assert missing_as.exit_code == 1
    assert "Missing option '--as'" in missing_as.output
    not_a_uuid = _cli("run", "--program", "seven", "--as", OWNER)
    assert not_a_uuid.exit_code == 1
    publish_unwaited = _cli("run", "--program", launch.program_id, "--as", OWNER, "--publish")
    assert publish_unwaited.exit_code == 1
    assert "--publish needs --wait" in publish_unwaited.output


def _imported(launch: Launch) -> None:
    for name in ("mentees.csv", "mentors.csv"):
        result = _import(launch, launch.files / name)
        assert result.exit_code == 0, result.output


def test_run_wait_publish_prints_the_stats_and_publishes_as_the_admin(
    launch: Launch, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    _imported(launch)
    monkeypatch.setenv("MENTORMATCH_JOBS_IMMEDIATE", "1")  # the run executes in the command
    result = _cli("run", "--program", launch.program_id, "--as", HELPER, "--wait", 30, "--publish")
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    assert "60 (100.0% of the mentees)" in result.output
    assert "published 60 proposals" in result.output
    with session_factory() as session:
        scope_session(session, launch.organization_id)
        run = session.scalars(select(Run)).one()
        statuses = list(session.scalars(select(Match.status).where(Match.run_id == run.id)))
    assert run.triggered_by == launch.helper_id
    assert statuses == [MatchStatus.PUBLISHED] * 60
    assert _actors(session_factory, launch, "run.triggered") == [launch.helper_id]
    assert _actors(session_factory, launch, "match.published") == [launch.helper_id]


def test_a_second_run_while_one_is_queued_is_refused(
    launch: Launch, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    _imported(launch)
    monkeypatch.setenv("MENTORMATCH_NO_WORKER", "1")  # the operator's workers, none running
    first = _cli("run", "--program", launch.program_id, "--as", OWNER, "--dry-run")
    assert first.exit_code == 0, first.output
    assert "queued" in first.output
    second = _cli("run", "--program", launch.program_id, "--as", OWNER)
    assert second.exit_code == 2
    assert "is still active for this program" in second.output
    assert _count(session_factory, launch, Run) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # one worker process is enough
def test_run_wait_starts_the_embedded_worker(
    launch: Launch, session_factory: sessionmaker[Session]
) -> None:
    _imported(launch)
    result = _cli("run", "--program", launch.program_id, "--as", OWNER, "--wait", 120)
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    with session_factory() as session:
        scope_session(session, launch.organization_id)
        assert session.scalar(select(func.count()).select_from(Match)) == 60


def test_run_tolerance_is_recorded_and_a_bad_one_is_bad_input(
    launch: Launch, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    _imported(launch)
    monkeypatch.setenv("MENTORMATCH_JOBS_IMMEDIATE", "1")
    too_wide = _cli("run", "--program", launch.program_id, "--as", OWNER, "--tolerance", 1.5)
    assert too_wide.exit_code == 2
    assert "tolerance: expected a number in [0, 1), got 1.5" in too_wide.output
    result = _cli(
        "run", "--program", launch.program_id, "--as", OWNER, "--tolerance", 0.01, "--wait", 30
    )
    assert result.exit_code == 0, result.output
    with session_factory() as session:
        scope_session(session, launch.organization_id)
        run = session.scalars(select(Run)).one()  # the refused one was never stored
    assert run.options["tolerance"] == 0.01
    assert run.stats["tolerance"] == 0.01
    assert run.stats["gap"] <= 0.01


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # one worker process is enough
def test_a_run_the_embedded_worker_did_not_finish_is_cancelled_exit_3(
    launch: Launch, session_factory: sessionmaker[Session]
) -> None:
    _imported(launch)
    # The worker process is still starting when a hundredth of a second has passed.
    result = _cli("run", "--program", launch.program_id, "--as", OWNER, "--wait", 0.01)
    assert result.exit_code == 3, result.output
    assert "did not finish within 0.01 s: cancelled" in result.output
    with session_factory() as session:
        scope_session(session, launch.organization_id)
        run = session.scalars(select(Run)).one()
        matches = session.scalar(select(func.count()).select_from(Match))
    assert run.status == "cancelled"
    assert matches == 0
    assert _actors(session_factory, launch, "run.cancelled") == [launch.owner_id]
