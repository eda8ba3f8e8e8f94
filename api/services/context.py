"""Who is acting: decided by the API key alone, never by a request body or path."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    organization_id: uuid.UUID
    admin_id: uuid.UUID | None  # None for the system (CLI, retention jobs)
    role: str = "admin"
    key_id: uuid.UUID | None = None  # the API key of the request (None off the HTTP API)

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"
