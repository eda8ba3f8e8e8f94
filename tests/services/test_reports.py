"""The program report on a real database: a hand-made cohort whose baselines are known."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.services import learning, publication, reports, runs
from api.services.errors import NotFound
from tests.factories import (
    LEARN_CONFIG,
    add,
    make_org,
    make_program,
    past_outcomes,
    reload,
)

#: One criterion, its similarity by gap: scores are exactly the table's values.
REPORT_CONFIG: dict[str, Any] = {
    "fields": [{"key": "utc_offset", "type": "number"}],
    "criteria": [
        {
            "name": "timezone",
            "kind": "proximity",
            "field": "utc_offset",
            "weight": 1,
            "params": {"points": {"1": 0.9, "2": 0.8, "3": 0.1}},
        }
    ],
    "default_capacity": 1,
}


def person(session: Session, program: Any, role: str, ext: str, offset: int) -> Any:
    p = add(session, program, role, ext)
    p.attributes = {"utc_offset": offset}
    session.commit()
    return p


@pytest.fixture
def cohort(session: Session, session_factory: sessionmaker[Session]) -> Any:
    """Scores [[0.9, 0.8], [0.8, 0.1]]: greedy takes 0.9 + 0.1, the optimum 0.8 + 0.8."""
    actor = make_org(session)
    program = make_program(session, actor, REPORT_CONFIG, commit=True)
    person(session, program, "mentee", "e1", 0)
    person(session, program, "mentee", "e2", -1)
    person(session, program, "mentor", "m1", 1)
    person(session, program, "mentor", "m2", 2)
    run = runs.start_run(session, actor, program.id)
    session.rollback()
    assert runs.execute_run(session_factory, run.id) == "succeeded"
    return actor, program, reload(session, run.id)


def test_report_numbers_on_the_known_cohort(session, cohort) -> None:
    actor, program, run = cohort
    report = reports.program_report(session, actor, program.id)
    assert report["run"]["id"] == run.id
    assert report["match_rate"]["run_mentees"] == 2
    assert report["match_rate"]["run_rate"] == 1.0
    assert report["match_rate"]["published_mentees"] == 0
    scores = report["scores"]
    assert scores["pairs"] == 2
    assert scores["total"] == pytest.approx(1.6)
    assert scores["min"] == pytest.approx(0.8)
    assert [b["count"] for b in scores["histogram"]] == [0] * 8 + [2, 0]
    assert [p["score"] for p in scores["lowest"]] == pytest.approx([0.8, 0.8])
    assert {p["mentee"]["external_id"] for p in scores["lowest"]} == {"e1", "e2"}
    assert report["unmatched_by_reason"] == {}
    assert report["mentor_load"] == [{"pairs": 1, "mentors": 2}]

    quality = report["quality"]
    assert quality["status"] == "computed"
    assert quality["optimal"]["total"] == pytest.approx(1.6)
    assert quality["optimal"]["min"] == pytest.approx(0.8)
    greedy = quality["greedy"]
    assert greedy["total"] == pytest.approx(1.0)
    assert greedy["min"] == pytest.approx(0.1)
    assert greedy["coverage"] == 1.0
    rand = quality["random"]
    assert rand["coverage"] == 1.0  # random feasible is maximal: both mentees
    assert round(rand["total"], 4) in (1.0, 1.6)
    assert quality["summary"].startswith(
        "The optimal matching scores 60% more in total than greedy"
    )
    assert "its worst pair is 0.80 against greedy's 0.10" in quality["summary"]
    assert report["outcomes"] is None
    # Deterministic: the same report twice (the random baseline is seeded).
    again = reports.program_report(session, actor, program.id)["quality"]
    assert again["random"] == rand


def test_the_random_baseline_is_the_seeded_draw(session, cohort) -> None:
    actor, program, _ = cohort
    import matcher

    scores = np.array([[0.9, 0.8], [0.8, 0.1]], dtype=np.float32)
    expected = matcher.random_matching(scores, rng=np.random.default_rng(reports.RANDOM_SEED))
    got = reports.program_report(session, actor, program.id)["quality"]["random"]
    assert got["total"] == pytest.approx(expected.total, abs=1e-6)


def test_published_matches_count_and_dry_runs_are_not_reported(
    session, session_factory, cohort
) -> None:
    actor, program, run = cohort
    publication.publish(session, actor, program.id, run.id)
    dry = runs.start_run(
        session, actor, program.id, dry_run=True, config_overrides={"min_score": 0.1}
    )
    session.rollback()
    assert runs.execute_run(session_factory, dry.id) == "succeeded"
    report = reports.program_report(session, actor, program.id)
    assert report["run"]["id"] == run.id
    assert report["match_rate"]["published_mentees"] == 2
    assert report["match_rate"]["published_rate"] == 1.0
    # Its own published pairs hold no place against the run's baselines.
    assert report["quality"]["greedy"]["total"] == pytest.approx(1.0)


def test_baselines_are_skipped_over_the_limit(session, cohort, monkeypatch) -> None:
    actor, program, _ = cohort
    monkeypatch.setattr(reports, "BASELINE_PAIR_LIMIT", 3)
    quality = reports.program_report(session, actor, program.id)["quality"]
    assert quality["status"] == "skipped"
    assert "4 mentee x mentor pairs, over the baselines' limit of 3" in quality["reason"]
    assert quality["greedy"] is None
    assert quality["optimal"]["total"] == pytest.approx(1.6)


def test_unmatched_by_reason_mentor_load_and_min_score(session, session_factory) -> None:
    actor = make_org(session)
    program = make_program(session, actor, REPORT_CONFIG | {"min_score": 0.5}, commit=True)
    person(session, program, "mentee", "e1", 0)
    person(session, program, "mentee", "e2", 10)  # gaps 9 and 8: in no table entry, 0
    person(session, program, "mentor", "m1", 1)
    person(session, program, "mentor", "m2", 2)
    run = runs.start_run(session, actor, program.id)
    session.rollback()
    assert runs.execute_run(session_factory, run.id) == "succeeded"
    report = reports.program_report(session, actor, program.id)
    assert report["unmatched_by_reason"] == {"below_min_score": 1}
    assert report["mentor_load"] == [{"pairs": 0, "mentors": 1}, {"pairs": 1, "mentors": 1}]
    assert report["match_rate"]["run_rate"] == 0.5
    quality = report["quality"]
    # Baselines keep to min_score too: e2 stays unmatched by all three.
    for name in ("optimal", "greedy", "random"):
        assert quality[name]["coverage"] == 0.5
    assert quality["greedy"]["total"] == pytest.approx(0.9)
    assert round(quality["random"]["total"], 4) in (0.8, 0.9)  # e1 with either mentor
    assert "the same in total as greedy" in quality["summary"]


def test_no_run_yet_and_outcomes(session) -> None:
    actor = make_org(session)
    program = make_program(session, actor, LEARN_CONFIG, commit=True)
    report = reports.program_report(session, actor, program.id)
    assert report["run"] is None
    assert report["quality"]["status"] == "no_run"
    assert report["outcomes"] is None

    sims = [[1, 1], [1, 1], [0, 0], [0.2, 0.2]]
    outcomes = [
        {"meetings": 6, "ended_early": False},
        {"meetings": 6, "ended_early": False},
        {"meetings": 0, "ended_early": True},
        {"meetings": 0},
    ]
    past_outcomes(session, actor, program, sims, outcomes)
    got = reports.program_report(session, actor, program.id)["outcomes"]
    past = learning.past_matches(session, program.id, LEARN_CONFIG | {"success": None})
    assert got["samples"] == 4
    assert got["mean_success"] == pytest.approx(float(past.success.mean()))
    assert got["early_end_rate"] == pytest.approx(1 / 3)
    counts = {d["low"]: d["count"] for d in got["by_decile"]}
    assert (counts[0.9], counts[0.0], counts[0.2]) == (2, 1, 1)
    deciles = {d["low"]: d["mean_success"] for d in got["by_decile"]}
    assert deciles[0.9] > deciles[0.0]
    assert deciles[0.5] is None
    skills = next(c for c in got["by_criterion"] if c["criterion"] == "skills")
    assert skills["samples"] == 4
    assert skills["correlation"] > 0.9
    assert skills["mean_success_high"] > skills["mean_success_low"]


def test_another_organizations_program_is_not_found(session, cohort) -> None:
    _, program, _ = cohort
    other = make_org(session, "Globex")
    with pytest.raises(NotFound):
        reports.program_report(session, other, program.id)
    with pytest.raises(NotFound):
        reports.program_report(session, other, uuid.uuid4())
