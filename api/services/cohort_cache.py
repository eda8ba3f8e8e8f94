"""Encoded cohorts kept per process for recommendations, so a call scores one row.

Encoding a program's active cohort (validating every profile, the text criterion's
vocabulary) is nearly all of a recommendation's cost: 1.5 s of 1.6 s on a 1,000 x
1,000 program, where scoring the participant's row takes milliseconds. Sixteen
such calls from one organization held every web thread (``benchmarks/load.py``).
An entry is the encoded cohort and the participants' ids in its order, keyed by
everything the encoding reads:

- the program and its configuration (the config itself, as canonical JSON);
- the weights it scores with;
- a stamp of the program's participants: their count and latest ``updated_at``.
  Every write of a participant (upload, edit, deactivation, erasure, a published
  load) sets ``updated_at``, so the stamp changes with the cohort.

What changes between calls without touching the encoding (free places, previous
partners) is read fresh by the caller. An entry lives at most :data:`TTL_SECONDS`,
which bounds staleness if two machines' clocks disagree about ``updated_at``; at
most :data:`MAX_ENTRIES` are kept (least recently used first out).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Participant

if TYPE_CHECKING:
    from scoring.engine import Engine

__all__ = ["COHORTS", "TTL_SECONDS", "CachedCohort", "CohortCache", "cohort_key"]

TTL_SECONDS = 60.0
MAX_ENTRIES = 16


@dataclass(frozen=True, eq=False)
class CachedCohort:
    """An encoded cohort and the participant ids of its rows and columns, in order
    (no engine when a side is empty)."""

    engine: Engine | None
    mentee_ids: tuple[uuid.UUID, ...]
    mentor_ids: tuple[uuid.UUID, ...]


def cohort_key(
    session: Session,
    program_id: uuid.UUID,
    config: dict[str, Any],
    weights: dict[str, float] | None,
) -> Hashable:
    """What the encoding of ``program_id``'s active cohort depends on (one query)."""
    count, latest = session.execute(
        select(func.count(), func.max(Participant.updated_at)).where(
            Participant.program_id == program_id
        )
    ).one()
    return (
        program_id,
        json.dumps(config, sort_keys=True, default=str),
        tuple(sorted((weights or {}).items())),
        int(count),
        str(latest),
    )


class CohortCache:
    """A small thread-safe LRU of :class:`CachedCohort` with a time to live."""

    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: OrderedDict[Hashable, tuple[float, CachedCohort]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, build: Callable[[], CachedCohort]) -> CachedCohort:
        """The entry for ``key``, built (outside the lock) when missing or expired."""
        now = self.clock()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and now - found[0] <= self.ttl:
                self._entries.move_to_end(key)
                return found[1]
        built = build()
        with self._lock:
            self._entries[key] = (now, built)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return built

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


#: The process's cache (each gunicorn worker has its own).
COHORTS = CohortCache()
