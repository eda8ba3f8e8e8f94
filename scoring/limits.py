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

__all__ = ["MAX_CAPACITY", "MAX_LEVEL", "finite_number"]

#: The most mentees one mentor may take (a participant's ``capacity``, a config's
#: ``default_capacity``).
MAX_CAPACITY = 10_000
#: The highest explicit seniority ``level`` of a participant.
MAX_LEVEL = 1000


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
