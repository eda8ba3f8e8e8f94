"""Closing the loop: does learning from outcomes bring a program's matches near the truth?

A simulated program whose true criterion importances (:data:`TRUE_WEIGHTS`) differ
from the admin's prior (the synthetic config's weights) and are never shown to the
service. Each round brings a fresh cohort (``scoring.synthetic.generate_cohort``, the
same seeds in every arm) and goes through the service functions on a real database,
as a program would: upload the participants (last round's are deactivated), start and
execute a run (it scores with the program's active weights version), publish every
proposal, draw each published match's outcome from the hidden model, record it with
``record_outcome``, and, in the learning arm, ``learn_weights`` from all outcomes so
far (it activates the new version by the service's own rule, ``ACTIVATION_MARGIN``).

Three arms, one program each, the same cohorts and the same random draws per pair:
``learning``; ``prior`` (never learns: the static prior); ``oracle`` (the true
weights are the program's weights from the start: the ceiling).

The hidden model, per published pair (mentee i, mentor j of the round's cohort):

* ``expected = X @ w_true / w_true.sum()``, ``X`` the pair's per-criterion
  similarities as its proposal's breakdown stores them (the learner's features);
* ``latent = clip(expected + chemistry, 0, 1)``, ``chemistry ~ N(0, CHEMISTRY_SD)``
  drawn once per (i, j) of the round: what no profile shows;
* an outcome record drawn from ``latent``: meetings ~ Binomial(10, latent);
  goals_total uniform on 1-5, goals_completed ~ Binomial(goals_total, latent);
  each rating ``round(1 + 4 latent + N(0, 0.6))`` clipped to 1-5; an early end
  ("lost interest", a participant-side reason) with probability
  ``0.3 (1 - latent)^2``. Each part of ``scoring.realized_success`` is then
  increasing in ``latent`` on average; its realized value is noisy.

Per round it prints the realized mean success of each arm (``scoring``'s formula on
the recorded outcomes), the share of the prior -> oracle distance that learning
closed, the same on the noise-free ``expected`` success, and the Spearman rank
correlation of the learning arm's weights with the truth (over the criteria whose
similarity varies among chosen pairs; the required "other_department" is 1 for every
allowed pair, so neither the truth nor the learner can weigh it).

    .venv/bin/python -m benchmarks.feedback_sim [--rounds 5] [--size 500] [--seed 0]
        [--out benchmarks/results/feedback.png] [--database-url postgresql://...]

Writes ``results/feedback.json`` (the rounds' table, the weights' table, the verdict
in its notes) and the plot ``results/feedback.png`` drawn from it; ``python -m
benchmarks.report`` puts the tables into ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import binom
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import scoring
from api.services import learning, organizations, participants, programs, publication, runs
from api.services.context import Actor
from api.services.outcomes import record_outcome
from benchmarks import plots
from benchmarks.report import RESULTS, Table, load_average, markdown, save
from models import Match, Participant, make_engine, make_session_factory
from models.migrate import upgrade
from models.vocabulary import MatchStatus
from scoring.learn import rank_correlation
from scoring.synthetic import generate_cohort, program_config

F64 = npt.NDArray[np.float64]

#: What really makes this program's pairs work, hidden from the service. Against the
#: admin's prior (skills 3, seniority 2, the rest 1): shared goals and a workable time
#: difference matter most, skill overlap much less than the admin thought, the same
#: city hardly at all.
TRUE_WEIGHTS = {
    "skills": 1.0,
    "seniority": 2.0,
    "location": 0.25,
    "other_department": 1.0,
    "timezone": 2.5,
    "shared_language": 1.0,
    "goals": 3.0,
}
#: The pair's unobserved chemistry, on the [0, 1] success scale.
CHEMISTRY_SD = 0.1
MAX_MEETINGS = 10
RATING_SD = 0.6
EARLY_END = 0.3
#: Criteria the weights' rank correlation leaves out: constant among allowed pairs.
CONSTANT = ("other_department",)
ARMS = ("learning", "prior", "oracle")


@dataclass
class Arm:
    name: str
    program_id: uuid.UUID
    learns: bool
    rows: list[dict[str, Any]] = field(default_factory=list)


DRAWS = ("chemistry", "meetings", "goals_total", "goals_done", "rating_1", "rating_2", "early")


def round_draws(seed: int, round_: int, n: int, *, chemistry_sd: float) -> dict[str, F64]:
    """One round's random draws per (mentee, mentor) pair, (n, n) each, shared by the arms."""
    rng = np.random.default_rng([seed, round_])
    normal = {"chemistry": chemistry_sd, "rating_1": RATING_SD, "rating_2": RATING_SD}
    return {
        k: rng.normal(0.0, normal[k], (n, n)) if k in normal else rng.random((n, n)) for k in DRAWS
    }


def true_success(sims: F64, names: list[str]) -> F64:
    """The hidden model's expected success of pairs with these similarities (n, n_criteria)."""
    w = np.array([TRUE_WEIGHTS[n] for n in names])
    return np.asarray(sims @ (w / w.sum()), dtype=np.float64)


def draw_outcomes(
    latent: F64, draws: dict[str, F64], i: npt.NDArray[np.intp], j: npt.NDArray[np.intp]
) -> list[dict[str, Any]]:
    """Outcome records of the pairs ``(i[k], j[k])`` whose latent success is ``latent[k]``."""
    d = {k: v[i, j] for k, v in draws.items()}
    meetings = binom.ppf(d["meetings"], MAX_MEETINGS, latent)
    total = 1 + np.floor(d["goals_total"] * 5)
    done = binom.ppf(d["goals_done"], total, latent)
    ratings = [np.clip(np.rint(1 + 4 * latent + d[k]), 1, 5) for k in ("rating_1", "rating_2")]
    early = d["early"] < EARLY_END * (1 - latent) ** 2
    return [
        {
            "meetings": int(meetings[k]),
            "goals_completed": int(done[k]),
            "goals_total": int(total[k]),
            "mentor_rating": int(ratings[0][k]),
            "mentee_rating": int(ratings[1][k]),
            "ended_early": bool(early[k]),
            "ended_reason": "lost interest" if early[k] else None,
        }
        for k in range(len(latent))  # a loop over the chosen pairs
    ]


def _cohort(size: int, seed: int, round_: int) -> list[dict[str, Any]]:
    mentees, mentors, _ = generate_cohort(size, size, seed=seed * 1000 + round_)
    people = [{**p, "role": "mentee"} for p in mentees] + [{**p, "role": "mentor"} for p in mentors]
    for p in people:
        p["external_id"] = f"r{round_}-{p['external_id']}"
    return people


def _weights_vector(weights: dict[str, float], names: list[str]) -> F64:
    return np.array([float(weights[n]) for n in names])


def _spearman(weights: dict[str, float], names: list[str]) -> float:
    kept = [n for n in names if n not in CONSTANT]
    return rank_correlation(_weights_vector(weights, kept), [TRUE_WEIGHTS[n] for n in kept])


def _active(session: Session, actor: Actor, program_id: uuid.UUID) -> dict[str, Any]:
    versions = learning.list_weights(session, actor, program_id, limit=1000).items
    return next(v for v in versions if v["active"])


def play_round(
    session: Session,
    factory: sessionmaker[Session],
    actor: Actor,
    arm: Arm,
    round_: int,
    people: list[dict[str, Any]],
    draws: dict[str, F64],
    names: list[str],
) -> dict[str, Any]:
    """One round of one arm through the service; returns its row of the table."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    used = _active(session, actor, arm.program_id)
    previous = session.scalars(
        select(Participant.external_id).where(
            Participant.program_id == arm.program_id, Participant.active.is_(True)
        )
    ).all()
    if previous:  # last round's cohort has finished: its people leave the program
        participants.upsert_participants(
            session, actor, arm.program_id, [{"external_id": e, "active": False} for e in previous]
        )
    participants.upsert_participants(session, actor, arm.program_id, people)
    seconds["upload"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    run = runs.start_run(session, actor, arm.program_id)
    session.rollback()  # a worker's turn: this session holds no transaction meanwhile
    status = runs.execute_run(factory, run.id)
    if status != "succeeded":
        raise SystemExit(f"{arm.name} round {round_}: run {status}")
    publication.publish(session, actor, arm.program_id, run.id)
    seconds["run+publish"] = time.perf_counter() - t0

    run = runs.get_run(session, actor, arm.program_id, run.id)
    if run.weights_version != used["version"]:
        raise SystemExit(
            f"{arm.name} round {round_}: run scored with version "
            f"{run.weights_version}, the active one is {used['version']}"
        )
    rows = session.execute(
        select(Match.id, Match.breakdown, Match.mentee_id, Match.mentor_id).where(
            Match.run_id == run.id, Match.status == MatchStatus.PUBLISHED
        )
    ).all()
    _check_breakdown_weights(rows[0].breakdown, used["weights"], f"{arm.name} round {round_}")
    ext = dict(
        session.execute(
            select(Participant.id, Participant.external_id).where(
                Participant.program_id == arm.program_id, Participant.active.is_(True)
            )
        ).all()
    )
    i = np.array([int(str(ext[r.mentee_id]).split("-e")[1]) for r in rows], dtype=np.intp)
    j = np.array([int(str(ext[r.mentor_id]).split("-m")[1]) for r in rows], dtype=np.intp)
    sims = np.array(
        [[{b["criterion"]: b["similarity"] for b in r.breakdown}[n] for n in names] for r in rows]
    )
    expected = true_success(sims, names)
    latent = np.clip(expected + draws["chemistry"][i, j], 0.0, 1.0)

    t0 = time.perf_counter()
    success = [
        record_outcome(session, actor, r.id, **fields)["success"]
        for r, fields in zip(rows, draw_outcomes(latent, draws, i, j), strict=True)
    ]
    seconds["outcomes"] = time.perf_counter() - t0

    learned: dict[str, Any] | None = None
    if arm.learns:
        t0 = time.perf_counter()
        learned = learning.learn_weights(session, actor, arm.program_id)
        seconds["learn"] = time.perf_counter() - t0
    return {
        "round": round_,
        "matched": len(rows),
        "realized": float(np.mean(success)),
        "expected": float(expected.mean()),
        "used_version": used["version"],
        "used_weights": used["weights"],
        "spearman_used": _spearman(used["weights"], names),
        "learned": learned,
        "seconds": seconds,
    }


def _check_breakdown_weights(
    breakdown: list[dict[str, Any]], weights: dict[str, float], where: str
) -> None:
    """The proposals' breakdown shows the weights the run used (the active version)."""
    total = sum(weights.values())
    shown = {b["criterion"]: b["weight"] for b in breakdown}
    if any(abs(shown[n] - w / total) > 1e-6 for n, w in weights.items()):
        raise SystemExit(f"{where}: breakdown weights {shown} are not the active {weights}")


def _closed(learn: float, prior: float, oracle: float) -> float:
    gap = oracle - prior
    return (learn - prior) / gap if gap != 0 else float("nan")


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


FEEDBACK_COLUMNS = ["round", "outcomes before", "learning", "prior", "oracle", "closed"]
FEEDBACK_COLUMNS += ["expected learning", "expected prior", "expected oracle", "expected closed"]
FEEDBACK_COLUMNS += ["weights used", "Spearman used", "learned after (outcomes)"]
FEEDBACK_COLUMNS += ["Spearman learned", "CV Spearman learned vs current"]
#: Success to 4 decimals, the distance closed in percent, Spearman to 2 (the default).
FEEDBACK_FORMATS = [None, None, ".4f", ".4f", ".4f", ".0%", ".4f", ".4f", ".4f", ".0%"]


def _share(value: float) -> float | None:
    """A share for the result file: 4 decimals, None when undefined (no distance)."""
    return None if np.isnan(value) else round(value, 4) + 0.0  # + 0.0: no "-0%"


def round_table(arms: dict[str, Arm], names: list[str]) -> Table:
    """One row per round: each arm's realized and expected success, what learning used
    and learned (:data:`FEEDBACK_COLUMNS`)."""
    learn, prior, oracle = (arms[a].rows for a in ARMS)
    rows: list[list[Any]] = []
    seen = 0
    for r, p, o in zip(learn, prior, oracle, strict=True):
        row: list[Any] = [r["round"], seen]
        for key in ("realized", "expected"):
            row += [round(r[key], 6), round(p[key], 6), round(o[key], 6)]
            row.append(_share(_closed(r[key], p[key], o[key])))
        row += [f"v{r['used_version']}", round(r["spearman_used"], 4)]
        new = r["learned"]
        if new:
            ev = new["evaluation"]
            row.append(
                f"v{new['version']} {'active' if ev['activated'] else 'inactive'} "
                f"({new['samples']:,})"
            )
            row.append(round(_spearman(new["weights"], names), 4))
            row.append(f"{ev['spearman_learned']:.3f} vs {ev['spearman_current']:.3f}")
        else:
            row += [None, None, None]
        rows.append(row)
        seen += r["matched"]
    return Table(FEEDBACK_COLUMNS, rows, FEEDBACK_FORMATS)


def weights_table(arms: dict[str, Arm], names: list[str]) -> Table:
    """The prior, the hidden truth and each learned version's weights (sum as the prior's)."""
    criteria = scoring.validate_config(program_config())["criteria"]
    prior_w = {c["name"]: float(c["weight"]) for c in criteria}  # required ones default to 1
    total = sum(prior_w.values())
    truth = {n: TRUE_WEIGHTS[n] / sum(TRUE_WEIGHTS.values()) * total for n in names}
    rows: list[list[Any]] = [
        ["prior (v1)", *(round(prior_w[n], 4) for n in names)],
        ["truth (hidden)", *(round(truth[n], 4) for n in names)],
    ]
    rows += [
        [
            f"learned after round {r['round']} (v{r['learned']['version']})",
            *(round(float(r["learned"]["weights"][n]), 4) for n in names),
        ]
        for r in arms["learning"].rows
        if r["learned"]
    ]
    return Table([f"weights (sum {total:g})", *names], rows)


def verdict(arms: dict[str, Arm], *, from_round: int = 3) -> str:
    """The targets' verdict from round ``from_round`` on ("" with fewer rounds)."""
    learn, prior, oracle = (arms[a].rows for a in ARMS)
    late = slice(from_round - 1, None)
    if not learn[late]:
        return ""
    pooled = {
        key: _closed(_mean(learn[late], key), _mean(prior[late], key), _mean(oracle[late], key))
        for key in ("realized", "expected")
    }
    each = [
        _closed(r["realized"], p["realized"], o["realized"])
        for r, p, o in zip(learn[late], prior[late], oracle[late], strict=True)
    ]
    rho = [r["spearman_used"] for r in learn[late]]
    closed_ok, rho_ok = pooled["realized"] >= 0.7, min(rho) >= 0.8
    return (
        f"Rounds {from_round}-{learn[-1]['round']}: learning closed "
        f"{pooled['realized']:.0%} of the prior -> oracle distance in realized mean success "
        f"(pooled; per round {', '.join(f'{c:.0%}' for c in each)}), "
        f"{pooled['expected']:.0%} in expected success; Spearman of the weights used with the "
        f"truth {min(rho):.2f}-{max(rho):.2f}.\n\n"
        f"Targets: closed >= 70% {'met' if closed_ok else 'NOT met'}; "
        f"Spearman >= 0.8 {'met' if rho_ok else 'NOT met'}."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=500, help="mentees and mentors per round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chemistry", type=float, default=CHEMISTRY_SD, help="unobserved sd")
    parser.add_argument("--out", type=Path, help="the plot (default: results/feedback.png)")
    parser.add_argument("--database-url", help="an empty or migrated database (default: SQLite)")
    args = parser.parse_args(argv)
    started, load_before = time.perf_counter(), load_average()
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    scratch: Path | None = None
    url = args.database_url
    if not url:  # a scratch SQLite database, removed at the end
        scratch = Path(tempfile.mkdtemp(prefix="mm-fb-"))
        url = f"sqlite:///{scratch / 'db.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    # A throwaway audit key: the service keys the audit chain, and this database is temporary.
    factory = make_session_factory(engine, info={"audit_key": secrets.token_bytes(32)})
    config = program_config()
    names = [c["name"] for c in config["criteria"]]
    oracle = [{**c, "weight": TRUE_WEIGHTS[c["name"]]} for c in config["criteria"]]
    seconds: dict[str, float] = {}
    with factory() as session:
        org = f"feedback sim {uuid.uuid4().hex[:8]}"
        owner = organizations.create_organization(session, org, "owner@feedback.example").admin
        actor = Actor(owner.organization_id, owner.id, "owner")
        arms = {
            name: Arm(
                name,
                programs.create_program(
                    session,
                    actor,
                    name=f"feedback {name}",
                    config={**config, "criteria": oracle} if name == "oracle" else config,
                ).id,
                learns=name == "learning",
            )
            for name in ARMS
        }
        for round_ in range(1, args.rounds + 1):
            people = _cohort(args.size, args.seed, round_)
            draws = round_draws(args.seed, round_, args.size, chemistry_sd=args.chemistry)
            for arm in arms.values():
                row = play_round(session, factory, actor, arm, round_, people, draws, names)
                arm.rows.append(row)
                for k, v in row["seconds"].items():
                    seconds[k] = seconds.get(k, 0.0) + v
            line = ", ".join(f"{a.name} {a.rows[-1]['realized']:.4f}" for a in arms.values())
            print(f"round {round_}: realized mean success {line}", flush=True)
    engine.dispose()
    if scratch is not None:
        shutil.rmtree(scratch)

    tables = {"feedback": round_table(arms, names), "feedback-weights": weights_table(arms, names)}
    said = verdict(arms)
    print("\n" + "\n".join(markdown(t) for t in tables.values()) + "\n" + said + "\n")
    spent = ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())
    wall = time.perf_counter() - started
    print(f"seconds: {spent}")
    print(f"wall time {wall:.1f} s; load average {os.getloadavg()[0]:.2f}")
    notes = f"{said}\n\nWall time {wall:.0f} s (seconds summed over the arms: {spent})."
    save("feedback", tables, load_before=load_before, notes=notes.strip())
    plots.feedback(RESULTS, args.out)


if __name__ == "__main__":
    main()
