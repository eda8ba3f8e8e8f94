"""A client that ignores ``Retry-After`` waits anyway: its connection is held.

A client told to wait (``429`` with ``Retry-After``) that asks again before the wait is
over is refused from the process's memory (:func:`api.limits.refuse_early`: no
database query). But a closed loop asks again as soon as it is answered, so the cheaper
the refusal, the more refusals: on machines shared by tenants, one such client would
take whatever CPU the web processes give it, and the others' requests queue behind
its refusals.

So such a refusal also marks its request (``environ[HOLD]``: seconds), and the gunicorn
worker, :class:`HoldingWorker` (gunicorn's ``gthread`` worker), reads that
connection's next request no sooner than that much later: ``refusal_hold_seconds`` at
most, never past the end of the wait. The answer itself goes out at once; what the
client sends next waits in the kernel's socket buffer while the connection sits in the
worker's list of held connections, holding no thread. Other connections, and the
client's other connections that were not refused, are served as before. The worker's
loop wakes up when the first held connection's time comes, and releases it. A
connection gunicorn is closing (no keep-alive) is closed at once, not held.

Behind a load balancer that sends several clients' requests over one connection to
the API (an upstream keep-alive pool), a held connection would hold up the others'
requests: there, set ``MENTORMATCH_REFUSAL_HOLD_SECONDS=0`` and limit such clients at
the balancer (README, Deployment).
"""

from __future__ import annotations

import heapq
import itertools
import time
from concurrent.futures import Future
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

#: The WSGI environ key a refusal sets: seconds to hold the connection's next request.
HOLD = "mentormatch.hold_connection"


class HoldingWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's ``gthread`` worker, holding the connections of refused requests that
    asked for it (:data:`HOLD`) before it reads their next request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Until when the connection of each socket a request asked to hold is held:
        #: written by the request's thread, read by the main thread.
        self._holds: dict[Any, float] = {}
        #: Held connections, soonest first: (until, order, connection, its future).
        self._held: list[tuple[float, int, Any, Future[Any]]] = []
        self._order = itertools.count()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        app: Any = getattr(self, "wsgi")  # noqa: B009 - set by gunicorn, untyped
        holds = self._holds

        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            answer = app(environ, start_response)
            seconds = environ.get(HOLD)
            if seconds:
                holds[environ["gunicorn.socket"]] = time.monotonic() + float(seconds)
            return answer

        self.wsgi = wsgi

    def finish_request(self, conn: Any, fs: Future[Any]) -> None:
        """On the main thread once a request is answered: a connection to hold waits in
        :attr:`_held` instead of going back to the poller."""
        until = self._holds.pop(conn.sock, None)
        kept_alive = not fs.cancelled() and fs.exception() is None and fs.result() is True
        if until is not None and kept_alive and self.alive and until > time.monotonic():
            heapq.heappush(self._held, (until, next(self._order), conn, fs))
            return
        super().finish_request(conn, fs)  # a connection to close is closed at once

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """gunicorn's wait for events, no longer than until the first held connection's
        time (then :meth:`murder_keepalived`, called after it, releases it)."""
        if self._held:
            timeout = max(min(timeout, self._held[0][0] - time.monotonic()), 0.0)
        super().wait_for_and_dispatch_events(timeout)

    def murder_keepalived(self, force: bool = False) -> None:
        """The main loop's pass (after every batch of events, at least once a second):
        release the held connections whose time has come (all of them when stopping),
        then gunicorn's own keep-alive expiry."""
        now = time.monotonic()
        while self._held and (force or not self.alive or self._held[0][0] <= now):
            _, _, conn, fs = heapq.heappop(self._held)
            super().finish_request(conn, fs)
        super().murder_keepalived(force)
