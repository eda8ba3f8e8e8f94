"""Start-up: ``import scoring, matcher`` leaves scikit-learn, ``scipy.optimize``, b-matching out.

Each check runs a fresh interpreter and reads its ``sys.modules`` (what a command such
as ``mentormatch match`` pays for at start-up); none of them times anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import scoring
import scoring.calibrate
import scoring.learn

#: Modules that only learning, the b-matching, the "fair" objective and the sparse
#: or auction paths need. Neither the text criterion (``scoring.text``) nor the dense
#: path (``matcher._hungarian``: SciPy's Hungarian solver alone) needs scikit-learn or
#: the ``scipy.optimize`` package.
HEAVY = (
    "sklearn",
    "pandas",
    "scipy.optimize",
    "scipy.linalg",
    "scipy.stats",
    "scipy.sparse.csgraph",
    "matcher._many",
    "matcher._sparse",
)


def _loaded_after(code: str) -> dict[str, bool]:
    """Which of HEAVY a fresh interpreter has loaded after running ``code``."""
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps({{name: name in sys.modules for name in {HEAVY!r}}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    loaded: dict[str, bool] = json.loads(out.splitlines()[-1])
    return loaded


def test_importing_scoring_and_matcher_loads_no_heavy_module() -> None:
    assert _loaded_after("import scoring, matcher") == dict.fromkeys(HEAVY, False)


def test_scoring_and_assigning_a_small_cohort_without_text_loads_no_heavy_module() -> None:
    loaded = _loaded_after(
        """
        import matcher, scoring
        from scoring.synthetic import generate_cohort
        mentees, mentors, config = generate_cohort(60, 50, seed=3)
        config["criteria"] = [c for c in config["criteria"] if c["kind"] != "text_similarity"]
        result = scoring.compatibility(mentees, mentors, config)
        chosen = matcher.assign(result.scores, allowed=result.allowed)
        assert chosen.method == "dense" and chosen.mentee.size > 0
        """
    )
    assert loaded == dict.fromkeys(HEAVY, False)


def test_scoring_and_assigning_a_cohort_with_text_loads_no_heavy_module() -> None:
    loaded = _loaded_after(
        """
        import sys
        import matcher, scoring
        from scoring.synthetic import generate_cohort
        mentees, mentors, config = generate_cohort(60, 50, seed=3)
        assert any(c["kind"] == "text_similarity" for c in config["criteria"])
        result = scoring.compatibility(mentees, mentors, config)
        chosen = matcher.assign(result.scores, allowed=result.allowed)
        assert chosen.method == "dense" and chosen.mentee.size > 0
        assert "matcher._hungarian._lsap" in sys.modules  # SciPy's solver, loaded alone
        """
    )
    assert loaded == dict.fromkeys(HEAVY, False)


def test_the_learning_names_load_scikit_learn_when_used() -> None:
    loaded = _loaded_after("import scoring; scoring.WeightLearner")
    assert loaded["sklearn"] is True


def test_the_lazy_names_are_the_learning_modules_objects() -> None:
    assert scoring.WeightLearner is scoring.learn.WeightLearner
    assert scoring.evaluate is scoring.learn.evaluate
    assert scoring.MIN_SAMPLES == scoring.learn.MIN_SAMPLES
    assert scoring.SuccessCalibrator is scoring.calibrate.SuccessCalibrator
    assert all(getattr(scoring, name) is not None for name in scoring.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        scoring.no_such_name  # noqa: B018
