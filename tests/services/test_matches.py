"""Review and publication of matches, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import scoring
from api.services import audit, match_views, matches, publication
from api.services.errors import Conflict, NotFound, ValidationFailed
from models import AuditEvent, Match, Participant, ProgramConfig
from tests.factories import (
    CONFIG,
    make_match,
    make_org,
    make_participant,
    make_program,
    make_run,
    proposals,
)


def _events(session: Session, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by("seq"))
    )


def _load(session: Session, person: Participant) -> int:
    return session.scalar(select(Participant.published_load).where(Participant.id == person.id))


# ----------------------------------------------------------------- listing


def test_run_matches_lists_proposals_and_unmatched(session: Session) -> None:
    s = proposals(session, pairs=3)
    page = matches.list_run_matches(session, s.actor, s.program.id, s.run.id, limit=2)
    assert len(page.items) == 2
    assert page.next_cursor is not None
    first = page.items[0]
    assert set(first["mentee"]) == {"id", "external_id", "name"}
    assert first["status"] == "proposed"
    assert first["reasons"] == ["seeded by a test"]
    assert page.unmatched == [
        {"mentee": match_views.ref(s.unmatched[0]), "reason": "no_allowed_mentor"}
    ]
    assert page.unmatched_count == 1

    rest = matches.list_run_matches(
        session, s.actor, s.program.id, s.run.id, limit=2, cursor=page.next_cursor
    )
    assert len(rest.items) == 1
    assert rest.next_cursor is None
    assert rest.unmatched == []
    assert rest.unmatched_count == 1
    ids = {m["id"] for m in page.items + rest.items}
    assert ids == {m.id for m in s.matches}


def test_program_matches_by_status(session: Session) -> None:
    s = proposals(session, pairs=3)
    publication.publish(session, s.actor, s.program.id, s.run.id, match_ids=[s.matches[0].id])
    matches.edit_match(session, s.actor, s.matches[1].id, status="rejected")

    def ids(status: str | None) -> set[uuid.UUID]:
        page = matches.list_matches(session, s.actor, s.program.id, status=status)
        return {m["id"] for m in page.items}

    assert ids("published") == {s.matches[0].id}
    assert ids("rejected") == {s.matches[1].id}
    assert ids("proposed") == {s.matches[2].id}
    assert ids(None) == {m.id for m in s.matches}
    with pytest.raises(ValidationFailed):
        matches.list_matches(session, s.actor, s.program.id, status="bogus")


def test_other_organization_sees_nothing(session: Session) -> None:
    s = proposals(session)
    intruder = make_org(session, "Globex")
    match_id = s.matches[0].id
    calls = [
        lambda: matches.list_run_matches(session, intruder, s.program.id, s.run.id),
        lambda: matches.list_matches(session, intruder, s.program.id),
        lambda: matches.get_match(session, intruder, match_id),
        lambda: matches.edit_match(session, intruder, match_id, status="rejected"),
        lambda: publication.publish(session, intruder, s.program.id, s.run.id),
        lambda: publication.end_match(session, intruder, match_id, reason="x"),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
        session.rollback()
    # A run id of another program of the same organization is not found either.
    other = proposals(session, s.actor)
    with pytest.raises(NotFound):
        publication.publish(session, s.actor, s.program.id, other.run.id)
    assert session.get(Match, match_id).status == "proposed"


# ----------------------------------------------------------------- edit and reject


def test_edit_moves_mentee_to_a_free_mentor_and_reexplains(session: Session) -> None:
    s = proposals(session, pairs=2, spare_mentors=1)
    spare = s.mentors[2]
    edited = matches.edit_match(session, s.actor, s.matches[0].id, mentor_id=spare.id)
    assert edited["mentor"]["id"] == spare.id
    assert edited["status"] == "proposed"
    assert edited["edited_by"] == s.actor.admin_id
    # Re-explained by the scoring engine: both want/offer "python", same language.
    assert edited["score"] == pytest.approx(1.0)
    assert [b["criterion"] for b in edited["breakdown"]] == ["skills", "shared_language"]
    assert sum(b["contribution"] for b in edited["breakdown"]) == pytest.approx(edited["score"])
    assert edited["reasons"] == [
        "Mentor offers 1 of the 1 skill the mentee wants: python",
        "Shared languages: en",
    ]
    assert edited["version"] == 2
    (event,) = _events(session, "match.edited")
    assert event.target_ids == [str(s.matches[0].id)]
    assert event.details == {"from_mentor_id": str(s.mentors[0].id), "to_mentor_id": str(spare.id)}

    by_ext = matches.edit_match(session, s.actor, s.matches[0].id, mentor_external_id="m0")
    assert by_ext["mentor"]["external_id"] == "m0"


def test_edit_to_mentor_breaking_required_criterion_is_422_naming_it(session: Session) -> None:
    s = proposals(session, pairs=1, spare_mentors=0)
    french = make_participant(session, s.program, "mentor", "fr", languages=["fr"])
    session.commit()
    with pytest.raises(ValidationFailed) as info:
        matches.edit_match(session, s.actor, s.matches[0].id, mentor_id=french.id)
    (message,) = info.value.errors["mentor_id"]
    assert "required criterion 'shared_language'" in message
    assert "fr" in message
    session.rollback()
    assert session.get(Match, s.matches[0].id).mentor_id == s.mentors[0].id
    assert _events(session, "match.edited") == []


def test_edit_to_excluded_mentor_is_422(session: Session) -> None:
    s = proposals(session, pairs=1, spare_mentors=0)
    make_participant(session, s.program, "mentor", "x1", exclude=["e0"])
    session.commit()
    with pytest.raises(ValidationFailed) as info:
        matches.edit_match(session, s.actor, s.matches[0].id, mentor_external_id="x1")
    assert info.value.errors == {
        "mentor_external_id": [
            "mentor x1: pair is excluded (same person, exclusion list or existing match)"
        ]
    }
    session.rollback()
    assert session.get(Match, s.matches[0].id).mentor_id == s.mentors[0].id
    assert _events(session, "match.edited") == []


def test_edit_to_full_mentor_is_422(session: Session) -> None:
    s = proposals(session, pairs=2, spare_mentors=0)
    # m1 (capacity 1 by the program default) already has e1 proposed in this run.
    with pytest.raises(ValidationFailed) as info:
        matches.edit_match(session, s.actor, s.matches[0].id, mentor_id=s.mentors[1].id)
    assert info.value.errors == {
        "mentor_id": [
            "mentor m1 is at capacity: 1 of 1 places taken (0 published, 1 proposed in this run)"
        ]
    }
    session.rollback()
    # Published matches count too: with e1 -> m1 published, m1 is just as full.
    publication.publish(session, s.actor, s.program.id, s.run.id, match_ids=[s.matches[1].id])
    with pytest.raises(ValidationFailed) as info:
        matches.edit_match(session, s.actor, s.matches[0].id, mentor_id=s.mentors[1].id)
    assert info.value.errors == {
        "mentor_id": [
            "mentor m1 is at capacity: 1 of 1 places taken (1 published, 0 proposed in this run)"
        ]
    }


def test_edit_rules_on_the_mentor(session: Session) -> None:
    s = proposals(session, pairs=1, spare_mentors=0)
    idle = make_participant(session, s.program, "mentor", "idle", active=False)
    session.commit()
    cases = [
        ({"mentor_id": idle.id}, "mentor_id", "not active"),
        ({"mentor_id": s.unmatched[0].id}, "mentor_id", "not a mentor"),
        ({"mentor_id": uuid.uuid4()}, "mentor_id", "no participant"),
        ({"mentor_external_id": "nobody"}, "mentor_external_id", "no participant"),
        ({"status": "published"}, "status", "rejected"),
        ({}, "_schema", "exactly one"),
    ]
    for kwargs, field, words in cases:
        with pytest.raises(ValidationFailed) as info:
            matches.edit_match(session, s.actor, s.matches[0].id, **kwargs)
        assert words in info.value.errors[field][0], kwargs
        session.rollback()
    other = proposals(session, make_org(session, "Globex"))
    with pytest.raises(ValidationFailed, match="no participant"):
        matches.edit_match(session, s.actor, s.matches[0].id, mentor_id=other.mentors[0].id)


def test_reject_and_only_proposed_are_editable(session: Session) -> None:
    s = proposals(session, pairs=2)
    rejected = matches.edit_match(session, s.actor, s.matches[0].id, status="rejected")
    assert rejected["status"] == "rejected"
    (event,) = _events(session, "match.rejected")
    assert event.target_ids == [str(s.matches[0].id)]
    assert event.actor_id == s.actor.admin_id
    with pytest.raises(Conflict, match="only proposed"):
        matches.edit_match(session, s.actor, s.matches[0].id, status="rejected")
    session.rollback()
    publication.publish(session, s.actor, s.program.id, s.run.id)
    with pytest.raises(Conflict, match="published"):
        matches.edit_match(session, s.actor, s.matches[1].id, mentor_id=s.mentors[2].id)


def test_stale_version_is_409(session: Session) -> None:
    s = proposals(session, pairs=1)
    matches.edit_match(session, s.actor, s.matches[0].id, mentor_id=s.mentors[1].id, version=1)
    with pytest.raises(Conflict, match="changed since version 1"):
        matches.edit_match(session, s.actor, s.matches[0].id, status="rejected", version=1)


def test_dry_run_proposals_cannot_be_edited_or_published(session: Session) -> None:
    s = proposals(session, dry_run=True)
    with pytest.raises(Conflict, match="dry run"):
        matches.edit_match(session, s.actor, s.matches[0].id, status="rejected")
    session.rollback()
    with pytest.raises(Conflict, match="dry run"):
        publication.publish(session, s.actor, s.program.id, s.run.id)
    session.rollback()
    assert {m.status for m in session.scalars(select(Match))} == {"proposed"}


# ----------------------------------------------------------------- publish


def test_publish_all_records_who_and_is_idempotent(session: Session) -> None:
    s = proposals(session, pairs=3)
    result = publication.publish(session, s.actor, s.program.id, s.run.id)
    assert result.newly_published == 3
    assert set(result.published) == {m.id for m in s.matches}
    for m in session.scalars(select(Match)):
        assert m.status == "published"
        assert m.published_by == s.actor.admin_id
        assert m.published_at is not None
    assert [_load(session, m) for m in s.mentors] == [1, 1, 1, 0]
    (event,) = _events(session, "match.published")
    assert sorted(event.target_ids) == sorted(str(m.id) for m in s.matches)
    assert event.details == {"run_id": str(s.run.id), "count": 3}

    again = publication.publish(session, s.actor, s.program.id, s.run.id)
    assert again.newly_published == 0
    assert set(again.published) == set(result.published)
    assert len(_events(session, "match.published")) == 1
    assert [_load(session, m) for m in s.mentors] == [1, 1, 1, 0]


def test_publish_some(session: Session) -> None:
    s = proposals(session, pairs=3)
    chosen = [s.matches[0].id, s.matches[2].id]
    result = publication.publish(session, s.actor, s.program.id, s.run.id, match_ids=chosen)
    assert result.newly_published == 2
    assert set(result.published) == set(chosen)
    assert session.get(Match, s.matches[1].id).status == "proposed"
    partial = publication.publish(session, s.actor, s.program.id, s.run.id, match_ids=chosen[:1])
    assert partial.newly_published == 0
    assert partial.published == chosen[:1]

    with pytest.raises(ValidationFailed) as info:
        publication.publish(session, s.actor, s.program.id, s.run.id, match_ids=[uuid.uuid4()])
    assert "not matches of run" in info.value.errors["match_ids"][0]
    session.rollback()
    matches.edit_match(session, s.actor, s.matches[1].id, status="rejected")
    with pytest.raises(Conflict, match="rejected or ended"):
        publication.publish(session, s.actor, s.program.id, s.run.id, match_ids=[s.matches[1].id])


def test_publish_refuses_over_capacity_naming_the_mentor(session: Session) -> None:
    s = proposals(session, pairs=2, spare_mentors=0)
    publication.publish(session, s.actor, s.program.id, s.run.id, match_ids=[s.matches[0].id])
    # A second run proposes a new mentee to the now full m0 (capacity 1).
    late = make_participant(session, s.program, "mentee", "late")
    run2 = make_run(session, s.actor, s.program)
    extra = make_match(session, run2, late, s.mentors[0])
    session.commit()
    with pytest.raises(Conflict, match=r"mentor m0 \(1 published \+ 1 > capacity 1\)"):
        publication.publish(session, s.actor, s.program.id, run2.id)
    session.rollback()
    assert session.get(Match, extra.id).status == "proposed"
    assert _load(session, s.mentors[0]) == 1
    assert len(_events(session, "match.published")) == 1


def test_publish_refuses_a_mentee_published_elsewhere(session: Session) -> None:
    s = proposals(session, pairs=1, spare_mentors=1)
    publication.publish(session, s.actor, s.program.id, s.run.id)
    run2 = make_run(session, s.actor, s.program)
    make_match(session, run2, s.mentees[0], s.mentors[1])
    session.commit()
    with pytest.raises(Conflict, match="e0"):
        publication.publish(session, s.actor, s.program.id, run2.id)
    session.rollback()
    assert _load(session, s.mentors[1]) == 0


def test_run_not_succeeded_cannot_be_published(session: Session) -> None:
    s = proposals(session)
    s.run.status = "failed"
    session.commit()
    with pytest.raises(Conflict, match="failed"):
        publication.publish(session, s.actor, s.program.id, s.run.id)


def test_database_refuses_what_python_might_miss(session: Session) -> None:
    s = proposals(session, pairs=1, spare_mentors=1)
    publication.publish(session, s.actor, s.program.id, s.run.id)
    # The same pair published a second time: the partial unique index.
    run2 = make_run(session, s.actor, s.program)
    with pytest.raises(IntegrityError):
        make_match(session, run2, s.mentees[0], s.mentors[0], status="published")
    session.rollback()
    # A negative load: the CHECK constraint.
    with pytest.raises(IntegrityError):
        session.execute(
            update(Participant)
            .where(Participant.id == s.mentors[1].id)
            .values(published_load=Participant.published_load - 1)
        )


# ----------------------------------------------------------------- end


def test_end_releases_capacity(session: Session) -> None:
    s = proposals(session, pairs=1, spare_mentors=0)
    publication.publish(session, s.actor, s.program.id, s.run.id)
    assert _load(session, s.mentors[0]) == 1
    with pytest.raises(ValidationFailed):
        publication.end_match(session, s.actor, s.matches[0].id, reason="  ")
    session.rollback()
    ended = publication.end_match(session, s.actor, s.matches[0].id, reason="mentor moved away")
    assert ended["status"] == "ended"
    assert ended["ended_reason"] == "mentor moved away"
    assert ended["ended_by"] == s.actor.admin_id
    assert ended["ended_at"] is not None
    assert _load(session, s.mentors[0]) == 0
    (event,) = _events(session, "match.ended")
    assert event.target_ids == [str(s.matches[0].id)]
    assert event.details == {}
    with pytest.raises(Conflict, match="ended"):
        publication.end_match(session, s.actor, s.matches[0].id, reason="again")
    session.rollback()
    # The released place can be published again.
    newcomer = make_participant(session, s.program, "mentee", "new")
    run2 = make_run(session, s.actor, s.program)
    make_match(session, run2, newcomer, s.mentors[0])
    session.commit()
    assert publication.publish(session, s.actor, s.program.id, run2.id).newly_published == 1
    assert _load(session, s.mentors[0]) == 1


def test_only_published_matches_end(session: Session) -> None:
    s = proposals(session, pairs=1)
    with pytest.raises(Conflict, match="proposed"):
        publication.end_match(session, s.actor, s.matches[0].id, reason="no")


def test_every_action_keeps_the_chain_valid_with_ids_only(session: Session) -> None:
    s = proposals(session, pairs=3)
    matches.edit_match(session, s.actor, s.matches[0].id, mentor_id=s.mentors[3].id)
    matches.edit_match(session, s.actor, s.matches[1].id, status="rejected")
    publication.publish(session, s.actor, s.program.id, s.run.id)
    publication.end_match(session, s.actor, s.matches[2].id, reason="Person e2 left, email a@b.c")
    report = audit.verify(session, s.actor.organization_id)
    assert report.valid, report
    dumped = repr([(e.target_ids, e.details) for e in session.scalars(select(AuditEvent))])
    assert "Person" not in dumped
    assert "@" not in dumped


# ----------------------------------------------------------------- review findings


def test_edit_cannot_recreate_a_pair_that_was_published_and_ended(session: Session) -> None:
    s = proposals(session, pairs=1, spare_mentors=1)
    publication.publish(session, s.actor, s.program.id, s.run.id)
    publication.end_match(session, s.actor, s.matches[0].id, reason="paused")
    run2 = make_run(session, s.actor, s.program)
    again = make_match(session, run2, s.mentees[0], s.mentors[1])
    session.commit()
    with pytest.raises(ValidationFailed) as info:
        matches.edit_match(session, s.actor, again.id, mentor_id=s.mentors[0].id)
    (message,) = info.value.errors["mentor_id"]
    day = session.get(Match, s.matches[0].id).ended_at.date().isoformat()
    assert message.startswith(f"mentee and mentor m0 were matched before (ended {day})")
    session.rollback()
    assert session.get(Match, again.id).mentor_id == s.mentors[1].id
    assert _events(session, "match.edited") == []


def test_a_runs_proposals_are_checked_and_published_by_its_config_version(
    session: Session,
) -> None:
    actor = make_org(session)
    program = make_program(session, actor, {**CONFIG, "default_capacity": 2})
    e0, e1 = (make_participant(session, program, "mentee", f"e{i}") for i in range(2))
    m0, m1 = (make_participant(session, program, "mentor", f"m{i}") for i in range(2))
    run = make_run(session, actor, program)  # made with version 1: two places per mentor
    first = make_match(session, run, e0, m0)
    make_match(session, run, e1, m1)
    # The configuration changes after the run: one place per mentor from version 2 on.
    session.add(
        ProgramConfig(
            id=uuid.uuid4(),
            organization_id=actor.organization_id,
            program_id=program.id,
            version=2,
            config=scoring.validate_config({**CONFIG, "default_capacity": 1}),
            created_by=actor.admin_id,
        )
    )
    program.config_version = 2
    session.commit()
    edited = matches.edit_match(session, actor, first.id, mentor_id=m1.id)
    assert edited["mentor"]["external_id"] == "m1"
    assert publication.publish(session, actor, program.id, run.id).newly_published == 2
    assert _load(session, m1) == 2


def test_erased_people_show_no_name_or_external_id(session: Session) -> None:
    s = proposals(session, pairs=1, spare_mentors=1)
    publication.publish(session, s.actor, s.program.id, s.run.id)
    run2 = make_run(session, s.actor, s.program)
    make_match(session, run2, s.mentees[0], s.mentors[1])
    erased = s.mentees[0]
    erased.erased_at = datetime.now(UTC)  # the row still holds the old name and id
    session.commit()
    view = matches.get_match(session, s.actor, s.matches[0].id)
    assert view["mentee"] == {"id": erased.id, "external_id": None, "name": "Anonymous user"}
    assert match_views.ref(erased)["name"] == "Anonymous user"
    with pytest.raises(Conflict) as info:
        publication.publish(session, s.actor, s.program.id, run2.id)
    assert info.value.detail == (
        f"publishing would exceed capacity: mentee {erased.id} (1 published + 1 > capacity 1)"
    )
