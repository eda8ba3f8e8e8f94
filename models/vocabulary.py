"""The closed vocabularies stored in the database, defined once.

Each is a ``StrEnum``: a member is equal to its stored string, so rows written
before these existed read back unchanged, and CHECK constraints (migration 0002)
keep the columns to these values.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"


class RunStatus(StrEnum):
    """queued -> running -> succeeded or failed; an admin may cancel a queued or running run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"  # migration 0009


#: A program has at most one run in these states (a partial unique index).
RUN_ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class Scope(StrEnum):
    """Who a run matches; mentees with a published match are never re-matched."""

    ALL = "all"
    UNMATCHED = "unmatched"


class Objective(StrEnum):
    """What a run optimizes; the same names as ``scoring`` and ``matcher`` use."""

    TOTAL = "total"
    COVERAGE = "coverage"
    FAIR = "fair"
    STABLE = "stable"


class MatchStatus(StrEnum):
    """proposed -> published -> ended, or proposed -> rejected."""

    PROPOSED = "proposed"
    PUBLISHED = "published"
    REJECTED = "rejected"
    ENDED = "ended"


class WeightsSource(StrEnum):
    PRIOR = "prior"
    LEARNED = "learned"


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


class ExportStatus(StrEnum):
    """queued -> running -> ready (downloaded once, then deleted), or failed."""

    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
