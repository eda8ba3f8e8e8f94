"""Pure NumPy/SciPy/scikit-learn scoring of mentee x mentor compatibility.

Rows are mentees, columns are mentors, everywhere. See DESIGN section 4 and
the module docstrings of :mod:`scoring.criteria` (formulas, missing values),
:mod:`scoring.engine` (weights, constraints), :mod:`scoring.explain`, and for
learning from outcomes :mod:`scoring.success` and :mod:`scoring.learn`.

The learning names (``SuccessCalibrator``, ``WeightLearner``, ``evaluate``,
``MIN_SAMPLES``) load scikit-learn and ``scipy.optimize``/``scipy.stats``, about a
second of start-up: they are imported on first use (PEP 562), so that scoring a cohort
(``mentormatch match``) does not pay for them (``tests/scoring/test_lazy_imports.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
from scoring.recommend import encode_cohort, recommend, recommend_from
from scoring.success import outcome_success, realized_success, success_parts, validate_success
from scoring.summary import summarize

if TYPE_CHECKING:
    from scoring.calibrate import SuccessCalibrator
    from scoring.learn import MIN_SAMPLES, WeightLearner, evaluate

#: The re-exported names whose module is imported on first use, by module.
_LAZY = {
    "SuccessCalibrator": "scoring.calibrate",
    "MIN_SAMPLES": "scoring.learn",
    "WeightLearner": "scoring.learn",
    "evaluate": "scoring.learn",
}


def __getattr__(name: str) -> Any:
    """Import a learning name's module when the name is first read."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later reads skip this function
    return value


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
    "encode_cohort",
    "evaluate",
    "explain",
    "lazy_compatibility",
    "outcome_success",
    "realized_success",
    "recommend",
    "recommend_from",
    "success_parts",
    "summarize",
    "validate_config",
    "validate_participant",
    "validate_success",
]
