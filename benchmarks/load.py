"""The API under load from three tenants at once, on loopback, bounded in time.

Starts the production layout on this machine: ``mentormatch serve`` (gunicorn) and two
``mentormatch worker`` processes on Redis, a scratch PostgreSQL database. Three
organizations:

* **A and B, well behaved**: an open-loop mix at a fixed offered rate, split evenly
  between them: single resources (a program, a participant), pages of 50 (participants,
  matches) and outcome posts on their published matches. Meanwhile a background
  process keeps a dry run of each of A's and B's larger programs executing, one after
  the other.
* **C, flooding**: ``--flood`` threads (the issue's 16) asking for recommendations on a
  large program in a closed loop, ignoring every ``Retry-After``.

Open loop: request *i* of a step is due at ``start + i / rate`` whether or not the
earlier ones have answered, and its latency counts from that due time, so a server
that falls behind shows it (no coordinated omission). Each step reports throughput,
p50/p99 per tenant, errors (anything but the expected 200/201, or no answer), and at
the end every accepted outcome post is looked up in the database. Before the steps the
scratch database is analyzed (:func:`analyze`; ``--no-analyze`` measures the programs
as just imported).

    .venv/bin/python -m benchmarks.load [--rates 50 100 200 300 400] [--seconds 10] [--flood 16]

Needs PostgreSQL (``--database``, a maintenance URL: a scratch database is created next
to it and dropped) and Redis (``--redis``; a queue name of its own, nothing flushed).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.services.csv_format import participants_csv
from benchmarks.bench_run import _port
from benchmarks.cpu import cpu_by_group
from scoring.synthetic import generate_cohort

BIN = Path(sys.executable).parent
AUDIT_KEY = "load-benchmark-audit-key-" + "0" * 32
#: Seconds a step may overrun; also the client's timeout for one answer.
GRACE = 10.0
OUTCOME = {"meetings": 3, "messages": 12, "mentor_rating": 4}


@dataclass
class Tenant:
    """One organization as the load sees it: its key and the ids it reads and writes."""

    name: str
    key: str
    program_id: str = ""
    participant_ids: list[str] = field(default_factory=list)
    match_ids: list[str] = field(default_factory=list)
    big_program_id: str = ""


class Http:
    """Keep-alive HTTP/1.1 to the server, one connection per thread."""

    def __init__(self, port: int, timeout: float = 300) -> None:
        self.port, self.timeout = port, timeout
        self.local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close every thread's connection (the threads may be gone)."""
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()

    def call(self, key: str, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = None
        headers = {"Authorization": f"Bearer {key}", "Accept-Encoding": "identity"}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = "text/csv" if isinstance(body, bytes) else "application/json"
        for attempt in (1, 2):  # a keep-alive connection the server closed: reconnect once
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout
                )
                with self._lock:
                    self._opened.append(conn)
            try:
                conn.request(method, "/v1" + path, body=data, headers=headers)
                response = conn.getresponse()
                return response.status, response.read()
            except TimeoutError:
                # No answer in time: the server may be at it (a POST that waits for its
                # run), so it is not sent again.
                conn.close()
                self.local.conn = None
                raise
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def json(self, key: str, method: str, path: str, body: Any = None) -> Any:
        status, raw = self.call(key, method, path, body)
        if status >= 400:
            raise RuntimeError(f"{method} {path}: {status} {raw[:300]!r}")
        return json.loads(raw or b"null")


@contextmanager
def stack(args: argparse.Namespace) -> Iterator[tuple[Http, str, list[str], dict[str, list[int]]]]:
    """A scratch database, the server, two workers; yields the client, the database URL,
    three owners' keys and the pids of the server and of the workers (``web``,
    ``workers``). Everything it started is stopped at the end."""
    maintenance = create_engine(args.database, isolation_level="AUTOCOMMIT")
    name = f"mentormatch_load_{uuid.uuid4().hex[:8]}"
    with maintenance.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.database).set(database=name).render_as_string(hide_password=False)
    env = {
        **os.environ,
        "MENTORMATCH_DATABASE_URL": url,
        "MENTORMATCH_REDIS_URL": args.redis,
        "MENTORMATCH_QUEUE_NAME": name,
        "MENTORMATCH_AUDIT_KEY": AUDIT_KEY,
        "MENTORMATCH_WEB_WORKERS": str(args.web_workers),
        "MENTORMATCH_WEB_THREADS": str(getattr(args, "web_threads", 4)),
        "MENTORMATCH_LOG_LEVEL": "WARNING",
    }
    cmd = str(BIN / "mentormatch")
    processes: list[subprocess.Popen[bytes]] = []
    stack_log = ExitStack()  # the processes' log, closed with them
    try:
        subprocess.run([cmd, "db", "upgrade"], env=env, check=True, capture_output=True)
        keys = [
            subprocess.run(
                [cmd, "create-org", org, "--owner", f"owner@{org.lower()}.example"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()[-1]
            for org in ("A", "B", "C")
        ]
        port = _port()
        log = stack_log.enter_context(Path(args.log).open("wb"))  # noqa: SIM115 - see above
        processes.append(subprocess.Popen([cmd, "serve", "--port", str(port)], env=env, stderr=log))
        for _ in range(2):
            processes.append(
                subprocess.Popen([cmd, "worker", "--workers", "1"], env=env, stderr=log)
            )
        client = Http(port)
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.call("", "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {args.log}")
            time.sleep(0.2)
        pids = {"web": [processes[0].pid], "workers": [p.pid for p in processes[1:]]}
        try:
            yield client, url, keys, pids
        finally:
            client.close()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        stack_log.close()
        with maintenance.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        maintenance.dispose()


def _program(client: Http, tenant: Tenant, n_mentees: int, n_mentors: int, seed: int) -> str:
    mentees, mentors, config = generate_cohort(n_mentees, n_mentors, seed=seed)
    keys = [f["key"] for f in config["fields"]]
    program = client.json(
        tenant.key, "POST", "/programs", {"name": f"load {seed}", "config": config}
    )
    for people, role in ((mentees, "mentee"), (mentors, "mentor")):
        body = participants_csv(people, role, keys).encode()
        uploaded = client.json(tenant.key, "POST", f"/programs/{program['id']}/participants", body)
        tenant.participant_ids.extend(uploaded["ids"])
    return str(program["id"])


def published_program(client: Http, tenant: Tenant, *, seed: int) -> None:
    """The tenant's program of 300 mentees x 100 mentors, run and published: its
    ``program_id``, ``participant_ids`` and ``match_ids`` (the published matches)."""
    tenant.program_id = _program(client, tenant, 300, 100, seed=seed)
    pid = tenant.program_id
    run = client.json(tenant.key, "POST", f"/programs/{pid}/runs?wait=60", {})
    while run["status"] in ("queued", "running"):
        time.sleep(0.5)
        run = client.json(tenant.key, "GET", f"/programs/{pid}/runs/{run['id']}")
    client.json(tenant.key, "POST", f"/programs/{pid}/runs/{run['id']}/publish", {})
    page = client.json(tenant.key, "GET", f"/programs/{pid}/matches?status=published&limit=1000")
    tenant.match_ids = [m["id"] for m in page["items"]]


def prepare(client: Http, keys: list[str], args: argparse.Namespace) -> list[Tenant]:
    """A and B: a small published program (reads, outcome posts) and a larger one (the
    background runs). C: one program of ``--flood-size`` per side (recommendations)."""
    tenants = [Tenant(name, key) for name, key in zip("ABC", keys, strict=True)]
    for k, tenant in enumerate(tenants[:2]):
        published_program(client, tenant, seed=10 + k)
        small = list(tenant.participant_ids)
        tenant.big_program_id = _program(client, tenant, args.run_size, args.run_size, seed=20 + k)
        tenant.participant_ids = small
    flood_program(client, tenants[2], args.flood_size)
    return tenants


def flood_program(client: Http, tenant: Tenant, size: int) -> str:
    """The flooding tenant's program of ``size`` per side: its ``program_id`` and
    ``participant_ids``."""
    tenant.program_id = _program(client, tenant, size, size, seed=30)
    return tenant.program_id


def _background(port: int, tenants: list[Tenant], flood: int, stop: Any, out: Any) -> None:
    """A separate process: A's and B's dry runs back to back, C's recommendation flood."""
    client = Http(port, timeout=60)
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def count(key: str) -> None:
        with lock:
            counts[key] = counts.get(key, 0) + 1

    def call(tenant: Tenant, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        try:
            return client.call(tenant.key, method, path, body)
        except (http.client.HTTPException, OSError):
            return 0, b""  # no answer within the client's timeout

    def runs(tenant: Tenant) -> None:
        path = f"/programs/{tenant.big_program_id}/runs"
        while not stop.is_set():
            status, raw = call(tenant, "POST", path, {"dry_run": True})
            if status != 202:
                count(f"{tenant.name} runs {status}")
                stop.wait(1)  # refused (one still active, or rate-limited): later
                continue
            run_id = json.loads(raw)["id"]
            state = "queued"
            while state in ("queued", "running") and not stop.wait(0.5):
                status, raw = call(tenant, "GET", f"{path}/{run_id}")
                state = json.loads(raw)["status"] if status == 200 else state
            count(f"{tenant.name} runs {state}")

    def recommendations(c: Tenant, seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            who = rng.choice(c.participant_ids)
            path = f"/programs/{c.program_id}/participants/{who}/recommendations?limit=10"
            status, _ = call(c, "GET", path)
            count(f"C recommendations {status}")

    threads = [threading.Thread(target=runs, args=(t,), daemon=True) for t in tenants[:2]]
    threads += [
        threading.Thread(target=recommendations, args=(tenants[2], i), daemon=True)
        for i in range(flood)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(counts)


@dataclass
class Sample:
    tenant: str
    kind: str
    status: int  # 0: no answer
    latency: float  # seconds from the request's due time to its answer
    outcome_id: str | None = None


def _one(client: Http, tenant: Tenant, rng: random.Random, due: float) -> Sample:
    roll = rng.random()
    pid = tenant.program_id
    if roll < 0.3:
        kind, method, path, body = "program", "GET", f"/programs/{pid}", None
    elif roll < 0.6:
        who = rng.choice(tenant.participant_ids)
        kind, method, path, body = "participant", "GET", f"/programs/{pid}/participants/{who}", None
    elif roll < 0.75:
        kind, method, path, body = "page", "GET", f"/programs/{pid}/participants?limit=50", None
    elif roll < 0.9:
        kind, method, path, body = "page", "GET", f"/programs/{pid}/matches?limit=50", None
    else:
        mid = rng.choice(tenant.match_ids)
        kind, method, path, body = "outcome", "POST", f"/matches/{mid}/outcomes", OUTCOME
    try:
        status, raw = client.call(tenant.key, method, path, body)
    except (http.client.HTTPException, OSError):
        status, raw = 0, b""
    latency = time.perf_counter() - due
    outcome = json.loads(raw)["id"] if kind == "outcome" and status == 201 else None
    return Sample(tenant.name, kind, status, latency, outcome)


def step(
    client: Http, tenants: list[Tenant], rate: float, seconds: float
) -> tuple[list[Sample], float]:
    """``rate`` requests per second for ``seconds``, alternating A and B, on the clock.

    Bounded: a request not started within :data:`GRACE` seconds after the step ends is
    not sent, and counts as an error (status 0) with its wait so far as its latency.
    """
    rng = random.Random(int(rate))
    total = int(rate * seconds)
    pool = ThreadPoolExecutor(max_workers=96)
    start = time.perf_counter() + 0.05
    futures: list[tuple[float, str, Future[Sample]]] = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        tenant = tenants[i % 2]
        job = pool.submit(_one, client, tenant, random.Random(rng.random()), due)
        futures.append((due, tenant.name, job))
    wait([f for _, _, f in futures], timeout=GRACE)
    now = time.perf_counter()
    dropped = {id(job) for _, _, job in futures if job.cancel()}  # all at once, then wait
    samples = [
        Sample(name, "not sent", 0, now - due) if id(job) in dropped else job.result()
        for due, name, job in futures
    ]
    pool.shutdown()
    return samples, time.perf_counter() - start


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:  # statistics.quantiles wants two at least
        return values[0] * 1000
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1] * 1000


def report_row(rate: float, samples: list[Sample], elapsed: float) -> str:
    ok = {"outcome": 201}
    errors = [s for s in samples if s.status != ok.get(s.kind, 200)]
    answered = sum(1 for s in samples if s.status != 0)
    cells = [f"{rate:.0f}", f"{answered / elapsed:.0f}"]
    for name in "AB":
        mine = [s.latency for s in samples if s.tenant == name]
        cells += [f"{_pct(mine, 50):.1f}", f"{_pct(mine, 99):.1f}"]
    writes = sum(1 for s in samples if s.outcome_id)
    statuses = sorted({s.status for s in errors})
    cells += [f"{len(errors)}" + (f" ({statuses})" if statuses else ""), str(writes)]
    return "| " + " | ".join(cells) + " |"


#: The kinds of request of the mix, as :func:`_one` names them.
KINDS = ("program", "participant", "page", "outcome")


def kind_row(rate: float, samples: list[Sample]) -> str:
    """A step's p50 and p99 by kind of request, A's and B's together: which requests
    make the tail. Requests never sent (errors of the main table) are in no kind."""
    cells = [f"{rate:.0f}"]
    for kind in KINDS:
        mine = [s.latency for s in samples if s.kind == kind]
        cells.append(f"{_pct(mine, 50):.1f} / {_pct(mine, 99):.1f}")
    return "| " + " | ".join(cells) + " |"


def analyze(url: str) -> None:
    """``VACUUM ANALYZE`` the scratch database once its programs are loaded: the state
    autovacuum brings a database to within a minute or two of an import, which the
    steps would otherwise spend with plans made without statistics (PostgreSQL then
    read the people of a page through the organization's index, every participant of
    it: 3.7 times the CPU, and 0.1 cores more at 300 requests per second)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def lost_writes(url: str, ids: list[str]) -> int:
    engine = create_engine(url)
    with engine.connect() as c:
        found = c.execute(
            text("SELECT count(*) FROM outcomes WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
        ).scalar_one()
    engine.dispose()
    return len(ids) - int(found)


def measure(
    load: Http, tenants: list[Tenant], args: argparse.Namespace, pids: dict[str, list[int]]
) -> list[str]:
    """Every step's row of the table, then each step's latency by kind of request, and
    where the CPU went in each step (cores used by the server, the workers, PostgreSQL
    and the load's own clients); returns the ids of the accepted outcome posts."""
    print(
        "| offered req/s | served req/s | A p50 ms | A p99 ms | B p50 ms | B p99 ms "
        "| errors | outcome posts |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|---:|")
    accepted: list[str] = []
    cpu_rows = []
    kind_rows = []
    for rate in args.rates:
        before = cpu_by_group(pids)
        samples, elapsed = step(load, tenants, rate, args.seconds)
        after = cpu_by_group(pids)
        accepted += [s.outcome_id for s in samples if s.outcome_id]
        print(report_row(rate, samples, elapsed), flush=True)
        cores = {name: (after[name] - before[name]) / elapsed for name in after}
        cpu_rows.append((rate, cores))
        kind_rows.append(kind_row(rate, samples))
    print()
    print("| offered req/s | " + " | ".join(f"{kind} p50/p99 ms" for kind in KINDS) + " |")
    print("|---:|" + "---:|" * len(KINDS))
    for row in kind_rows:
        print(row)
    print()
    print("| offered req/s | web cores | worker cores | PostgreSQL cores | client cores |")
    print("|---:|---:|---:|---:|---:|")
    for rate, cores in cpu_rows:
        cells = [cores[name] for name in ("web", "workers", "postgres", "clients")]
        print(f"| {rate:.0f} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[50, 100, 200, 300, 400])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--flood", type=int, default=16)
    parser.add_argument("--flood-size", type=int, default=1000)
    parser.add_argument("--run-size", type=int, default=1000)
    parser.add_argument("--log", default="/tmp/mentormatch-load.log")
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="measure the just-imported programs as they are, before any statistics",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # `timeout`: still clean up
    with stack(args) as (client, url, keys, pids):
        tenants = prepare(client, keys, args)
        if not args.no_analyze:
            analyze(url)
        print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
        stop = multiprocessing.Event()
        out: multiprocessing.Queue[dict[str, int]] = multiprocessing.Queue()
        background = multiprocessing.Process(
            target=_background, args=(client.port, tenants, args.flood, stop, out), daemon=True
        )
        background.start()
        try:
            time.sleep(3)  # the flood and the first runs under way
            accepted = measure(Http(client.port, timeout=GRACE), tenants, args, pids)
        finally:
            stop.set()
        counts = out.get(timeout=120)
        background.join(120)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        print("background:", json.dumps(dict(sorted(counts.items()))))
        print(
            f"accepted outcome posts: {len(accepted)}; missing from the database: "
            f"{lost_writes(url, accepted)}"
        )


if __name__ == "__main__":
    main()
