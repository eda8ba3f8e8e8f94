"""Learn criterion weights from realized outcomes, and evaluate them honestly.

Features are the per-criterion similarities of past pairs (``X``, shape
``(n_pairs, n_criteria)``, in [0, 1], as stored in each match's breakdown
when it was proposed); the target is their realized success (``y``, shape
``(n_pairs,)``, in [0, 1], see :mod:`scoring.success`). A pair's predicted
success under weights ``w`` is its score, the weighted mean
``X @ w / w.sum()``.

The fit (:class:`WeightLearner`) regresses centered success on centered
similarities (an intercept is free: how successful matches are on average
says nothing about which criterion matters) with non-negative coefficients
``b``, pulled toward the prior's direction::

    minimize  ||Xc b - yc||^2  +  k * sum_j var_j * (b_j - s * p_j)^2,   b >= 0

where ``p`` is the prior scaled to sum to 1, ``s`` the total of the
unshrunk non-negative fit (so the prior is a target of the data's own
scale), ``var_j`` the variance of criterion ``j`` among the pairs and
``k = prior_strength``. The prior counts as ``k`` pseudo-outcomes: for
uncorrelated criteria the solution is ``b_j = (n * bhat_j + k * s * p_j) /
(n + k)``, the prior's share ``k / (n + k)`` falling as outcomes grow (with
the default ``k = 100``: 91% at 10 outcomes, 50% at 100, under 5% at
2,000). It is solved as one augmented non-negative least-squares system
(:func:`scipy.optimize.nnls`).

Guarded traps:

* Criteria with no variance among the past pairs (every chosen pair met a
  binary required criterion) carry no evidence: they keep their prior weight
  exactly, and the others share the rest of the prior's total.
* Required criteria stay required: the learner only reports them
  (``required_``); their weight may change, the caller keeps the constraint.
* Learned weights are scaled to sum to the prior's sum (a prior of all zeros,
  which the engine scores as equal weights, is taken as all ones). They are
  never negative or NaN; if no criterion predicts success at all the prior
  is kept (``fallback_``).
* Selection: the pairs were chosen by the old weights, so low-scoring pairs
  are rare and the fit only sees the range the old weights allowed. Nothing
  here can undo that; :func:`evaluate` measures out of sample whether the
  learned weights rank realized success better than the current ones, and
  the caller activates them only if they do.

Below :data:`MIN_SAMPLES` outcomes, fitting, evaluation and calibration
raise :class:`~scoring.errors.NotEnoughOutcomesError` (``min_samples``
lowers it, down to 2, for experiments). Nothing here is random but the
cross-validation folds, drawn from ``random_state``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import nnls
from scipy.stats import spearmanr
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import KFold

from scoring.errors import NotEnoughOutcomesError, ScoringError

__all__ = [
    "MIN_SAMPLES",
    "PRIOR_STRENGTH",
    "SuccessCalibrator",
    "WeightLearner",
    "evaluate",
    "rank_correlation",
    "summarize",
]

F64 = npt.NDArray[np.float64]
#: The fewest outcomes to learn, evaluate or calibrate from: with fewer, five
#: cross-validation folds hold under 6 pairs each and their rank correlations
#: are noise.
MIN_SAMPLES = 30
#: Default ``prior_strength``: the prior counts as this many outcomes.
PRIOR_STRENGTH = 100.0
_CONSTANT = 1e-12  # a criterion whose similarities span less than this is constant


def _check_xy(X: object, y: object, *, need: int) -> tuple[F64, F64]:
    Xa = np.asarray(X, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if Xa.ndim != 2:
        raise ScoringError(
            f"expected X as a 2-D (n_pairs, n_criteria) matrix, got shape {Xa.shape}"
        )
    if ya.ndim != 1 or len(ya) != len(Xa):
        raise ScoringError(
            f"expected y of shape ({len(Xa)},) (one success per pair), got shape {ya.shape}"
        )
    for name, arr, what in (("X", Xa, "similarities"), ("y", ya, "success")):
        if not np.isfinite(arr).all():
            raise ScoringError(
                f"expected {what} {name} finite and in [0, 1], got {np.sum(~np.isfinite(arr))} "
                "NaN or infinite value(s)"
                + (" (drop outcomes whose success is unknown)" if name == "y" else "")
            )
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ScoringError(
                f"expected {what} {name} in [0, 1], got values from {arr.min():g} to {arr.max():g}"
            )
    if len(ya) < need:
        raise NotEnoughOutcomesError(len(ya), need)
    return Xa, ya


def _check_prior(prior: object, n_criteria: int) -> F64:
    p = np.asarray(prior, dtype=np.float64)
    if p.shape != (n_criteria,):
        raise ScoringError(
            f"expected prior weights of shape ({n_criteria},) (one per criterion), "
            f"got shape {p.shape}"
        )
    if not np.isfinite(p).all() or (p < 0).any():
        raise ScoringError(f"expected prior weights finite and >= 0, got {p.tolist()}")
    return p if p.sum() > 0 else np.ones(n_criteria)


def _check_min_samples(min_samples: int) -> int:
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 2:
        raise ScoringError(f"expected min_samples a whole number >= 2, got {min_samples!r}")
    return min_samples


def _weighted_score(X: F64, weights: F64) -> F64:
    """Each pair's score under ``weights``: the weighted mean of its similarities."""
    return np.asarray(X @ (weights / weights.sum()), dtype=np.float64)


def rank_correlation(a: object, b: object) -> float:
    """Spearman rank correlation of ``a`` and ``b``; 0 when either is constant.

    A constant prediction ranks nothing, so it earns no correlation (SciPy
    would return NaN with a warning).

    Examples
    --------
    >>> rank_correlation([1, 2, 3, 4], [10, 20, 40, 30])
    0.8
    >>> rank_correlation([1, 1, 1], [1, 2, 3])
    0.0
    """
    x = np.asarray(a, dtype=np.float64)
    z = np.asarray(b, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(z) == 0:
        return 0.0
    return float(spearmanr(x, z).statistic)


class WeightLearner:
    """Non-negative criterion weights fitted to realized success, shrunk to a prior.

    See the module docstring for the objective and the guarded traps.

    Parameters
    ----------
    prior : array_like of float, shape (n_criteria,)
        The admin's weights (>= 0), in criterion order.
    required : array_like of bool, shape (n_criteria,), optional
        Which criteria are required; reported in ``required_``, never dropped.
    prior_strength : float, default :data:`PRIOR_STRENGTH`
        How many outcomes the prior counts as (``k``; 0 disables shrinkage).
    min_samples : int, default :data:`MIN_SAMPLES`
        Fewer outcomes raise :class:`~scoring.errors.NotEnoughOutcomesError`.

    Attributes
    ----------
    weights_ : ndarray of float64, shape (n_criteria,)
        Learned weights, >= 0, summing to the prior's sum.
    coef_ : ndarray of float64, shape (n_criteria,)
        The fitted slopes ``b`` (0 for constant criteria).
    varying_ : ndarray of bool, shape (n_criteria,)
        Criteria with variance among the pairs; the others kept the prior.
    required_ : ndarray of bool, shape (n_criteria,)
        The required criteria, as given: the caller keeps them required.
    shrinkage_ : float
        ``k / (n + k)``, the prior's share for uncorrelated criteria.
    fallback_ : bool
        True if no criterion predicted success and the prior was kept.
    n_samples_ : int
        Outcomes fitted.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((500, 3))
    >>> y = 0.2 + 0.6 * X @ [0.7, 0.2, 0.1] + rng.normal(0, 0.05, 500)
    >>> learner = WeightLearner([1, 1, 1], prior_strength=10).fit(X, y.clip(0, 1))
    >>> learner.weights_.round(1)
    array([2.1, 0.6, 0.4])
    >>> float(learner.weights_.sum())
    3.0
    """

    def __init__(
        self,
        prior: object,
        *,
        required: object = None,
        prior_strength: float = PRIOR_STRENGTH,
        min_samples: int = MIN_SAMPLES,
    ) -> None:
        self.prior = prior
        self.required = required
        self.prior_strength = prior_strength
        self.min_samples = min_samples

    def fit(self, X: object, y: object) -> WeightLearner:
        """Fit the weights to similarities ``X`` (n_pairs, n_criteria) and success ``y``.

        Returns
        -------
        WeightLearner
            ``self``, fitted.
        """
        Xa, ya = _check_xy(X, y, need=_check_min_samples(self.min_samples))
        n, m = Xa.shape
        prior = _check_prior(self.prior, m)
        required = (
            np.zeros(m, dtype=bool)
            if self.required is None
            else np.asarray(self.required, dtype=bool).reshape(-1)
        )
        if required.shape != (m,):
            raise ScoringError(f"expected required of shape ({m},), got shape {required.shape}")
        k = float(self.prior_strength)
        if not np.isfinite(k) or k < 0:
            raise ScoringError(f"expected prior_strength a finite number >= 0, got {k}")

        varying = np.ptp(Xa, axis=0) > _CONSTANT
        weights = prior.copy()
        coef = np.zeros(m)
        fallback = True
        budget = prior[varying].sum()  # the prior's total over the varying criteria
        if varying.any() and budget > 0:
            Xc = Xa[:, varying] - Xa[:, varying].mean(axis=0)
            yc = ya - ya.mean()
            free, _ = nnls(Xc, yc)
            scale = float(free.sum())
            if scale > 0:
                sd = Xc.std(axis=0)
                target = scale * prior[varying] / budget
                A = np.vstack([Xc, np.sqrt(k) * np.diag(sd)])
                rhs = np.concatenate([yc, np.sqrt(k) * sd * target])
                b, _ = nnls(A, rhs)
                if b.sum() > 0:
                    coef[varying] = b
                    weights[varying] = b / b.sum() * budget
                    fallback = False
        self.weights_ = weights
        self.coef_ = coef
        self.varying_ = varying
        self.required_ = required.copy()
        self.shrinkage_ = k / (n + k) if n + k > 0 else 0.0
        self.fallback_ = fallback
        self.n_samples_ = n
        return self

    def predict(self, X: object) -> F64:
        """Predicted success of pairs ``X`` (n_pairs, n_criteria): their score, ``weights_``."""
        return _weighted_score(np.asarray(X, dtype=np.float64), self.weights_)


def evaluate(
    X: object,
    y: object,
    prior: object,
    *,
    current: object = None,
    required: object = None,
    n_splits: int = 5,
    prior_strength: float = PRIOR_STRENGTH,
    min_samples: int = MIN_SAMPLES,
    random_state: int | np.random.Generator | None = None,
) -> dict[str, Any]:
    """Cross-validate learned weights against the current ones.

    For each of ``n_splits`` shuffled folds (:class:`sklearn.model_selection.KFold`),
    a :class:`WeightLearner` is fitted on the other folds and both weightings
    predict the held-out pairs' success (their score); each is compared with
    the realized success by Spearman rank correlation (0 for a constant
    prediction, see :func:`rank_correlation`).

    Parameters
    ----------
    X : array_like, shape (n_pairs, n_criteria)
        Per-criterion similarities of past pairs, in [0, 1].
    y : array_like, shape (n_pairs,)
        Their realized success, in [0, 1].
    prior : array_like, shape (n_criteria,)
        The admin's weights, the learner's prior.
    current : array_like, shape (n_criteria,), optional
        The weights in use (default: ``prior``).
    required, prior_strength, min_samples
        As for :class:`WeightLearner`; ``min_samples`` applies to all of
        ``X`` (the folds' fits take what they get).
    n_splits : int, default 5
    random_state : int or numpy.random.Generator, optional
        Draws the folds; the same seed gives the same result.

    Returns
    -------
    dict
        ``folds`` (int), ``samples`` (int), ``spearman_learned`` and
        ``spearman_current`` (means over the folds), ``improvement`` (their
        difference) and ``per_fold`` (a list of ``{"learned", "current",
        "size"}``).

    Raises
    ------
    NotEnoughOutcomesError
        With fewer than ``min_samples`` pairs.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = rng.random((300, 2))
    >>> y = (X @ [0.9, 0.1] + rng.normal(0, 0.1, 300)).clip(0, 1)
    >>> report = evaluate(X, y, [1, 1], random_state=0)
    >>> report["folds"], report["samples"]
    (5, 300)
    >>> report["spearman_learned"] > report["spearman_current"]
    True
    """
    Xa, ya = _check_xy(X, y, need=_check_min_samples(min_samples))
    prior_w = _check_prior(prior, Xa.shape[1])
    current_w = prior_w if current is None else _check_prior(current, Xa.shape[1])
    if isinstance(n_splits, bool) or not isinstance(n_splits, int) or not 2 <= n_splits <= len(ya):
        raise ScoringError(
            f"expected n_splits a whole number from 2 to {len(ya)}, got {n_splits!r}"
        )
    seed = random_state
    if isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(2**31 - 1))
    folds = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    per_fold = []
    for train, test in folds.split(Xa):  # a loop over folds
        learner = WeightLearner(
            prior_w, required=required, prior_strength=prior_strength, min_samples=2
        ).fit(Xa[train], ya[train])
        per_fold.append(
            {
                "learned": rank_correlation(learner.predict(Xa[test]), ya[test]),
                "current": rank_correlation(_weighted_score(Xa[test], current_w), ya[test]),
                "size": len(test),
            }
        )
    learned = float(np.mean([f["learned"] for f in per_fold]))
    now = float(np.mean([f["current"] for f in per_fold]))
    return {
        "folds": n_splits,
        "samples": len(ya),
        "spearman_learned": learned,
        "spearman_current": now,
        "improvement": learned - now,
        "per_fold": per_fold,
    }


def _ratio_words(ratio: float) -> str:
    if ratio > 1:
        return (
            f"{ratio:.1f}x more than you set" if ratio < 10 else f"{ratio:.0f}x more than you set"
        )
    for value, words in ((0.5, "half"), (1 / 3, "a third"), (0.25, "a quarter")):
        if abs(ratio - value) < 0.03:
            return f"{words} as much as you set"
    if ratio < 0.05:
        return "hardly at all"
    return f"{ratio:.1f}x as much as you set"


def summarize(
    names: Sequence[str],
    prior: object,
    learned: object,
    *,
    top: int = 3,
    tolerance: float = 0.15,
) -> str:
    """Say in plain words how the learned weights differ from the admin's.

    Each criterion's share of the total weight is compared with its share in
    the prior; the ``top`` criteria that changed most (by ratio of shares)
    are named, most changed first. A ratio within ``tolerance`` of 1 (either
    way) is "about as you set".

    Parameters
    ----------
    names : sequence of str
        Criterion names, in weight order.
    prior, learned : array_like of float, shape (n_criteria,)
        The admin's and the learned weights (any scale).
    top : int, default 3
    tolerance : float, default 0.15

    Returns
    -------
    str
        Clauses joined by "; ", e.g. "goals mattered 2.1x more than you set".

    Examples
    --------
    >>> summarize(["skills", "goals", "location"], [2, 1, 1], [1, 2.1, 0.9])
    'goals mattered 2.1x more than you set; skills mattered half as much as you set; \
location mattered about as you set'
    >>> summarize(["skills", "goals"], [1, 0], [0.8, 0.2])
    'goals mattered although you set it to 0 (now 20% of the weight); skills mattered \
0.8x as much as you set'
    """
    m = len(names)
    p = _check_prior(prior, m)
    w = _check_prior(learned, m)
    p_share, w_share = p / p.sum(), w / w.sum()
    clauses: list[tuple[float, str]] = []
    for name, ps, ws in zip(names, p_share, w_share, strict=True):  # a loop over criteria
        if ps == 0 and ws == 0:
            continue
        if ps == 0:
            clauses.append(
                (np.inf, f"{name} mattered although you set it to 0 (now {ws:.0%} of the weight)")
            )
            continue
        ratio = float(ws / ps)
        if 1 / (1 + tolerance) <= ratio <= 1 + tolerance:
            words = "about as you set"
        else:
            words = _ratio_words(ratio)
        change = abs(np.log(ratio)) if ratio > 0 else np.inf
        clauses.append((float(change), f"{name} mattered {words}"))
    clauses.sort(key=lambda c: -c[0])  # stable: ties keep criterion order
    if clauses and all("about as you set" in text for _, text in clauses):
        return "every criterion mattered about as you set"
    return "; ".join(text for _, text in clauses[:top])


class SuccessCalibrator:
    """Predicted success of a match from its score: isotonic regression, cross-validated.

    Realized success is regressed on the match score with a non-decreasing
    step function (:class:`sklearn.isotonic.IsotonicRegression`, clipped to
    [0, 1] and to the scores seen). The check: out-of-fold predictions from
    ``n_splits`` shuffled folds are compared with the realized success by
    mean absolute error, against predicting the training folds' mean
    (``baseline_mae_``), and by Spearman rank correlation.

    Parameters
    ----------
    n_splits : int, default 5
    min_samples : int, default :data:`MIN_SAMPLES`
    random_state : int, optional
        Draws the folds.

    Attributes
    ----------
    isotonic_ : sklearn.isotonic.IsotonicRegression
        Fitted on all outcomes.
    cv_mae_, baseline_mae_ : float
        Out-of-fold mean absolute error of the calibration and of the mean.
    cv_spearman_ : float
        Out-of-fold rank correlation of predicted and realized success.
    useful_ : bool
        ``cv_mae_ < baseline_mae_``: the score tells something about success.
    n_samples_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> score = rng.random(400)
    >>> realized = (score**2 + rng.normal(0, 0.05, 400)).clip(0, 1)
    >>> cal = SuccessCalibrator(random_state=0).fit(score, realized)
    >>> cal.useful_, cal.predict([0.0, 0.5, 1.0]).round(1)
    (True, array([0. , 0.2, 1. ]))
    """

    def __init__(
        self, *, n_splits: int = 5, min_samples: int = MIN_SAMPLES, random_state: int | None = None
    ) -> None:
        self.n_splits = n_splits
        self.min_samples = min_samples
        self.random_state = random_state

    @staticmethod
    def _isotonic() -> Any:
        return IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")

    def fit(self, score: object, y: object) -> SuccessCalibrator:
        """Fit to match scores (n_matches,) in [0, 1] and their realized success."""
        s = np.asarray(score, dtype=np.float64)
        if s.ndim != 1:
            raise ScoringError(f"expected scores as a 1-D array, got shape {s.shape}")
        X, ya = _check_xy(s[:, None], y, need=_check_min_samples(self.min_samples))
        s = X[:, 0]
        n_splits = self.n_splits
        if (
            isinstance(n_splits, bool)
            or not isinstance(n_splits, int)
            or not 2 <= n_splits <= len(s)
        ):
            raise ScoringError(
                f"expected n_splits a whole number from 2 to {len(s)}, got {n_splits!r}"
            )
        oof = np.empty_like(ya)
        base = np.empty_like(ya)
        for train, test in KFold(n_splits, shuffle=True, random_state=self.random_state).split(s):
            oof[test] = self._isotonic().fit(s[train], ya[train]).predict(s[test])
            base[test] = ya[train].mean()
        self.isotonic_ = self._isotonic().fit(s, ya)
        self.cv_mae_ = float(np.abs(oof - ya).mean())
        self.baseline_mae_ = float(np.abs(base - ya).mean())
        self.cv_spearman_ = rank_correlation(oof, ya)
        self.useful_ = self.cv_mae_ < self.baseline_mae_
        self.n_samples_ = len(ya)
        return self

    def predict(self, score: object) -> F64:
        """Predicted success in [0, 1] for match scores (any shape)."""
        s = np.asarray(score, dtype=np.float64)
        out = self.isotonic_.predict(s.reshape(-1)).reshape(s.shape)
        return np.asarray(out, dtype=np.float64)
