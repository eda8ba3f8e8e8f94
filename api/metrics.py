"""Prometheus metrics at ``GET /metrics``: requests, latency, rate limiting, runs.

What is exported:

* ``mentormatch_http_requests_total{method, route, status}`` and
  ``mentormatch_http_request_duration_seconds{method, route}``, counted by an
  ``after_request`` hook. ``route`` is the URL rule (``/v1/programs/<uuid:program_id>``),
  never the raw path, so the series stay few whatever the ids; a request no rule
  matched is ``route="unmatched"``.
* ``mentormatch_http_rate_limited_total{route}``: the 429 answers, whoever gave them
  (the rate limiter's, api/limits.py); nothing here depends on how.
* The run phase histogram and the database's run counts
  (:mod:`api.services.observability`).

Several gunicorn workers: with ``MENTORMATCH_METRICS_DIR``, ``mentormatch serve``
exports ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts, each process writes its
numbers to files there, and whichever worker answers a scrape sums them all
(prometheus-client's multiprocess mode). Without it, the one process's numbers.

``/metrics`` is a WSGI route in front of the Flask app, not a Flask view: it is not in
the OpenAPI description (it is not part of the versioned API), no rate limit or API
key applies, and scraping it counts no request. It is open by default, like
``/v1/health``: served on the same port, it shows no organization data beyond
organization ids. With ``MENTORMATCH_METRICS_TOKEN`` it asks for
``Authorization: Bearer <token>`` (401 problem+json otherwise).
"""

from __future__ import annotations

import hmac
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, Response, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from api.services.observability import RunsCollector
from api.settings import PREFIX, Settings, SettingsError

PATH = "/metrics"
#: Where the middleware notes when a request arrived (WSGI environ key).
STARTED = "mentormatch.metrics.started"
UNMATCHED = "unmatched"
#: From a cached read (a millisecond) to a slow export (tens of seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter(
    "mentormatch_http_requests_total",
    "HTTP requests answered, by method, URL rule and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "mentormatch_http_request_duration_seconds",
    "Seconds from a request's arrival to its response, by method and URL rule.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
RATE_LIMITED = Counter(
    "mentormatch_http_rate_limited_total",
    "Requests answered 429 Too Many Requests, by URL rule.",
    ["route"],
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _ThisProcess(Collector):
    """The default registry's metrics (this process's), inside a scrape's registry."""

    def describe(self) -> Iterator[Any]:
        return iter(())  # no name checks: the default registry made them already

    def collect(self) -> Iterator[Any]:
        return iter(REGISTRY.collect())


def build_registry(settings: Settings, session_factory: Callable[[], Session]) -> CollectorRegistry:
    """What a scrape reads: every process's files (``metrics_dir``) or this process's
    metrics, and the database's run counts."""
    registry = CollectorRegistry()
    if settings.metrics_dir is not None:
        shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if shared is None or os.path.realpath(shared) != os.path.realpath(settings.metrics_dir):
            raise SettingsError(
                {
                    PREFIX + "METRICS_DIR": "needs PROMETHEUS_MULTIPROC_DIR set to the same "
                    "directory before the process starts (`mentormatch serve` sets it), "
                    f"got PROMETHEUS_MULTIPROC_DIR={shared!r}"
                }
            )
        MultiProcessCollector(registry, path=str(settings.metrics_dir))  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(RunsCollector(session_factory))
    return registry


def _unauthorized(start_response: Callable[..., Any]) -> list[bytes]:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": "missing or wrong metrics token (Authorization: Bearer <token>)",
        }
    ).encode()
    start_response(
        "401 UNAUTHORIZED",
        [
            ("Content-Type", "application/problem+json"),
            ("Content-Length", str(len(body))),
            ("WWW-Authenticate", 'Bearer realm="mentormatch-metrics"'),
        ],
    )
    return [body]


class MetricsMiddleware:
    """Serves ``/metrics`` itself; notes each other request's arrival and passes it on."""

    def __init__(self, app: WsgiApp, metrics: WsgiApp, token: str | None) -> None:
        self.app, self.metrics, self.token = app, metrics, token

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            environ[STARTED] = time.perf_counter()
            return self.app(environ, start_response)
        if self.token is not None:
            scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                return _unauthorized(start_response)
        return self.metrics(environ, start_response)


#: The methods counted by name; any other is counted as "OTHER".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _observe(response: Response) -> Response:
    rule = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    # The label values stay bounded: a made-up method (answered 405) is "OTHER".
    method = request.method if request.method in KNOWN_METHODS else "OTHER"
    REQUESTS.labels(method=method, route=rule, status=str(response.status_code)).inc()
    started = request.environ.get(STARTED)
    if started is not None:
        LATENCY.labels(method=method, route=rule).observe(time.perf_counter() - started)
    if response.status_code == 429:
        RATE_LIMITED.labels(route=rule).inc()
    return response


def init_app(app: Flask, settings: Settings, session_factory: Callable[[], Session]) -> None:
    """Count every response and serve ``/metrics``.

    Call it before the other extensions: the after-request hook registered first runs
    last, so it counts the status the client gets (a 304 of conditional requests, say).
    """
    registry = build_registry(settings, session_factory)
    app.wsgi_app = MetricsMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, make_wsgi_app(registry), settings.metrics_token
    )
    app.after_request(_observe)
