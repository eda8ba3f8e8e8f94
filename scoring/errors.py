"""Exceptions raised by :mod:`scoring` at its boundary.

All of them derive from :class:`ValueError` so that callers which only care
about "bad input" can catch one type; the HTTP layer maps them to a 422.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EmptyCohortError",
    "NotEnoughOutcomesError",
    "OutcomeError",
    "ParticipantError",
    "ScoringError",
]


class ScoringError(ValueError):
    """Base class of every input error raised by :mod:`scoring`."""


class ConfigError(ScoringError):
    """A program configuration is invalid.

    Parameters
    ----------
    errors : dict of str to list of str
        Messages keyed by the dotted path of the offending entry, e.g.
        ``"criteria.2.field"`` or ``"fields.0.key"``; ``""`` for the config
        itself.

    Examples
    --------
    >>> err = ConfigError({"objective": ["unknown objective 'best'"]})
    >>> err.errors
    {'objective': ["unknown objective 'best'"]}
    >>> str(err)
    "invalid config: objective: unknown objective 'best'"
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        parts = [f"{path}: {msg}" if path else msg for path, msgs in errors.items() for msg in msgs]
        super().__init__("invalid config: " + "; ".join(parts))


class ParticipantError(ScoringError):
    """A participant record cannot be scored.

    Parameters
    ----------
    side : {"mentees", "mentors"}
        Which list the participant belongs to.
    index : int
        Position of the participant in that list.
    external_id : str or None
        The participant's ``external_id`` when known.
    field : str
        The offending key, dotted for attributes (``"attributes.languages"``).
    message : str
        What was wrong and what was expected.

    Examples
    --------
    >>> err = ParticipantError("mentors", 3, "u7", "level", "expected an integer, got 'x'")
    >>> str(err)
    "mentors[3] (external_id 'u7'): level: expected an integer, got 'x'"
    >>> err.field
    'level'
    """

    def __init__(
        self, side: str, index: int, external_id: str | None, field: str, message: str
    ) -> None:
        self.side = side
        self.index = index
        self.external_id = external_id
        self.field = field
        self.message = message
        who = f"{side}[{index}]"
        if external_id is not None:
            who += f" (external_id {external_id!r})"
        super().__init__(f"{who}: {field}: {message}")

    @property
    def errors(self) -> dict[str, list[str]]:
        """The error in the ``{path: [messages]}`` shape of :class:`ConfigError`."""
        return {f"{self.side}.{self.index}.{self.field}": [self.message]}


class EmptyCohortError(ScoringError):
    """One side of the cohort (mentees or mentors) is empty.

    Examples
    --------
    >>> str(EmptyCohortError("mentors"))
    'no mentors to score: the mentors list is empty'
    """

    def __init__(self, side: str) -> None:
        self.side = side
        super().__init__(f"no {side} to score: the {side} list is empty")


class OutcomeError(ScoringError):
    """An outcome record cannot be turned into a success value.

    Parameters
    ----------
    index : int
        Position of the outcome in the batch.
    field : str
        The offending key (``"mentor_rating"``).
    message : str
        What was wrong and what was expected.

    Examples
    --------
    >>> err = OutcomeError(2, "mentor_rating", "expected a rating from 1 to 5, got 7.0")
    >>> str(err)
    'outcomes[2]: mentor_rating: expected a rating from 1 to 5, got 7.0'
    >>> err.errors
    {'outcomes.2.mentor_rating': ['expected a rating from 1 to 5, got 7.0']}
    """

    def __init__(self, index: int, field: str, message: str) -> None:
        self.index = index
        self.field = field
        self.message = message
        super().__init__(f"outcomes[{index}]: {field}: {message}")

    @property
    def errors(self) -> dict[str, list[str]]:
        """The error in the ``{path: [messages]}`` shape of :class:`ConfigError`."""
        return {f"outcomes.{self.index}.{self.field}": [self.message]}


class NotEnoughOutcomesError(ScoringError):
    """Too few realized outcomes to learn or calibrate from.

    Parameters
    ----------
    have : int
        How many usable outcomes there are.
    need : int
        How many are needed (see :data:`scoring.learn.MIN_SAMPLES`).

    Examples
    --------
    >>> err = NotEnoughOutcomesError(12, 30)
    >>> err.have, err.need
    (12, 30)
    >>> str(err)
    'not enough outcomes to learn from: have 12, need at least 30'
    """

    def __init__(self, have: int, need: int) -> None:
        self.have = have
        self.need = need
        super().__init__(f"not enough outcomes to learn from: have {have}, need at least {need}")
