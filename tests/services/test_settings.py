"""api.settings: every MENTORMATCH_* variable read in one place, typed, checked, documented."""

from __future__ import annotations

import dataclasses
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from api.app import create_app
from api.cli import main
from api.server import needs_companion_worker
from api.services.runs import queue
from api.settings import OVERRIDE_KEYS, PREFIX, Settings, SettingsError

REPO_ROOT = Path(__file__).resolve().parents[2]
PORT = "expected a TCP port, a whole number from 1 to 65535"
NICE = "expected a nice value, a whole number from 0 (normal) to 19 (lowest)"

EVERY_VARIABLE = {
    "MENTORMATCH_DATABASE_URL": "postgresql://mm@db.example/mm",
    "MENTORMATCH_REDIS_URL": "redis://cache.example:6379/2",
    "MENTORMATCH_JOBS_PATH": "/var/lib/mm/jobs.sqlite3",
    "MENTORMATCH_QUEUE_NAME": "mm-staging",
    "MENTORMATCH_JOBS_IMMEDIATE": "yes",
    "MENTORMATCH_RUN_LEASE_SECONDS": "7.5",
    "MENTORMATCH_NO_WORKER": "1",
    "MENTORMATCH_MAX_CONTENT_LENGTH": "2048",
    "MENTORMATCH_WEB_WORKERS": "4",
    "MENTORMATCH_WEB_THREADS": "8",
    "MENTORMATCH_JOB_WORKERS": "3",
    "MENTORMATCH_LOG_LEVEL": "debug",
    "MENTORMATCH_RETENTION_DAYS": "90",
    "MENTORMATCH_AUDIT_KEY": "k" * 40,
    "MENTORMATCH_CORS_ORIGINS": "https://dash.example.org, http://localhost:3000/",
    "MENTORMATCH_ORG_CONCURRENCY": "2",
    "MENTORMATCH_SWEEP_SECONDS": "5",
    "MENTORMATCH_RATE_LIMIT_EXPENSIVE": "10/second;300/hour",
    "MENTORMATCH_RATE_LIMIT_DEFAULT": "50 per second",
    "MENTORMATCH_RATE_LIMIT_REFUSED_KEYS": "5/minute",
    "MENTORMATCH_RATE_LIMIT_STORAGE": "redis://limits.example:6379/3",
    "MENTORMATCH_REFUSAL_HOLD_SECONDS": "0.25",
    "MENTORMATCH_READY_HEARTBEAT_SECONDS": "45",
    "MENTORMATCH_METRICS_DIR": "/run/mm/metrics",
    "MENTORMATCH_METRICS_TOKEN": "m" * 20,
    "MENTORMATCH_GUNICORN_ACCESS_LOG": "on",
    "MENTORMATCH_WORKER_NICE": "19",
    "MENTORMATCH_WORKER_METRICS_PORT": "9101",
    "MENTORMATCH_COHORT_CACHE_MB": "64",
}


def test_defaults_are_the_documented_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings == Settings()
    database = tmp_path.resolve() / "instance" / "mentormatch.sqlite3"
    assert settings.database_url == f"sqlite:///{database}"
    assert settings.jobs_file == database.with_name("mentormatch-jobs.sqlite3")
    assert (settings.redis_url, settings.jobs_path, settings.queue_name) == (
        None,
        None,
        "mentormatch",
    )
    assert (settings.jobs_immediate, settings.no_worker) == (False, False)
    assert settings.run_lease_seconds == 120.0
    assert settings.max_content_length == 16 * 1024 * 1024
    assert (settings.web_workers, settings.web_threads, settings.job_workers) == (2, 4, 1)
    assert (settings.log_level, settings.retention_days) == ("INFO", 30)
    assert (settings.worker_nice, settings.cohort_cache_mb) == (10, 256)


def test_every_variable_is_parsed_into_its_type() -> None:
    assert Settings.from_env(EVERY_VARIABLE) == Settings(
        database_url="postgresql+psycopg://mm@db.example/mm",  # we ship psycopg 3
        redis_url="redis://cache.example:6379/2",
        jobs_path=Path("/var/lib/mm/jobs.sqlite3"),
        queue_name="mm-staging",
        jobs_immediate=True,
        run_lease_seconds=7.5,
        no_worker=True,
        max_content_length=2048,
        web_workers=4,
        web_threads=8,
        job_workers=3,
        log_level="DEBUG",
        retention_days=90,
        audit_key="k" * 40,
        cors_origins=("https://dash.example.org", "http://localhost:3000"),
        org_concurrency=2,
        sweep_seconds=5.0,
        rate_limit_expensive="10/second;300/hour",
        rate_limit_default="50 per second",
        rate_limit_refused_keys="5/minute",
        rate_limit_storage="redis://limits.example:6379/3",
        refusal_hold_seconds=0.25,
        ready_heartbeat_seconds=45.0,
        metrics_dir=Path("/run/mm/metrics"),
        metrics_token="m" * 20,
        gunicorn_access_log=True,
        worker_nice=19,
        worker_metrics_port=9101,
        cohort_cache_mb=64,
    )


def test_each_field_is_one_variable() -> None:
    fields = {PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    assert fields == set(EVERY_VARIABLE)
    assert {PREFIX + key for key in OVERRIDE_KEYS} == fields


def test_no_refusal_hold_is_zero() -> None:
    assert Settings.from_env({"MENTORMATCH_REFUSAL_HOLD_SECONDS": "0"}).refusal_hold_seconds == 0


def test_empty_means_default_and_other_prefixed_variables_are_ignored() -> None:
    settings = Settings.from_env(
        {
            "MENTORMATCH_REDIS_URL": "",
            "MENTORMATCH_NO_WORKER": " ",
            "MENTORMATCH_TEST_DATABASE_URL": "postgresql://elsewhere/test",
            "MENTORMATCH_SECRET_KEY": "not ours",
        }
    )
    assert settings == Settings.from_env({})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(raw, True) for raw in ("1", "true", "On", "YES")]
    + [(raw, False) for raw in ("0", "false", "off", "no")],
)
def test_flags_take_the_usual_spellings(raw: str, expected: bool) -> None:
    settings = Settings.from_env({"MENTORMATCH_NO_WORKER": raw, "MENTORMATCH_JOBS_IMMEDIATE": raw})
    assert (settings.no_worker, settings.jobs_immediate) == (expected, expected)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MENTORMATCH_RUN_LEASE_SECONDS", "abc", "expected a number of seconds > 0, got 'abc'"),
        ("MENTORMATCH_RUN_LEASE_SECONDS", "0", "expected a number of seconds > 0, got '0'"),
        ("MENTORMATCH_RUN_LEASE_SECONDS", "inf", "expected a number of seconds > 0, got 'inf'"),
        ("MENTORMATCH_WEB_THREADS", "0", "expected a whole number of threads >= 1"),
        ("MENTORMATCH_WEB_WORKERS", "two", "expected a whole number of processes >= 1"),
        ("MENTORMATCH_JOB_WORKERS", "0", "expected a whole number of runs >= 1, got '0'"),
        ("MENTORMATCH_MAX_CONTENT_LENGTH", "16MB", "expected a whole number of bytes >= 1"),
        ("MENTORMATCH_RETENTION_DAYS", "1.5", "expected a whole number of days >= 1"),
        ("MENTORMATCH_NO_WORKER", "maybe", "expected one of 1, true, yes, on, 0, false, no, off"),
        ("MENTORMATCH_JOBS_IMMEDIATE", "2", "expected one of 1, true, yes, on, 0, false, no, off"),
        ("MENTORMATCH_LOG_LEVEL", "LOUD", "expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("MENTORMATCH_DATABASE_URL", "not a url", "expected a database URL (sqlite:///path"),
        ("MENTORMATCH_REDIS_URL", "localhost:6379", "expected a redis://, rediss:// or unix://"),
        ("MENTORMATCH_CORS_ORIGINS", "dash.example.org", "expected comma-separated origins like"),
        ("MENTORMATCH_CORS_ORIGINS", "https://a.example/app", "expected comma-separated origins"),
        ("MENTORMATCH_WORKER_NICE", "20", NICE),
        ("MENTORMATCH_WORKER_NICE", "-1", NICE),
        ("MENTORMATCH_WORKER_NICE", "x", NICE),
        ("MENTORMATCH_WORKER_NICE", "5.5", NICE),
        ("MENTORMATCH_COHORT_CACHE_MB", "-1", "expected a whole number of MiB >= 0, got '-1'"),
        ("MENTORMATCH_WORKER_METRICS_PORT", "0", PORT),
        ("MENTORMATCH_WORKER_METRICS_PORT", "70000", PORT),
        ("MENTORMATCH_WORKER_METRICS_PORT", "http", PORT),
        ("MENTORMATCH_COHORT_CACHE_MB", "1GB", "expected a whole number of MiB >= 0"),
        ("MENTORMATCH_REFUSAL_HOLD_SECONDS", "-1", "expected a number of seconds >= 0 (0: none)"),
        ("MENTORMATCH_REFUSAL_HOLD_SECONDS", "1s", "expected a number of seconds >= 0 (0: none)"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({variable: value})
    assert list(raised.value.errors) == [variable]
    assert raised.value.errors[variable].startswith(message)
    assert f"{variable}: {message}" in str(raised.value)


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(
            {
                "MENTORMATCH_RUN_LEASE_SECONDS": "abc",
                "MENTORMATCH_WEB_WORKERS": "-1",
                "MENTORMATCH_LOG_LEVEL": "INFO",
            }
        )
    assert raised.value.errors == {
        "MENTORMATCH_RUN_LEASE_SECONDS": "expected a number of seconds > 0, got 'abc'",
        "MENTORMATCH_WEB_WORKERS": "expected a whole number of processes >= 1, got '-1'",
    }


def test_overrides_win_over_the_environment() -> None:
    env = Settings.from_env({"MENTORMATCH_LOG_LEVEL": "DEBUG", "MENTORMATCH_WEB_WORKERS": "8"})
    settings = env.with_overrides({"LOG_LEVEL": "WARNING", "MAX_CONTENT_LENGTH": 2000})
    assert (settings.log_level, settings.max_content_length) == ("WARNING", 2000)
    assert settings.web_workers == 8  # not overridden: the environment's value stays
    assert env.log_level == "DEBUG"  # frozen: the original is untouched
    assert env.with_overrides({"RUN_LEASE_SECONDS": "2.5"}).run_lease_seconds == 2.5
    assert (
        env.with_overrides({"REDIS_URL": "redis://x"}).with_overrides({"REDIS_URL": None}).redis_url
        is None
    )


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        ({"MAX_CONTENT_LENGTH": True}, "MAX_CONTENT_LENGTH", "expected a whole number of bytes"),
        ({"RUN_LEASE_SECONDS": -1}, "RUN_LEASE_SECONDS", "expected a number of seconds > 0"),
        ({"JOBS_IMMEDIATE": "sometimes"}, "JOBS_IMMEDIATE", "expected one of 1, true"),
        ({"WORKER_NICE": 20}, "WORKER_NICE", NICE),
        ({"WORKER_NICE": True}, "WORKER_NICE", NICE),
        (
            {"TESTING": True},
            "TESTING",
            "not a setting; expected one of AUDIT_KEY, COHORT_CACHE_MB, CORS",
        ),
        (
            {"log_level": "INFO"},
            "log_level",
            "not a setting; expected one of AUDIT_KEY, COHORT_CACHE_MB",
        ),
    ],
)
def test_a_bad_override_is_an_error_naming_its_key(
    overrides: dict[str, Any], key: str, message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings().with_overrides(overrides)
    assert list(raised.value.errors) == [key]
    assert raised.value.errors[key].startswith(message)


def test_the_sqlite_queue_sits_next_to_the_sqlite_database(tmp_path: Path) -> None:
    beside = Settings(database_url=f"sqlite:///{tmp_path / 'mm.sqlite3'}")
    assert beside.jobs_file == tmp_path / "mm-jobs.sqlite3"
    explicit = dataclasses.replace(beside, jobs_path=tmp_path / "q" / "jobs.sqlite3")
    assert explicit.jobs_file == tmp_path / "q" / "jobs.sqlite3"
    on_postgres = Settings(database_url="postgresql+psycopg://mm@db/mm")
    assert on_postgres.jobs_file == Path("instance").resolve() / "mentormatch-jobs.sqlite3"


def _readme_rows() -> dict[str, str]:
    """``variable -> default`` cell of the README's Configuration table."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(MENTORMATCH_\w+)` \| ([^|]*) \|", section, re.MULTILINE))


def test_the_readme_documents_every_variable_with_its_default() -> None:
    rows = _readme_rows()
    assert set(rows) == set(EVERY_VARIABLE)
    defaults = Settings()
    for f in dataclasses.fields(Settings):
        value = getattr(defaults, f.name)
        cell = rows[PREFIX + f.name.upper()]
        if f.name in ("database_url", "jobs_path"):  # resolved against the working directory
            continue
        if value is None:
            assert cell.startswith("unset"), f.name
        else:
            documented = re.match(r"`([^`]*)`", cell)
            assert documented is not None, f.name
            assert Settings().with_overrides({f.name.upper(): documented[1]}) == defaults, f.name


def test_create_app_keeps_the_settings_it_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MENTORMATCH_RUN_LEASE_SECONDS", "9")
    monkeypatch.setenv("MENTORMATCH_MAX_CONTENT_LENGTH", "1000")
    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    app = create_app({"DATABASE_URL": url, "MAX_CONTENT_LENGTH": 2000, "TESTING": True})
    state = app.extensions["mentormatch"]
    try:
        assert state.settings.run_lease_seconds == 9.0
        assert state.settings.database_url == url
        assert app.config["MAX_CONTENT_LENGTH"] == state.settings.max_content_length == 2000
        assert app.config["TESTING"] is True  # a Flask setting, not one of ours
        assert "DATABASE_URL" not in app.config
        assert str(state.engine.url) == url
        assert state.jobs.backend == "sqlite"
        assert state.jobs.huey.storage.filename == str(tmp_path / "app-jobs.sqlite3")
    finally:
        state.engine.dispose()


def test_create_app_refuses_a_bad_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MENTORMATCH_RUN_LEASE_SECONDS", "abc")
    with pytest.raises(SettingsError, match="MENTORMATCH_RUN_LEASE_SECONDS: expected a number"):
        create_app({"DATABASE_URL": "sqlite://"})


def _no_sessions() -> Session:
    raise AssertionError("the fake execute_run opens no session")


def test_the_queue_executes_runs_under_the_settings_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[uuid.UUID, float, int | None]] = []

    def execute_run(
        _factory: Any, run_id: uuid.UUID, *, lease: float, concurrency: int | None
    ) -> str:
        seen.append((run_id, lease, concurrency))
        return "succeeded"

    monkeypatch.setattr(queue, "execute_run", execute_run)
    settings = Settings(
        jobs_path=tmp_path / "jobs.sqlite3", jobs_immediate=True, run_lease_seconds=7.5
    )
    run_id = uuid.uuid4()
    queue.build_jobs(settings, _no_sessions).enqueue_run(run_id)
    assert seen == [(run_id, 7.5, None)]  # immediate mode: no per-organization limit


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, True),
        ({"MENTORMATCH_NO_WORKER": "0"}, True),
        ({"MENTORMATCH_NO_WORKER": "1"}, False),
        ({"MENTORMATCH_REDIS_URL": "redis://127.0.0.1:6379/0"}, False),
    ],
)
def test_serve_starts_a_companion_worker_only_for_the_unconsumed_sqlite_queue(
    env: dict[str, str], expected: bool
) -> None:
    assert needs_companion_worker(Settings.from_env(env)) is expected


@pytest.mark.parametrize(
    ("command", "variable"),
    [(["worker"], "MENTORMATCH_JOB_WORKERS"), (["serve"], "MENTORMATCH_WEB_WORKERS")],
)
def test_the_cli_stops_on_a_bad_value_naming_it(command: list[str], variable: str) -> None:
    result = CliRunner().invoke(main, command, env={variable: "many"})
    assert result.exit_code == 1
    assert f"{variable}: expected a whole number" in result.output


def test_a_worker_refuses_a_bad_nice_value_at_start() -> None:
    result = CliRunner().invoke(main, ["worker"], env={"MENTORMATCH_WORKER_NICE": "20"})
    assert result.exit_code == 1
    assert f"MENTORMATCH_WORKER_NICE: {NICE}, got '20'" in result.output
