"""Cross-origin calls from a dashboard in the browser (flask-cors), for the origins of
``MENTORMATCH_CORS_ORIGINS`` only; without any, no ``Access-Control-*`` header is sent.

A preflight ``OPTIONS`` carries no key (browsers never send one), so :mod:`api.auth`
lets it through unauthenticated: Flask answers it with the route's methods, and this
adds the CORS headers. The actual request is authenticated as usual.
"""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

#: Headers a browser script may read from our answers.
EXPOSED_HEADERS = ("Location", "ETag", "X-Request-Id", "Retry-After")
#: Headers a browser script may send.
ALLOWED_HEADERS = ("Authorization", "Content-Type", "If-Match", "If-None-Match", "X-Request-Id")
#: How long a browser may cache a preflight answer, in seconds.
MAX_AGE = 600


def init_app(app: Flask, origins: tuple[str, ...] | None) -> None:
    if not origins:
        return
    CORS(
        app,
        resources={r"/v1/*": {"origins": list(origins)}},
        expose_headers=list(EXPOSED_HEADERS),
        allow_headers=list(ALLOWED_HEADERS),
        max_age=MAX_AGE,
        supports_credentials=False,  # the key is a bearer header, never a cookie
        vary_header=True,
    )
