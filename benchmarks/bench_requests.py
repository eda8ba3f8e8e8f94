"""What one request costs the web tier and PostgreSQL, by endpoint, through gunicorn.

The production layout of ``benchmarks/load.py`` (``mentormatch serve``, two workers
on Redis, a scratch PostgreSQL database), a published program of 300 mentees x 100
mentors, and nothing else running: each endpoint is asked ``--requests`` times by
``--threads`` keep-alive clients, after a warm-up. The CPU columns are the seconds the
server's processes and PostgreSQL's spent (``/proc``), per request: the capacity a
core gives is 1,000 over their sum. The last row weighs the endpoints as the load
benchmark's mix does (30% program, 30% participant, 15% each page, 10% outcome post).
The flood's request, recommendations on a program of 1,000 per side, is measured on
organization C, a different participant each time (the expensive reads' limit raised
for it). Writes ``results/requests.json`` (``python -m benchmarks.report`` puts the table in
``benchmarks/README.md``).

    .venv/bin/python -m benchmarks.bench_requests [--requests 1000] [--threads 1] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


#: The flood's endpoint, on organization C's program of 1,000 per side.
RECOMMENDATIONS = "recommendations (1,000 x 1,000)"
#: The endpoints measured, in the table's order.
NAMES = (
    "health (no key, no database)",
    "program",
    "participant",
    "participants page",
    "matches page",
    "match",
    "outcome post",
    RECOMMENDATIONS,
)


@dataclass(frozen=True)
class Endpoint:
    key: str
    method: str
    paths: list[str]  # asked in turn
    body: Any = None


def _endpoints(tenant: load.Tenant, flood: load.Tenant | None) -> dict[str, Endpoint]:
    pid, who, match = tenant.program_id, tenant.participant_ids[5], tenant.match_ids[0]
    key = tenant.key
    endpoints = {
        "health (no key, no database)": Endpoint("", "GET", ["/health"]),
        "program": Endpoint(key, "GET", [f"/programs/{pid}"]),
        "participant": Endpoint(key, "GET", [f"/programs/{pid}/participants/{who}"]),
        "participants page": Endpoint(key, "GET", [f"/programs/{pid}/participants?limit=50"]),
        "matches page": Endpoint(key, "GET", [f"/programs/{pid}/matches?limit=50"]),
        "match": Endpoint(key, "GET", [f"/matches/{match}"]),
        "outcome post": Endpoint(key, "POST", [f"/matches/{match}/outcomes"], load.OUTCOME),
    }
    if flood is not None:  # a different participant each time, as the flood asks
        paths = [
            f"/programs/{flood.program_id}/participants/{p}/recommendations?limit=10"
            for p in flood.participant_ids
        ]
        endpoints[RECOMMENDATIONS] = Endpoint(flood.key, "GET", paths)
    return endpoints


def _per_core(*cpu_ms: float) -> float | None:
    """Requests a core serves at these CPU milliseconds each (None: too few to tell:
    the kernel counts CPU in ticks of 10 ms)."""
    total = sum(cpu_ms)
    return 1000 / total if total > 0 else None


def measure(
    client: load.Http,
    endpoints: dict[str, Endpoint],
    pids: dict[str, list[int]],
    n: int,
    threads: int,
) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for name, endpoint in endpoints.items():

        def ask(i: int, e: Endpoint = endpoint) -> None:
            path = e.paths[i % len(e.paths)]
            status, raw = client.call(e.key, e.method, path, e.body)
            if status not in (200, 201):
                raise RuntimeError(f"{e.method} {path}: {status} {raw[:200]!r}")

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
    if not set(MIX) <= set(costs):
        return rows
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
    parser.add_argument(
        "--only",
        nargs="+",
        choices=NAMES,
        metavar="NAME",
        help="measure these endpoints only (names as in the table); nothing is saved",
    )
    args = parser.parse_args(argv)
    load_before = load_average()
    # Measured, not limited: the expensive reads' limit would refuse most of them.
    os.environ.setdefault("MENTORMATCH_RATE_LIMIT_EXPENSIVE", "1000000/minute")
    with load.stack(args) as (client, _url, keys, pids):
        tenant = load.Tenant("A", keys[0])
        load.published_program(client, tenant, seed=10)
        flood = None
        if not args.only or RECOMMENDATIONS in args.only:
            flood = load.Tenant("C", keys[2])
            load.flood_program(client, flood, 1000)
        endpoints = _endpoints(tenant, flood)
        if args.only:
            endpoints = {name: endpoints[name] for name in args.only}
        rows = measure(client, endpoints, pids, args.requests, args.threads)
    if args.only:  # a part of the table: results/requests.json keeps the whole one
        return
    save(
        "requests",
        {"requests": Table(COLUMNS, rows, (None, ".0f", ".2f", ".2f", ".2f", ".0f"))},
        load_before=load_before,
    )


if __name__ == "__main__":
    main()
