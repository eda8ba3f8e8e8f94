"""What a rate-limit check costs a request (api/limits.py), in memory and on Redis.

Two rows per storage: the limiter's own work for one request (one hit of the
per-organization default, ``limits``' sliding-window counter as the app uses it, keys
spread over 100 organizations), and a whole cheap read (``GET /v1/programs/{id}``
through the Flask test client on SQLite, the default and no expensive limit in play)
with the counts in that storage. Medians of ``--batches`` batches of ``--requests``.

    .venv/bin/python -m benchmarks.bench_limits --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from api.limits import KEY_PREFIX
from api.settings import Settings


def _per_call(call: Any, count: int, batches: int) -> float:
    """Median microseconds per call over ``batches`` batches of ``count`` calls."""
    call()  # warm-up: connections, caches
    times = []
    for _ in range(batches):
        started = time.perf_counter()
        for i in range(count):
            call(i)
        times.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(times)


def limiter_hit(storage: str, count: int, batches: int) -> float:
    limiter = SlidingWindowCounterRateLimiter(storage_from_string(storage))
    item = parse(Settings().rate_limit_default)
    return _per_call(
        lambda i=0: limiter.hit(item, KEY_PREFIX, f"organization:bench-{i % 100}", "global"),
        count,
        batches,
    )


def cheap_read(storage: str, count: int, batches: int) -> float:
    from api.app import create_app
    from models.migrate import upgrade
    from tests.factories import CONFIG, make_tenant

    directory = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    url = f"sqlite:///{directory / 'bench.sqlite3'}"
    upgrade(url)
    app = create_app(
        {
            "DATABASE_URL": url,
            "JOBS_PATH": str(directory / "jobs.sqlite3"),
            "RATE_LIMIT_STORAGE": storage,
            "RATE_LIMIT_DEFAULT": "1000000/minute",  # counted, never reached
            "LOG_LEVEL": "WARNING",
        }
    )
    client = app.test_client()
    tenant = make_tenant(app, f"Bench {os.getpid()}", "owner@bench.example")
    created = client.post(
        "/v1/programs", json={"name": "Bench", "config": CONFIG}, headers=tenant.headers
    )
    path = f"/v1/programs/{created.json['id']}"

    def read(_i: int = 0) -> None:
        assert client.get(path, headers=tenant.headers).status_code == 200

    try:
        return _per_call(read, count, batches)
    finally:
        app.extensions["mentormatch"].engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="a Redis URL to measure too (keys expire in 2 min)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("MENTORMATCH_AUDIT_KEY", "bench-audit-key-" + "0" * 32)
    storages = ["memory://"] + ([args.redis] if args.redis else [])
    print("| storage | limiter hit (us) | GET /v1/programs/{id} (us) |")
    print("|---|---:|---:|")
    for storage in storages:
        hit = limiter_hit(storage, args.requests, args.batches)
        read = cheap_read(storage, args.requests // 4, args.batches)
        shown = "memory" if storage.startswith("memory") else "redis (loopback)"
        print(f"| {shown} | {hit:.0f} | {read:.0f} |")


if __name__ == "__main__":
    main()
