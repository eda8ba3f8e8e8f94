"""Real concurrent connections for the race tests, and the invariant sweep they end with.

:func:`race` runs each job in its own thread with its own session, all released by one
barrier, and reports ``"ok"``, the ServiceError's class name, or ``"unexpected ..."``
(what the API would answer with a 500). :func:`sweep` asserts what must hold whatever
the interleaving was.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.services import audit
from api.services.errors import ServiceError
from models import Match, Organization, Participant
from models.vocabulary import MatchStatus

Job = Callable[[Session], Any]


def race(session_factory: sessionmaker[Session], jobs: list[Job]) -> list[str]:
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = [""] * len(jobs)

    def work(k: int) -> None:
        with session_factory() as session:
            barrier.wait()
            try:
                jobs[k](session)
                outcomes[k] = "ok"
            except ServiceError as exc:
                outcomes[k] = type(exc).__name__
            except Exception as exc:  # a 500 in the API
                outcomes[k] = f"unexpected {type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def sweep(session: Session) -> None:
    """Nobody over capacity (mentors and mentees: each one's published load is its
    published matches), no pair published twice, no person on both sides, every
    organization's audit chain valid."""
    published = list(session.scalars(select(Match).where(Match.status == MatchStatus.PUBLISHED)))
    per_mentor = Counter(m.mentor_id for m in published)
    per_mentee = Counter(m.mentee_id for m in published)
    per_pair = Counter((m.mentee_id, m.mentor_id) for m in published)
    assert all(n == 1 for n in per_pair.values()), per_pair
    for person_id, n in (per_mentor + per_mentee).items():
        person = session.get(Participant, person_id)
        assert person is not None
        assert person.published_load == n, (person.external_id, n)
        assert person.capacity is None or n <= person.capacity, (person.external_id, n)
    both_sides = set(per_mentor) & set(per_mentee)
    assert not both_sides, both_sides
    wrong_role = [
        m.id
        for m in published
        if session.get(Participant, m.mentor_id).role != "mentor"  # type: ignore[union-attr]
        or session.get(Participant, m.mentee_id).role != "mentee"  # type: ignore[union-attr]
    ]
    assert not wrong_role, wrong_role
    for org_id in session.scalars(select(Organization.id)):
        report = audit.verify(session, org_id)
        assert report.valid, report
