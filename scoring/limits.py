"""Bounds on numbers the scoring inputs may carry, and the overflow-safe number check.

The API imports these too (``scoring`` never imports the API), so a bound has one
source: a participant's ``capacity`` and a config's ``default_capacity`` share
:data:`MAX_CAPACITY`.

Python ints are unbounded and JSON may carry any of them, but ``float(10**400)``
and ``math.isfinite(10**400)`` raise :class:`OverflowError`; :func:`finite_number`
is the one check of "a finite number" that never raises.
"""

from __future__ import annotations

import math
import numbers

__all__ = [
    "MAX_ABS_NUMBER",
    "MAX_CAPACITY",
    "MAX_CRITERIA",
    "MAX_FIELDS",
    "MAX_KEY_LENGTH",
    "MAX_LEVEL",
    "MAX_LEVELS",
    "MAX_MULTI",
    "MAX_SKILLS",
    "MAX_SKILL_LENGTH",
    "MAX_TEXT",
    "MAX_VALUES",
    "MAX_VALUE_LENGTH",
    "MAX_WEIGHT",
    "MIN_SCALE",
    "finite_number",
]

#: The most mentees one mentor may take (a participant's ``capacity``, a config's
#: ``default_capacity``).
MAX_CAPACITY = 10_000
#: The highest explicit seniority ``level`` of a participant.
MAX_LEVEL = 1000

# Sizes of a program's configuration. Every criterion adds a breakdown entry to every
# match shown and a matrix to every run, so a config stays what a person can read.
#: Fields (``config.fields``) per program.
MAX_FIELDS = 100
#: Criteria (``config.criteria``) per program.
MAX_CRITERIA = 50
#: Declared ``values`` of one category or multi field.
MAX_VALUES = 1000
#: Entries of ``config.position_levels``.
MAX_LEVELS = 100
#: Characters of a field key or criterion name.
MAX_KEY_LENGTH = 100
#: Characters of one category or multi value (declared or given) and of a position level.
MAX_VALUE_LENGTH = 200

# Sizes of a participant's matched data.
#: Skills per participant.
MAX_SKILLS = 100
#: Characters of one skill.
MAX_SKILL_LENGTH = 100
#: Values of one ``multi`` attribute per participant.
MAX_MULTI = 100
#: Characters of one ``text`` attribute (JSON and CSV alike).
MAX_TEXT = 10_000

# Numbers the float32 scoring compares meaningfully.
#: The largest magnitude of a ``number`` attribute and of a criterion's numeric params.
MAX_ABS_NUMBER = 1e12
#: The largest criterion weight: weights are summed, and their sum must stay finite.
MAX_WEIGHT = 1e6
#: The smallest ``proximity`` scale: |difference| / scale stays finite for any two
#: numbers within :data:`MAX_ABS_NUMBER`.
MIN_SCALE = 1e-6


def finite_number(value: object) -> float | None:
    """``value`` as a finite float, or None if it is not one.

    None for non-numbers, booleans, NaN, infinities and integers beyond the float
    range (which would overflow rather than be rejected).

    Examples
    --------
    >>> finite_number(3), finite_number(2.5)
    (3.0, 2.5)
    >>> finite_number(10**400) is None, finite_number(float("nan")) is None
    (True, True)
    >>> finite_number(True) is None, finite_number("1") is None
    (True, True)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
