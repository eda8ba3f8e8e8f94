"""Hypothesis strategies: small random cohorts and configs with many collisions."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

LEVELS = ["Intern", "Associate", "Senior", "Manager", "Director"]
FIELDS = [
    {"key": "dept", "type": "category", "values": ["Eng", "Sales", "Ops"]},
    {"key": "langs", "type": "multi"},
    {"key": "tz", "type": "number"},
    {"key": "goals", "type": "text"},
    {"key": "office", "type": "category"},  # open: no declared values
]
KIND_FIELD = {
    "skill_overlap": None,
    "overlap": "langs",
    "same": "dept",
    "different": "dept",
    "seniority_gap": None,
    "proximity": "tz",
    "text_similarity": "goals",
}
SKILLS = ["ai", "retail", "Python", "python ", "SQL", "go", "data  science", "a"]
LANGS = ["en", "EN", "de", "fr", "es"]
#: An open category's values: spellings of one office (case, spaces, NFC/NFD) and others.
OFFICES = ["London", " london", "LONDON  ", "Leeds", "Cafe\u0301 Nord", "Café nord", "Oslo", ""]
WORDS = ["data", "career", "growth", "python", "the", "and", "lead", "team", "x", "sales"]
IDS = [f"p{k}" for k in range(8)]

weights = st.sampled_from([0, 0, 0.5, 1, 2, 3.5])
#: Gaps a point table may list, per kind: levels (mentor minus mentee) and |tz differences|.
POINT_GAPS = {"seniority_gap": st.integers(-2, 5), "proximity": st.integers(0, 10)}


def points(gaps: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, float]]:
    """A point table; keys sometimes spelled "+1" or "01" (read as 1), never twice one gap."""
    spelled = gaps.flatmap(lambda g: st.sampled_from([str(g), f"+{g}" if g >= 0 else str(g)]))
    return st.dictionaries(
        spelled, st.sampled_from([0, 0.25, 0.75, 1.0]), min_size=1, max_size=4
    ).filter(lambda t: len({int(k) for k in t}) == len(t))


@st.composite
def criterion(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    c: dict[str, Any] = {"name": kind, "kind": kind, "weight": draw(weights)}
    if KIND_FIELD[kind]:
        c["field"] = KIND_FIELD[kind]
    if kind in ("same", "different"):
        c["field"] = draw(st.sampled_from(["dept", "office"]))
    c["required"] = draw(st.booleans())
    if kind in POINT_GAPS and draw(st.booleans()):
        c["params"] = {"points": draw(points(POINT_GAPS[kind]))}
    elif kind == "seniority_gap":
        gaps = sorted(draw(st.lists(st.integers(0, 4), min_size=3, max_size=3)))
        c["params"] = dict(zip(["min_gap", "ideal_gap", "max_gap"], gaps, strict=True))
    elif kind == "proximity":
        c["params"] = {"scale": draw(st.sampled_from([0.5, 1, 3]))}
    return c


@st.composite
def configs(draw: st.DrawFn, kinds: list[str] | None = None) -> dict[str, Any]:
    if kinds is None:
        kinds = draw(
            st.lists(st.sampled_from(list(KIND_FIELD)), min_size=1, max_size=7, unique=True)
        )
    crits = [draw(criterion(k)) for k in kinds]
    if not any(c["weight"] > 0 or c["required"] for c in crits):
        crits[0]["weight"] = 1
    # "open": the cohorts hold an unlisted position ("Chief Wizard", no level); the
    # checked default refuses it (tests/scoring/test_positions.py).
    return {"fields": FIELDS, "position_levels": LEVELS, "positions": "open", "criteria": crits}


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def participant(draw: st.DrawFn, ext_id: str, other_ids: list[str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if draw(st.booleans()):
        attributes["dept"] = draw(st.sampled_from(["Eng", "eng", "Sales", " OPS", ""]))
    if draw(st.booleans()):
        attributes["office"] = draw(st.sampled_from(OFFICES))
    if draw(st.booleans()):
        attributes["langs"] = draw(st.lists(st.sampled_from(LANGS), max_size=3))
    if draw(st.booleans()):
        attributes["tz"] = draw(st.sampled_from([-5, -3.5, 0, 1, 2, 5.5, 9, 120]))
    if draw(st.booleans()):
        attributes["goals"] = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=6)))
    p: dict[str, Any] = {"external_id": ext_id, "attributes": attributes}
    if draw(st.booleans()):
        p["skills"] = draw(st.lists(st.sampled_from(SKILLS), max_size=4))
    level_kind = draw(st.sampled_from(["position", "level", "none", "unknown"]))
    if level_kind == "position":
        p["position"] = draw(st.sampled_from([*LEVELS, "senior", " manager "]))
    elif level_kind == "level":
        p["level"] = draw(st.integers(-1, 6))
    elif level_kind == "unknown":
        p["position"] = "Chief Wizard"
    if other_ids and draw(st.integers(0, 4)) == 0:
        p["exclude"] = draw(st.lists(st.sampled_from(other_ids), max_size=2))
    if draw(st.integers(0, 9)) == 0:
        p["active"] = False
    return p


@st.composite
def cohorts(
    draw: st.DrawFn, max_side: int = 6
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    na = draw(st.integers(1, max_side))
    nb = draw(st.integers(1, max_side))
    ids_a = draw(st.permutations(IDS))[:na]
    ids_b = draw(st.permutations(IDS))[:nb]
    mentees = [draw(participant(x, ids_b)) for x in ids_a]
    mentors = [draw(participant(x, ids_a)) for x in ids_b]
    return mentees, mentors
