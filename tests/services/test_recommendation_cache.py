"""Recommendations reuse the encoded cohort while it is unchanged, and only then.

The cache (:mod:`api.services.cohort_cache`) must never change an answer: every
test compares a cached answer with what a fresh encoding gives, after the writes
that must invalidate it (an upload, an edit, an erasure, a new config) and after
those that must not need to (a publication: places are read on every call).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

import scoring
from api.services import erasure, lookup, participants, programs, publication, recommendations
from api.services.cohort_cache import COHORTS, CohortCache
from tests.factories import make_match, make_org, make_participant, make_program, make_run


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    COHORTS.clear()
    yield
    COHORTS.clear()


@pytest.fixture
def encodings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the cohort encodings (one entry per call of ``scoring.encode_cohort``)."""
    calls: list[int] = []
    real = scoring.encode_cohort

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scoring, "encode_cohort", counted)
    return calls


def _ext(result: recommendations.Recommendations) -> list[str]:
    return [item["partner"]["external_id"] for item in result.items]


def _fresh(session: Session, *args: object) -> list[str]:
    COHORTS.clear()
    return _ext(recommendations.recommend(session, *args))  # type: ignore[arg-type]


def test_an_unchanged_cohort_is_encoded_once_for_every_participant(
    session: Session, encodings: list[int]
) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    mentees = [make_participant(session, program, "mentee", f"e{k}") for k in range(3)]
    m0 = make_participant(session, program, "mentor", "m0", skills=["python", "sql"])
    make_participant(session, program, "mentor", "m1", skills=["go"])
    session.commit()
    answers = [recommendations.recommend(session, actor, program.id, e.id).items for e in mentees]
    # A mentor's recommendations read the same encoding (both sides are in it).
    assert len(recommendations.recommend(session, actor, program.id, m0.id).items) == 3
    assert len(encodings) == 1
    assert len(COHORTS) == 1
    assert all(len(items) == 2 for items in answers)


def test_an_upload_an_edit_and_an_erasure_each_give_a_fresh_encoding(session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    me = make_participant(session, program, "mentee", "me", skills=["python", "sql"])
    make_participant(session, program, "mentor", "half", skills=["python"])
    go = make_participant(session, program, "mentor", "go", skills=["go"])
    session.commit()
    assert _ext(recommendations.recommend(session, actor, program.id, me.id)) == ["half", "go"]

    participants.create_participant(
        session,
        actor,
        program.id,
        {
            "external_id": "both",
            "role": "mentor",
            "name": "Both",
            "skills": ["python", "sql"],
            "attributes": {"languages": ["en"]},
        },
    )
    session.commit()
    cached = _ext(recommendations.recommend(session, actor, program.id, me.id))
    assert cached[0] == "both"
    assert cached == _fresh(session, actor, program.id, me.id)

    participants.update_participant(
        session, actor, program.id, go.id, {"skills": ["python", "sql"]}
    )
    session.commit()
    cached = _ext(recommendations.recommend(session, actor, program.id, me.id))
    assert cached == _fresh(session, actor, program.id, me.id)
    assert cached.index("go") < cached.index("half")

    erasure.erase_participant(session, actor, program.id, go.id)
    cached = recommendations.recommend(session, actor, program.id, me.id)
    names = [item["partner"]["name"] for item in cached.items]
    assert "Person go" not in names
    assert _ext(cached) == _fresh(session, actor, program.id, me.id)


def test_a_new_config_version_gives_a_fresh_encoding(
    session: Session, encodings: list[int]
) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    me = make_participant(session, program, "mentee", "me", skills=["python"], languages=["fr"])
    make_participant(session, program, "mentor", "m0", skills=["python"], languages=["fr"])
    make_participant(session, program, "mentor", "en", skills=["python"], languages=["en"])
    session.commit()
    # The default config requires a shared language: the English speaker is out.
    assert _ext(recommendations.recommend(session, actor, program.id, me.id)) == ["m0"]
    current = lookup.config_of(session, lookup.get_program(session, actor, program.id))
    relaxed = {**current, "criteria": [{**c, "required": False} for c in current["criteria"]]}
    programs.update_program(session, actor, program.id, config=relaxed)
    session.commit()
    assert _ext(recommendations.recommend(session, actor, program.id, me.id)) == ["m0", "en"]
    assert len(encodings) == 2


def test_places_are_read_on_every_call_even_from_the_cache(session: Session) -> None:
    actor = make_org(session)
    program = make_program(session, actor)
    me = make_participant(session, program, "mentee", "me", skills=["python", "sql"])
    other = make_participant(session, program, "mentee", "other")
    best = make_participant(
        session, program, "mentor", "best", skills=["python", "sql"], capacity=1
    )
    make_participant(session, program, "mentor", "next", skills=["python"])
    session.commit()
    assert _ext(recommendations.recommend(session, actor, program.id, me.id)) == ["best", "next"]
    run = make_run(session, actor, program)
    make_match(session, run, other, best)
    session.commit()
    publication.publish(session, actor, program.id, run.id)
    assert _ext(recommendations.recommend(session, actor, program.id, me.id)) == ["next"]


def test_the_cache_keeps_its_newest_entries_for_their_time_to_live() -> None:
    now = [0.0]
    cache = CohortCache(ttl=10.0, max_entries=2, clock=lambda: now[0])
    built: list[str] = []

    def build(name: str) -> object:
        def make() -> object:
            built.append(name)
            return name

        return make

    assert cache.get_or_build("a", build("a")) == "a"  # type: ignore[arg-type, comparison-overlap]
    cache.get_or_build("a", build("a"))  # type: ignore[arg-type]
    assert built == ["a"]
    now[0] = 10.5  # past its time to live
    cache.get_or_build("a", build("a"))  # type: ignore[arg-type]
    assert built == ["a", "a"]
    cache.get_or_build("b", build("b"))  # type: ignore[arg-type]
    cache.get_or_build("c", build("c"))  # type: ignore[arg-type]  # "a" is the oldest: out
    assert len(cache) == 2
    cache.get_or_build("b", build("b"))  # type: ignore[arg-type]
    cache.get_or_build("a", build("a"))  # type: ignore[arg-type]
    assert built == ["a", "a", "b", "c", "a"]


def test_concurrent_misses_build_a_cohort_once_and_a_failed_build_is_retried() -> None:
    """Sixteen threads asking for one cold key: one builds, the others wait for it and
    take its entry. A build that raises lets a waiter build instead."""
    import threading

    cache = CohortCache(size=lambda _cohort: 1)
    started, release = threading.Event(), threading.Event()
    builds: list[int] = []
    fail_first = [True]

    def build() -> Any:
        builds.append(threading.get_ident())
        started.set()
        release.wait(10)
        if fail_first[0]:
            fail_first[0] = False
            raise RuntimeError("the database went away")
        return ("cohort",)

    results: list[Any] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            results.append(cache.get_or_build("k", build))
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    assert started.wait(10)
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(builds) == 2  # the failed one and one retry, not sixteen
    assert len(errors) == 1  # the first builder's caller sees its own failure
    assert results == [("cohort",)] * 15
    assert cache.get_or_build("k", build) == ("cohort",)
    assert len(builds) == 2


def test_concurrent_misses_of_a_cohort_too_large_to_keep_share_its_one_build() -> None:
    """Nothing is kept (a bound of 0 bytes), yet the threads that waited for the build
    take its result: one encoding for all of them, not one after another."""
    import threading

    cache = CohortCache(size=lambda _cohort: 10, max_bytes=0)
    started, release = threading.Event(), threading.Event()
    builds: list[int] = []

    def build() -> Any:
        builds.append(threading.get_ident())
        started.set()
        release.wait(10)
        return ("cohort",)

    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_build("k", build)))
        for _ in range(8)
    ]
    threads[0].start()
    assert started.wait(10)
    for thread in threads[1:]:
        thread.start()
    waiting = cache._building["k"].done._cond._waiters  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while len(waiting) < 7 and time.monotonic() < deadline:  # all wait for the first build
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == [("cohort",)] * 8
    assert len(builds) == 1
    assert len(cache) == 0  # and nothing was kept
