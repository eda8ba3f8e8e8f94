"""``mentormatch serve``: the app under gunicorn, the production WSGI server.

Without ``MENTORMATCH_REDIS_URL`` the jobs queue is the embedded SQLite one, and
``serve`` also starts its consumer (unless ``MENTORMATCH_NO_WORKER``): a companion
``mentormatch worker`` process that lives and dies with the server (stopped on exit,
and sent SIGTERM by the kernel should the server die first), so one command runs the
whole service. The decision and the worker count come from the :class:`Settings`
the command passes in.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from api.logs import GunicornLogger
from api.settings import Settings

log = logging.getLogger("mentormatch.server")
PR_SET_PDEATHSIG = 1


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


def _die_with_parent() -> None:
    # Linux: the kernel sends SIGTERM to the worker when the server process ends,
    # even by SIGKILL. Elsewhere the `finally` in run_server is the only guard.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def needs_companion_worker(settings: Settings) -> bool:
    """The SQLite queue has no other consumer unless the operator says they run one."""
    return not settings.redis_url and not settings.no_worker


def start_companion_worker(settings: Settings) -> subprocess.Popen[bytes]:
    workers = str(settings.job_workers)
    command = [sys.executable, "-m", "api.cli", "worker", "--workers", workers]
    return subprocess.Popen(command, preexec_fn=_die_with_parent)


def stop_companion_worker(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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


def _metrics_child_exit(settings: Settings) -> Callable[[Any, Any], None]:
    def child_exit(_arbiter: Any, worker: Any) -> None:
        if settings.metrics_dir is not None:  # its live gauges go; its counts are kept
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(worker.pid, str(settings.metrics_dir))  # type: ignore[no-untyped-call]

    return child_exit


def run_server(settings: Settings, *, host: str, port: int, workers: int) -> int:
    share_metrics(settings)
    companion = start_companion_worker(settings) if needs_companion_worker(settings) else None
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": 4,
        "worker_class": "gthread",
        "timeout": 120,
        # The app logs each request itself, with its request id; gunicorn's access log
        # (client address, bytes sent) is optional. Both logs are JSON (api/logs.py).
        "accesslog": "-" if settings.access_log else None,
        "logger_class": GunicornLogger,
        "child_exit": _metrics_child_exit(settings),
        "preload_app": False,
        "on_exit": lambda _arbiter: stop_companion_worker(companion),
    }
    try:
        _Gunicorn(options).run()
    finally:
        stop_companion_worker(companion)
    return 0
