"""Synthetic, realistic cohorts for demos, tests and benchmarks.

Departments, cities (with their UTC offsets), a seniority pyramid over the
program's position levels (mentees junior, mentors senior), Zipf-distributed
skills from a fixed vocabulary, spoken languages (mostly English plus
others), short goal texts from templates; mentors have capacity 1-3. The
config is the seven-criterion program of DESIGN section 4, with "different
department" and "shared language" required: with 8 departments and 90%
English speakers most mentees keep most mentors allowed.

Only a ``numpy.random.Generator(seed)`` is used, never the global RNG.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DEPARTMENTS", "LEVELS", "SKILLS", "generate_cohort", "program_config"]


def _split(text: str) -> list[str]:
    return text.split()


LEVELS = ["Intern", "Associate", "Senior", "Manager", "Director"]
DEPARTMENTS = ["eng", "sales", "marketing", "finance", "hr", "legal", "product", "operations"]
CITIES = {
    "San Francisco": -8,
    "Chicago": -6,
    "New York": -5,
    "Sao Paulo": -3,
    "London": 0,
    "Berlin": 1,
    "Nairobi": 3,
    "Bangalore": 5.5,
    "Singapore": 8,
    "Sydney": 10,
}
LANGUAGES = ["english", "spanish", "german", "french", "portuguese", "hindi", "mandarin"]
SKILLS = _split("""
python sql leadership communication public-speaking negotiation project-management
product-management data-analysis machine-learning ai statistics excel finance-modeling
budgeting accounting sales-strategy marketing-strategy seo content-writing ux-design
ui-design javascript typescript react java go rust kubernetes docker aws azure gcp
security networking linux devops testing agile scrum hiring coaching feedback
conflict-resolution time-management strategy operations supply-chain logistics retail
customer-success support legal-compliance contracts privacy hr-policy recruiting
onboarding change-management stakeholder-management presentation storytelling writing
research experimentation analytics dashboards forecasting pricing partnerships
fundraising mentoring career-planning networking-events remote-work cloud-architecture
system-design databases data-engineering spark airflow tableau power-bi r scala c++
embedded mobile ios android design-systems accessibility localization
""")
_TOPICS = [
    "career growth", "promotion readiness", "team leadership", "technical depth",
    "cross-functional work", "public speaking", "work life balance", "first management role",
    "switching teams", "building a network", "strategic thinking", "influence without authority",
]  # fmt: skip
_MENTEE_TEMPLATES = [
    "I want to get better at {s0} and {s1} to prepare for {t0}.",
    "Looking for guidance on {t0} and learning {s0}.",
    "My goal this year is {t0}; I also want to practice {s1}.",
    "Help me grow in {s0}, {s1} and {t1}.",
    "I am new to {s0} and curious about {t0}.",
]
_MENTOR_TEMPLATES = [
    "Happy to share what I learned about {s0} and {t0}.",
    "I can help with {s0}, {s1} and {t1}.",
    "Ten years of {s0}; I enjoy coaching on {t0}.",
    "Ask me about {t0}, {s0} or {s1}.",
]


def program_config() -> dict[str, Any]:
    """The seven-criterion program config of DESIGN section 4.

    Examples
    --------
    >>> from scoring import validate_config
    >>> [c["name"] for c in validate_config(program_config())["criteria"]]
    ['skills', 'seniority', 'location', 'other_department', 'timezone', 'shared_language', 'goals']
    """
    return {
        "fields": [
            {"key": "department", "type": "category", "values": list(DEPARTMENTS)},
            {"key": "location", "type": "category", "values": list(CITIES)},
            {"key": "languages", "type": "multi"},
            {"key": "utc_offset", "type": "number"},
            {"key": "goals", "type": "text"},
        ],
        "position_levels": list(LEVELS),
        "criteria": [
            {"name": "skills", "kind": "skill_overlap", "weight": 3},
            {
                "name": "seniority",
                "kind": "seniority_gap",
                "weight": 2,
                "params": {"min_gap": 1, "ideal_gap": 2, "max_gap": 4},
            },
            {"name": "location", "kind": "same", "field": "location", "weight": 1},
            {
                "name": "other_department",
                "kind": "different",
                "field": "department",
                "required": True,
            },
            {
                "name": "timezone",
                "kind": "proximity",
                "field": "utc_offset",
                "weight": 1,
                "params": {"scale": 3},
            },
            {"name": "shared_language", "kind": "overlap", "field": "languages", "required": True},
            {"name": "goals", "kind": "text_similarity", "field": "goals", "weight": 1},
        ],
        "default_capacity": 1,
        "min_score": 0.25,
        "objective": "total",
    }


def _zipf_sets(
    rng: np.random.Generator, n: int, vocab: list[str], lo: int, hi: int, a: float = 1.1
) -> list[list[str]]:
    """``n`` sets of ``lo..hi`` distinct items, Zipf-weighted (Gumbel top-k, no loop per draw)."""
    logp = -a * np.log(np.arange(1, len(vocab) + 1))
    keys = logp[None, :] + rng.gumbel(size=(n, len(vocab)))
    top = np.argsort(-keys, axis=1)[:, :hi]
    sizes = rng.integers(lo, hi + 1, size=n)
    return [[vocab[k] for k in row[:s]] for row, s in zip(top, sizes, strict=True)]


def _side(
    rng: np.random.Generator, n: int, role: str, level_p: list[float]
) -> list[dict[str, Any]]:
    cities = list(CITIES)
    city_p = np.array([6, 10, 12, 4, 10, 6, 3, 8, 5, 3], dtype=float)
    dept_p = np.array([30, 14, 10, 8, 6, 4, 14, 14], dtype=float)
    dept = rng.choice(len(DEPARTMENTS), size=n, p=dept_p / dept_p.sum())
    city = rng.choice(len(cities), size=n, p=city_p / city_p.sum())
    level = rng.choice(len(LEVELS), size=n, p=level_p)
    skills = _zipf_sets(rng, n, SKILLS, 2, 6)
    extra_langs = _zipf_sets(rng, n, LANGUAGES[1:], 0, 2, a=0.8)
    english = rng.random(n) < 0.9
    topics = rng.integers(0, len(_TOPICS), size=(n, 2))
    templates = _MENTEE_TEMPLATES if role == "mentee" else _MENTOR_TEMPLATES
    tmpl = rng.integers(0, len(templates), size=n)
    capacity = rng.choice([1, 2, 3], size=n, p=[0.5, 0.3, 0.2])
    missing_goal = rng.random(n) < 0.05
    prefix = "e" if role == "mentee" else "m"
    people = []
    for i in range(n):
        langs = (["english"] if english[i] else []) + extra_langs[i]
        if not langs:
            langs = [LANGUAGES[int(rng.integers(1, len(LANGUAGES)))]]
        sk = skills[i]
        goal = templates[tmpl[i]].format(
            s0=sk[0].replace("-", " "),
            s1=sk[1].replace("-", " "),
            t0=_TOPICS[topics[i, 0]],
            t1=_TOPICS[topics[i, 1]],
        )
        attributes: dict[str, Any] = {
            "department": DEPARTMENTS[dept[i]],
            "location": cities[city[i]],
            "languages": langs,
            "utc_offset": CITIES[cities[city[i]]],
        }
        if not missing_goal[i]:
            attributes["goals"] = goal
        people.append(
            {
                "external_id": f"{prefix}{i}",
                "name": f"{role.title()} {i}",
                "email": f"{role}{i}@example.org",
                "position": LEVELS[level[i]],
                "level": None,
                "skills": sk,
                "capacity": int(capacity[i]) if role == "mentor" else None,
                "attributes": attributes,
                "exclude": [],
                "active": True,
            }
        )
    return people


def generate_cohort(
    n_mentees: int, n_mentors: int, *, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Generate a realistic cohort and its program config.

    Parameters
    ----------
    n_mentees, n_mentors : int
        Side sizes (>= 0).
    seed : int
        Seed of the ``numpy.random.Generator``; same seed, same cohort.

    Returns
    -------
    mentees, mentors : list of dict
        Participants in the API's JSON shape; external ids ``e0..``, ``m0..``.
    config : dict
        :func:`program_config`.

    Examples
    --------
    >>> mentees, mentors, cfg = generate_cohort(3, 2, seed=0)
    >>> len(mentees), len(mentors), mentors[0]["external_id"]
    (3, 2, 'm0')
    >>> generate_cohort(3, 2, seed=0)[0] == mentees
    True
    """
    if n_mentees < 0 or n_mentors < 0:
        raise ValueError(f"expected sizes >= 0, got {n_mentees} and {n_mentors}")
    rng = np.random.default_rng(seed)
    mentees = _side(rng, n_mentees, "mentee", [0.3, 0.4, 0.2, 0.1, 0.0])
    mentors = _side(rng, n_mentors, "mentor", [0.0, 0.1, 0.35, 0.35, 0.2])
    return mentees, mentors, program_config()
