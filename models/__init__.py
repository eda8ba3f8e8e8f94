"""Persistence: SQLAlchemy 2.0 typed models, engine and session setup, migrations.

No business rules and no HTTP here; the service layer (``api.services``) owns those.
"""

from models.audit import AuditEvent
from models.base import Base
from models.db import DEFAULT_SQLITE_PATH, default_sqlite_url, make_engine, make_session_factory
from models.exports import Export
from models.matching import Match, Outcome, Run, UnmatchedMentee, WeightsVersion
from models.program import Participant, Program, ProgramConfig
from models.tenancy import Admin, ApiKey, Organization
from models.vocabulary import RUN_ACTIVE_STATUSES

__all__ = [
    "DEFAULT_SQLITE_PATH",
    "RUN_ACTIVE_STATUSES",
    "Admin",
    "ApiKey",
    "AuditEvent",
    "Base",
    "Export",
    "Match",
    "Organization",
    "Outcome",
    "Participant",
    "Program",
    "ProgramConfig",
    "Run",
    "UnmatchedMentee",
    "WeightsVersion",
    "default_sqlite_url",
    "make_engine",
    "make_session_factory",
]
