"""Shared fixtures: every database test runs on SQLite and, when configured, PostgreSQL.

Set ``MENTORMATCH_TEST_DATABASE_URL`` (CI does, see .ci/run) to a PostgreSQL database
the tests may use as a maintenance connection: each test session creates its own
scratch database next to it and drops it at the end, so parallel sessions never meet.
Set ``MENTORMATCH_TEST_REDIS_URL`` for the tests marked ``redis``. Without a URL, the
tests that need the service are deselected and one line at the end says how many.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from models import Base, make_engine, make_session_factory
from models.migrate import upgrade

if TYPE_CHECKING:  # the factories import the API, which the numeric tests never need
    from tests.factories import Tenant

PG_ENV = "MENTORMATCH_TEST_DATABASE_URL"
#: The audit chain's key in every test session, app and started server (PostgreSQL
#: refuses to start without one); tests of the key's own rules unset it.
TEST_AUDIT_KEY = "test-audit-key-" + "0" * 32
os.environ.setdefault("MENTORMATCH_AUDIT_KEY", TEST_AUDIT_KEY)
REDIS_ENV = "MENTORMATCH_TEST_REDIS_URL"
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
_UNSERVED = pytest.StashKey[Counter[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"redis: needs a Redis server ({REDIS_ENV})")


def _service(item: pytest.Item) -> str | None:
    """The environment variable naming the server the test needs, if any."""
    callspec = getattr(item, "callspec", None)
    on_postgres = callspec is not None and callspec.params.get("db_url") == "postgresql"
    if on_postgres or item.get_closest_marker("postgres"):
        return PG_ENV
    if item.get_closest_marker("redis"):
        return REDIS_ENV
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the legs whose server is not configured (one summary line, not a skip each)."""
    kept: list[pytest.Item] = []
    unserved: list[pytest.Item] = []
    counts: Counter[str] = Counter()
    for item in items:
        env = _service(item)
        if env is not None and not os.environ.get(env):
            unserved.append(item)
            counts[env] += 1
        else:
            kept.append(item)
    config.stash[_UNSERVED] = counts
    if unserved:
        config.hook.pytest_deselected(items=unserved)
        items[:] = kept


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    names = {PG_ENV: "PostgreSQL", REDIS_ENV: "Redis"}
    for env, n in sorted(config.stash.get(_UNSERVED, Counter()).items()):
        terminalreporter.write_line(f"{n} {names[env]} tests deselected: set {env}")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str]:
    # Set, or pytest_collection_modifyitems deselected every test that gets here.
    admin_url = os.environ[PG_ENV].replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"mm_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    maintenance = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with maintenance.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with maintenance.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    maintenance.dispose()


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # Triggers off for this transaction (superuser): audit_events refuses TRUNCATE.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a copy of the SQLite template, or the PostgreSQL one."""
    if request.param == "sqlite":
        path = tmp_path / "db.sqlite3"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("_postgres_url")
    _truncate_all(url)
    return url


@pytest.fixture
def session_factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_session_factory(
        engine, info={"audit_key": os.environ["MENTORMATCH_AUDIT_KEY"].encode()}
    )
    engine.dispose()


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def app(db_url: str) -> Iterator[Any]:
    from api.app import create_app

    application = create_app({"DATABASE_URL": db_url, "TESTING": True, "LOG_LEVEL": "WARNING"})
    yield application
    application.extensions["mentormatch"].engine.dispose()


@pytest.fixture
def tenant(app: Any) -> Tenant:
    from tests.factories import make_tenant

    return make_tenant(app, "Acme", "owner@acme.example")


@pytest.fixture
def other_tenant(app: Any) -> Tenant:
    from tests.factories import make_tenant

    return make_tenant(app, "Globex", "owner@globex.example")


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()
