"""Matching runs on a real database: every option, and the failure paths."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.services import publication, runs
from api.services.cohort_matching import REAL_ENGINES, ScoringAndMatching
from api.services.errors import NotFound, ValidationFailed
from models import AuditEvent, Match, Participant, Run, UnmatchedMentee, WeightsVersion
from tests.factories import RUN_CONFIG, add, make_org, make_program, pairs, reload, set_status


@pytest.fixture
def world(session: Session) -> Any:
    """Three mentees, two mentors (capacities 1 and 2) whose best pairs are obvious."""
    actor = make_org(session)
    program = make_program(session, actor, RUN_CONFIG, commit=True)
    add(session, program, "mentor", "m1", ["python", "sql"], capacity=1)
    add(session, program, "mentor", "m2", ["go", "rust"], capacity=2)
    add(session, program, "mentee", "e1", ["python", "sql"])
    add(session, program, "mentee", "e2", ["go"])
    add(session, program, "mentee", "e3", ["rust"])
    return actor, program


def execute(session: Session, factory: sessionmaker[Session], run_id: uuid.UUID, **kw: Any) -> str:
    """Execute as a worker would: the test's own session holds no transaction meanwhile."""
    session.rollback()
    return runs.execute_run(factory, run_id, **kw)


def run_once(session: Session, factory: sessionmaker[Session], actor: Any, program: Any, **kw: Any):
    engines = kw.pop("engines", REAL_ENGINES)
    run = runs.start_run(session, actor, program.id, **kw)
    status = execute(session, factory, run.id, engines=engines)
    return status, reload(session, run.id)


LANGUAGE = "Shared languages: en"


def test_run_proposes_explains_and_records_everything(session, session_factory, world) -> None:
    actor, program = world
    run = runs.start_run(session, actor, program.id)
    assert run.status == "queued"
    assert run.config_version == 1
    assert run.triggered_by == actor.admin_id
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "run.triggered")).one()
    assert event.target_ids == [str(run.id)]
    assert event.actor_id == actor.admin_id

    assert execute(session, session_factory, run.id) == "succeeded"
    run = reload(session, run.id)
    assert run.status == "succeeded"
    assert run.progress == 1.0
    assert run.error is None
    assert run.started_at is not None
    assert run.finished_at is not None
    assert run.started_at <= run.finished_at
    assert run.lease_expires_at is None
    assert pairs(session, run.id) == {"e1": "m1", "e2": "m2", "e3": "m2"}
    stats = run.stats
    assert stats["n_mentees"] == 3
    assert stats["n_mentors"] == 2
    assert stats["matched"] == 3
    assert stats["unmatched_by_reason"] == {}
    assert stats["coverage"] == 1.0
    assert stats["score_min"] == pytest.approx(1.0)
    assert stats["score_total"] == pytest.approx(3)
    assert stats["blocking_pairs"] == 0
    assert stats["optimal"] is True
    assert {"load", "score", "assign", "explain", "persist", "total"} <= set(stats["seconds"])
    stored = list(session.scalars(select(Match).where(Match.run_id == run.id)))
    assert {m.status for m in stored} == {"proposed"}
    for match in stored:
        assert sum(b["contribution"] for b in match.breakdown) == pytest.approx(match.score)
    reasons = {session.get(Participant, m.mentee_id).external_id: m.reasons for m in stored}
    assert reasons == {
        "e1": ["Mentor offers 2 of the 2 skills the mentee wants: python, sql", LANGUAGE],
        "e2": ["Mentor offers 1 of the 1 skill the mentee wants: go", LANGUAGE],
        "e3": ["Mentor offers 1 of the 1 skill the mentee wants: rust", LANGUAGE],
    }
    # A finished run is left alone when its job is delivered twice.
    assert execute(session, session_factory, run.id) == "succeeded"
    assert session.scalar(select(func.count()).select_from(Match)) == 3


def test_unmatched_mentees_are_stored_with_reasons(session, session_factory, world) -> None:
    actor, program = world
    add(session, program, "mentee", "e4", ["python"])  # m1 is full with e1
    add(session, program, "mentee", "e5", ["python"], languages=["fr"])  # nobody speaks fr
    _, run = run_once(session, session_factory, actor, program)
    reasons = dict(
        session.execute(
            select(UnmatchedMentee.mentee_id, UnmatchedMentee.reason).where(
                UnmatchedMentee.run_id == run.id
            )
        ).all()
    )
    assert sorted(reasons.values()) == ["capacity_exhausted", "no_allowed_mentor"]
    assert run.stats["unmatched_by_reason"] == {"capacity_exhausted": 1, "no_allowed_mentor": 1}


def test_second_active_run_is_a_conflict_naming_it(session, session_factory, world) -> None:
    actor, program = world
    first = runs.start_run(session, actor, program.id)
    with pytest.raises(runs.ActiveRunConflict) as caught:
        runs.start_run(session, actor, program.id, scope="unmatched")
    assert caught.value.extra == {"active_run_id": str(first.id)}
    execute(session, session_factory, first.id)
    assert runs.start_run(session, actor, program.id).status == "queued"


def test_concurrent_triggers_start_exactly_one_run(session, session_factory, world) -> None:
    actor, program = world
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def trigger() -> None:
        with session_factory() as own:
            barrier.wait()
            try:
                runs.start_run(own, actor, program.id)
                outcomes.append("started")
            except runs.ActiveRunConflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=trigger) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 3 + ["started"]
    assert session.scalar(select(func.count()).select_from(Run)) == 1


def test_scope_unmatched_keeps_published_matches_and_their_capacity(
    session, session_factory, world
) -> None:
    actor, program = world
    _, first = run_once(session, session_factory, actor, program)
    set_status(session, first.id, "e1", "published")  # m1 (capacity 1) is now full
    set_status(session, first.id, "e2", "published")  # m2 has one place left
    add(session, program, "mentee", "e4", ["python", "sql"])  # would love m1

    _, second = run_once(session, session_factory, actor, program, scope="unmatched")
    proposed = pairs(session, second.id)
    # Published mentees are not re-matched; e3's pending proposal (to m2) is kept too.
    assert set(proposed) <= {"e4"}
    assert "m1" not in proposed.values()
    assert "m2" not in proposed.values()
    assert second.stats["n_mentees"] == 1
    assert second.stats["published_kept"] == 2
    assert second.stats["proposals_kept"] == 1
    assert session.scalar(select(func.count()).where(Match.status == "published")) == 2


def test_scope_all_leaves_out_published_mentees_and_counts_their_capacity(
    session, session_factory, world
) -> None:
    actor, program = world
    _, first = run_once(session, session_factory, actor, program)
    set_status(session, first.id, "e1", "published")
    add(session, program, "mentee", "e4", ["python", "sql"])
    _, second = run_once(session, session_factory, actor, program, scope="all")
    proposed = pairs(session, second.id)
    assert "e1" not in proposed
    assert "m1" not in proposed.values()
    assert second.stats["n_mentees"] == 3
    assert second.stats["already_matched"] == 1


def test_scope_unmatched_keeps_the_latest_runs_pending_proposals(
    session, session_factory, world
) -> None:
    """Review run 1, add people, match only the leftovers: both runs publish cleanly."""
    actor, program = world
    _, first = run_once(session, session_factory, actor, program)
    before = pairs(session, first.id)
    assert set(before) == {"e1", "e2", "e3"}  # m1 (cap 1) and m2 (cap 2) are now full
    add(session, program, "mentor", "m3", ["python", "sql", "go"], capacity=1)
    add(session, program, "mentee", "e4", ["python", "sql"])  # would love m1

    _, second = run_once(session, session_factory, actor, program, scope="unmatched")
    assert pairs(session, second.id) == {"e4": "m3"}  # m1 stays held by e1's proposal
    assert second.stats["proposals_kept"] == 3
    assert second.stats["n_mentees"] == 1
    assert pairs(session, first.id) == before  # run 1's proposals are untouched
    assert publication.publish(session, actor, program.id, first.id).newly_published == 3
    assert publication.publish(session, actor, program.id, second.id).newly_published == 1

    # Scope "all" would have re-matched everyone not yet published from scratch.
    _, third = run_once(session, session_factory, actor, program, scope="all")
    assert third.stats["n_mentees"] == 0
    assert third.stats["already_matched"] == 4


def test_scope_all_rematches_pending_proposals_from_scratch(
    session, session_factory, world
) -> None:
    actor, program = world
    run_once(session, session_factory, actor, program)
    add(session, program, "mentee", "e4", ["python", "sql"])
    # e1 now fits m1 less well than e4 does; its pending proposal to m1 does not hold m1.
    e1 = session.scalars(select(Participant).where(Participant.external_id == "e1")).one()
    e1.skills = ["python", "sql", "java", "rust"]  # 0.5 with m1, against e4's 1.0
    session.commit()
    _, second = run_once(session, session_factory, actor, program, scope="all")
    assert second.stats["n_mentees"] == 4
    assert second.stats["proposals_kept"] == 0
    assert pairs(session, second.id) == {"e4": "m1", "e2": "m2", "e3": "m2"}
    assert second.stats["unmatched_by_reason"] == {"capacity_exhausted": 1}  # e1


@pytest.mark.parametrize("scope", ["all", "unmatched"])
def test_published_mentees_are_never_rematched_and_the_run_can_be_published(
    session, session_factory, scope
) -> None:
    """The reviewer's scenario: spare capacity must not tempt a run into re-matching
    published mentees (whose publication would then 409), nor may a full program
    report them unmatched for lack of capacity."""
    actor = make_org(session)
    program = make_program(session, actor, RUN_CONFIG, commit=True)
    for ext in ("m1", "m2", "m3"):
        add(session, program, "mentor", ext, capacity=1)
    add(session, program, "mentee", "e1")
    add(session, program, "mentee", "e2")
    _, first = run_once(session, session_factory, actor, program)
    assert len(pairs(session, first.id)) == 2
    assert publication.publish(session, actor, program.id, first.id).newly_published == 2

    status, second = run_once(session, session_factory, actor, program, scope=scope)
    assert status == "succeeded"
    assert pairs(session, second.id) == {}  # e1 and e2 are matched: no proposal for them
    assert second.stats["n_mentees"] == 0
    assert second.stats["already_matched"] == 2
    assert second.stats["unmatched_by_reason"] == {}  # not "capacity_exhausted"
    assert (
        session.scalar(
            select(func.count())
            .select_from(UnmatchedMentee)
            .where(UnmatchedMentee.run_id == second.id)
        )
        == 0
    )
    again = publication.publish(session, actor, program.id, second.id)  # no 409
    assert again.newly_published == 0


def test_ended_match_frees_the_mentee_but_the_pair_is_never_proposed_again(
    session, session_factory, world
) -> None:
    actor, program = world
    _, first = run_once(session, session_factory, actor, program)
    set_status(session, first.id, "e1", "ended")  # m1's place is free again
    set_status(session, first.id, "e2", "rejected")  # m2 keeps e3, has one place left
    add(session, program, "mentor", "m3", ["python"], capacity=1)  # 0.5 for e1
    _, second = run_once(session, session_factory, actor, program, scope="unmatched")
    # Both mentees are back in the cohort, and neither gets their old mentor although
    # m1 and m2 have room and would score 1.0: e1 gets m3 (0.5), e2 gets m1 (0, allowed:
    # the program sets no min_score).
    assert second.stats["n_mentees"] == 2
    assert second.stats["excluded_pairs"] == 2
    assert pairs(session, second.id) == {"e1": "m3", "e2": "m1"}
    assert second.stats["unmatched_by_reason"] == {}


def test_pins_are_honored(session, session_factory, world) -> None:
    actor, program = world
    _, run = run_once(session, session_factory, actor, program, pins=[["e2", "m1"]])
    proposed = pairs(session, run.id)
    assert proposed["e2"] == "m1"
    assert proposed.get("e1") != "m1"
    assert run.options["pins"] == [["e2", "m1"]]
    assert run.stats["pins"] == 1


def test_pins_breaking_hard_constraints_are_refused_when_the_run_is_triggered(
    session, world
) -> None:
    actor, program = world
    add(session, program, "mentor", "fr", ["python"], languages=["fr"])
    shunned = add(session, program, "mentor", "x1", ["python"])
    shunned.exclude = ["e1"]
    session.commit()
    with pytest.raises(ValidationFailed) as caught:
        runs.start_run(session, actor, program.id, pins=[["e1", "x1"], ["e2", "fr"], ["e3", "m1"]])
    errors = caught.value.errors
    assert set(errors) == {"pins.0", "pins.1"}  # e3 -> m1 breaks no rule
    assert errors["pins.0"] == [
        "pin ['e1', 'x1'] is not allowed: pair is excluded (same person, exclusion list or "
        "existing match)"
    ]
    assert errors["pins.1"] == [
        "pin ['e2', 'fr'] is not allowed: required criterion 'shared_language' is not met"
    ]
    with pytest.raises(ValidationFailed) as caught:
        runs.start_run(session, actor, program.id, pins=[["e1", "m1"], ["e2", "m1"]])
    assert caught.value.errors == {
        "pins.1": ["mentor 'm1' is pinned 2 times but has 1 free place(s)"]
    }
    assert session.scalar(select(func.count()).select_from(Run)) == 0
    # A dry run checks its pins against its own configuration (here: language optional).
    relaxed = [{**c, "required": False} for c in RUN_CONFIG["criteria"]]
    run = runs.start_run(
        session,
        actor,
        program.id,
        pins=[["e2", "fr"]],
        dry_run=True,
        config_overrides={"criteria": relaxed},
    )
    assert run.options["pins"] == [["e2", "fr"]]


def test_a_pin_of_a_published_mentee_is_refused_in_either_scope(
    session, session_factory, world
) -> None:
    actor, program = world
    _, first = run_once(session, session_factory, actor, program)
    set_status(session, first.id, "e1", "published")
    match = session.scalars(select(Match).where(Match.status == "published")).one()
    for person in (match.mentee_id, match.mentor_id):  # the places it holds, as publication
        session.get_one(Participant, person).published_load += 1
    session.commit()
    for scope in ("all", "unmatched"):
        with pytest.raises(ValidationFailed) as caught:
            runs.start_run(session, actor, program.id, scope=scope, pins=[["e1", "m2"]])
        assert caught.value.errors == {
            "pins.0": ["mentee 'e1' is pinned 1 times but has 0 free place(s)"]
        }
        session.rollback()


def test_a_pin_that_became_infeasible_fails_the_run_naming_it_by_external_ids(
    session, session_factory, world, caplog
) -> None:
    actor, program = world
    run = runs.start_run(session, actor, program.id, pins=[["e2", "m1"]])
    m1 = session.scalars(select(Participant).where(Participant.external_id == "m1")).one()
    m1.attributes = {"languages": ["fr"]}  # changed after the trigger: no shared language
    session.commit()
    with caplog.at_level(logging.WARNING, logger="mentormatch.runs"):
        assert execute(session, session_factory, run.id) == "failed"
    run = reload(session, run.id)
    assert run.error == (
        "the matcher refused the run: pin ['e2', 'm1'] is not allowed by the hard "
        "constraints (a required criterion, an exclusion, or an inactive participant)"
    )
    (record,) = [r for r in caplog.records if r.getMessage().startswith("run failed")]
    assert record.levelno == logging.WARNING
    assert not record.exc_info


def test_bad_pins_are_a_validation_error_naming_each_problem(session, world) -> None:
    actor, program = world
    add(session, program, "mentor", "gone", active=False)
    with pytest.raises(ValidationFailed) as caught:
        runs.start_run(
            session,
            actor,
            program.id,
            pins=[["nobody", "m1"], ["m1", "e1"], ["e1", "gone"], ["e1", "m2"], ["e1", "m2"]],
        )
    errors = caught.value.errors
    assert "no participant with external_id 'nobody'" in errors["pins.0"][0]
    assert "'m1' is a mentor, expected a mentee" in errors["pins.1"][0]
    assert "'gone' is not active" in errors["pins.2"][0]
    assert "pair ['e1', 'm2'] is pinned more than once" in errors["pins.4"][0]
    assert session.scalar(select(func.count()).select_from(Run)) == 0


class Spy(ScoringAndMatching):
    """The real engines, recording what the run passed to the matcher."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def assign(self, scores: Any, **kw: Any) -> Any:
        self.calls.append(kw)
        return super().assign(scores, **kw)


@pytest.mark.parametrize("objective", ["total", "coverage", "fair", "stable"])
def test_objective_passes_through_to_the_matcher(session, session_factory, world, objective):
    actor, program = world
    spy = Spy()
    status, run = run_once(
        session, session_factory, actor, program, objective=objective, engines=spy
    )
    assert status == "succeeded"
    assert spy.calls[0]["objective"] == objective
    assert run.objective == objective
    assert run.stats["objective"] == objective
    np.testing.assert_array_equal(spy.calls[0]["capacity"], [1, 2])


def test_unknown_objective_and_scope_are_rejected(session, world) -> None:
    actor, program = world
    with pytest.raises(ValidationFailed) as caught:
        runs.start_run(session, actor, program.id, objective="best", scope="some")
    assert set(caught.value.errors) == {"objective", "scope"}


def test_dry_run_uses_config_overrides_on_the_live_cohort(session, session_factory, world):
    actor, program = world
    add(session, program, "mentee", "e4", ["python", "java"])  # scores 0.5 with m1
    status, run = run_once(
        session,
        session_factory,
        actor,
        program,
        dry_run=True,
        config_overrides={"min_score": 0.75, "default_capacity": 3},
    )
    assert status == "succeeded"
    assert run.dry_run is True
    assert run.options["config_overrides"] == {"min_score": 0.75, "default_capacity": 3}
    assert run.stats["min_score"] == 0.75
    assert run.stats["unmatched_by_reason"] == {"below_min_score": 1}
    assert run.config_version == 1  # the program itself is unchanged


def test_config_overrides_need_dry_run_and_must_be_valid(session, world) -> None:
    actor, program = world
    with pytest.raises(ValidationFailed) as caught:
        runs.start_run(session, actor, program.id, config_overrides={"min_score": 0.5})
    assert "dry_run" in caught.value.errors["config"][0]
    with pytest.raises(ValidationFailed) as caught:
        runs.start_run(session, actor, program.id, dry_run=True, config_overrides={"min_score": 7})
    assert set(caught.value.errors) == {"config.min_score"}


def test_priority_unmatched_lets_earlier_leftovers_go_first(session, session_factory) -> None:
    actor = make_org(session)
    program = make_program(session, actor, RUN_CONFIG, commit=True)
    add(session, program, "mentor", "m1", ["python", "sql"], capacity=1)
    add(session, program, "mentee", "a", ["python", "sql", "java", "rust"])  # 0.5
    add(session, program, "mentee", "b", ["python", "sql", "go"])  # 0.667
    _, first = run_once(session, session_factory, actor, program)
    assert pairs(session, first.id) == {"b": "m1"}
    _, plain = run_once(session, session_factory, actor, program)
    assert pairs(session, plain.id) == {"b": "m1"}
    _, boosted = run_once(session, session_factory, actor, program, priority_unmatched=0.25)
    assert pairs(session, boosted.id) == {"a": "m1"}
    assert boosted.stats["priority_boosted"] == 1
    assert boosted.stats["score_total"] == pytest.approx(0.5)  # the true score, not boosted


def test_active_weights_version_is_used_and_recorded(session, session_factory, world) -> None:
    actor, program = world
    session.add(
        WeightsVersion(
            id=uuid.uuid4(),
            organization_id=actor.organization_id,
            program_id=program.id,
            version=3,
            weights={"skills": 2.0, "shared_language": 1.0},
            source="learned",
            active=True,
        )
    )
    session.commit()
    _, run = run_once(session, session_factory, actor, program)
    assert run.weights_version == 3
    assert run.stats["weights_version"] == 3
    match = session.scalars(select(Match).where(Match.run_id == run.id)).first()
    assert match is not None
    assert {b["criterion"]: b["weight"] for b in match.breakdown} == pytest.approx(
        {"skills": 2 / 3, "shared_language": 1 / 3}
    )


def test_everyone_matched_gives_an_empty_successful_run(session, session_factory, world):
    actor, program = world
    _, first = run_once(session, session_factory, actor, program)
    for ext in ("e1", "e2", "e3"):
        set_status(session, first.id, ext, "published")
    status, run = run_once(session, session_factory, actor, program, scope="unmatched")
    assert status == "succeeded"
    assert run.stats["matched"] == 0
    assert run.stats["n_mentees"] == 0


class ExplodingExplain(ScoringAndMatching):
    def explain(self, _compat: Any, _mentee: Any, _mentor: Any) -> list[Any]:
        raise RuntimeError("explain exploded")


class DuplicateUnmatched(ScoringAndMatching):
    """Proposals insert fine, then the unmatched rows violate their unique constraint."""

    def assign(self, scores: Any, **kw: Any) -> Any:
        real = super().assign(scores, **kw)
        return type(real)(
            **{
                **{f: getattr(real, f) for f in real.__dataclass_fields__},
                "unmatched": np.array([0, 0]),
                "reasons": ["capacity_exhausted"] * 2,
            }
        )


@pytest.mark.parametrize(
    ("engines", "error"),
    [(ExplodingExplain(), "RuntimeError"), (DuplicateUnmatched(), "IntegrityError")],
)
def test_a_failing_run_is_failed_with_its_reason_and_writes_nothing(
    session, session_factory, world, engines, error, caplog
) -> None:
    actor, program = world
    with caplog.at_level(logging.ERROR, logger="mentormatch.runs"):
        status, run = run_once(session, session_factory, actor, program, engines=engines)
    assert status == "failed"
    assert run.status == "failed"
    assert run.finished_at is not None
    # An unexpected error is stored by class only (its text may hold personal data,
    # e.g. the SQL parameters of an IntegrityError); the worker log has the details.
    assert run.error == f"{error}: unexpected error; see the worker log (run_id {run.id})"
    (record,) = [r for r in caplog.records if r.getMessage().startswith("run failed")]
    assert record.levelno == logging.ERROR
    assert record.exc_info
    assert session.scalar(select(func.count()).select_from(Match)) == 0
    assert session.scalar(select(func.count()).select_from(UnmatchedMentee)) == 0
    assert runs.start_run(session, actor, program.id).status == "queued"  # program is free


def test_a_scoring_error_fails_the_run_with_a_readable_reason(session, session_factory) -> None:
    actor = make_org(session)
    program = make_program(session, actor, RUN_CONFIG, commit=True)
    add(session, program, "mentor", "m1")
    bad = add(session, program, "mentee", "e1")
    bad.attributes = {"languages": 7}  # not a list: scoring refuses it
    session.commit()
    status, run = run_once(session, session_factory, actor, program)
    assert status == "failed"
    assert run.error == (
        "mentees[0] (external_id 'e1'): attributes.languages: expected a list of strings, got 7"
    )


def test_expired_leases_fail_runs_and_free_the_program(session, world) -> None:
    actor, program = world
    run = runs.start_run(session, actor, program.id)
    past = datetime.now(UTC) - timedelta(seconds=5)
    row = reload(session, run.id)
    row.status, row.lease_expires_at = "running", past
    session.commit()
    assert runs.expire_stale_runs(session) == [run.id]
    session.commit()
    row = reload(session, run.id)
    stamp = past.isoformat(timespec="seconds")
    assert row.status == "failed"
    assert row.error == f"worker lost: lease expired at {stamp}"

    queued = runs.start_run(session, actor, program.id)
    reload(session, queued.id).lease_expires_at = past
    session.commit()
    # Starting a run expires stale ones first, so the dead run does not block it.
    fresh = runs.start_run(session, actor, program.id)
    stamp = past.isoformat(timespec="seconds")
    assert reload(session, queued.id).error == f"never picked up by a worker: queued until {stamp}"
    assert fresh.status == "queued"


class Slow(ScoringAndMatching):
    def assign(self, scores: Any, **kw: Any) -> Any:
        time.sleep(1.2)
        return super().assign(scores, **kw)


def test_a_live_worker_renews_its_lease_through_long_phases(session, session_factory, world):
    actor, program = world
    run = runs.start_run(session, actor, program.id)
    session.rollback()
    result: list[str] = []
    worker = threading.Thread(
        target=lambda: result.append(
            runs.execute_run(session_factory, run.id, engines=Slow(), lease=0.4)
        )
    )
    worker.start()
    expired: list[uuid.UUID] = []
    while worker.is_alive():
        with session_factory() as other:
            expired += runs.expire_stale_runs(other)
            other.commit()
        time.sleep(0.1)
    worker.join()
    assert expired == []
    assert result == ["succeeded"]


def test_runs_are_listed_read_and_compared_within_the_organization(
    session, session_factory, world
) -> None:
    actor, program = world
    _, a = run_once(session, session_factory, actor, program)
    _, b = run_once(session, session_factory, actor, program, pins=[["e2", "m1"]])
    page = runs.list_runs(session, actor, program.id, limit=1)
    assert [r.id for r in page.items] == [a.id]
    assert page.next_cursor is not None
    page = runs.list_runs(session, actor, program.id, limit=1, cursor=page.next_cursor)
    assert [r.id for r in page.items] == [b.id]
    assert page.next_cursor is None

    diff = runs.compare_runs(session, actor, program.id, a.id, b.id)
    assert diff["a"]["matched"] == diff["b"]["matched"] == 3
    assert diff["common"] == 1  # e3-m2 in both
    assert diff["only_in_a_count"] == diff["only_in_b_count"] == 2
    assert {p["mentee"]["external_id"] for p in diff["only_in_b"]} == {"e1", "e2"}
    assert diff["difference"]["score_total"] == pytest.approx(
        b.stats["score_total"] - a.stats["score_total"]
    )

    stranger = make_org(session, "Globex")
    with pytest.raises(NotFound):
        runs.get_run(session, stranger, program.id, a.id)
    other_program = make_program(session, actor, RUN_CONFIG, commit=True)
    with pytest.raises(NotFound):
        runs.get_run(session, actor, other_program.id, a.id)
