"""Persistence: SQLAlchemy 2.0 typed models, engine and session setup, migrations.

No business rules and no HTTP here; the service layer (``api.services``) owns those.

The ORM loads on first use of any of its names (PEP 562), all of it at once so every
mapper's relationships resolve: importing :mod:`models.vocabulary` alone (the offline
``mentormatch match`` does) loads no SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from models.vocabulary import RUN_ACTIVE_STATUSES

if TYPE_CHECKING:
    from models.audit import AuditEvent
    from models.base import Base
    from models.db import (
        DEFAULT_SQLITE_PATH,
        default_sqlite_url,
        make_engine,
        make_session_factory,
    )
    from models.exports import Export
    from models.matching import Match, Outcome, Run, UnmatchedMentee, WeightsVersion
    from models.program import Participant, Program, ProgramConfig
    from models.tenancy import Admin, ApiKey, Organization

_HOME = {
    "AuditEvent": "models.audit",
    "Base": "models.base",
    "DEFAULT_SQLITE_PATH": "models.db",
    "default_sqlite_url": "models.db",
    "make_engine": "models.db",
    "make_session_factory": "models.db",
    "Export": "models.exports",
    "Match": "models.matching",
    "Outcome": "models.matching",
    "Run": "models.matching",
    "UnmatchedMentee": "models.matching",
    "WeightsVersion": "models.matching",
    "Participant": "models.program",
    "Program": "models.program",
    "ProgramConfig": "models.program",
    "Admin": "models.tenancy",
    "ApiKey": "models.tenancy",
    "Organization": "models.tenancy",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module in dict.fromkeys(_HOME.values()):
        importlib.import_module(module)
    for key, module in _HOME.items():
        globals()[key] = getattr(importlib.import_module(module), key)
    return globals()[name]


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
