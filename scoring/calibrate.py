"""Predicted success of a match from its score, calibrated on past outcomes."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import KFold

from scoring.errors import ScoringError
from scoring.learn import MIN_SAMPLES, check_min_samples, check_xy, rank_correlation

__all__ = ["SuccessCalibrator"]

F64 = npt.NDArray[np.float64]


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
        X, ya = check_xy(s[:, None], y, need=check_min_samples(self.min_samples))
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
