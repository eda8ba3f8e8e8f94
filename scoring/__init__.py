"""Pure NumPy/SciPy/scikit-learn scoring of mentee x mentor compatibility.

Rows are mentees, columns are mentors, everywhere. See DESIGN section 4.
"""

from scoring.config import validate_config
from scoring.errors import ConfigError, EmptyCohortError, ParticipantError, ScoringError

__all__ = [
    "ConfigError",
    "EmptyCohortError",
    "ParticipantError",
    "ScoringError",
    "validate_config",
]
