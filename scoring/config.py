"""Validation and normalization of a program's matching configuration.

The shape is DESIGN section 4. :func:`validate_config` checks all of it at once
and reports every problem keyed by its dotted path, so the HTTP layer can
answer a single 422 listing them all.

Decisions worth knowing:

* A ``category`` field without ``values`` is open: any string, compared
  exactly after normalization (:func:`scoring.encode.category_key`); with
  ``values`` it takes one of them (at least one must be listed).
* ``same`` and ``different`` need a ``category`` field. A ``multi`` field is
  refused for them because "same" is ambiguous for sets (identical sets? any
  shared value?); use ``overlap`` (Jaccard), which is 0 exactly when no value
  is shared and can be ``required``.
* ``overlap`` needs a ``multi`` field, ``proximity`` a ``number`` field,
  ``text_similarity`` a ``text`` field. ``skill_overlap`` and
  ``seniority_gap`` use the built-in ``skills`` and ``level``/``position`` and
  take no ``field``.
* ``seniority_gap`` params default to ``min_gap=1, ideal_gap=2, max_gap=4``;
  they must satisfy ``0 <= min_gap <= ideal_gap <= max_gap`` (a mentor below
  the mentee always scores 0). ``proximity`` takes ``scale > 0`` (default 1).
  Either may give ``{"points": {gap: similarity}}`` instead (exclusive with the
  shape params; :mod:`scoring.points`).
* Numbers must be finite; an integer too large for a float (``10**400``) is
  refused like infinity (see :func:`scoring.limits.finite_number`).
  ``default_capacity`` (a mentor's places) and ``default_mentee_capacity`` (a
  mentee's, default 1) are whole numbers from 0 to
  :data:`scoring.limits.MAX_CAPACITY`, the bound of a participant's capacity.
* ``spread`` (default false) asks runs to give every mentor a first mentee, and
  every mentee a first mentor, before anyone gets a further one
  (:mod:`api.services.cohort_matching` turns it into the matcher's ``spread``).
  ``tolerance`` (default 0, the certified optimum) is the relative optimality gap
  a run accepts, in [0, 1), only with objective ``total``, one mentor per mentee
  and no spread (the matcher solves the others exactly); a run's trigger may set
  its own.
* Sensitive categories (special categories of personal data, finances,
  criminal records...) are refused in field keys, criterion names and declared
  values; see :mod:`scoring.sensitive` for how words are matched.
* Sizes and magnitudes are bounded (:mod:`scoring.limits`): at most
  ``MAX_FIELDS`` fields, ``MAX_CRITERIA`` criteria, ``MAX_VALUES`` values per
  field and ``MAX_LEVELS`` position levels; weights from 0 to ``MAX_WEIGHT``;
  numeric params within ``MAX_ABS_NUMBER``, a proximity ``scale`` of at least
  ``MIN_SCALE``. Keys, names and values are NFC-normalized and may not hold
  invisible or control characters (:mod:`scoring.identifiers`).
"""

from __future__ import annotations

import copy
from typing import Any

from scoring.errors import ConfigError
from scoring.identifiers import nfc
from scoring.limits import (
    MAX_ABS_NUMBER,
    MAX_CAPACITY,
    MAX_CRITERIA,
    MAX_FIELDS,
    MAX_KEY_LENGTH,
    MAX_LEVELS,
    MAX_VALUE_LENGTH,
    MAX_VALUES,
    MAX_WEIGHT,
    MIN_SCALE,
    finite_number,
)
from scoring.points import check_point_params
from scoring.positions import check_positions_mode
from scoring.sensitive import sensitive_reason
from scoring.success import check_success
from scoring.validation import Errors, fmt

__all__ = [
    "CRITERION_KINDS",
    "FIELD_KINDS",
    "FIELD_TYPES",
    "OBJECTIVES",
    "sensitive_reason",
    "validate_config",
]

FIELD_TYPES = ("category", "multi", "number", "text")
OBJECTIVES = ("total", "coverage", "fair", "stable")
#: Criterion kind -> field type it needs (``None``: uses built-in participant data).
CRITERION_KINDS: dict[str, str | None] = {
    "skill_overlap": None,
    "overlap": "multi",
    "same": "category",
    "different": "category",
    "seniority_gap": None,
    "proximity": "number",
    "text_similarity": "text",
}
FIELD_KINDS = tuple(k for k, t in CRITERION_KINDS.items() if t is not None)

_TOP_KEYS = (
    "fields",
    "position_levels",
    "positions",
    "criteria",
    "default_capacity",
    "default_mentee_capacity",
    "spread",
    "tolerance",
    "min_score",
    "objective",
    "success",
)
_FIELD_KEYS = ("key", "type", "values")
_CRITERION_KEYS = ("name", "kind", "field", "weight", "required", "params")
_SENIORITY_DEFAULTS = {"min_gap": 1.0, "ideal_gap": 2.0, "max_gap": 4.0}
_PROXIMITY_DEFAULTS = {"scale": 1.0}


def _norm_value(v: str) -> str:
    return " ".join(v.split()).casefold()


def _check_str_list(
    err: Errors, path: str, raw: object, what: str, *, sensitive: bool, cap: int = MAX_VALUES
) -> list[str] | None:
    """Check a list of unique non-empty strings (uniqueness after normalization)."""
    if not isinstance(raw, list):
        err.add(path, f"expected a list of {what}, got {fmt(raw)}")
        return None
    if err.too_many(path, raw, cap, what):
        return None
    out: list[str] = []
    seen: dict[str, int] = {}
    ok = True
    for i, v in enumerate(raw):
        if not isinstance(v, str) or not v.strip():
            err.add(f"{path}.{i}", f"expected a non-empty string, got {fmt(v)}")
            ok = False
            continue
        if (checked := err.identifier(f"{path}.{i}", v, max_len=MAX_VALUE_LENGTH)) is None:
            ok = False
            continue
        v = checked
        norm = _norm_value(v)
        if norm in seen:
            err.add(f"{path}.{i}", f"duplicate {what[:-1]} {v!r} (same as entry {seen[norm]})")
            ok = False
            continue
        seen[norm] = i
        if sensitive and (why := sensitive_reason(v, value=True)) is not None:
            err.add(
                f"{path}.{i}",
                f"value {v!r} names a sensitive category ({why!r}); such data is not accepted",
            )
            ok = False
        out.append(v.strip())
    return out if ok else None


def _validate_fields(err: Errors, raw: object) -> dict[str, dict[str, Any]]:
    """Validate ``fields``; return the valid ones by key (invalid ones are left out)."""
    if not isinstance(raw, list):
        err.add("fields", f"expected a list of field objects, got {fmt(raw)}")
        return {}
    if err.too_many("fields", raw, MAX_FIELDS, "fields"):
        return {}
    fields: dict[str, dict[str, Any]] = {}
    for i, f in enumerate(raw):
        path = f"fields.{i}"
        if not isinstance(f, dict):
            err.add(path, f"expected an object with 'key' and 'type', got {fmt(f)}")
            continue
        err.unknown_keys(path, f, _FIELD_KEYS)
        key, ftype = f.get("key"), f.get("type")
        ok = True
        if not isinstance(key, str) or not key.strip():
            err.add(f"{path}.key", f"expected a non-empty string, got {fmt(key)}")
            ok = False
        elif key != key.strip():
            err.add(f"{path}.key", f"field key {key!r} has surrounding spaces")
            ok = False
        elif (checked := err.identifier(f"{path}.key", key, max_len=MAX_KEY_LENGTH)) is None:
            ok = False
        elif (key := checked) in fields:
            err.add(f"{path}.key", f"duplicate field key {key!r}")
            ok = False
        elif (why := sensitive_reason(key)) is not None:
            err.add(
                f"{path}.key",
                f"field {key!r} collects a sensitive category ({why!r}); such data is not accepted",
            )
            ok = False
        if ftype not in FIELD_TYPES:
            err.add(
                f"{path}.type",
                f"unknown field type {fmt(ftype)}; expected one of: {', '.join(FIELD_TYPES)}",
            )
            ok = False
        out: dict[str, Any] = {"key": key, "type": ftype}
        if ftype == "category":
            if "values" in f:  # else open: any value, compared after normalization
                values = _check_str_list(
                    err, f"{path}.values", f["values"], "values", sensitive=True
                )
                if values is None:
                    ok = False
                elif not values:
                    err.add(f"{path}.values", "expected at least one value, got []")
                    ok = False
                out["values"] = values
        elif ftype == "multi" and "values" in f:
            values = _check_str_list(err, f"{path}.values", f["values"], "values", sensitive=True)
            ok = ok and values is not None
            out["values"] = values
        elif ftype in ("number", "text") and "values" in f:
            err.add(f"{path}.values", "'values' is only allowed for category and multi fields")
            ok = False
        if ok and isinstance(key, str):
            fields[key] = out
    return fields


def _validate_params(err: Errors, path: str, kind: str, raw: object) -> dict[str, Any] | None:
    defaults: dict[str, float]
    if kind == "seniority_gap":
        defaults = _SENIORITY_DEFAULTS
    elif kind == "proximity":
        defaults = _PROXIMITY_DEFAULTS
    else:
        defaults = {}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        err.add(path, f"expected an object, got {fmt(raw)}")
        return None
    if not defaults and raw:
        err.add(path, f"criterion kind {kind!r} takes no params, got {fmt(raw)}")
        return None
    if "points" in raw:  # an explicit table instead of the shape
        return check_point_params(err, path, kind, raw, shape=tuple(defaults))
    err.unknown_keys(path, raw, tuple(defaults))
    params = dict(defaults)
    ok = True
    for name in defaults:
        if name in raw:
            v = finite_number(raw[name])
            if v is None or abs(v) > MAX_ABS_NUMBER:
                err.add(
                    f"{path}.{name}",
                    f"expected a finite number from {-MAX_ABS_NUMBER:g} to {MAX_ABS_NUMBER:g}, "
                    f"got {fmt(raw[name])}",
                )
                ok = False
            else:
                params[name] = v
    if not ok or any(k not in defaults for k in raw):
        return None
    if kind == "seniority_gap":
        lo, mid, hi = params["min_gap"], params["ideal_gap"], params["max_gap"]
        if lo < 0:
            err.add(
                f"{path}.min_gap",
                f"expected min_gap >= 0 (a mentor below the mentee never fits), got {lo:g}",
            )
            return None
        if not lo <= mid <= hi:
            err.add(
                path,
                "expected min_gap <= ideal_gap <= max_gap, "
                f"got min_gap={lo:g}, ideal_gap={mid:g}, max_gap={hi:g}",
            )
            return None
    if kind == "proximity" and params["scale"] < MIN_SCALE:
        err.add(
            f"{path}.scale", f"expected scale > 0 (at least {MIN_SCALE:g}), got {params['scale']:g}"
        )
        return None
    return params


def _validate_criteria(
    err: Errors, raw: object, fields: dict[str, dict[str, Any]], declared: set[str]
) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        err.add("criteria", f"expected a non-empty list of criterion objects, got {fmt(raw)}")
        return []
    if err.too_many("criteria", raw, MAX_CRITERIA, "criteria"):
        return []
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, c in enumerate(raw):
        path = f"criteria.{i}"
        if not isinstance(c, dict):
            err.add(path, f"expected an object with 'name' and 'kind', got {fmt(c)}")
            continue
        err.unknown_keys(path, c, _CRITERION_KEYS)
        name, kind = c.get("name"), c.get("kind")
        if isinstance(name, str):
            name = nfc(name)
        crit: dict[str, Any] = {"name": name, "kind": kind}
        if not isinstance(name, str) or not name.strip():
            err.add(f"{path}.name", f"expected a non-empty string, got {fmt(name)}")
        elif (checked := err.identifier(f"{path}.name", name, max_len=MAX_KEY_LENGTH)) is None:
            pass
        elif (name := checked) in names:
            err.add(f"{path}.name", f"duplicate criterion name {name!r}")
        elif (why := sensitive_reason(name)) is not None:
            err.add(
                f"{path}.name",
                f"criterion {name!r} refers to a sensitive category ({why!r}); "
                "such data is not accepted",
            )
        else:
            names.add(name)
        if kind not in CRITERION_KINDS:
            err.add(
                f"{path}.kind",
                f"unknown criterion kind {fmt(kind)}; expected one of: "
                + ", ".join(CRITERION_KINDS),
            )
        else:
            need = CRITERION_KINDS[kind]
            field = c.get("field")
            if isinstance(field, str):
                field = nfc(field)
            if need is None:
                if "field" in c:
                    src = "skills" if kind == "skill_overlap" else "level/position"
                    err.add(
                        f"{path}.field",
                        f"criterion kind {kind!r} uses the participants' {src} and takes "
                        f"no field, got {fmt(field)}",
                    )
            elif field is None:
                err.add(f"{path}.field", f"criterion kind {kind!r} needs a {need} field")
            elif not isinstance(field, str):
                err.add(f"{path}.field", f"expected a field key (string), got {fmt(field)}")
            elif field not in fields:
                if field not in declared:
                    known = ", ".join(sorted(declared)) or "none declared"
                    err.add(f"{path}.field", f"unknown field {field!r}; declared fields: {known}")
                # else: the field itself is invalid and already reported
            elif fields[field]["type"] != need:
                hint = {
                    ("same", "multi"): "; use kind 'overlap' for multi fields",
                    ("different", "multi"): "; use kind 'overlap' for multi fields",
                    ("overlap", "category"): "; use kind 'same' for category fields",
                }.get((kind, fields[field]["type"]), "")
                err.add(
                    f"{path}.field",
                    f"criterion kind {kind!r} needs a {need} field, but field {field!r} "
                    f"is of type {fields[field]['type']!r}{hint}",
                )
            else:
                crit["field"] = field
            params = _validate_params(err, f"{path}.params", kind, c.get("params"))
            if params is not None:
                crit["params"] = params
        weight = c.get("weight", 1.0)
        number = finite_number(weight)
        if number is None or not 0 <= number <= MAX_WEIGHT:
            err.add(
                f"{path}.weight",
                f"expected a finite number from 0 to {MAX_WEIGHT:g}, got {fmt(weight)}",
            )
        crit["weight"] = weight if number is None else number
        required = c.get("required", False)
        if not isinstance(required, bool):
            err.add(f"{path}.required", f"expected true or false, got {fmt(required)}")
        crit["required"] = required
        order = ("name", "kind", "field", "weight", "required", "params")
        out.append({k: crit[k] for k in order if k in crit})
    if not err.errors and not any(c["weight"] > 0 or c["required"] for c in out):
        err.add("criteria", "expected at least one criterion with a positive weight or required")
    return out


def validate_config(config: object) -> dict[str, Any]:
    """Validate a program configuration completely and fill its defaults.

    Parameters
    ----------
    config : dict
        The program config (DESIGN section 4): ``fields``, ``position_levels``,
        ``positions`` (:mod:`scoring.positions`), ``criteria``,
        ``default_capacity``, ``default_mentee_capacity``, ``spread``,
        ``tolerance``, ``min_score``, ``objective``, ``success`` (how outcomes
        become success, :mod:`scoring.success`).

    Returns
    -------
    dict
        A new, normalized config: every criterion has ``weight`` (float),
        ``required``, ``params`` (defaults filled) and, for field kinds,
        ``field``; ``fields`` and ``position_levels`` default to ``[]``,
        ``positions`` to ``"checked"``,
        ``default_capacity`` and ``default_mentee_capacity`` to 1, ``spread`` to
        false, ``tolerance`` to 0.0, ``min_score`` to ``None``, ``objective`` to
        ``"total"``, ``success`` to :data:`scoring.success.DEFAULT_SUCCESS`
        (see :func:`scoring.success.validate_success`). The input is not
        modified.

    Raises
    ------
    ConfigError
        With ``errors`` listing every problem by dotted path.

    Examples
    --------
    >>> cfg = validate_config({"criteria": [{"name": "skills", "kind": "skill_overlap"}]})
    >>> cfg["criteria"]
    [{'name': 'skills', 'kind': 'skill_overlap', 'weight': 1.0, 'required': False, 'params': {}}]
    >>> cfg["default_capacity"], cfg["min_score"], cfg["objective"]
    (1, None, 'total')
    >>> validate_config({"criteria": [{"name": "x", "kind": "same", "field": "religion"}],
    ...                  "fields": [{"key": "religion", "type": "category", "values": ["a"]}]})
    Traceback (most recent call last):
    ...
    scoring.errors.ConfigError: invalid config: fields.0.key: field 'religion' collects a \
sensitive category ('religion'); such data is not accepted
    """
    err = Errors()
    if not isinstance(config, dict):
        raise ConfigError({"": [f"expected a config object, got {fmt(config)}"]})
    err.unknown_keys("", config, _TOP_KEYS)

    raw_fields = config.get("fields", [])
    fields = _validate_fields(err, raw_fields)
    declared = (
        {nfc(f["key"]) for f in raw_fields if isinstance(f, dict) and isinstance(f.get("key"), str)}
        if isinstance(raw_fields, list)
        else set()
    )
    levels = _check_str_list(
        err,
        "position_levels",
        config.get("position_levels", []),
        "levels",
        sensitive=False,
        cap=MAX_LEVELS,
    )
    positions = check_positions_mode(err, config.get("positions"))
    criteria = _validate_criteria(err, config.get("criteria"), fields, declared)

    places = {
        key: err.whole_number(key, config.get(key, 1), MAX_CAPACITY)
        for key in ("default_capacity", "default_mentee_capacity")
    }
    spread = config.get("spread", False)
    if not isinstance(spread, bool):
        err.add("spread", f"expected true or false, got {fmt(spread)}")
    tolerance = config.get("tolerance", 0.0)
    gap = finite_number(tolerance)
    if gap is None or not 0 <= gap < 1:
        err.add("tolerance", f"expected a number in [0, 1), got {fmt(tolerance)}")
    min_score = config.get("min_score")
    score = finite_number(min_score)
    if min_score is not None and (score is None or not 0 <= score <= 1):
        err.add("min_score", f"expected a number in [0, 1] or null, got {fmt(min_score)}")
    objective = config.get("objective", "total")
    if objective not in OBJECTIVES:
        err.add(
            "objective",
            f"unknown objective {fmt(objective)}; expected one of: {', '.join(OBJECTIVES)}",
        )
    if gap and (objective != "total" or spread is True or places["default_mentee_capacity"] > 1):
        err.add(
            "tolerance",
            "a tolerance above 0 needs objective 'total', one mentor per mentee "
            "(default_mentee_capacity 1) and no spread: those matchings are solved exactly",
        )
    success = check_success(err, config.get("success"))
    if err.errors:
        raise ConfigError(err.errors)
    return {
        "fields": [copy.deepcopy(f) for f in fields.values()],  # all valid, in order
        "position_levels": levels,
        "positions": positions,
        "criteria": criteria,
        **places,
        "spread": spread,
        "tolerance": gap,
        "min_score": score,
        "objective": objective,
        "success": success,
    }
