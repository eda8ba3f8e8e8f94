"""The manners of ``mentormatch match``: exit codes, a progress display, the summary.

Exit codes: 0 done, 1 a usage error (an unknown option, a missing one, a value of the
wrong type), 2 bad input (a file missing or unreadable, a row or a config that does
not pass the checks: the message names the file, the row and the column).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from api.services.batch import BatchResult

EXIT_USAGE = 1
EXIT_BAD_INPUT = 2
#: api.services.batch_output.FORMATS, spelled here so that ``--help`` imports no
#: scoring code (a test keeps the two equal).
FORMATS = ("csv", "json", "xlsx")


class BadInput(click.ClickException):
    """Input that fails the checks: exit code 2."""

    exit_code = EXIT_BAD_INPUT


class DataCommand(click.Command):
    """A command whose usage errors exit 1, so that 2 means bad input only."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE  # type: ignore[misc]  # this error, not the class
            raise


def bad_input(detail: str, errors: Mapping[str, Sequence[str]]) -> BadInput:
    """One message listing every problem, one per line, under its summary."""
    lines = [f"  {key}: {message}" for key, messages in errors.items() for message in messages]
    return BadInput("\n".join([detail, *lines]) if lines and detail not in lines[0] else detail)


class PhaseProgress:
    """One line per phase on stderr (rich), each ticking until the next begins; or nothing."""

    def __init__(self, enabled: bool | None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> PhaseProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description:<8}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._progress.start()
        return self

    def phase(self, name: str) -> None:
        if self._progress is None:
            return
        self._done()
        self._task = self._progress.add_task(name, total=None)

    def _done(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=1, completed=1)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            if kind is None:
                self._done()
            self._progress.stop()


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summary(result: BatchResult) -> list[str]:
    """The summary table printed at the end: counts, scores, stability, seconds, memory."""
    stats = result.stats
    by_reason = ", ".join(f"{r} {n}" for r, n in stats["unmatched_by_reason"].items())
    blank = ", ".join(f"{name} {n}" for name, n in result.blank_rows.items() if n)
    inactive = ", ".join(f"{name} {n}" for name, n in result.inactive.items() if n)
    phases = ", ".join(f"{phase} {s:.3f}" for phase, s in result.seconds.items())
    rows = [
        ("mentees", str(stats["n_mentees"])),
        ("mentors", str(stats["n_mentors"])),
        ("matched", f"{stats['matched']} ({stats['coverage']:.1%} of the active mentees)"),
        ("unmatched", f"{stats['unmatched']}" + (f" ({by_reason})" if by_reason else "")),
        ("score total", _number(stats["score_total"])),
        ("score mean", _number(stats["score_mean"])),
        ("score min", _number(stats["score_min"])),
        ("blocking pairs", str(stats["blocking_pairs"])),
        ("objective", f"{stats['objective']} ({stats['method']}, gap {stats['gap']:.3g})"),
        ("blank rows", blank or "none"),
        ("inactive", inactive or "none"),
        ("seconds", f"{sum(result.seconds.values()):.3f} ({phases})"),
        ("peak memory", f"{result.peak_memory_mb:.1f} MiB"),
    ]
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]
