"""How many mentees a mentor takes: pure, no database (the offline batch uses it too).

:mod:`api.services.eligibility` re-exports these as its rule 1, so there is one
definition for runs, checks and the ``mentormatch match`` batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from models import Participant

IntArray = npt.NDArray[np.int64]


def capacity_of(mentor: Participant | Mapping[str, Any], config: Mapping[str, Any]) -> int:
    """A mentor's own capacity, else the configuration's ``default_capacity`` (default 1)."""
    own = mentor.get("capacity") if isinstance(mentor, Mapping) else mentor.capacity
    return int(config.get("default_capacity", 1)) if own is None else int(own)


def capacities(mentors: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> IntArray:
    """:func:`capacity_of` for every mentor profile, as an int64 array."""
    default = int(config.get("default_capacity", 1))
    own = [m.get("capacity") for m in mentors]
    return np.array([default if c is None else int(c) for c in own], dtype=np.int64)
