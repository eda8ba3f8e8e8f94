"""Weights versions learned from outcomes, on a real database: learn, activate, use."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import scoring
from api.services import learning
from api.services.errors import NotFound
from models import AuditEvent, Match, Outcome, WeightsVersion
from tests.factories import LEARN_CONFIG, add, make_org, make_program, past_outcomes, reload
from tests.services.test_runs import run_once

N = 80


def _sims(n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 2))


def _meetings(success: np.ndarray) -> list[dict[str, Any]]:
    # Only meetings given: success = min(meetings / 6, 1), a step function of the target.
    return [{"meetings": round(6 * float(s))} for s in success]


@pytest.fixture
def program(session: Session) -> Any:
    actor = make_org(session)
    return actor, make_program(session, actor, LEARN_CONFIG, commit=True)


def _audit(session: Session, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
    )


def test_the_prior_is_version_1_created_on_first_use_and_active(session, program) -> None:
    actor, prog = program
    page = learning.list_weights(session, actor, prog.id)
    assert [(v["version"], v["source"], v["active"]) for v in page.items] == [(1, "prior", True)]
    assert page.items[0]["weights"] == {"skills": 1.0, "languages": 1.0}
    assert page.items[0]["summary"] is None
    again = learning.list_weights(session, actor, prog.id)
    assert len(again.items) == 1


def test_too_few_outcomes_answer_how_many_there_are_and_are_needed(session, program) -> None:
    actor, prog = program
    sims = _sims(12)
    past_outcomes(session, actor, prog, sims, _meetings(sims[:, 1]))
    with pytest.raises(learning.NotEnoughOutcomes) as caught:
        learning.learn_weights(session, actor, prog.id)
    assert caught.value.extra == {"have": 12, "need": scoring.MIN_SAMPLES}
    assert f"have 12, need at least {scoring.MIN_SAMPLES}" in caught.value.detail
    session.rollback()
    # The prior was created by this first use all the same; nothing was learned.
    rows = session.scalars(select(WeightsVersion).where(WeightsVersion.program_id == prog.id))
    assert [(r.version, r.source) for r in rows] == [(1, "prior")]
    assert _audit(session, "weights.learned") == []


def test_outcomes_following_one_criterion_give_an_active_version_weighting_it_more(
    session, program
) -> None:
    actor, prog = program
    sims = _sims()
    past_outcomes(session, actor, prog, sims, _meetings(sims[:, 1]))  # languages decides
    learned = learning.learn_weights(session, actor, prog.id)
    assert (learned["version"], learned["source"], learned["active"]) == (2, "learned", True)
    assert learned["samples"] == N
    weights = learned["weights"]
    assert weights["languages"] > 1.5 * weights["skills"]
    assert weights["languages"] + weights["skills"] == pytest.approx(2.0)  # the prior's sum
    ev = learned["evaluation"]
    assert ev["folds"] == learning.CV_FOLDS
    assert ev["samples"] == N
    assert ev["spearman_learned"] - ev["spearman_current"] >= learning.ACTIVATION_MARGIN
    assert ev["activated"] is True
    assert ev["reason"].startswith("activated")
    assert ev["compared_with_version"] == 1
    assert "languages mattered" in learned["summary"]
    active = session.scalars(
        select(WeightsVersion.version).where(
            WeightsVersion.program_id == prog.id, WeightsVersion.active.is_(True)
        )
    ).all()
    assert active == [2]
    [event] = _audit(session, "weights.learned")
    assert (event.actor_id, event.program_id) == (actor.admin_id, prog.id)
    assert event.target_ids == [
        str(
            session.scalars(
                select(WeightsVersion.id).where(
                    WeightsVersion.program_id == prog.id, WeightsVersion.version == 2
                )
            ).one()
        )
    ]
    assert {k: event.details[k] for k in ("version", "samples", "activated")} == {
        "version": 2,
        "samples": N,
        "activated": True,
    }
    # The next learn starts from, and is judged against, the now active version 2.
    again = learning.learn_weights(session, actor, prog.id)
    assert again["version"] == 3
    assert len(again["evaluation"]["per_fold"]) == learning.CV_FOLDS
    assert again["evaluation"]["compared_with_version"] == 2


def test_weights_that_predict_no_better_are_stored_inactive_with_the_reason(
    session, program
) -> None:
    actor, prog = program
    sims = _sims(seed=1)
    past_outcomes(session, actor, prog, sims, _meetings(sims.mean(axis=1)))  # as the prior
    learned = learning.learn_weights(session, actor, prog.id)
    ev = learned["evaluation"]
    assert (learned["version"], learned["active"], ev["activated"]) == (2, False, False)
    assert ev["spearman_learned"] - ev["spearman_current"] < learning.ACTIVATION_MARGIN
    assert ev["reason"].startswith("not activated")
    assert f"margin of {learning.ACTIVATION_MARGIN}" in ev["reason"]
    listed = learning.list_weights(session, actor, prog.id).items
    assert [(v["version"], v["active"]) for v in listed] == [(1, True), (2, False)]


def test_manual_activation_and_rollback_are_audited(session, program) -> None:
    actor, prog = program
    sims = _sims(seed=1)
    past_outcomes(session, actor, prog, sims, _meetings(sims.mean(axis=1)))
    assert learning.learn_weights(session, actor, prog.id)["active"] is False
    assert learning.activate_weights(session, actor, prog.id, 2)["active"] is True
    back = learning.activate_weights(session, actor, prog.id, 1)  # the rollback
    assert (back["version"], back["active"]) == (1, True)
    listed = learning.list_weights(session, actor, prog.id).items
    assert [(v["version"], v["active"]) for v in listed] == [(1, True), (2, False)]
    learning.activate_weights(session, actor, prog.id, 1)  # already active: nothing recorded
    events = _audit(session, "weights.activated")
    assert [(e.details["version"], e.details["previous_version"]) for e in events] == [
        (2, 1),
        (1, 2),
    ]
    with pytest.raises(NotFound, match="weights version 7 not found"):
        learning.activate_weights(session, actor, prog.id, 7)


def test_the_latest_outcome_wins_and_unknown_or_incomplete_ones_are_left_out(
    session, program
) -> None:
    actor, prog = program
    config = scoring.validate_config(LEARN_CONFIG)
    sims = [[0.2, 0.4], [0.5, 0.5], [0.9, 0.1], [0.3, 0.3]]
    first, _, incomplete, fourth = past_outcomes(
        session,
        actor,
        prog,
        sims,
        [{"meetings": 1}, {"messages": 40}, {"meetings": 6}, {"meetings": 3}],
    )
    session.add(Outcome(organization_id=prog.organization_id, match_id=first.id, meetings=6))
    proposed = past_outcomes(
        session, actor, prog, [[1.0, 1.0]], [{"meetings": 6}], status="proposed", prefix="p"
    )
    assert proposed
    match = session.get(Match, incomplete.id)
    assert match is not None
    match.breakdown = match.breakdown[:1]  # lacks "languages"
    session.commit()
    past = learning.past_matches(session, prog.id, config)
    # "messages" alone scores nothing (NaN, dropped); the proposed match has no say.
    assert past.with_outcome == 4
    rows = {
        m: (s, bool(c), x.tolist())
        for m, s, c, x in zip(
            past.match_ids, past.success, past.complete, past.similarities, strict=True
        )
    }
    assert rows == {
        first.id: (1.0, True, [0.2, 0.4]),  # its latest record: 6 meetings
        incomplete.id: (1.0, False, [0.0, 0.0]),
        fourth.id: (0.5, True, [0.3, 0.3]),
    }


def _cohort(session: Session, program: Any) -> None:
    for i in range(4):
        add(session, program, "mentor", f"m{i}", ["python", "go"][i % 2 :], languages=["en"])
        add(session, program, "mentee", f"e{i}", ["python"], languages=["en", "fr"][: 1 + i % 2])


def test_a_run_after_activation_scores_with_the_new_weights_and_predicts_success(
    session: Session, session_factory: sessionmaker[Session], program: Any
) -> None:
    actor, prog = program
    sims = _sims()
    past_outcomes(session, actor, prog, sims, _meetings(sims[:, 1]))
    learned = learning.learn_weights(session, actor, prog.id)
    assert learned["active"] is True
    _cohort(session, prog)
    status, run = run_once(session, session_factory, actor, prog)
    assert status == "succeeded", run.error
    assert (run.weights_version, run.stats["weights_version"]) == (2, 2)
    total = sum(learned["weights"].values())
    proposals = session.scalars(select(Match).where(Match.run_id == run.id)).all()
    assert len(proposals) == 4
    for match in proposals:
        used = {b["criterion"]: b["weight"] for b in match.breakdown}
        assert used == pytest.approx({k: w / total for k, w in learned["weights"].items()})
        assert sum(b["contribution"] for b in match.breakdown) == pytest.approx(match.score)
        assert match.predicted_success is not None
        assert 0 <= match.predicted_success <= 1
    mean = float(np.mean([m.predicted_success for m in proposals]))
    assert run.stats["predicted_success_mean"] == pytest.approx(mean)
    assert run.stats["calibration_samples"] == N


def test_predicted_success_is_null_below_the_minimum_outcomes(
    session: Session, session_factory: sessionmaker[Session], program: Any
) -> None:
    actor, prog = program
    sims = _sims(scoring.MIN_SAMPLES - 1)
    past_outcomes(session, actor, prog, sims, _meetings(sims[:, 1]))
    _cohort(session, prog)
    status, run = run_once(session, session_factory, actor, prog)
    assert status == "succeeded", run.error
    assert run.weights_version is None  # no version yet: the configuration's own weights
    proposals = session.scalars(select(Match).where(Match.run_id == run.id)).all()
    assert len(proposals) == 4
    assert [m.predicted_success for m in proposals] == [None] * 4
    assert run.stats["predicted_success_mean"] is None
    assert reload(session, run.id).stats["calibration_samples"] == 0


def test_the_cli_lists_and_learns_as_the_organizations_first_owner(
    session: Session, program: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from api.cli import main

    actor, prog = program
    monkeypatch.setenv("MENTORMATCH_DATABASE_URL", db_url)
    runner = CliRunner()
    listed = runner.invoke(main, ["weights", "list", "--program", str(prog.id)])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[0] == "version 1 (prior, active, 0 outcomes)"
    too_few = runner.invoke(main, ["weights", "learn", "--program", str(prog.id)])
    assert too_few.exit_code == 1
    assert f"have 0, need at least {scoring.MIN_SAMPLES}" in too_few.output
    sims = _sims()
    past_outcomes(session, actor, prog, sims, _meetings(sims[:, 1]))
    learned = runner.invoke(main, ["weights", "learn", "--program", str(prog.id)])
    assert learned.exit_code == 0, learned.output
    assert learned.output.splitlines()[0] == f"version 2 (learned, active, {N} outcomes)"
    [event] = _audit(session, "weights.learned")
    assert event.actor_id == actor.admin_id  # the owner make_org created


def test_the_same_outcomes_give_the_same_evaluation_whatever_the_match_ids(
    session, program
) -> None:
    # The folds are drawn over the rows' order: it follows their content, not their
    # random uuids, so a second program with the same history evaluates identically.
    actor, first = program
    second = make_program(session, actor, LEARN_CONFIG, commit=True)
    sims = _sims(seed=3)
    noisy = np.clip(sims[:, 0] + np.random.default_rng(4).normal(0, 0.3, N), 0, 1)
    for prog, prefix in ((first, "a"), (second, "b")):
        past_outcomes(session, actor, prog, sims, _meetings(noisy), prefix=prefix)
    one = learning.learn_weights(session, actor, first.id)["evaluation"]
    two = learning.learn_weights(session, actor, second.id)["evaluation"]
    assert one["per_fold"] == two["per_fold"]
    assert one["spearman_learned"] == two["spearman_learned"]
