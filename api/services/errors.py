"""Domain exceptions. The HTTP layer turns each into one problem+json shape (api.errors)."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error a use case raises on purpose."""

    title = "Request failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        #: More members of the problem body (e.g. the id of the run in the way).
        self.extra: dict[str, Any] = {}


class NotFound(ServiceError):
    """Missing, or belonging to another organization: the two are indistinguishable."""

    title = "Not found"

    def __init__(self, resource: str, ident: object) -> None:
        super().__init__(f"{resource} {ident} not found")
        self.resource = resource


class ValidationFailed(ServiceError):
    """Input that is well-formed but breaks a rule; ``errors`` maps field -> messages."""

    title = "Validation failed"

    def __init__(self, errors: dict[str, list[str]], detail: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class Conflict(ServiceError):
    title = "Conflict"


class Unauthorized(ServiceError):
    title = "Unauthorized"


class KeyRefused(Unauthorized):
    """A well-formed API key its lookup did not accept (unknown, wrong secret, revoked):
    a 401 that cost a database query, which :mod:`api.auth` counts per address."""


class Forbidden(ServiceError):
    title = "Forbidden"
