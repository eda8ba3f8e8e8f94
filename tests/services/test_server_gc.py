"""A gunicorn web worker freezes what it holds once its app is built
(``api.server.freeze_startup_objects``, gunicorn's ``post_worker_init``), so that a full
garbage collection no longer walks the app's objects while every request thread waits."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from api.server import freeze_startup_objects


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process goes on collecting as before


def test_the_app_objects_leave_the_collectors_walk() -> None:
    from api.app import create_app

    app = create_app({"DATABASE_URL": "sqlite://", "TESTING": True})
    engine = app.extensions["mentormatch"].engine
    assert any(o is engine for o in gc.get_objects())  # walked by every full collection
    freeze_startup_objects()
    assert not any(o is engine for o in gc.get_objects())  # frozen: walked no more
    assert len(gc.get_objects()) < 0.01 * gc.get_freeze_count()  # nor is almost anything
    assert engine.url.drivername == "sqlite"  # the app itself lives on


def test_garbage_is_collected_before_the_freeze_not_kept_with_it() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    gc.disable()  # nothing collects it in between but the function itself
    try:
        Cycle()
        assert any(type(o) is Cycle for o in gc.get_objects())
        freeze_startup_objects()
        gc.unfreeze()
        assert not any(type(o) is Cycle for o in gc.get_objects())
    finally:
        gc.enable()


def test_serve_freezes_each_worker_after_its_app_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    from api import server
    from api.settings import Settings

    options: dict[str, object] = {}

    class Gunicorn:
        def __init__(self, given: dict[str, object]) -> None:
            options.update(given)

        def run(self) -> None:
            pass

    monkeypatch.setattr(server, "_Gunicorn", Gunicorn)
    settings = Settings(no_worker=True)  # no companion worker to start
    assert server.run_server(settings, host="127.0.0.1", port=0, workers=1) == 0
    assert options["post_worker_init"] is server.freeze_startup_objects
    assert options["threads"] == settings.web_threads
