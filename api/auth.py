"""Bearer API keys: the key alone decides the organization and the acting admin."""

from __future__ import annotations

from flask import Flask, g, request

from api.db import get_session
from api.services.context import Actor
from api.services.errors import Unauthorized
from api.services.keys import authenticate
from models.tenant_guard import scope_session

PUBLIC_ENDPOINTS = {"health.Health", "health.Ready", "static"}
# The API description and its viewer hold no organization data.
PUBLIC_PREFIXES = ("api-docs.", "docs_assets")


def current_actor() -> Actor:
    actor: Actor | None = g.get("actor")
    if actor is None:  # a view without auth would be a bug, not a client error
        raise RuntimeError("no authenticated actor for this request")
    return actor


def init_app(app: Flask) -> None:
    @app.before_request
    def _authenticate() -> None:
        endpoint = request.endpoint or ""
        if endpoint in PUBLIC_ENDPOINTS or endpoint.startswith(PUBLIC_PREFIXES):
            return
        if request.endpoint is None:
            return  # 404/405 follow
        if request.method == "OPTIONS":
            return  # a CORS preflight carries no key; Flask answers it, calling no view
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing bearer API key (Authorization: Bearer <key>)")
        session = get_session()
        g.actor = authenticate(session, token.strip())
        # From here on every query of the request sees this organization alone
        # (models.tenant_guard; on PostgreSQL, row-level security too).
        scope_session(session, g.actor.organization_id)
