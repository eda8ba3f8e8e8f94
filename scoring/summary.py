"""Plain words for how learned criterion weights differ from the admin's."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["summarize"]


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
    from scoring.learn import check_prior  # scikit-learn and SciPy: loaded on first use

    m = len(names)
    p = check_prior(prior, m)
    w = check_prior(learned, m)
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
