"""Publishing a run with more mentors than PostgreSQL takes bind parameters (issue 12)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from api.services import publication
from models import Match, Participant
from tests.factories import make_org, make_program, make_run

#: Past PostgreSQL's 65,535 bind parameters per statement.
N = 66_000


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_publishing_a_run_of_66000_mentors_chunks_its_queries(session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    run = make_run(session, actor, program)
    base = {"organization_id": program.organization_id, "program_id": program.id}
    people: dict[str, list[dict[str, Any]]] = {"mentor": [], "mentee": []}
    for role, rows in people.items():
        rows.extend(
            {
                **base,
                "id": uuid.uuid4(),
                "external_id": f"{role}{i}",
                "role": role,
                "name": f"{role} {i}",
                "skills": [],
                "attributes": {},
                "exclude": [],
            }
            for i in range(N)
        )
        session.execute(insert(Participant), rows)
    session.execute(
        insert(Match),
        [
            {
                **base,
                "id": uuid.uuid4(),
                "run_id": run.id,
                "mentee_id": e["id"],
                "mentor_id": m["id"],
                "status": "proposed",
                "score": 0.5,
                "breakdown": [],
                "reasons": [],
            }
            for e, m in zip(people["mentee"], people["mentor"], strict=True)
        ],
    )
    session.commit()

    result = publication.publish(session, actor, program.id, run.id)

    assert result.newly_published == N
    loads = session.scalar(
        select(func.sum(Participant.published_load)).where(Participant.role == "mentor")
    )
    assert loads == N
