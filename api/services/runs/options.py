"""A run's options, as the admin gave them at trigger time, typed once.

Stored in ``Run.options`` as JSON (:meth:`RunOptions.to_json`) and read back by the
worker (:meth:`RunOptions.from_json`); nothing else reads that column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: (mentee external id, mentor external id)
Pin = tuple[str, str]


@dataclass(frozen=True)
class RunOptions:
    """What a trigger asked for beyond scope and objective.

    ``pins`` are admin-fixed pairs by external id; ``config_overrides`` are the
    configuration keys a dry run replaces (the HTTP body calls them ``config``);
    ``priority_unmatched`` in [0, 1] is added to the scores of mentees that earlier
    runs left unmatched, for the solver only; ``tolerance`` in [0, 1) is the relative
    optimality gap the run accepts, replacing the configuration's (None: keep it).
    """

    pins: tuple[Pin, ...] = ()
    config_overrides: Mapping[str, Any] | None = None
    priority_unmatched: float = 0.0
    tolerance: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "pins": [list(p) for p in self.pins],
            "config_overrides": dict(self.config_overrides) if self.config_overrides else None,
            "priority_unmatched": self.priority_unmatched,
            "tolerance": self.tolerance,
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, Any] | None) -> RunOptions:
        stored = stored or {}
        # Runs queued before the options were typed stored the overrides as "config".
        overrides = stored.get("config_overrides", stored.get("config"))
        return cls(
            pins=tuple((str(a), str(b)) for a, b in stored.get("pins") or ()),
            config_overrides=dict(overrides) if overrides else None,
            priority_unmatched=float(stored.get("priority_unmatched") or 0.0),
            tolerance=None if stored.get("tolerance") is None else float(stored["tolerance"]),
        )
