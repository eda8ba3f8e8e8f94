"""The offline batch proposes what a service run proposes, for the same cohort and config.

A generated cohort with fewer places than mentees (so some stay unmatched) is imported
into a program with ``mentormatch import`` and matched by ``mentormatch run``; the same
files go through ``mentormatch match``. Both must give the same pairs, the same scores
and the same unmatched mentees with the same reasons, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.services.batch import generate
from api.services.context import Actor
from api.services.organizations import create_organization
from api.services.programs import create_program
from models import Match, Participant, Run, UnmatchedMentee
from models.tenant_guard import scope_session, unguarded
from tests.services.test_cli_program import _cli

OWNER = "owner@same.example"


def _batch(files: Path, out: Path) -> tuple[dict[str, tuple[str, float]], dict[str, str]]:
    """``mentormatch match`` on the files: mentee -> (mentor, score), and mentee -> reason."""
    result = _cli(
        "match",
        "--config",
        files / "program.json",
        "--mentees",
        files / "mentees.csv",
        "--mentors",
        files / "mentors.csv",
        "--out",
        out / "matches.csv",
        "--unmatched",
        out / "unmatched.csv",
    )
    assert result.exit_code == 0, result.output
    with (out / "matches.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["mentor_external_id"]]
    with (out / "unmatched.csv").open(encoding="utf-8-sig", newline="") as f:
        unmatched = {r["mentee_external_id"]: r["reason"] for r in csv.DictReader(f)}
    pairs = {r["mentee_external_id"]: (r["mentor_external_id"], float(r["score"])) for r in rows}
    return pairs, unmatched


def _service_run(
    session_factory: sessionmaker[Session], files: Path
) -> tuple[dict[str, tuple[str, float]], dict[str, str]]:
    """The files imported into a new program and run through the service, as the CLI does."""
    document = json.loads((files / "program.json").read_text())
    with session_factory() as session, unguarded(session):
        owner = create_organization(session, "Same", OWNER).admin
        actor = Actor(owner.organization_id, owner.id, "owner")
        program_id = create_program(session, actor, name="Same", config=document["config"]).id
        session.commit()
    session_factory.kw["bind"].dispose()  # SQLite: the commands open their own connections
    for name in ("mentees.csv", "mentors.csv"):
        imported = _cli("import", "--program", program_id, "--as", OWNER, files / name)
        assert imported.exit_code == 0, imported.output
    ran = _cli("run", "--program", program_id, "--as", OWNER, "--wait", 60)
    assert ran.exit_code == 0, ran.output

    with session_factory() as session:
        scope_session(session, owner.organization_id)
        run_id = session.scalars(select(Run.id).where(Run.program_id == program_id)).one()
        ext = dict(session.execute(select(Participant.id, Participant.external_id)).all())
        matches = session.execute(
            select(Match.mentee_id, Match.mentor_id, Match.score).where(Match.run_id == run_id)
        ).all()
        left = session.execute(
            select(UnmatchedMentee.mentee_id, UnmatchedMentee.reason).where(
                UnmatchedMentee.run_id == run_id
            )
        ).all()
    pairs = {ext[a]: (ext[b], float(score)) for a, b, score in matches}
    return pairs, {ext[a]: reason for a, reason in left}


def test_the_batch_and_a_service_run_propose_the_same_pairs(
    session_factory: sessionmaker[Session],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = tmp_path / "cohort"
    generate(90, 30, seed=11, out=files)  # mentors offer fewer places than there are mentees
    monkeypatch.setenv("MENTORMATCH_DATABASE_URL", db_url)
    monkeypatch.setenv("MENTORMATCH_JOBS_PATH", str(tmp_path / "jobs.sqlite3"))
    monkeypatch.setenv("MENTORMATCH_JOBS_IMMEDIATE", "1")  # the run executes in the command
    monkeypatch.setenv("MENTORMATCH_LOG_LEVEL", "WARNING")

    batch_pairs, batch_unmatched = _batch(files, tmp_path)
    run_pairs, run_unmatched = _service_run(session_factory, files)

    assert batch_unmatched, "the cohort leaves some mentees unmatched"
    assert len(batch_pairs) + len(batch_unmatched) == 90
    assert {m: p for m, (p, _) in batch_pairs.items()} == {m: p for m, (p, _) in run_pairs.items()}
    for mentee, (_, score) in batch_pairs.items():
        assert score == pytest.approx(run_pairs[mentee][1], abs=1e-6)  # the CSV keeps 6 places
    assert batch_unmatched == run_unmatched
