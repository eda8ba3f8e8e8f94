"""Pure NumPy/SciPy/scikit-learn scoring of mentee x mentor compatibility.

Rows are mentees, columns are mentors, everywhere. See DESIGN section 4 and
the module docstrings of :mod:`scoring.criteria` (formulas, missing values),
:mod:`scoring.engine` (weights, constraints), :mod:`scoring.explain`, and for
learning from outcomes :mod:`scoring.success` and :mod:`scoring.learn`.
"""

from scoring.calibrate import SuccessCalibrator
from scoring.compat import (
    Compatibility,
    LazyCompatibility,
    compatibility,
    explain,
    lazy_compatibility,
)
from scoring.config import validate_config
from scoring.encode import validate_participant
from scoring.errors import (
    ConfigError,
    EmptyCohortError,
    NotEnoughOutcomesError,
    OutcomeError,
    ParticipantError,
    ScoringError,
)
from scoring.explain import Explanation
from scoring.learn import MIN_SAMPLES, WeightLearner, evaluate
from scoring.recommend import recommend
from scoring.success import outcome_success, realized_success, success_parts, validate_success
from scoring.summary import summarize

__all__ = [
    "MIN_SAMPLES",
    "Compatibility",
    "ConfigError",
    "EmptyCohortError",
    "Explanation",
    "LazyCompatibility",
    "NotEnoughOutcomesError",
    "OutcomeError",
    "ParticipantError",
    "ScoringError",
    "SuccessCalibrator",
    "WeightLearner",
    "compatibility",
    "evaluate",
    "explain",
    "lazy_compatibility",
    "outcome_success",
    "realized_success",
    "recommend",
    "success_parts",
    "summarize",
    "validate_config",
    "validate_participant",
    "validate_success",
]
