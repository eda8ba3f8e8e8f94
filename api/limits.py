"""Per-organization rate limits (Flask-Limiter), so that one tenant cannot stall others.

Requests are counted per organization, the one the API key belongs to (:mod:`api.auth`
runs first); a request without a key counts against its client address. Two limits,
from :class:`api.settings.Settings`:

* ``rate_limit_expensive`` on each expensive read, the view methods marked
  :func:`expensive` (recommendations, compare, report, the organization export):
  each such route has its own count;
* ``rate_limit_default`` over all routes together, the expensive ones included
  (:class:`_DefaultLimit`; over it, every route of the organization waits).

The probes (``/v1/health``, ``/v1/ready``) are never limited. A request over a limit
answers ``429 Too Many Requests`` as problem+json with ``Retry-After`` (seconds until
the window lets it through). The counts live in ``rate_limit_storage``, else in the
queue's Redis (``redis_url``: shared by every process), else in memory (the embedded
default: one count per process). If that storage is unreachable, requests are let
through (and it is logged): a limiter outage never becomes an API outage.

**Refused keys.** A client that keeps presenting well-formed API keys that are not
accepted (a key sprayer, or a script with a revoked key) is answered from memory when
it repeats a key this process refused lately (:class:`api.auth.RefusedKeys`: the same
401, no lookup), and each such refusal counts against the client address
(``rate_limit_refused_keys``, in the same storage, every limit of it): over it, the
refusal is a 429 with ``Retry-After`` instead of the 401 (:func:`count_refused_key`).
Only refused keys are held: a valid key from the same address (behind a load balancer,
every client's) is looked up and passes as before.

**Refusals that cost no database query.** A client over a limit that keeps asking
(ignoring ``Retry-After``) would still cost each refusal an authentication, that is a
few database round trips. So each process remembers, per limit key and endpoint, until
when the limiter last told it to wait (:class:`Embargo`), and :mod:`api.auth` refuses a
key it verified recently (:class:`api.auth.KnownKeys`) before looking it up again, with
the same 429 and the time left. Nothing is counted for these: the limiter itself
already refused, and the client was told when to come back. A key revoked meanwhile
gets that 429 rather than 401 until the wait ends.

**Clients that keep asking anyway.** Each of those early refusals (and each 429 of the
refused-keys count) also asks the gunicorn worker to hold the connection: its next
request is read no sooner than ``refusal_hold_seconds`` later, never past the wait
(:mod:`api.held`), so a closed loop that ignores ``Retry-After`` slows to a request per
hold per connection instead of taking the web processes' CPU.

One :class:`flask_limiter.Limiter` per app (``create_app`` calls :func:`init_app`):
the counts, storage and limits are that app's, never shared with another built in the
same process (tests build many).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many

from api.errors import problem
from api.held import HOLD
from api.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("mentormatch.limits")

#: The attribute :func:`expensive` sets on a view method.
_EXPENSIVE = "mentormatch_expensive_read"
#: Endpoints never limited: load balancers and orchestrators poll them.
PROBES = frozenset({"health.Health", "health.Ready"})
KEY_PREFIX = "mentormatch-limits"
#: Counts over a window that slides: no burst of twice the limit at a window's edge.
STRATEGY = "sliding-window-counter"


#: Where :func:`init_app` keeps the app's :class:`Embargo`.
EMBARGO = "mentormatch_limits_embargo"
#: Where :func:`init_app` keeps the app's refused-keys limit (:class:`_RefusedKeys`).
REFUSED_KEYS = "mentormatch_limits_refused_keys"
#: The count's name for refused keys (beside the limit key: the client address).
_ANY_KEY = "refused API keys"
#: The embargo's route for the default limit, which counts every route.
ANY_ROUTE = "*"


class Refused(Exception):
    """A request refused before the limiter saw it (:func:`refuse_early`): a 429."""

    def __init__(
        self, wait: int, description: str, whom: str = "this organization", *, hold: bool = True
    ) -> None:
        super().__init__(description)
        self.wait, self.description, self.whom = wait, description, whom
        #: Whether the client asked again after it was told to wait (:mod:`api.held`).
        self.hold = hold


class Embargo:
    """Until when each (limit key, endpoint) was told to wait, in this process.

    Bounded: beyond ``max_entries`` the oldest entry is dropped (at worst that client's
    next request goes to the limiter, which refuses it again).
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._until: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def refuse(self, key: str, endpoint: str, until: float, description: str) -> None:
        with self._lock:
            self._until[(key, endpoint)] = (until, description)
            self._until.move_to_end((key, endpoint))
            while len(self._until) > self._max:
                self._until.popitem(last=False)

    def wait(self, key: str, endpoint: str, now: float) -> tuple[int, str] | None:
        """Whole seconds left to wait and the limit's description, or None."""
        entry = self._until.get((key, endpoint))
        if entry is None:
            return None
        until, description = entry
        if until <= now:
            with self._lock:
                if self._until.get((key, endpoint)) == entry:
                    del self._until[(key, endpoint)]
            return None
        return max(math.ceil(until - now), 1), description


def refuse_early(organization_id: object) -> None:
    """Raise :class:`Refused` if this organization was told to wait for this endpoint
    and the wait is not over (:mod:`api.auth` calls it before the key's lookup)."""
    embargo: Embargo | None = current_app.extensions.get(EMBARGO)
    if embargo is None or request.endpoint is None:
        return
    key, now = f"organization:{organization_id}", time.time()
    waiting = embargo.wait(key, ANY_ROUTE, now)  # the default limit: every route waits
    if waiting is None:
        waiting = embargo.wait(key, f"{request.method} {request.endpoint}", now)
    if waiting is not None:
        raise Refused(*waiting)


@dataclass(frozen=True)
class _RefusedKeys:
    limiter: Limiter
    limits: tuple[RateLimitItem, ...]


def count_refused_key() -> None:
    """Count a well-formed key refused (401) against the request's address; raise
    :class:`Refused` (429) if that was one too many. The count's storage failing lets
    the 401 go (and is logged), as the limiter does."""
    refused: _RefusedKeys | None = current_app.extensions.get(REFUSED_KEYS)
    if refused is None or request.endpoint in PROBES:
        return
    address, strategy = _address_key(), refused.limiter.limiter
    try:
        over = [
            limit
            for limit in refused.limits
            if not strategy.hit(limit, KEY_PREFIX, _ANY_KEY, address)
        ]
        if not over:
            return
        reset_at = max(
            strategy.get_window_stats(limit, KEY_PREFIX, _ANY_KEY, address).reset_time
            for limit in over
        )
    except Exception:  # the storage is down: no count, as for every other limit
        log.warning("refused-keys count unavailable", exc_info=True)
        return
    description = f"{over[0]} refused API keys"
    wait = max(math.ceil(reset_at - time.time()), 1)
    raise Refused(wait, description, whom="this client address")


class _DefaultLimit:
    """``rate_limit_default``, over all routes together: one call of the storage per
    limit (Flask-Limiter's own check before each request resolves the route's,
    blueprint's and decorated limits anew each time, a third of a millisecond of
    Python for a limit that is the same for every route). Flask-Limiter still counts
    the expensive reads, in the views it decorates."""

    def __init__(
        self, limiter: Limiter, items: tuple[RateLimitItem, ...], embargo: Embargo
    ) -> None:
        self.limiter, self.items, self.embargo = limiter, items, embargo

    def check(self) -> None:
        """Count the request (a before-request hook, after :mod:`api.auth`); over a
        limit, :class:`Refused` and the organization's every route waits."""
        # As Flask-Limiter: the probes and unrouted paths (404, 405) are not counted.
        if not self.limiter.enabled or request.endpoint is None or request.endpoint in PROBES:
            return
        key, strategy = rate_limit_key(), self.limiter.limiter
        try:
            over = [item for item in self.items if not strategy.hit(item, KEY_PREFIX, key)]
            if not over:
                return
            reset_at = max(
                strategy.get_window_stats(item, KEY_PREFIX, key).reset_time for item in over
            )
        except Exception:  # the storage is down: let the request through, as Flask-Limiter
            log.warning("default rate limit unavailable", exc_info=True)
            return
        description = str(over[0])
        if key.startswith("organization:"):  # the only keys refuse_early looks up
            self.embargo.refuse(key, ANY_ROUTE, reset_at, description)
        raise Refused(max(math.ceil(reset_at - time.time()), 1), description, hold=False)


def _address_key() -> str:
    return f"address:{get_remote_address()}"


def _too_many_response(wait: int, description: str, whom: str = "this organization") -> Response:
    response = problem(
        429,
        "Too Many Requests",
        f"more than {description} for {whom}; retry later",
    )
    response.headers["Retry-After"] = str(wait)
    return response


def expensive(method: F) -> F:
    """Mark a view method as an expensive read (``rate_limit_expensive`` applies)."""
    setattr(method, _EXPENSIVE, True)
    return method


def rate_limit_key() -> str:
    """Whom a request counts against: its organization, else its client address."""
    actor = g.get("actor")
    if actor is not None:
        return f"organization:{actor.organization_id}"
    return _address_key()


def storage_uri(settings: Settings) -> str:
    return settings.rate_limit_storage or settings.redis_url or "memory://"


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Limit ``app``'s requests; call it after the blueprints and :mod:`api.auth`
    (the limiter checks in a before-request hook, and keys on the actor auth found)."""
    limiter = Limiter(
        key_func=rate_limit_key,
        storage_uri=storage_uri(settings),
        strategy=STRATEGY,
        key_prefix=KEY_PREFIX,
        swallow_errors=True,
    )
    limiter.request_filter(lambda: request.endpoint in PROBES)
    limiter.init_app(app)
    # Its check before every request finds no limit but the decorated views' (which
    # check themselves): the default limit is ours, one storage call per request.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    for endpoint, view in list(app.view_functions.items()):
        methods = _expensive_methods(view)
        if methods:
            route_limit = limiter.limit(settings.rate_limit_expensive, methods=methods)
            app.view_functions[endpoint] = cast(Any, route_limit(view))

    embargo = app.extensions[EMBARGO] = Embargo()
    default = _DefaultLimit(limiter, tuple(parse_many(settings.rate_limit_default)), embargo)
    app.before_request(default.check)

    def _too_many(exc: RateLimitExceeded) -> Response:
        breached = limiter.current_limit
        now = time.time()
        reset_at = breached.reset_at if breached else now + 1
        description = str(exc.description)
        key = rate_limit_key()
        if request.endpoint is not None and key.startswith("organization:"):  # refuse_early's
            route = f"{request.method} {request.endpoint}"  # a limit may be one method's
            embargo.refuse(key, route, reset_at, description)
        return _too_many_response(max(math.ceil(reset_at - now), 1), description)

    app.register_error_handler(RateLimitExceeded, _too_many)
    hold = settings.refusal_hold_seconds

    def _refused(exc: Refused) -> Response:
        if hold > 0 and exc.hold:  # it asked again before its wait was over (api.held)
            request.environ[HOLD] = min(hold, exc.wait)
        return _too_many_response(exc.wait, exc.description, exc.whom)

    app.register_error_handler(Refused, _refused)
    app.extensions[REFUSED_KEYS] = _RefusedKeys(
        limiter, tuple(parse_many(settings.rate_limit_refused_keys))
    )
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
