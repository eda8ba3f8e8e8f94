"""A plain per-pair Python reference of the scoring rules (slow and obvious).

It follows the formulas documented in ``scoring.criteria`` and
``scoring.engine`` literally, one pair at a time, so that the vectorized code
can be checked against it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from scoring import validate_config


def norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def level_of(p: dict[str, Any], levels: list[str]) -> int | None:
    if p.get("level") is not None:
        return int(p["level"])
    pos = p.get("position")
    if pos:
        normed = [norm(x) for x in levels]
        if norm(pos) in normed:
            return normed.index(norm(pos))
    return None


def attr(p: dict[str, Any], key: str) -> Any:
    return (p.get("attributes") or {}).get(key)


def as_set(values: list[str] | None) -> set[str]:
    return {norm(v) for v in values or [] if norm(v)}


def tokens(text: str) -> list[str]:
    return [t for t in re.findall(r"(?u)\b\w\w+\b", text.lower()) if t not in ENGLISH_STOP_WORDS]


def tfidf_vectors(docs: list[str]) -> list[dict[str, float]]:
    toks = [tokens(d) for d in docs]
    n = len(docs)
    df: dict[str, int] = {}
    for ts in toks:
        for t in set(ts):
            df[t] = df.get(t, 0) + 1
    out = []
    for ts in toks:
        vec: dict[str, float] = {}
        for t in ts:
            vec[t] = vec.get(t, 0.0) + 1.0
        for t in vec:
            vec[t] *= math.log((1 + n) / (1 + df[t])) + 1
        length = math.sqrt(sum(v * v for v in vec.values()))
        out.append({t: v / length for t, v in vec.items()} if length else {})
    return out


def similarity(
    crit: dict[str, Any],
    a: dict[str, Any],
    b: dict[str, Any],
    cfg: dict[str, Any],
    va: dict[str, float] | None = None,
    vb: dict[str, float] | None = None,
) -> float:
    kind, field, params = crit["kind"], crit.get("field"), crit["params"]
    if kind == "skill_overlap":
        want, offer = as_set(a.get("skills")), as_set(b.get("skills"))
        return len(want & offer) / len(want) if want else 0.0
    if kind == "overlap":
        sa, sb = as_set(attr(a, field)), as_set(attr(b, field))
        return len(sa & sb) / len(sa | sb) if sa | sb else 0.0
    if kind in ("same", "different"):
        xa, xb = attr(a, field), attr(b, field)
        if xa is None or xb is None or not xa.strip() or not xb.strip():
            return 0.0
        # declared or open: the same comparison (an open value is any string)
        equal = norm(unicodedata.normalize("NFC", xa)) == norm(unicodedata.normalize("NFC", xb))
        return float(equal if kind == "same" else not equal)
    if kind == "seniority_gap":
        la, lb = level_of(a, cfg["position_levels"]), level_of(b, cfg["position_levels"])
        if la is None or lb is None:
            return 0.0
        gap = lb - la
        if "points" in params:
            return params["points"].get(str(gap), 0.0)
        lo, mid, hi = params["min_gap"], params["ideal_gap"], params["max_gap"]
        if gap < lo or gap > hi:
            return 0.0
        if gap <= mid:
            return 1 - 0.5 * (mid - gap) / (mid - lo) if mid > lo else 1.0
        return 1 - 0.5 * (gap - mid) / (hi - mid) if hi > mid else 1.0
    if kind == "proximity":
        xa, xb = attr(a, field), attr(b, field)
        if xa is None or xb is None:
            return 0.0
        if "points" in params:
            d = abs(float(xa) - float(xb))
            return params["points"].get(str(int(d)), 0.0) if d.is_integer() else 0.0
        return math.exp(-min(abs(xa - xb) / params["scale"], 80.0))
    if kind == "text_similarity":
        assert va is not None
        assert vb is not None
        return min(1.0, sum(v * vb.get(t, 0.0) for t, v in va.items()))
    raise AssertionError(kind)


def reference(
    mentees: list[dict[str, Any]],
    mentors: list[dict[str, Any]],
    config: dict[str, Any],
    weights: dict[str, float] | None = None,
    exclude_pairs: list[tuple[int, int]] | None = None,
) -> tuple[list[list[float]], list[list[bool]], list[list[list[float]]]]:
    """Return ``(scores, allowed, sims)`` as nested lists, one pair at a time."""
    cfg = validate_config(config)
    crits = cfg["criteria"]
    w = [float((weights or {}).get(c["name"], c["weight"])) for c in crits]
    total = sum(w)
    w = [x / total for x in w] if total > 0 else [1 / len(w)] * len(w)
    vecs: dict[str, tuple[list[dict[str, float]], list[dict[str, float]]]] = {}
    for c in crits:
        if c["kind"] == "text_similarity":
            docs = [attr(p, c["field"]) or "" for p in mentees + mentors]
            v = tfidf_vectors(docs)
            vecs[c["name"]] = (v[: len(mentees)], v[len(mentees) :])
    excluded = set(exclude_pairs or [])
    scores, allowed, sims = [], [], []
    for i, a in enumerate(mentees):
        srow, arow, simrow = [], [], []
        for j, b in enumerate(mentors):
            s = []
            for c in crits:
                va = vb = None
                if c["name"] in vecs:
                    va, vb = vecs[c["name"]][0][i], vecs[c["name"]][1][j]
                s.append(similarity(c, a, b, cfg, va, vb))
            ok = a.get("active", True) and b.get("active", True)
            ida, idb = a.get("external_id"), b.get("external_id")
            if ida is not None and ida == idb:
                ok = False
            if idb is not None and idb in [x.strip() for x in a.get("exclude") or []]:
                ok = False
            if ida is not None and ida in [x.strip() for x in b.get("exclude") or []]:
                ok = False
            if (i, j) in excluded:
                ok = False
            for c, x in zip(crits, s, strict=True):
                if c["required"] and x <= 0:
                    ok = False
            srow.append(min(1.0, sum(wc * x for wc, x in zip(w, s, strict=True))))
            arow.append(bool(ok))
            simrow.append(s)
        scores.append(srow)
        allowed.append(arow)
        sims.append(simrow)
    return scores, allowed, sims
