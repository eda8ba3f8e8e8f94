"""``mentormatch serve``: the app under gunicorn, the production WSGI server.

Without ``MENTORMATCH_REDIS_URL`` the jobs queue is the embedded SQLite one, and
``serve`` also starts its consumer (unless ``MENTORMATCH_NO_WORKER``): a companion
``mentormatch worker`` process that lives and dies with the server (stopped on exit,
and sent SIGTERM by the kernel should the server die first), so one command runs the
whole service. :class:`CompanionWorker` supervises it from a thread of the server's
main process: a worker that dies is logged and started again, after 1 s, then twice
as long at each death in a row up to :data:`RESTART_MAX_SECONDS` (back to 1 s once one
ran :data:`STABLE_SECONDS`). Meanwhile no heartbeat is written, so readiness reports
the worker down. The decision and the worker count come from the :class:`Settings`
the command passes in.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from api.held import HoldingWorker
from api.logs import GunicornLogger
from api.services.runs.queue import die_with_parent
from api.settings import Settings

log = logging.getLogger("mentormatch.server")
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
#: A worker that ran this long before dying was healthy: its successor starts at once.
STABLE_SECONDS = 60.0


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from api.app import create_app

        return create_app()


def needs_companion_worker(settings: Settings) -> bool:
    """The SQLite queue has no other consumer unless the operator says they run one."""
    return not settings.redis_url and not settings.no_worker


class CompanionWorker:
    """Keeps one ``mentormatch worker`` process running until :meth:`stop`."""

    def __init__(self, settings: Settings) -> None:
        workers = str(settings.job_workers)
        self.command = [sys.executable, "-m", "api.cli", "worker", "--workers", workers]
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # between starting a process and stopping it
        # gunicorn forks its web workers from inside run_server: they carry a copy of
        # this object (and run its `finally`) but the worker is not theirs to stop.
        self._owner = os.getpid()
        self._thread = threading.Thread(target=self._supervise, name="companion", daemon=True)
        # Linux: the kernel sends SIGTERM to the worker when the thread that started it
        # ends, the supervisor, which lives as long as the server (even one SIGKILLed).
        self._die_with_server = die_with_parent(signal.SIGTERM)

    def start(self) -> CompanionWorker:
        self._thread.start()
        return self

    def _supervise(self) -> None:
        delay = RESTART_FIRST_SECONDS
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                process = self.process = subprocess.Popen(
                    self.command, preexec_fn=self._die_with_server
                )
            started = time.monotonic()
            # (0 if gunicorn's SIGCHLD handler reaped it first: the status is gone.)
            status = process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= STABLE_SECONDS:
                delay = RESTART_FIRST_SECONDS
            log.error(
                "companion worker died; restarting it",
                extra={"pid": process.pid, "status": status, "restart_in_seconds": delay},
            )
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, RESTART_MAX_SECONDS)

    def stop(self, timeout: float = 10) -> None:
        """Stop supervising and the worker: SIGTERM, then SIGKILL after ``timeout``."""
        if os.getpid() != self._owner:
            return
        with self._lock:
            self._stopping.set()
            process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread.is_alive():
            self._thread.join(timeout)


def share_metrics(settings: Settings) -> None:
    """With ``metrics_dir``, every process started from here on (web workers, the
    companion worker) writes its metrics there (prometheus-client's multiprocess mode,
    chosen when it is first imported). The previous server's files are removed first:
    counters start again at zero with the server, as Prometheus expects of a restart."""
    if settings.metrics_dir is None:
        return
    settings.metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in settings.metrics_dir.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.metrics_dir)
    # prometheus-client picks its value class when first imported, and the command's
    # imports may have loaded it already: pick again, now that the variable is set (the
    # metrics have labels, so none has a value before a worker's first request or run).
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def freeze_startup_objects(_worker: object = None) -> None:
    """Move every object a web worker holds once its app is built (modules, the app,
    schemas, SQLAlchemy's mappers: some 190,000) out of the garbage collector's reach.

    A full collection walks every tracked object while holding the GIL, stalling each
    request thread of the process: 160 ms was seen for one, in a worker serving pages
    of participants, where a request takes a few. These objects live as long as the
    process anyway; after ``gc.freeze`` a full collection walks only what requests
    created since (about 1 ms). Garbage already unreachable is collected first, so
    freezing keeps none of it.
    """
    gc.collect()
    gc.freeze()


def _metrics_child_exit(settings: Settings) -> Callable[[Any, Any], None]:
    def child_exit(_arbiter: Any, worker: Any) -> None:
        if settings.metrics_dir is not None:  # its live gauges go; its counts are kept
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(worker.pid, str(settings.metrics_dir))  # type: ignore[no-untyped-call]

    return child_exit


def run_server(settings: Settings, *, host: str, port: int, workers: int) -> int:
    share_metrics(settings)
    companion = CompanionWorker(settings).start() if needs_companion_worker(settings) else None

    def stop_companion(_arbiter: object = None) -> None:
        if companion is not None:
            companion.stop()

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": settings.web_threads,
        "worker_class": HoldingWorker,  # gthread, holding refused clients (api.held)
        "timeout": 120,
        # The app logs each request itself, with its request id; gunicorn's access log
        # (client address, bytes sent) is optional. Both logs are JSON (api/logs.py).
        "accesslog": "-" if settings.gunicorn_access_log else None,
        "logger_class": GunicornLogger,
        "child_exit": _metrics_child_exit(settings),
        "preload_app": False,
        "post_worker_init": freeze_startup_objects,
        "on_exit": stop_companion,
    }
    try:
        _Gunicorn(options).run()
    finally:
        stop_companion()
    return 0
