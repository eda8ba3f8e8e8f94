"""A run's pure matching step: :mod:`api.services.cohort_matching`, where it lives.

It is defined outside this package so that the offline batch can import it without
the run machinery (database, queue) this package's ``__init__`` loads.
"""

from api.services.cohort_matching import (
    DENSE_PAIR_LIMIT,
    REAL_ENGINES,
    CohortResult,
    Engines,
    ScoringAndMatching,
    match_cohort,
)

__all__ = [
    "DENSE_PAIR_LIMIT",
    "REAL_ENGINES",
    "CohortResult",
    "Engines",
    "ScoringAndMatching",
    "match_cohort",
]
