"""Per-organization rate limits (Flask-Limiter), so that one tenant cannot stall others.

Requests are counted per organization, the one the API key belongs to (:mod:`api.auth`
runs first); a request without a key counts against its client address. Two limits,
from :class:`api.settings.Settings`:

* ``rate_limit_expensive`` on each expensive read, the view methods marked
  :func:`expensive` (recommendations, compare, report, the organization export):
  each such route has its own count;
* ``rate_limit_default`` over all routes together, the expensive ones included.

The probes (``/v1/health``, ``/v1/ready``) are never limited. A request over a limit
answers ``429 Too Many Requests`` as problem+json with ``Retry-After`` (seconds until
the window lets it through). The counts live in ``rate_limit_storage``, else in the
queue's Redis (``redis_url``: shared by every process), else in memory (the embedded
default: one count per process). If that storage is unreachable, requests are let
through (and it is logged): a limiter outage never becomes an API outage.

One :class:`flask_limiter.Limiter` per app (``create_app`` calls :func:`init_app`):
the counts, storage and limits are that app's, never shared with another built in the
same process (tests build many).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, g, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from api.errors import problem
from api.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute :func:`expensive` sets on a view method.
_EXPENSIVE = "mentormatch_expensive_read"
#: Endpoints never limited: load balancers and orchestrators poll them.
PROBES = frozenset({"health.Health", "health.Ready"})
KEY_PREFIX = "mentormatch-limits"
#: Counts over a window that slides: no burst of twice the limit at a window's edge.
STRATEGY = "sliding-window-counter"


def expensive(method: F) -> F:
    """Mark a view method as an expensive read (``rate_limit_expensive`` applies)."""
    setattr(method, _EXPENSIVE, True)
    return method


def rate_limit_key() -> str:
    """Whom a request counts against: its organization, else its client address."""
    actor = g.get("actor")
    if actor is not None:
        return f"organization:{actor.organization_id}"
    return f"address:{get_remote_address()}"


def storage_uri(settings: Settings) -> str:
    return settings.rate_limit_storage or settings.redis_url or "memory://"


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Limit ``app``'s requests; call it after the blueprints and :mod:`api.auth`
    (the limiter checks in a before-request hook, and keys on the actor auth found)."""
    limiter = Limiter(
        key_func=rate_limit_key,
        application_limits=[settings.rate_limit_default],  # one count over all routes
        storage_uri=storage_uri(settings),
        strategy=STRATEGY,
        key_prefix=KEY_PREFIX,
        swallow_errors=True,
    )
    limiter.request_filter(lambda: request.endpoint in PROBES)
    limiter.init_app(app)
    for endpoint, view in list(app.view_functions.items()):
        methods = _expensive_methods(view)
        if methods:
            route_limit = limiter.limit(settings.rate_limit_expensive, methods=methods)
            app.view_functions[endpoint] = cast(Any, route_limit(view))

    def _too_many(exc: RateLimitExceeded) -> Response:
        breached = limiter.current_limit
        wait = math.ceil(breached.reset_at - time.time()) if breached else 1
        response = problem(
            429,
            "Too Many Requests",
            f"more than {exc.description} for this organization; retry later",
        )
        response.headers["Retry-After"] = str(max(wait, 1))
        return response

    app.register_error_handler(RateLimitExceeded, _too_many)
    return limiter


def _expensive_methods(view: Callable[..., Any]) -> list[str]:
    """The HTTP methods of a class-based view that are marked :func:`expensive`."""
    view_class = getattr(view, "view_class", None)
    methods = getattr(view_class, "methods", None) or ()
    return sorted(
        method
        for method in methods
        if getattr(getattr(view_class, method.lower(), None), _EXPENSIVE, False)
    )
