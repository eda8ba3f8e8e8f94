"""A worker's first run imports nothing: :func:`preload` already did.

The run executes in a fresh interpreter (this one has imported everything the suite
has), on the test's database: a module missing from ``RUN_MODULES`` shows up as
imported during the run, the cost a fresh process worker's first run paid (1.4 s
for a 3 x 3 run, seen as a flaky fairness test in CI).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy.orm import Session

from api.services import runs
from tests.factories import RUN_CONFIG, add, make_org, make_program

#: What a run must not import once preloaded: the heavy libraries and our own packages.
WATCHED = ("scipy", "sklearn", "pandas", "scoring", "matcher", "api", "models")

SCRIPT = """
import json, os, sys, uuid
from api.services.runs import queue  # what a worker has imported when it starts
from api.services.runs.execution import execute_run, preload
from models import make_engine, make_session_factory

url, run_id, warm = sys.argv[1], uuid.UUID(sys.argv[2]), sys.argv[3] == "warm"
if warm:
    preload()
factory = make_session_factory(
    make_engine(url), info={"audit_key": os.environ["MENTORMATCH_AUDIT_KEY"].encode()}
)
before = set(sys.modules)
status = execute_run(factory, run_id)
watched = tuple(sys.argv[4:])
new = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in watched)
print(json.dumps({"status": status, "imported": new}))
"""


def _first_run(db_url: str, run_id: object, mode: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, db_url, str(run_id), mode, *WATCHED],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_a_preloaded_workers_first_run_imports_nothing(db_url: str, session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor, RUN_CONFIG, commit=True)
    add(session, program, "mentor", "m1", ["python", "sql"], capacity=1)
    add(session, program, "mentor", "m2", ["go"], capacity=2)
    add(session, program, "mentee", "e1", ["python"])
    add(session, program, "mentee", "e2", ["go"])

    def first_run(mode: str) -> dict[str, object]:
        run = runs.start_run(session, actor, program.id)
        session.commit()
        return _first_run(db_url, run.id, mode)

    # Without the preload the first run imports SciPy's and scikit-learn's modules ...
    unloaded = first_run("cold")
    assert unloaded["status"] == "succeeded"
    imported = [str(m) for m in unloaded["imported"]]  # type: ignore[attr-defined]
    assert any(m.startswith(("scipy.", "sklearn")) for m in imported), imported
    # ... with it, nothing at all.
    assert first_run("warm") == {"status": "succeeded", "imported": []}
