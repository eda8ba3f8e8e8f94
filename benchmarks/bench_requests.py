"""What one request costs the web tier and PostgreSQL, by endpoint, through gunicorn.

The production layout of ``benchmarks/load.py`` (``mentormatch serve``, two workers
on Redis, a scratch PostgreSQL database), a published program of 300 mentees x 100
mentors, and nothing else running: each endpoint is asked ``--requests`` times by
``--threads`` keep-alive clients, after a warm-up. The CPU columns are the seconds the
server's processes and PostgreSQL's spent (``/proc``), per request: the capacity a
core gives is 1,000 over their sum. The last row weighs the endpoints as the load
benchmark's mix does (30% program, 30% participant, 15% each page, 10% outcome post).
Writes ``results/requests.json`` (``python -m benchmarks.report`` puts the table in
``benchmarks/README.md``).

    .venv/bin/python -m benchmarks.bench_requests [--requests 1000] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks import load
from benchmarks.cpu import cpu_by_group
from benchmarks.report import Table, load_average, save

#: The load benchmark's mix (benchmarks/load.py, ``_one``).
MIX = {
    "program": 0.3,
    "participant": 0.3,
    "participants page": 0.15,
    "matches page": 0.15,
    "outcome post": 0.1,
}
COLUMNS = [
    "endpoint",
    "req/s",
    "wall ms",
    "web cpu ms",
    "PostgreSQL cpu ms",
    "req/s per core",
]


def _endpoints(tenant: load.Tenant) -> dict[str, tuple[str, str, Any]]:
    pid, who, match = tenant.program_id, tenant.participant_ids[5], tenant.match_ids[0]
    return {
        "health (no key, no database)": ("GET", "/health", None),
        "program": ("GET", f"/programs/{pid}", None),
        "participant": ("GET", f"/programs/{pid}/participants/{who}", None),
        "participants page": ("GET", f"/programs/{pid}/participants?limit=50", None),
        "matches page": ("GET", f"/programs/{pid}/matches?limit=50", None),
        "match": ("GET", f"/matches/{match}", None),
        "outcome post": ("POST", f"/matches/{match}/outcomes", load.OUTCOME),
    }


def _per_core(*cpu_ms: float) -> float | None:
    """Requests a core serves at these CPU milliseconds each (None: too few to tell:
    the kernel counts CPU in ticks of 10 ms)."""
    total = sum(cpu_ms)
    return 1000 / total if total > 0 else None


def measure(
    client: load.Http, tenant: load.Tenant, pids: dict[str, list[int]], n: int, threads: int
) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for name, (method, path, body) in _endpoints(tenant).items():

        def ask(
            _: int,
            method: str = method,
            path: str = path,
            body: Any = body,
            key: str = "" if name.startswith("health") else tenant.key,
        ) -> None:
            status, raw = client.call(key, method, path, body)
            if status not in (200, 201):
                raise RuntimeError(f"{method} {path}: {status} {raw[:200]!r}")

        for i in range(min(50, n)):
            ask(i)
        before, start = cpu_by_group(pids), time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(ask, range(n)))
        elapsed, after = time.perf_counter() - start, cpu_by_group(pids)
        web = (after["web"] - before["web"]) / n * 1000
        database = (after["postgres"] - before["postgres"]) / n * 1000
        per_core = _per_core(web, database)
        rows.append([name, n / elapsed, elapsed / n * 1000, web, database, per_core])
        print(
            " | ".join(f"{c:.2f}" if isinstance(c, float) else str(c) for c in rows[-1]), flush=True
        )
    costs = {row[0]: (row[3], row[4]) for row in rows}
    web = sum(share * costs[name][0] for name, share in MIX.items())
    database = sum(share * costs[name][1] for name, share in MIX.items())
    rows.append(["the load's mix (weighted)", None, None, web, database, _per_core(web, database)])
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--log", default="/tmp/mentormatch-requests.log")
    args = parser.parse_args(argv)
    load_before = load_average()
    with load.stack(args) as (client, _url, keys, pids):
        tenant = load.Tenant("A", keys[0])
        load.published_program(client, tenant, seed=10)
        rows = measure(client, tenant, pids, args.requests, args.threads)
    save(
        "requests",
        {"requests": Table(COLUMNS, rows, (None, ".0f", ".2f", ".2f", ".2f", ".0f"))},
        load_before=load_before,
    )


if __name__ == "__main__":
    main()
