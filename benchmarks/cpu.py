"""Where the CPU went: seconds of CPU by group of processes, read from Linux's /proc.

``benchmarks/load.py`` and ``benchmarks/bench_requests.py`` take a reading before and
after a step: the server's processes, the workers, PostgreSQL and the load's clients.
"""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str, float]]:
    """Every process on the machine: pid -> (parent pid, command, CPU seconds so far)."""
    found: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        command = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[1] is the parent pid, fields[11] and [12] user and system time (ticks).
        found[int(entry.name)] = (
            int(fields[1]),
            command,
            (int(fields[11]) + int(fields[12])) / TICK,
        )
    return found


def cpu_by_group(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each group's processes and their descendants, of this
    process and its children (the load's clients), and of PostgreSQL's processes."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)

    def tree(roots: list[int], leave_out: frozenset[int] = frozenset()) -> float:
        total, todo = 0.0, list(roots)
        while todo:
            pid = todo.pop()
            total += table[pid][2] if pid in table else 0.0
            todo += [child for child in children.get(pid, []) if child not in leave_out]
        return total

    groups = {name: tree(roots) for name, roots in pids.items()}
    # The server and the workers are this process's children too: not the clients'.
    started = frozenset(pid for roots in pids.values() for pid in roots)
    groups["clients"] = tree([os.getpid()], leave_out=started)
    groups["postgres"] = sum(cpu for _, command, cpu in table.values() if command == "postgres")
    return groups
