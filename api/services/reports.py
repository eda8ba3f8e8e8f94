"""The program report: how good the latest matching is, and how its matches went.

:func:`program_report` reads a program's **latest real run** (not a dry run, status
``succeeded``) and answers plain numbers:

- ``match_rate``: of the run's cohort, the mentees it matched; and the program's
  active mentees that have a published match now.
- ``scores``: the run's pairs as they stand (its matches less the rejected ones, with
  an admin's edits): histogram (:data:`HISTOGRAM_BINS` bins over [0, 1]), mean,
  minimum, and the :data:`LOWEST` lowest pairs.
- ``unmatched_by_reason``, ``mentor_load`` (how many of the cohort's mentors got
  0, 1, 2... of the run's pairs) and ``mentee_load`` (how many of its mentees got 0,
  1, 2... mentors: above 1 where mentees take several).
- ``quality``: the run as solved (its stats) against a greedy and a random feasible
  matching of the same cohort (:func:`matcher.greedy_matching`,
  :func:`matcher.random_matching` with seed :data:`RANDOM_SEED`). The cohort's scores
  are rebuilt the way a run builds them (:func:`scoring.compatibility` with the
  run's configuration version and weights version): its mentees are the run's
  (matched or left unmatched), its mentors the program's active ones and those of
  its pairs; places held by published matches of other runs are taken, pairs of
  other runs that are never proposed again are excluded, and pairs under the
  configuration's ``min_score`` are not allowed. Profiles are read as they are now,
  so edits since the run make the baselines approximate; pins are not replayed.
  Above :data:`BASELINE_PAIR_LIMIT` mentee x mentor pairs the baselines are skipped
  (``status: "skipped"`` with the reason): a report must stay an interactive call;
  so are they when the run gave a mentee several mentors (the baselines give one
  each, so they would not be the same problem).
- ``outcomes`` (None until a published or ended match has an outcome of known
  success, :func:`api.services.learning.past_matches`): mean realized success,
  early-end rate (of latest records that say), success by score decile (ten score
  ranges of width 0.1) and by criterion (correlation of its similarity with success,
  and mean success of pairs at or above 0.5 similarity against those below).

Reading only: nothing is written and nothing is audited.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import matcher
import scoring
from api.services import eligibility, learning
from api.services.context import Actor
from api.services.lookup import PROFILE_COLUMNS, config_of, get_program, profile
from api.services.runs.options import RunOptions
from models import Match, Outcome, Participant, Run, UnmatchedMentee
from models.vocabulary import MatchStatus, Role, RunStatus

#: Baselines are computed on cohorts of at most this many mentee x mentor pairs: a
#: dense score matrix of 4 million pairs scores and matches in about a second.
BASELINE_PAIR_LIMIT = 4_000_000
#: The random feasible matching's seed: the same cohort always gives the same report.
RANDOM_SEED = 0
HISTOGRAM_BINS = 10
LOWEST = 10


def program_report(session: Session, actor: Actor, program_id: uuid.UUID) -> dict[str, Any]:
    """The report of one program of the actor's organization (see the module)."""
    program = get_program(session, actor, program_id)
    run = session.scalars(
        select(Run)
        .where(
            Run.program_id == program.id,
            Run.dry_run.is_(False),
            Run.status == RunStatus.SUCCEEDED,
        )
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(1)
        # A worker's session finished the run: never the stale copy this session holds.
        .execution_options(populate_existing=True)
    ).first()
    report: dict[str, Any] = {
        "program_id": program.id,
        "generated_at": datetime.now(UTC),
        "run": None,
        "match_rate": _match_rate(session, program.id, run),
        "scores": None,
        "unmatched_by_reason": {},
        "mentor_load": [],
        "mentee_load": [],
        "quality": {"status": "no_run", "reason": "the program has no succeeded real run"},
        "outcomes": _outcomes(session, program.id, config_of(session, program)),
    }
    if run is None:
        return report
    pairs = session.execute(
        select(Match.id, Match.mentee_id, Match.mentor_id, Match.score, Match.status)
        .where(Match.run_id == run.id, Match.status != MatchStatus.REJECTED)
        .order_by(Match.score, Match.id)
    ).all()
    reasons = session.scalars(
        select(UnmatchedMentee.reason).where(UnmatchedMentee.run_id == run.id)
    )
    report.update(
        run={
            "id": run.id,
            "created_at": run.created_at,
            "finished_at": run.finished_at,
            "config_version": run.config_version,
            "weights_version": run.weights_version,
            "objective": run.objective,
            "scope": run.scope,
        },
        scores=_scores(session, pairs),
        unmatched_by_reason=dict(sorted(Counter(reasons).items())),
        mentor_load=_load(
            [p.mentor_id for p in pairs], int(run.stats.get("n_mentors", 0)), "mentors"
        ),
        mentee_load=_load(
            [p.mentee_id for p in pairs], int(run.stats.get("n_mentees", 0)), "mentees"
        ),
        quality=_quality(session, program, run),
    )
    return report


# ----------------------------------------------------------------- the run's pairs


def _match_rate(session: Session, program_id: uuid.UUID, run: Run | None) -> dict[str, Any]:
    active = session.scalar(
        select(func.count())
        .select_from(Participant)
        .where(
            Participant.program_id == program_id,
            Participant.role == Role.MENTEE,
            Participant.active.is_(True),
        )
    )
    published = session.scalar(
        select(func.count(func.distinct(Match.mentee_id)))
        .join(Participant, Participant.id == Match.mentee_id)
        .where(
            Match.program_id == program_id,
            Match.status == MatchStatus.PUBLISHED,
            Participant.active.is_(True),
        )
    )
    stats = run.stats if run is not None else {}
    n_mentees = int(stats.get("n_mentees", 0))
    # Mentees with at least one mentor (runs before several mentors: one pair each).
    matched = int(stats.get("mentees_served", stats.get("matched", 0)))
    return {
        "run_mentees": n_mentees,
        "run_matched": matched,
        "run_rate": matched / n_mentees if n_mentees else None,
        "active_mentees": int(active or 0),
        "published_mentees": int(published or 0),
        "published_rate": (published or 0) / active if active else None,
    }


def _scores(session: Session, pairs: Sequence[Any]) -> dict[str, Any]:
    values = np.array([p.score for p in pairs], dtype=np.float64)
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    lowest = pairs[:LOWEST]  # ordered by score
    people = {
        row.id: row
        for row in session.execute(
            select(Participant.id, *PROFILE_COLUMNS).where(
                Participant.id.in_({p.mentee_id for p in lowest} | {p.mentor_id for p in lowest})
            )
        )
    }

    def person(pid: uuid.UUID) -> dict[str, Any]:
        view = profile(people[pid])
        return {"id": pid, "external_id": view["external_id"], "name": view["name"]}

    return {
        "pairs": len(values),
        "total": float(values.sum()),
        "mean": float(values.mean()) if len(values) else None,
        "min": float(values.min()) if len(values) else None,
        "histogram": [
            {"low": float(lo), "high": float(hi), "count": int(c)}
            for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
        ],
        "lowest": [
            {
                "match_id": p.id,
                "mentee": person(p.mentee_id),
                "mentor": person(p.mentor_id),
                "score": float(p.score),
                "status": p.status,
            }
            for p in lowest
        ],
    }


def _load(ids: list[uuid.UUID], n_people: int, who: str) -> list[dict[str, int]]:
    """How many of one side (``who``: "mentors" or "mentees") got each number of pairs;
    people of the cohort without one are 0."""
    per_person = Counter(ids)
    loads = Counter(per_person.values())
    idle = max(n_people - len(per_person), 0)
    if idle:
        loads[0] += idle
    return [{"pairs": k, who: loads[k]} for k in sorted(loads)]


# ----------------------------------------------------------------- baselines


def _quality(session: Session, program: Any, run: Run) -> dict[str, Any]:
    stats = run.stats
    optimal = {
        "total": float(stats.get("score_total") or 0.0),
        "mean": stats.get("score_mean"),
        "min": stats.get("score_min"),
        "matched": int(stats.get("matched", 0)),
        "coverage": float(stats.get("coverage") or 0.0),
    }
    out: dict[str, Any] = {
        "status": "computed",
        "reason": None,
        "pair_limit": BASELINE_PAIR_LIMIT,
        "seed": RANDOM_SEED,
        "optimal": optimal,
        "greedy": None,
        "random": None,
        "summary": None,
    }
    n_pairs = int(stats.get("n_mentees", 0)) * int(stats.get("n_mentors", 0))
    if int(stats.get("matched", 0)) > int(stats.get("mentees_served", stats.get("matched", 0))):
        out.update(
            status="skipped",
            reason="the run gave mentees several mentors; the greedy and random baselines "
            "give one each",
        )
        return out
    if n_pairs > BASELINE_PAIR_LIMIT:
        out.update(
            status="skipped",
            reason=f"the cohort has {n_pairs} mentee x mentor pairs, over the baselines' "
            f"limit of {BASELINE_PAIR_LIMIT}",
        )
        return out
    try:
        scores, capacity, allowed = _cohort_scores(session, program, run)
    except scoring.ScoringError as exc:
        out.update(status="skipped", reason=f"the run's cohort cannot be scored again: {exc}")
        return out
    n_mentees = scores.shape[0]
    greedy = matcher.greedy_matching(scores, capacity=capacity, allowed=allowed)
    rng = np.random.default_rng(RANDOM_SEED)
    rand = matcher.random_matching(scores, capacity=capacity, allowed=allowed, rng=rng)
    out.update(greedy=_summary(greedy.score, n_mentees), random=_summary(rand.score, n_mentees))
    out["summary"] = sentence(optimal, out["greedy"], out["random"])
    return out


def _cohort_scores(
    session: Session, program: Any, run: Run
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The run's cohort scored again as a run scores it: (scores, capacity, allowed)."""
    overrides = RunOptions.from_json(run.options).config_overrides or {}
    config = scoring.validate_config(
        {**config_of(session, program, run.config_version), **overrides}
    )
    weights = eligibility.weights_of_run(session, run, config)
    own = session.execute(
        select(Match.mentee_id, Match.mentor_id).where(Match.run_id == run.id)
    ).all()
    mentee_ids = {m for m, _ in own} | set(
        session.scalars(select(UnmatchedMentee.mentee_id).where(UnmatchedMentee.run_id == run.id))
    )
    mentor_ids = {m for _, m in own}
    people = session.execute(
        select(Participant.id, Participant.role, *PROFILE_COLUMNS)
        .where(
            Participant.program_id == program.id,
            Participant.id.in_(mentee_ids)
            | ((Participant.role == Role.MENTOR) & Participant.active.is_(True))
            | Participant.id.in_(mentor_ids),
        )
        .order_by(Participant.created_at, Participant.id)
    ).all()
    mentees = [p for p in people if p.role == Role.MENTEE]
    mentors = [p for p in people if p.role == Role.MENTOR]
    row = {p.id: i for i, p in enumerate(mentees)}
    col = {p.id: j for j, p in enumerate(mentors)}
    others = session.execute(
        select(Match.mentee_id, Match.mentor_id, Match.status).where(
            Match.program_id == program.id,
            (Match.run_id != run.id) | Match.run_id.is_(None),
            Match.status.in_(eligibility.NEVER_AGAIN),
        )
    ).all()
    mentor_profiles = [profile(p) for p in mentors]
    capacity = eligibility.capacities(mentor_profiles, config)
    held = Counter(
        col[b] for _, b, status in others if status == MatchStatus.PUBLISHED and b in col
    )
    for j, n in held.items():
        capacity[j] = max(int(capacity[j]) - n, 0)
    exclude = sorted({(row[a], col[b]) for a, b, _ in others if a in row and b in col})
    if not mentees or not mentors:
        empty = np.zeros((len(mentees), len(mentors)))
        return empty, capacity, empty.astype(bool)
    compat = scoring.compatibility(
        [profile(p) for p in mentees],
        mentor_profiles,
        config,
        weights=weights,
        exclude_pairs=exclude or None,
    )
    allowed = compat.allowed
    if config.get("min_score") is not None:
        allowed = allowed & (compat.scores >= np.float32(config["min_score"]))
    return compat.scores, capacity, allowed


def _summary(pair_scores: np.ndarray[Any, Any], n_mentees: int) -> dict[str, Any]:
    s = np.asarray(pair_scores, dtype=np.float64)
    return {
        "total": float(s.sum()),
        "mean": float(s.mean()) if len(s) else None,
        "min": float(s.min()) if len(s) else None,
        "matched": len(s),
        "coverage": len(s) / n_mentees if n_mentees else 0.0,
    }


def sentence(optimal: dict[str, Any], greedy: dict[str, Any], rand: dict[str, Any]) -> str:
    """The comparison in words, e.g. "The optimal matching scores 11% more in total than
    greedy; its worst pair is 0.31 against greedy's 0.05."."""

    def more(base: dict[str, Any], name: str) -> str:
        if base["total"] <= 0:
            return f"{name} matches no one"
        change = (optimal["total"] - base["total"]) / base["total"] * 100
        if abs(change) < 0.5:
            return f"the same in total as {name}"
        return f"{abs(change):.0f}% {'more' if change > 0 else 'less'} in total than {name}"

    def worst(value: float | None) -> str:
        return "none" if value is None else f"{value:.2f}"

    return (
        f"The optimal matching scores {more(greedy, 'greedy')} "
        f"and {more(rand, 'a random feasible matching')}; "
        f"its worst pair is {worst(optimal['min'])} against greedy's {worst(greedy['min'])} "
        f"and random's {worst(rand['min'])}."
    )


# ----------------------------------------------------------------- outcomes


def _outcomes(
    session: Session, program_id: uuid.UUID, config: dict[str, Any]
) -> dict[str, Any] | None:
    past = learning.past_matches(session, program_id, config)
    if not len(past.success):
        return None
    early = session.execute(
        select(Outcome.match_id, Outcome.ended_early)
        .join(Match, Match.id == Outcome.match_id)
        .where(Match.program_id == program_id, Match.status.in_(learning.LEARNABLE))
        .order_by(Outcome.match_id, Outcome.recorded_at, Outcome.id)
    ).all()
    latest = {row.match_id: row.ended_early for row in early}  # the last record wins
    said = [bool(v) for v in latest.values() if v is not None]
    return {
        "samples": len(past.success),
        "mean_success": float(past.success.mean()),
        "early_end_rate": sum(said) / len(said) if said else None,
        "by_decile": by_decile(past.score, past.success),
        "by_criterion": by_criterion(
            [c["name"] for c in config["criteria"]],
            past.similarities[past.complete],
            past.success[past.complete],
        ),
    }


def by_decile(score: np.ndarray[Any, Any], success: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
    """Mean success of the matches in each score range [0, 0.1), ..., [0.9, 1]."""
    decile = np.minimum((np.asarray(score) * 10).astype(np.int64), 9)
    counts = np.bincount(decile, minlength=10)
    sums = np.bincount(decile, weights=success, minlength=10)
    return [
        {
            "low": k / 10,
            "high": (k + 1) / 10,
            "count": int(counts[k]),
            "mean_success": float(sums[k] / counts[k]) if counts[k] else None,
        }
        for k in range(10)
    ]


def by_criterion(
    names: list[str], similarities: np.ndarray[Any, Any], success: np.ndarray[Any, Any]
) -> list[dict[str, Any]]:
    """Per criterion: the correlation of its similarity with success (None when either
    is constant), and mean success at or above 0.5 similarity against below."""
    out = []
    for k, name in enumerate(names):  # one per criterion
        sim = similarities[:, k]
        high = sim >= 0.5
        varies = len(sim) > 1 and np.ptp(sim) > 0 and np.ptp(success) > 0
        out.append(
            {
                "criterion": name,
                "samples": len(sim),
                "correlation": float(np.corrcoef(sim, success)[0, 1]) if varies else None,
                "mean_success_high": float(success[high].mean()) if high.any() else None,
                "mean_success_low": float(success[~high].mean()) if (~high).any() else None,
            }
        )
    return out
