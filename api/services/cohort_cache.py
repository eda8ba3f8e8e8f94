"""Encoded cohorts kept per process for recommendations, so a call scores one row.

Encoding a program's active cohort (validating every profile, the text criterion's
vocabulary) is nearly all of a recommendation's cost: 1.5 s of 1.6 s on a 1,000 x
1,000 program, where scoring the participant's row takes milliseconds. Sixteen
such calls from one organization held every web thread (``benchmarks/load.py``).
An entry is the encoded cohort and the participants' ids in its order (with, made
at its first use, each id's position), keyed by everything the encoding reads:

- the program and its configuration (the config itself, as canonical JSON);
- the weights it scores with;
- a stamp of the program's participants: their count and latest ``updated_at``.
  Every write of a participant (upload, edit, deactivation, erasure, a published
  load) sets ``updated_at``, so the stamp changes with the cohort.

What changes between calls without touching the encoding (free places, previous
partners) is read fresh by the caller. An entry lives at most :data:`TTL_SECONDS`,
which bounds staleness if two machines' clocks disagree about ``updated_at``; at
most :data:`MAX_ENTRIES` are kept, holding at most ``MENTORMATCH_COHORT_CACHE_MB``
(:attr:`api.settings.Settings.cohort_cache_mb`) of NumPy arrays together
(:func:`cohort_nbytes`), least recently used first out; a cohort larger than that
alone is computed and returned, not kept. An entry is measured as it is kept and
again at its first reuse: an engine grows when it first scores (it folds its
criteria into one product).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from models import Participant
from models.prepared import PreparedSelect

if TYPE_CHECKING:
    from scoring.engine import Engine

__all__ = [
    "COHORTS",
    "TTL_SECONDS",
    "CachedCohort",
    "CohortCache",
    "cohort_key",
    "cohort_nbytes",
]

TTL_SECONDS = 60.0
MAX_ENTRIES = 16
MIB = 1024 * 1024
#: How deep :func:`cohort_nbytes` looks into an engine's objects for arrays.
_MAX_DEPTH = 12


@dataclass(frozen=True, eq=False)
class CachedCohort:
    """An encoded cohort and the participant ids of its rows and columns, in order
    (no engine when a side is empty)."""

    engine: Engine | None
    mentee_ids: tuple[uuid.UUID, ...]
    mentor_ids: tuple[uuid.UUID, ...]

    # Made once per cohort, at first use, and never changed after: an entry is shared
    # by the worker's threads (two threads computing one at once make equal ones).
    # Keyed by the ids' ``UUID.int``: a UUID hashes and compares in Python, an int in C
    # (a thousand lookups: 0.08 ms, where UUID keys took 0.19).
    @cached_property
    def mentee_positions(self) -> Mapping[int, int]:
        """Each mentee's row in the engine, by ``id.int`` (read-only)."""
        return MappingProxyType({ident.int: n for n, ident in enumerate(self.mentee_ids)})

    @cached_property
    def mentor_positions(self) -> Mapping[int, int]:
        """Each mentor's column in the engine, by ``id.int`` (read-only)."""
        return MappingProxyType({ident.int: n for n, ident in enumerate(self.mentor_ids)})


#: The stamp of a program's participants: their count and latest ``updated_at``.
_STAMP = PreparedSelect(
    select(func.count(), func.max(Participant.updated_at)).where(
        Participant.program_id == bindparam("program_id")
    )
)


def cohort_key(
    session: Session,
    program_id: uuid.UUID,
    config: dict[str, Any],
    weights: dict[str, float] | None,
) -> Hashable:
    """What the encoding of ``program_id``'s active cohort depends on (one query)."""
    count, latest = _STAMP.all(session, {"program_id": program_id})[0]
    return (
        program_id,
        json.dumps(config, sort_keys=True, default=str),
        tuple(sorted((weights or {}).items())),
        int(count),
        str(latest),
    )


_SCALARS = (str, bytes, int, float, complex, type, type(None))


def cohort_nbytes(cohort: object) -> int:
    """The bytes of the NumPy arrays ``cohort`` holds (sparse matrices' arrays too),
    each array's memory counted once however many views of it there are."""
    roots: dict[int, int] = {}
    seen: set[int] = set()
    stack: list[tuple[object, int]] = [(cohort, 0)]
    while stack:
        value, depth = stack.pop()
        if id(value) in seen or depth > _MAX_DEPTH:
            continue
        seen.add(id(value))
        if isinstance(value, np.ndarray):
            root = value
            while isinstance(root.base, np.ndarray):
                root = root.base
            roots[id(root)] = root.nbytes
            continue
        if isinstance(value, dict):
            children: Iterable[object] = value.values()
        elif isinstance(value, list | tuple | set | frozenset):
            children = value
        else:
            children = [
                *getattr(value, "__dict__", {}).values(),
                *(
                    getattr(value, slot)
                    for cls in type(value).__mro__
                    for slot in getattr(cls, "__slots__", ())
                    if hasattr(value, slot)
                ),
            ]
        # (a vocabulary holds tens of thousands of strings: filtered here, at C speed)
        stack.extend((child, depth + 1) for child in children if not isinstance(child, _SCALARS))
    return sum(roots.values())


@dataclass(eq=False)
class _Entry:
    at: float
    cohort: CachedCohort
    nbytes: int
    #: Measured again since its first use (an engine folds its criteria when it first
    #: scores, after it was kept).
    settled: bool = False


@dataclass(eq=False)
class _Build:
    """A build under way: its waiters wake on ``done`` and take ``cohort`` (None: the
    build failed)."""

    done: threading.Event = field(default_factory=threading.Event)
    cohort: CachedCohort | None = None


class CohortCache:
    """A small thread-safe LRU of :class:`CachedCohort` with a time to live, bounded
    in entries and in bytes (``max_bytes``; None: ``MENTORMATCH_COHORT_CACHE_MB``,
    read when first needed, or what :meth:`configure` set).

    An entry's bytes are measured (:func:`cohort_nbytes`, outside the lock) as it is
    kept, and once more at its first reuse, since the engine has scored by then.
    """

    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        size: Callable[[CachedCohort], int] = cohort_nbytes,
    ) -> None:
        self.ttl, self.max_entries, self.clock, self.size = ttl, max_entries, clock, size
        self._max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._building: dict[Hashable, _Build] = {}
        self._lock = threading.Lock()

    def configure(self, max_bytes: int) -> None:
        """Bound the bytes kept (``create_app`` may pass the settings' bound)."""
        with self._lock:
            self._max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        if self._max_bytes is None:
            from api.settings import Settings  # the environment's, as create_app reads it

            self._max_bytes = Settings.from_env().cohort_cache_mb * MIB
        return self._max_bytes

    def get_or_build(self, key: Hashable, build: Callable[[], CachedCohort]) -> CachedCohort:
        """The entry for ``key``, built (outside the lock) when missing or expired; a
        cohort larger than the byte bound is returned and not kept.

        One build per key at a time: a thread that finds ``key`` being built waits for
        that build and takes its result, kept or not, rather than encoding the same
        cohort again (16 concurrent calls on a cold cache encode it once). If that
        build fails, the waiters try again, one of them building.
        """
        while True:
            now, bound = self.clock(), self.max_bytes
            with self._lock:
                found = self._entries.get(key)
                if found is not None and now - found.at <= self.ttl:
                    self._entries.move_to_end(key)
                    if found.settled:
                        return found.cohort
                    break
                found = None
                underway = self._building.get(key)
                if underway is None:
                    mine = self._building[key] = _Build()
                    break
            underway.done.wait()
            if underway.cohort is not None:
                return underway.cohort
        if found is None:
            try:
                mine.cohort = self._build(key, build, now, bound)
                return mine.cohort
            finally:
                with self._lock:
                    self._building.pop(key).done.set()
        # Its first reuse: measured again.
        nbytes = self.size(found.cohort)
        with self._lock:
            found.nbytes, found.settled = nbytes, True
            self._evict(bound)
        return found.cohort

    def _build(
        self, key: Hashable, build: Callable[[], CachedCohort], now: float, bound: int
    ) -> CachedCohort:
        built = build()
        nbytes = self.size(built)
        if nbytes > bound:
            return built  # larger than the whole cache: computed, not kept
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = _Entry(now, built, nbytes)
            self._evict(bound)
        return built

    def _evict(self, bound: int) -> None:
        """Least recently used out until both bounds hold (the caller has the lock)."""
        total = sum(entry.nbytes for entry in self._entries.values())
        while self._entries and (len(self._entries) > self.max_entries or total > bound):
            _, oldest = self._entries.popitem(last=False)
            total -= oldest.nbytes

    def nbytes(self) -> int:
        """The bytes the entries held when last measured."""
        with self._lock:
            return sum(entry.nbytes for entry in self._entries.values())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries


#: The process's cache (each gunicorn worker has its own).
COHORTS = CohortCache()
