"""A matching run through the real HTTP API and worker, from upload to stored proposals.

Starts ``mentormatch serve`` and one ``mentormatch worker`` on a scratch SQLite
database (SQLite queue), then per cohort size: upload both sides as CSV, press
"run matching", poll until the run is done, and read every proposal back. Prints
seconds per phase as seen by the client, and the run's own phase timings.

    .venv/bin/python -m benchmarks.bench_run [--sizes 1000 5000 10000]

Writes ``results/run.json`` and ``results/run.png``; ``python -m benchmarks.report``
puts the table into ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from api.services.csv_format import participants_csv
from benchmarks import plots
from benchmarks.report import RESULTS, Table, load_average, save
from scoring.synthetic import generate_cohort

BIN = Path(sys.executable).parent
PHASES = ["load", "score", "assign", "stability", "explain", "persist", "total"]
COLUMNS = ["n per side", "upload", "run->stored", "fetch", "matched", *PHASES, "method"]
COLUMNS.append("load average")


def _call(base: str, key: str, method: str, path: str, body: Any = None, ctype: str = "") -> Any:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", ctype or "application/json")
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read() or b"null")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench(base: str, key: str, n: int) -> dict[str, Any]:
    mentees, mentors, config = generate_cohort(n, n, seed=n)
    keys = [f["key"] for f in config["fields"]]
    csvs = [
        participants_csv(p, r, keys).encode() for p, r in ((mentees, "mentee"), (mentors, "mentor"))
    ]
    program = _call(base, key, "POST", "/programs", {"name": f"bench {n}", "config": config})
    pid = program["id"]
    t0 = time.perf_counter()
    for body in csvs:
        _call(base, key, "POST", f"/programs/{pid}/participants", body, "text/csv")
    upload = time.perf_counter() - t0

    t0 = time.perf_counter()
    run = _call(base, key, "POST", f"/programs/{pid}/runs", {})
    while run["status"] in ("queued", "running"):
        time.sleep(0.1)
        run = _call(base, key, "GET", f"/programs/{pid}/runs/{run['id']}")
    to_stored = time.perf_counter() - t0
    if run["status"] != "succeeded":
        raise SystemExit(f"run failed: {run['error']}")

    t0 = time.perf_counter()
    fetched, cursor = 0, None
    try:
        while True:
            query = f"?limit=1000&cursor={cursor}" if cursor else "?limit=1000"
            page = _call(base, key, "GET", f"/programs/{pid}/runs/{run['id']}/matches{query}")
            fetched += len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
    except urllib.error.HTTPError as exc:
        fetched = -exc.code  # the proposals endpoint is missing or failed
    fetch = time.perf_counter() - t0
    return {
        "n": n,
        "upload": upload,
        "button_to_stored": to_stored,
        "fetch": fetch,
        "fetched": fetched,
        "stats": run["stats"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    args = parser.parse_args(argv)
    started_load = load_average()
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    work = Path(tempfile.mkdtemp(prefix="mm-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORMATCH_")}
    env.update(
        MENTORMATCH_DATABASE_URL=f"sqlite:///{work / 'bench.sqlite3'}",
        MENTORMATCH_NO_WORKER="1",
        MENTORMATCH_LOG_LEVEL="WARNING",
    )
    cli = str(BIN / "mentormatch")
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [cli, "create-org", "Bench", "--owner", "o@bench.example"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    key = out.strip().splitlines()[-1]
    port = _port()
    base = f"http://127.0.0.1:{port}/v1"
    log = (work / "processes.log").open("wb")
    procs = [
        subprocess.Popen([cli, "serve", "--port", str(port)], env=env, stdout=log, stderr=log),
        subprocess.Popen([cli, "worker"], env=env, stdout=log, stderr=log),
    ]
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        print(
            f"{'n per side':>10} {'upload':>7} {'run->stored':>11} {'fetch':>6} {'matched':>8} | "
            + " ".join(f"{p:>9}" for p in PHASES)
            + " | method, 1-min load average before -> after"
        )
        rows = [_row(base, key, n) for n in args.sizes]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()
    shutil.rmtree(work)  # kept (with the processes' log) only when a size failed
    formats = [None, ".2f", ".2f", ".2f", None, *[".2f"] * len(PHASES)]  # seconds: 2 decimals
    save("run", {"run": Table(COLUMNS, rows, formats)}, load_before=started_load)
    plots.run(RESULTS)


def _row(base: str, key: str, n: int) -> list[Any]:
    """One size through the service, printed, as a row of :data:`COLUMNS`."""
    load_before = load_average()
    r = bench(base, key, n)
    s = r["stats"]
    load = f"{load_before:.2f} -> {load_average():.2f}"
    print(
        f"{n:>10} {r['upload']:>7.2f} {r['button_to_stored']:>11.2f} {r['fetch']:>6.2f} "
        f"{s['matched']:>8} | "
        + " ".join(f"{s['seconds'].get(p, 0):>9.2f}" for p in PHASES)
        + f" | {s.get('method')}, load {load}",
        flush=True,
    )
    row: list[Any] = [n, round(r["upload"], 3), round(r["button_to_stored"], 3)]
    row += [round(r["fetch"], 3), s["matched"]]
    row += [round(float(s["seconds"].get(p, 0)), 3) for p in PHASES]
    return [*row, s.get("method"), load]


if __name__ == "__main__":
    main()
