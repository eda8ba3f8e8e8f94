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

The calibration of predicted success is :mod:`scoring.calibrate`; the plain
words for what was learned, :mod:`scoring.summary`.

Below :data:`MIN_SAMPLES` outcomes, fitting, evaluation and calibration
raise :class:`~scoring.errors.NotEnoughOutcomesError` (``min_samples``
lowers it, down to 2, for experiments). Nothing here is random but the
cross-validation folds, drawn from ``random_state``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import nnls
from scipy.stats import spearmanr
from sklearn.model_selection import KFold

from scoring.errors import NotEnoughOutcomesError, ScoringError

__all__ = [
    "MIN_SAMPLES",
    "PRIOR_STRENGTH",
    "WeightLearner",
    "check_min_samples",
    "check_prior",
    "check_xy",
    "evaluate",
    "rank_correlation",
]

F64 = npt.NDArray[np.float64]
#: The fewest outcomes to learn, evaluate or calibrate from: with fewer, five
#: cross-validation folds hold under 6 pairs each and their rank correlations
#: are noise.
MIN_SAMPLES = 30
#: Default ``prior_strength``: the prior counts as this many outcomes.
PRIOR_STRENGTH = 100.0
_CONSTANT = 1e-12  # a criterion whose similarities span less than this is constant


def check_xy(X: object, y: object, *, need: int) -> tuple[F64, F64]:
    """Check similarities ``X`` (n_pairs, n_criteria) and success ``y`` (n_pairs,).

    Both finite and in [0, 1], at least ``need`` pairs (else
    :class:`~scoring.errors.NotEnoughOutcomesError`); returned as float64.

    Examples
    --------
    >>> check_xy([[0.5, 1.0]], [2.0], need=1)
    Traceback (most recent call last):
    ...
    scoring.errors.ScoringError: expected success y in [0, 1], got values from 2 to 2
    """
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


def check_prior(prior: object, n_criteria: int) -> F64:
    """Check weights of shape ``(n_criteria,)``, finite and >= 0; all zeros become all ones.

    Examples
    --------
    >>> check_prior([0, 0], 2), check_prior([3, 1], 2)
    (array([1., 1.]), array([3., 1.]))
    """
    p = np.asarray(prior, dtype=np.float64)
    if p.shape != (n_criteria,):
        raise ScoringError(
            f"expected prior weights of shape ({n_criteria},) (one per criterion), "
            f"got shape {p.shape}"
        )
    if not np.isfinite(p).all() or (p < 0).any():
        raise ScoringError(f"expected prior weights finite and >= 0, got {p.tolist()}")
    return p if p.sum() > 0 else np.ones(n_criteria)


def check_min_samples(min_samples: int) -> int:
    """Check a ``min_samples`` argument: a whole number >= 2."""
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
        Xa, ya = check_xy(X, y, need=check_min_samples(self.min_samples))
        n, m = Xa.shape
        prior = check_prior(self.prior, m)
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
    Xa, ya = check_xy(X, y, need=check_min_samples(min_samples))
    prior_w = check_prior(prior, Xa.shape[1])
    current_w = prior_w if current is None else check_prior(current, Xa.shape[1])
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
