"""The ``mentormatch`` command: serve, migrate, create organizations, run workers."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from models import make_engine, make_session_factory
from models.migrate import upgrade


def _session_factory() -> Any:
    return make_session_factory(make_engine())


@click.group(help="mentormatch: mentor-mentee matching service.")
def main() -> None:
    pass


@main.group(help="Database maintenance.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply every pending migration (MENTORMATCH_DATABASE_URL).")
def db_upgrade() -> None:
    upgrade()
    click.echo("database is up to date")


@main.command("create-org", help="Create an organization and its owner; prints the owner's key.")
@click.argument("name")
@click.option("--owner", "owner_email", required=True, help="Email of the owner admin.")
def create_org(name: str, owner_email: str) -> None:
    from api.services.errors import ServiceError
    from api.services.organizations import create_organization

    with _session_factory()() as session:
        try:
            created = create_organization(session, name, owner_email)
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from exc
    click.echo(f"organization {created.admin.organization_id} created; owner {created.admin.id}")
    click.echo("the owner's API key (shown once, store it now):")
    click.echo(created.api_key)


@main.command("demo", help="Make sure a demo organization exists and print a fresh key for it.")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
def demo(host: str, port: int) -> None:
    from api.services.demo import ensure_demo_key

    with _session_factory()() as session:
        key = ensure_demo_key(session)
    base = f"http://{host}:{port}/v1"
    demo_program = json.dumps(
        {
            "name": "Spring cohort",
            "config": {
                "position_levels": ["Associate", "Senior", "Manager", "Director"],
                "criteria": [
                    {"name": "skills", "kind": "skill_overlap", "weight": 3},
                    {"name": "seniority", "kind": "seniority_gap", "weight": 1},
                ],
            },
        }
    )
    click.echo(
        f"""
Demo organization ready. Its owner's API key (a fresh one each `make run`):

  export MM_KEY={key}

Try, in another shell:

  curl -s {base}/health
  curl -s -X POST {base}/programs -H "Authorization: Bearer $MM_KEY" \\
       -H 'Content-Type: application/json' \\
       -d '{demo_program}'
  # then, with the program id it returns as PID:
  curl -s -X POST {base}/programs/$PID/participants -H "Authorization: Bearer $MM_KEY" \\
       -H 'Content-Type: text/csv' --data-binary @participants.csv
  curl -s "{base}/programs/$PID/participants?limit=5" -H "Authorization: Bearer $MM_KEY"

API docs: {base}/docs
"""
    )


@main.command("serve", help="Serve the HTTP API (gunicorn).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, type=int, show_default=True)
@click.option(
    "--workers",
    default=lambda: int(os.environ.get("MENTORMATCH_WEB_WORKERS", "2")),
    type=int,
    show_default="2 or MENTORMATCH_WEB_WORKERS",
)
def serve(host: str, port: int, workers: int) -> None:
    from api.server import run_server

    sys.exit(run_server(host=host, port=port, workers=workers))
