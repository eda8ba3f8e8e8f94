"""Realized success of a match, a number in [0, 1], from its latest outcome record.

An outcome record carries counts and ratings only (``meetings``, ``messages``,
``goals_completed``, ``goals_total``, ``milestones``, ``mentor_rating`` and
``mentee_rating`` from 1 to 5, ``ended_early``, ``ended_reason``); any of them
may be missing or ``None``; :mod:`scoring.outcomes` checks them. The default
formula mixes three parts:

* ``meetings``: ``min(meetings / expected_meetings, 1)`` (default 6 expected);
* ``goals``: ``goals_completed / goals_total`` (missing when no goal was set,
  i.e. ``goals_total`` is missing or 0);
* ``rating``: the mean of the ratings given, rescaled from 1-5 to 0-1,
  ``(rating - 1) / 4``.

They are combined as a weighted mean (default weights ``meetings 0.3, goals
0.3, rating 0.4``); a missing part drops out and the weights of the others
renormalize. An early end (``ended_early`` true) for a *participant-side*
reason subtracts ``early_end_penalty`` (default 0.25); the result is clipped
to [0, 1]. Participant-side reasons are a configured list, compared after
lower-casing, trimming and turning spaces and hyphens into underscores
(default :data:`PARTICIPANT_REASONS`: someone withdrew, did not show up or
respond, lost interest, or the pair did not fit). Any other reason (the
program ended, someone left the organization or changed role), and an early
end with no reason given, is not held against the match. ``messages`` and
``milestones`` are kept with the outcome but not scored: their scale differs
too much between programs for a default.

With no part present at all the success is unknown: ``NaN``, except that a
participant-side early end then counts as 0. Callers drop the ``NaN`` ones
before learning.

A program overrides any of the parameters in ``config.success``
(:func:`validate_success` fills the rest): ``weights`` (per part; parts not
named keep their default, a weight of 0 turns a part off),
``expected_meetings``, ``early_end_penalty`` and ``participant_reasons``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.errors import ConfigError, OutcomeError
from scoring.limits import finite_number
from scoring.outcomes import RATING_FIELDS, norm_reason, outcome_columns
from scoring.validation import Errors, fmt

__all__ = [
    "DEFAULT_SUCCESS",
    "PARTICIPANT_REASONS",
    "SUCCESS_PARTS",
    "outcome_success",
    "realized_success",
    "success_parts",
    "validate_success",
]

F64 = npt.NDArray[np.float64]

SUCCESS_PARTS = ("meetings", "goals", "rating")
#: Reasons for an early end that are held against the match (normalized spelling).
PARTICIPANT_REASONS = (
    "mentee_withdrew",
    "mentor_withdrew",
    "no_show",
    "unresponsive",
    "lost_interest",
    "mismatch",
    "conflict",
)
DEFAULT_SUCCESS: dict[str, Any] = {
    "weights": {"meetings": 0.3, "goals": 0.3, "rating": 0.4},
    "expected_meetings": 6.0,
    "early_end_penalty": 0.25,
    "participant_reasons": list(PARTICIPANT_REASONS),
}
_SUCCESS_KEYS = tuple(DEFAULT_SUCCESS)


def check_success(err: Errors, raw: object, path: str = "success") -> dict[str, Any]:
    """Validate ``config.success`` into ``err``; return it normalized (defaults filled).

    The part of :func:`scoring.validate_config` for ``success``; see
    :func:`validate_success` for the rules.
    """
    out: dict[str, Any] = {
        "weights": dict(DEFAULT_SUCCESS["weights"]),
        "expected_meetings": DEFAULT_SUCCESS["expected_meetings"],
        "early_end_penalty": DEFAULT_SUCCESS["early_end_penalty"],
        "participant_reasons": list(DEFAULT_SUCCESS["participant_reasons"]),
    }
    if raw is None:
        return out
    if not isinstance(raw, dict):
        err.add(path, f"expected an object with any of: {', '.join(_SUCCESS_KEYS)}, got {fmt(raw)}")
        return out
    err.unknown_keys(path, raw, _SUCCESS_KEYS)
    weights = raw.get("weights", {})
    if not isinstance(weights, dict):
        err.add(f"{path}.weights", f"expected an object of part -> weight, got {fmt(weights)}")
    else:
        err.unknown_keys(f"{path}.weights", weights, SUCCESS_PARTS)
        for part in SUCCESS_PARTS:
            if part in weights:
                w = finite_number(weights[part])
                if w is None or w < 0:
                    err.add(
                        f"{path}.weights.{part}",
                        f"expected a finite number >= 0, got {fmt(weights[part])}",
                    )
                else:
                    out["weights"][part] = w
        if not any(w > 0 for w in out["weights"].values()):
            err.add(f"{path}.weights", "expected at least one part with a positive weight")
    if "expected_meetings" in raw:
        n = finite_number(raw["expected_meetings"])
        if n is None or n <= 0:
            err.add(
                f"{path}.expected_meetings",
                f"expected a finite number > 0, got {fmt(raw['expected_meetings'])}",
            )
        else:
            out["expected_meetings"] = n
    if "early_end_penalty" in raw:
        p = finite_number(raw["early_end_penalty"])
        if p is None or not 0 <= p <= 1:
            err.add(
                f"{path}.early_end_penalty",
                f"expected a number in [0, 1], got {fmt(raw['early_end_penalty'])}",
            )
        else:
            out["early_end_penalty"] = p
    if "participant_reasons" in raw:
        reasons = raw["participant_reasons"]
        if not isinstance(reasons, list):
            err.add(
                f"{path}.participant_reasons", f"expected a list of strings, got {fmt(reasons)}"
            )
        else:
            normalized: list[str] = []
            for i, r in enumerate(reasons):
                if not isinstance(r, str) or not r.strip():
                    err.add(
                        f"{path}.participant_reasons.{i}",
                        f"expected a non-empty string, got {fmt(r)}",
                    )
                elif norm_reason(r) not in normalized:
                    normalized.append(norm_reason(r))
            out["participant_reasons"] = normalized
    return out


def validate_success(raw: object = None) -> dict[str, Any]:
    """Validate a program's ``config.success`` and fill its defaults.

    Parameters
    ----------
    raw : dict or None
        Any of ``weights`` (an object of part -> finite weight >= 0, parts
        among :data:`SUCCESS_PARTS`; parts not named keep their default; at
        least one positive), ``expected_meetings`` (> 0),
        ``early_end_penalty`` (in [0, 1]) and ``participant_reasons`` (a
        list of strings, stored normalized: lower case, ``_`` for spaces and
        hyphens, duplicates dropped). ``None`` means all defaults.

    Returns
    -------
    dict
        All four keys, see :data:`DEFAULT_SUCCESS`. The input is not modified.

    Raises
    ------
    ConfigError
        With every problem keyed by its dotted path (``success.weights.rating``).

    Examples
    --------
    >>> validate_success({"weights": {"rating": 1}, "expected_meetings": 4})["weights"]
    {'meetings': 0.3, 'goals': 0.3, 'rating': 1.0}
    >>> validate_success({"expected_meetings": 0})
    Traceback (most recent call last):
    ...
    scoring.errors.ConfigError: invalid config: success.expected_meetings: expected a finite \
number > 0, got 0
    """
    err = Errors()
    out = check_success(err, raw)
    if err.errors:
        raise ConfigError(err.errors)
    return out


def _parts_and_penalty(
    outcomes: object, params: object
) -> tuple[dict[str, F64], npt.NDArray[np.bool_], dict[str, Any]]:
    cfg = validate_success(params)
    rec = outcome_columns(outcomes)
    num = rec.numbers
    done, total = num["goals_completed"], num["goals_total"]
    with np.errstate(divide="ignore", invalid="ignore"):
        goals = np.where(total > 0, done / total, np.nan)
        ratings = np.stack([(num[f] - 1.0) / 4.0 for f in RATING_FIELDS])
        given = ~np.isnan(ratings)
        rating = np.where(
            given.any(axis=0), np.nansum(ratings, axis=0) / np.maximum(given.sum(axis=0), 1), np.nan
        )
    parts = {
        "meetings": np.minimum(num["meetings"] / cfg["expected_meetings"], 1.0),
        "goals": goals,
        "rating": rating,
    }
    participant = np.isin(np.array(rec.ended_reason, dtype=object), cfg["participant_reasons"])
    return parts, rec.ended_early & participant, cfg


def success_parts(outcomes: object, *, params: object = None) -> dict[str, F64]:
    """The parts of the success formula, each in [0, 1] and ``NaN`` where missing.

    Parameters
    ----------
    outcomes : mapping of str to array_like, or list of dict
        Columns of length ``n_outcomes`` keyed by outcome field, or one dict
        per outcome. Missing keys and ``None`` entries are missing values;
        keys that are not outcome fields are ignored.
    params : dict, optional
        The program's ``config.success`` (raw or normalized).

    Returns
    -------
    dict of str to ndarray
        ``meetings``, ``goals``, ``rating`` (float64, shape ``(n_outcomes,)``)
        and ``penalized`` (1.0 where an early end for a participant-side
        reason costs the penalty, else 0.0).

    Examples
    --------
    >>> parts = success_parts({"meetings": [3, 9], "goals_total": [2, 0],
    ...                        "goals_completed": [1, 0], "mentee_rating": [5, None]})
    >>> parts["meetings"], parts["goals"], parts["rating"]
    (array([0.5, 1. ]), array([0.5, nan]), array([ 1., nan]))
    """
    parts, penalized, _ = _parts_and_penalty(outcomes, params)
    return {**parts, "penalized": penalized.astype(np.float64)}


def realized_success(outcomes: object, *, params: object = None) -> F64:
    """Realized success in [0, 1] of many matches, one per outcome record.

    Parameters
    ----------
    outcomes : mapping of str to array_like, or list of dict
        Columns of length ``n_outcomes`` keyed by outcome field
        (:data:`scoring.outcomes.OUTCOME_FIELDS`), or one dict per outcome; missing keys and
        ``None`` entries are missing values.
    params : dict, optional
        The program's ``config.success`` (raw or normalized); defaults in
        :data:`DEFAULT_SUCCESS`.

    Returns
    -------
    ndarray of float64, shape (n_outcomes,)
        The weighted mean of the parts present minus the early-end penalty,
        clipped to [0, 1]; ``NaN`` where no part is present (0 if such an
        outcome ended early for a participant-side reason).

    Raises
    ------
    OutcomeError
        For a negative count, a rating outside 1-5, more goals completed
        than set, a non-number, or columns of different lengths.
    ConfigError
        For invalid ``params``.

    Examples
    --------
    >>> realized_success({"meetings": [6, 3, None], "mentor_rating": [5, 3, None],
    ...          "ended_early": [False, True, True],
    ...          "ended_reason": [None, "mentee withdrew", "no-show"]})
    array([1.  , 0.25, 0.  ])
    >>> realized_success([{"goals_completed": 1, "goals_total": 4}, {}])
    array([0.25,  nan])
    """
    parts, penalized, cfg = _parts_and_penalty(outcomes, params)
    num = np.zeros_like(parts["meetings"])
    den = np.zeros_like(num)
    for name in SUCCESS_PARTS:  # a loop over three parts
        w = float(cfg["weights"][name])
        present = ~np.isnan(parts[name]) & (w > 0)
        num += np.where(present, w * np.nan_to_num(parts[name]), 0.0)
        den += np.where(present, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        base = num / den
    out = np.clip(base - cfg["early_end_penalty"] * penalized, 0.0, 1.0)
    return np.where(den > 0, out, np.where(penalized, 0.0, np.nan))


def outcome_success(outcome: Mapping[str, object], *, params: object = None) -> float:
    """Realized success of one match from one outcome record (see :func:`realized_success`).

    Examples
    --------
    >>> outcome_success({"meetings": 3, "goals_completed": 2, "goals_total": 2,
    ...                  "mentor_rating": 4, "mentee_rating": 5})
    0.8
    >>> outcome_success({"meetings": 3}, params={"expected_meetings": 3})
    1.0
    """
    if not isinstance(outcome, Mapping):
        raise OutcomeError(0, "", f"expected an outcome object, got {fmt(outcome)}")
    return float(realized_success([outcome], params=params)[0])
