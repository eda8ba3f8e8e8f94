"""The demo organization that ``make run`` sets up on a fresh machine, and its tour.

:func:`ensure_demo_key` makes (or re-keys) the organization; :func:`tour` is the
text ``mentormatch demo`` prints: shell commands, run from the repository, that go
from an empty program to published matches. tests/e2e/test_tour.py runs them as
printed against a real server.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services import audit
from api.services.context import Actor
from api.services.keys import issue_key, revoke_keys
from api.services.organizations import create_organization, find_organization_by_name
from models import Admin

DEMO_NAME = "Demo organization"
DEMO_OWNER = "owner@demo.example"


def ensure_demo_key(session: Session) -> str:
    """Create the demo organization if missing; else replace its owner's key with a new one."""
    org = find_organization_by_name(session, DEMO_NAME)
    if org is None:
        return create_organization(session, DEMO_NAME, DEMO_OWNER).api_key
    owner = session.scalars(
        select(Admin).where(Admin.organization_id == org.id, Admin.email == DEMO_OWNER)
    ).one()
    system = Actor(org.id, None, "owner")
    revoke_keys(session, owner)
    audit.record(session, system, "key.revoked", target_type="admin", target_ids=[owner.id])
    key = issue_key(session, owner)
    audit.record(session, system, "key.created", target_type="admin", target_ids=[owner.id])
    session.commit()
    return key


def tour(base: str, key: str) -> str:
    """The first hour as shell commands: health, a synthetic cohort uploaded, a broken
    upload refused, a run, one mentee's proposal and best mentors with reasons, publish."""
    auth = '-H "Authorization: Bearer $MM_KEY"'
    json_body = "-H 'Content-Type: application/json'"
    upload = f"curl -s -X POST $MM/programs/$PID/participants {auth} -H 'Content-Type: text/csv'"
    field = "python3 -c 'import json, sys; print(json.load(sys.stdin)[\"id\"])'"
    first = (
        'python3 -c \'import json, sys; m = json.load(sys.stdin)["items"][0]; '
        'print(m["mentee"]["external_id"], "->", m["mentor"]["external_id"], '
        'm["score"], m["reasons"], file=sys.stderr); print(m["mentee"]["id"])\''
    )
    return f"""
Demo organization ready. Its owner's API key (a fresh one each `make run`):

  export MM={base} MM_KEY={key}

Try, in another shell, from this directory:

  curl -s $MM/health
  # a synthetic cohort: program.json, and 1,000 participants in the CSV upload format
  .venv/bin/mentormatch generate --mentees 750 --mentors 250 --seed 1 --out instance/demo
  (cat instance/demo/mentors.csv; tail -n +2 instance/demo/mentees.csv) > instance/demo/people.csv
  PID=$(curl -s -X POST $MM/programs {auth} {json_body} \\
        --data-binary @instance/demo/program.json | {field})
  {upload} --data-binary @instance/demo/people.csv
  curl -s "$MM/programs/$PID/participants?role=mentor&limit=2" {auth}
  # a broken CSV writes nothing and answers 422 naming the row and the field:
  sed '3s/,mentor,/,boss,/' instance/demo/people.csv | {upload} --data-binary @-
  # run matching, waiting up to 60 s (201 with the finished run; else 202: poll the run)
  RID=$(curl -s -X POST "$MM/programs/$PID/runs?wait=60" {auth} {json_body} -d '{{}}' \\
        | {field})
  curl -s $MM/programs/$PID/runs/$RID {auth}
  # one mentee's proposal and why (mentee -> mentor, score, reasons), then the
  # mentors that would suit that mentee best, each with its reasons:
  MENTEE=$(curl -s "$MM/programs/$PID/runs/$RID/matches?limit=1" {auth} \\
        | {first})
  curl -s "$MM/programs/$PID/participants/$MENTEE/recommendations?limit=3" {auth}
  # publish the run: its proposals become the mentees' matches
  curl -s -X POST $MM/programs/$PID/runs/$RID/publish {auth}

API docs: {base}/docs
"""
