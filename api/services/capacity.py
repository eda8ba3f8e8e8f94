"""How many partners a participant takes: pure, no database (the offline batch uses it too).

A mentor takes up to ``capacity`` mentees, else the configuration's
``default_capacity``; a mentee up to ``capacity`` mentors, else its
``default_mentee_capacity`` (both default 1). :mod:`api.services.eligibility`
re-exports these as its rule 1, so there is one definition for runs, checks,
publication and the ``mentormatch match`` batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from models.vocabulary import Role

if TYPE_CHECKING:
    from models import Participant

IntArray = npt.NDArray[np.int64]


def default_places(role: str, config: Mapping[str, Any]) -> int:
    """The configuration's places for a participant of ``role`` who gives none."""
    key = "default_mentee_capacity" if role == Role.MENTEE else "default_capacity"
    return int(config.get(key, 1))


def capacity_of(person: Participant | Mapping[str, Any], config: Mapping[str, Any]) -> int:
    """A participant's own capacity, else the configuration's default for their role
    (a profile without a ``role`` is a mentor's)."""
    if isinstance(person, Mapping):
        own, role = person.get("capacity"), person.get("role", Role.MENTOR)
    else:
        own, role = person.capacity, person.role
    return default_places(str(role), config) if own is None else int(own)


def capacities(
    people: Sequence[Mapping[str, Any]], config: Mapping[str, Any], role: str = Role.MENTOR
) -> IntArray:
    """The capacity of every profile of one ``role`` (each one's own, else the
    configuration's default), as an int64 array."""
    default = default_places(role, config)
    own = [p.get("capacity") for p in people]
    return np.array([default if c is None else int(c) for c in own], dtype=np.int64)
