"""Launching a program from the command line: who acts, and the file it uploads.

``mentormatch import`` and ``mentormatch run`` have no API key: the operator names the
admin they act as (``--as EMAIL``). :func:`acting_admin` turns that email into the
:class:`~api.services.context.Actor` the HTTP routes would have for that admin's key,
so the same service functions run and the audit log names that admin. Only a live
(not revoked) admin of the program's own organization may be named.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services.context import Actor
from api.services.errors import Forbidden, NotFound, ValidationFailed
from models import Admin, Program


def acting_admin(session: Session, program_id: uuid.UUID, email: str) -> Actor:
    """The live admin ``email`` of the program's organization, as the actor of a command.

    The session must be free to read across organizations (the program decides which
    one): the caller scopes it to ``actor.organization_id`` afterwards.
    """
    program = session.get(Program, program_id)
    if program is None or program.deleted_at is not None:
        raise NotFound("program", program_id)
    wanted = email.strip().lower()  # stored lower-case (api.services.organizations)
    admin = session.scalars(
        select(Admin).where(
            Admin.organization_id == program.organization_id,
            Admin.email == wanted,
            Admin.revoked_at.is_(None),
        )
    ).first()
    if admin is None:
        raise Forbidden(
            f"{wanted!r} is not an admin of the organization of program {program_id}; "
            "--as must name one of its admins"
        )
    return Actor(program.organization_id, admin.id, admin.role)


def read_upload(path: Path) -> bytes:
    """The file's bytes; a missing or unreadable file is a problem keyed by its name."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationFailed(
            {path.name: [f"cannot read {str(path)!r}: {exc.strerror or exc}"]}
        ) from None
