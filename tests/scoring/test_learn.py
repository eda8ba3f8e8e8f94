"""The weight learner, its cross-validated evaluation, the summary and the calibrator."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import minimize
from scipy.stats import spearmanr

from scoring import NotEnoughOutcomesError, ScoringError
from scoring.calibrate import SuccessCalibrator
from scoring.learn import MIN_SAMPLES, WeightLearner, evaluate, rank_correlation
from scoring.summary import summarize

TRUE = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5])
PRIOR = TRUE[::-1] + 0.5  # the admin got the order backwards


def synthetic(
    n: int, seed: int, *, true: np.ndarray = TRUE, noise: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs with uniform similarities; success a noisy linear function of the true score."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, len(true)))
    y = 0.1 + 0.8 * X @ true / true.sum() + rng.normal(0, noise, n)
    return X, y.clip(0, 1)


def reference_coef(X: np.ndarray, y: np.ndarray, prior: np.ndarray, k: float) -> np.ndarray:
    """The documented objective minimized directly with a bounded quasi-Newton solver."""
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    bounds = [(0, None)] * X.shape[1]

    def free(b: np.ndarray) -> float:
        return float(((Xc @ b - yc) ** 2).sum())

    start = np.zeros(X.shape[1])
    opts = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000}
    s = minimize(free, start, bounds=bounds, method="L-BFGS-B", options=opts).x.sum()
    target, var = s * prior / prior.sum(), Xc.var(axis=0)

    def penalized(b: np.ndarray) -> float:
        return free(b) + k * float((var * (b - target) ** 2).sum())

    return minimize(penalized, start, bounds=bounds, method="L-BFGS-B", options=opts).x


@pytest.mark.parametrize("k", [0.0, 30.0, 300.0])
def test_fit_solves_the_documented_objective(k: float) -> None:
    X, y = synthetic(200, 3)
    learner = WeightLearner(PRIOR, prior_strength=k).fit(X, y)
    np.testing.assert_allclose(learner.coef_, reference_coef(X, y, PRIOR, k), atol=2e-4)
    assert learner.shrinkage_ == pytest.approx(k / (200 + k))


@pytest.mark.parametrize("seed", range(5))
def test_recovers_known_weights_at_2000_samples(seed: int) -> None:
    X, y = synthetic(2000, seed)
    learner = WeightLearner(PRIOR).fit(X, y)
    assert spearmanr(learner.weights_, TRUE).statistic >= 0.9
    assert spearmanr(PRIOR, TRUE).statistic == pytest.approx(-1.0)


def test_stays_very_near_the_prior_with_10_samples() -> None:
    X, y = synthetic(10, 0)
    learner = WeightLearner(PRIOR, min_samples=2).fit(X, y)
    assert np.abs(learner.weights_ - PRIOR).max() <= 0.1 * PRIOR.sum()
    assert spearmanr(learner.weights_, PRIOR).statistic >= 0.9
    assert learner.shrinkage_ == pytest.approx(100 / 110)


def test_too_few_outcomes_raise_with_have_and_need() -> None:
    X, y = synthetic(MIN_SAMPLES, 0)
    WeightLearner(PRIOR).fit(X, y)  # exactly the minimum is enough
    with pytest.raises(NotEnoughOutcomesError) as info:
        WeightLearner(PRIOR).fit(X[:-1], y[:-1])
    assert (info.value.have, info.value.need) == (MIN_SAMPLES - 1, MIN_SAMPLES)
    assert isinstance(info.value, ScoringError)
    with pytest.raises(NotEnoughOutcomesError):
        evaluate(X[:10], y[:10], PRIOR)
    with pytest.raises(NotEnoughOutcomesError):
        SuccessCalibrator().fit(X[:10, 0], y[:10])


def test_constant_features_keep_their_prior_weight() -> None:
    X, y = synthetic(1000, 1)
    X[:, 0] = 1.0  # every chosen pair met this (binary, required) criterion
    X[:, 3] = 0.4
    learner = WeightLearner(PRIOR, required=[True, False, False, False, False, False]).fit(X, y)
    assert learner.weights_[[0, 3]] == pytest.approx(PRIOR[[0, 3]])
    assert learner.varying_.tolist() == [False, True, True, False, True, True]
    assert learner.weights_.sum() == pytest.approx(PRIOR.sum())
    assert learner.required_.tolist() == [True, False, False, False, False, False]
    assert not learner.fallback_


def test_all_constant_or_no_signal_keeps_the_prior() -> None:
    X = np.full((50, 3), 0.5)
    y = np.random.default_rng(0).random(50)
    assert WeightLearner([1, 2, 3]).fit(X, y).weights_.tolist() == [1, 2, 3]
    X, _ = synthetic(200, 0, true=np.ones(3))
    falling = 1 - X.mean(axis=1)  # every criterion predicts failure
    learner = WeightLearner([1, 2, 3]).fit(X, falling)
    assert learner.fallback_
    assert learner.weights_.tolist() == [1, 2, 3]


def test_weights_sum_to_the_prior_sum_and_a_zero_prior_means_equal_weights() -> None:
    X, y = synthetic(500, 2)
    assert WeightLearner(PRIOR * 7).fit(X, y).weights_.sum() == pytest.approx(PRIOR.sum() * 7)
    zero = WeightLearner(np.zeros(6), prior_strength=1e9).fit(X, y)
    np.testing.assert_allclose(zero.weights_, np.ones(6), atol=1e-3)


def test_deterministic() -> None:
    X, y = synthetic(300, 4)
    a = WeightLearner(PRIOR).fit(X, y).weights_
    b = WeightLearner(PRIOR).fit(X.copy(), y.copy()).weights_
    assert a.tobytes() == b.tobytes()
    first = evaluate(X, y, PRIOR, random_state=7)
    assert evaluate(X, y, PRIOR, random_state=7) == first
    assert evaluate(X, y, PRIOR, random_state=8) != first


similarities = hnp.arrays(
    np.float64,
    st.tuples(st.integers(2, 40), st.integers(1, 5)),
    elements=st.sampled_from([0.0, 0.0, 0.25, 0.5, 1.0]) | st.floats(0, 1),
)


@settings(max_examples=60, deadline=None)
@given(similarities, st.data())
def test_never_negative_or_nan(X: np.ndarray, data: st.DataObject) -> None:
    n, m = X.shape
    y = data.draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1)))
    prior = data.draw(hnp.arrays(np.float64, m, elements=st.sampled_from([0.0, 0.5, 1, 3])))
    k = data.draw(st.sampled_from([0.0, 1.0, 100.0]))
    w = WeightLearner(prior, prior_strength=k, min_samples=2).fit(X, y).weights_
    assert np.isfinite(w).all()
    assert (w >= 0).all()
    expected_sum = prior.sum() if prior.sum() > 0 else m
    assert w.sum() == pytest.approx(expected_sum)


@pytest.mark.parametrize(
    ("X", "y", "prior", "fragment"),
    [
        (np.zeros(40), np.zeros(40), [1], "2-D"),
        (np.zeros((40, 2)), np.zeros(39), [1, 1], "shape (40,)"),
        (np.full((40, 2), 1.5), np.zeros(40), [1, 1], "X in [0, 1], got values from 1.5 to 1.5"),
        (np.zeros((40, 2)), np.full(40, np.nan), [1, 1], "40 NaN or infinite value(s) (drop"),
        (np.zeros((40, 2)), np.zeros(40), [1], "one per criterion"),
        (np.zeros((40, 2)), np.zeros(40), [1, -1], ">= 0"),
    ],
)
def test_bad_inputs_are_refused_specifically(
    X: np.ndarray, y: np.ndarray, prior: list[float], fragment: str
) -> None:
    with pytest.raises(ScoringError, match=re.escape(fragment)):
        WeightLearner(prior).fit(X, y)


def test_evaluation_prefers_learned_weights_when_the_truth_differs_from_the_prior() -> None:
    X, y = synthetic(600, 5)
    report = evaluate(X, y, PRIOR, random_state=0)
    assert report["folds"] == 5
    assert report["samples"] == 600
    assert len(report["per_fold"]) == 5
    assert sum(f["size"] for f in report["per_fold"]) == 600
    assert report["spearman_learned"] > report["spearman_current"] + 0.2
    assert report["improvement"] == pytest.approx(
        report["spearman_learned"] - report["spearman_current"]
    )


def test_evaluation_finds_no_gain_when_the_prior_is_the_truth() -> None:
    X, y = synthetic(600, 6)
    report = evaluate(X, y, TRUE, random_state=0)
    assert abs(report["improvement"]) < 0.02


def test_evaluation_against_separate_current_weights() -> None:
    X, y = synthetic(300, 7)
    good = evaluate(X, y, PRIOR, current=TRUE, random_state=0)
    bad = evaluate(X, y, PRIOR, random_state=0)
    assert good["spearman_current"] > bad["spearman_current"]
    assert good["spearman_learned"] == bad["spearman_learned"]


def test_rank_correlation_is_zero_for_constant_predictions() -> None:
    assert rank_correlation(np.ones(5), np.arange(5)) == 0.0
    assert rank_correlation(np.arange(5), np.arange(5)[::-1]) == pytest.approx(-1.0)


def test_summary_wording_on_a_known_case() -> None:
    names = ["skills", "seniority", "location", "goals", "timezone"]
    prior = [3, 2, 1, 1, 1]
    learned = [1.5, 2, 1, 2.1, 1.4]  # same total, 8
    assert summarize(names, prior, learned) == (
        "goals mattered 2.1x more than you set; skills mattered half as much as you set; "
        "timezone mattered 1.4x more than you set"
    )
    assert summarize(names, prior, learned, top=5).endswith(
        "; seniority mattered about as you set; location mattered about as you set"
    )
    assert summarize(names, prior, np.array(prior) * 2.0) == (
        "every criterion mattered about as you set"
    )
    assert summarize(["a", "b"], [1, 1], [2, 0]) == (
        "b mattered hardly at all; a mattered 2.0x more than you set"
    )


def test_calibrator_fits_a_monotone_map_and_checks_it_out_of_fold() -> None:
    rng = np.random.default_rng(0)
    score = rng.random(500)
    realized = (0.2 + 0.6 * score**2 + rng.normal(0, 0.05, 500)).clip(0, 1)
    cal = SuccessCalibrator(random_state=0).fit(score, realized)
    assert cal.useful_
    assert cal.cv_mae_ < 0.6 * cal.baseline_mae_
    assert cal.cv_spearman_ > 0.8
    assert cal.n_samples_ == 500
    grid = np.linspace(-0.5, 1.5, 50)
    pred = cal.predict(grid)
    assert (np.diff(pred) >= 0).all()
    assert pred.min() >= 0
    assert pred.max() <= 1
    np.testing.assert_allclose(cal.predict(np.array([0.25, 0.75])), [0.2375, 0.5375], atol=0.04)
    again = SuccessCalibrator(random_state=0).fit(score, realized)
    assert again.cv_mae_ == cal.cv_mae_


def test_calibrator_is_not_useful_when_the_score_says_nothing() -> None:
    rng = np.random.default_rng(1)
    cal = SuccessCalibrator(random_state=0).fit(rng.random(300), rng.random(300))
    assert not cal.useful_
