"""End to end: a Python client generated from the live OpenAPI description drives the API.

A dashboard team's first afternoon, mechanised: ``openapi-python-client`` (a dev
dependency, run offline) generates a client from the ``/v1/openapi.json`` a real
server answers; the test imports it and does the main job with it alone: create a
program, upload participants, trigger a run and poll it until it finished, read its
proposals with their reasons, and meet a 404 and a 422 as the client's own
``Problem`` model. The client raises on any status the description does not list,
so a lie in the description fails here.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.test_server import CONFIG, Server, server  # noqa: F401 - server: a fixture

pytestmark = pytest.mark.e2e
PACKAGE = "mentormatch_client"
#: What the generator cannot express and says so: the upload's text/csv body (the
#: JSON body of the same operation is generated).
KNOWN_WARNINGS = ("Unsupported content type text/csv",)


def _people(n_mentors: int, n_mentees: int) -> list[dict[str, Any]]:
    skills = ["python", "sql", "leadership", "design"]
    return [
        {
            "external_id": f"{role}{i}",
            "role": role,
            "name": f"{role.title()} {i}",
            "position": "Senior" if role == "mentor" else "Associate",
            "skills": [skills[i % 4], skills[(i + 1) % 4]],
            "attributes": {"department": "eng", "languages": ["en"], "utc_offset": i % 3},
            **({"capacity": 2} if role == "mentor" else {}),
        }
        for role, count in (("mentor", n_mentors), ("mentee", n_mentees))
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def generated(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:  # noqa: F811
    """The client package generated from the server's description, imported."""
    root = tmp_path_factory.mktemp("client")
    spec = root / "openapi.json"
    with urllib.request.urlopen(f"{server.base}/openapi.json", timeout=30) as answer:
        spec.write_bytes(answer.read())
    config = root / "generator.json"
    config.write_text(json.dumps({"post_hooks": []}))  # no formatter needed on PATH
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(root / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = [
        line.strip()
        for line in done.stdout.splitlines()
        if line.strip() and line.strip()[0].isupper() and "Unsupported" in line
    ]
    assert set(warnings) <= set(KNOWN_WARNINGS), done.stdout
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.fixture(scope="module")
def client(server: Server, generated: ModuleType) -> Iterator[Any]:  # noqa: F811
    """The generated client, authenticated, raising on any undocumented status."""
    root = server.base.removesuffix("/v1")
    with generated.AuthenticatedClient(
        base_url=root, token=server.key, raise_on_unexpected_status=True, timeout=60
    ) as authenticated:
        yield authenticated


def test_the_main_job_through_the_generated_client(client: Any) -> None:
    models = _module("models")
    create_program = _module("api.programs.create_program")
    upload = _module("api.participants.upload_participants")
    trigger_run = _module("api.runs.trigger_run")
    get_run = _module("api.runs.get_run")
    list_run_matches = _module("api.matches.list_run_matches")

    created = create_program.sync_detailed(
        client=client,
        body=models.ProgramCreate.from_dict({"name": "Generated", "config": CONFIG}),
    )
    assert created.status_code == 201, created.content
    program = created.parsed
    assert isinstance(program, models.Program)
    assert isinstance(program.id, uuid.UUID)

    uploaded = upload.sync_detailed(
        program.id,
        client=client,
        body=models.ParticipantUpload.from_dict({"items": _people(3, 5)}),
    )
    assert uploaded.status_code == 200, uploaded.content
    assert (uploaded.parsed.created, uploaded.parsed.updated) == (8, 0)

    queued = trigger_run.sync_detailed(program.id, client=client, body=models.RunCreate())
    assert queued.status_code == 202, queued.content
    run = queued.parsed
    assert isinstance(run, models.Run)
    assert queued.headers["Location"].endswith(f"/runs/{run.id}")
    deadline = time.monotonic() + 120
    while run.status in (models.RunStatus.QUEUED, models.RunStatus.RUNNING):
        assert time.monotonic() < deadline, f"run {run.id} did not finish: {run.to_dict()}"
        time.sleep(min(int(queued.headers["Retry-After"]), 1))
        polled = get_run.sync_detailed(program.id, run.id, client=client)
        assert polled.status_code == 200, polled.content
        assert polled.headers["ETag"]
        run = polled.parsed
    assert run.status == models.RunStatus.SUCCEEDED, run.error
    assert run.phase is None
    assert run.progress == 1.0

    # A query filter is one enum type (not three: a query string has no null).
    proposed = models.ListRunMatchesStatus.PROPOSED
    page = list_run_matches.sync_detailed(
        program.id, run.id, client=client, limit=100, status=proposed
    )
    assert page.status_code == 200, page.content
    matches = page.parsed
    assert isinstance(matches, models.RunMatches)
    assert len(matches.items) == 5  # 3 mentors of 2 places each, 5 mentees
    for match in matches.items:
        assert isinstance(match, models.Match)
        assert match.status == models.MatchStatus.PROPOSED
        assert match.mentee.external_id.startswith("mentee")
        assert match.mentor.external_id.startswith("mentor")
        assert 0.0 <= match.score <= 1.0
        assert match.reasons
        assert all(isinstance(r, str) for r in match.reasons)
    assert matches.unmatched == []
    assert matches.unmatched_count == 0


def test_a_404_and_a_422_arrive_as_the_clients_problem_model(client: Any) -> None:
    models = _module("models")
    get_program = _module("api.programs.get_program")
    create_program = _module("api.programs.create_program")

    missing_id = uuid.uuid4()
    missing = get_program.sync_detailed(missing_id, client=client)
    assert missing.status_code == 404
    problem = missing.parsed
    assert isinstance(problem, models.Problem)
    assert (problem.status, problem.title) == (404, "Not found")
    assert str(missing_id) in problem.detail

    bad_config = {**CONFIG, "criteria": [{"name": "skills", "kind": "no_such_kind"}]}
    invalid = create_program.sync_detailed(
        client=client, body=models.ProgramCreate.from_dict({"name": "Bad", "config": bad_config})
    )
    assert invalid.status_code == 422
    problem = invalid.parsed
    assert isinstance(problem, models.Problem)
    assert problem.status == 422
    assert "no_such_kind" in problem.detail
    errors = problem.errors.to_dict()
    assert errors
    assert all(isinstance(v, list) for v in errors.values())
    assert any(key.startswith("config.criteria") for key in errors), errors
