"""Bearer API keys: the key alone decides the organization and the acting admin."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from typing import Generic, TypeVar

from flask import Flask, g, request
from sqlalchemy.exc import DBAPIError

from api import db, faults, limits
from api.db import get_session
from api.services.context import Actor
from api.services.errors import KeyRefused, Unauthorized
from api.services.keys import authenticate_and_scope

log = logging.getLogger(__name__)

V = TypeVar("V")

PUBLIC_ENDPOINTS = {"health.Health", "health.Ready", "static"}
# The API description and its viewer hold no organization data.
PUBLIC_PREFIXES = ("api-docs.", "docs_assets")


class _RecentKeys(Generic[V]):
    """A value for each API key seen lately (at most ``max_keys``, for ``ttl`` seconds,
    the oldest dropped first), by a digest of the whole key."""

    def __init__(self, max_keys: int = 10_000, ttl: float = 300.0) -> None:
        self._seen: OrderedDict[bytes, tuple[V, float]] = OrderedDict()
        self._max, self._ttl = max_keys, ttl
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> V | None:
        entry = self._seen.get(self._digest(token))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def remember(self, token: str, value: V) -> None:
        digest = self._digest(token)
        with self._lock:
            self._seen[digest] = (value, time.monotonic() + self._ttl)
            self._seen.move_to_end(digest)
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)

    def forget(self, token: str) -> None:
        with self._lock:
            self._seen.pop(self._digest(token), None)


class KnownKeys(_RecentKeys[uuid.UUID]):
    """The organization of each key this process verified lately.

    Used for one thing only: to refuse a client the rate limiter told to wait before
    looking its key up again (:func:`api.limits.refuse_early`). Every request that is
    let through is authenticated against the database as before, so a revocation still
    takes effect at once.
    """

    organization = _RecentKeys.get


class RefusedKeys(_RecentKeys[str]):
    """Why each well-formed key this process's lookup refused lately was refused.

    A refusal does not change: an unknown key id or a wrong secret stays wrong, a
    revoked key stays revoked, a deleted organization stays deleted. So a client that
    keeps presenting such a key (a script with a revoked key) is answered the same 401
    from here, without looking the key up again.
    """

    reason = _RecentKeys.get


def current_actor() -> Actor:
    actor: Actor | None = g.get("actor")
    if actor is None:  # a view without auth would be a bug, not a client error
        raise RuntimeError("no authenticated actor for this request")
    return actor


def _authenticate_and_scope(token: str) -> Actor:
    """:func:`authenticate_and_scope` on the request's session, once more on a new one if
    its connection turned out dropped: the key lookup is a read, and the first statement
    of every request, where a pooled connection that a restart or a terminated backend
    left dead is found (a view's reads are retried by :func:`api.faults.retry_dropped_reads`)."""
    try:
        return authenticate_and_scope(get_session(), token)
    except DBAPIError as exc:
        if not faults.dropped_connection(exc):
            raise
        log.warning("database connection dropped during authentication: retrying it once")
        return authenticate_and_scope(db.reopen_session(), token)


def init_app(app: Flask) -> None:
    known, refused = KnownKeys(), RefusedKeys()

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
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("missing bearer API key (Authorization: Bearer <key>)")
        organization = known.organization(token)
        if organization is not None:  # told to wait? then 429 with no database query
            limits.refuse_early(organization)
        reason = refused.reason(token)
        if reason is not None:  # refused lately: the same 401, no database query
            limits.count_refused_key()  # one too many: 429 instead of this 401
            raise KeyRefused(reason)
        # From here on every query of the request sees this organization alone
        # (models.tenant_guard; on PostgreSQL, row-level security too).
        try:
            g.actor = _authenticate_and_scope(token)
        except KeyRefused as exc:
            known.forget(token)  # revoked since it was verified
            refused.remember(token, exc.detail)
            limits.count_refused_key()  # one too many: 429 instead of this 401
            raise
        known.remember(token, g.actor.organization_id)
