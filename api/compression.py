"""gzip for large answers (flask-compress), when the client's Accept-Encoding takes it.

Only JSON (problem+json included) and CSV answers of at least :data:`MIN_SIZE` bytes
are compressed: smaller ones gain less than the work costs, and an xlsx is a zip
already. Answers say
``Vary: Accept-Encoding``; a compressed answer's strong ETag gets ``:gzip`` appended
(a different representation), which :mod:`api.conditional` accepts in If-Match.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_compress import Compress

#: Bytes below which an answer is sent as it is.
MIN_SIZE = 1024
ALGORITHM = "gzip"
MEDIA_TYPES = ("application/json", "application/problem+json", "text/csv")


class _Compress(Compress):
    """flask-compress, but ``gzip;q=0`` refuses gzip (it takes any listed encoding)."""

    def after_request(self, response: Response | None) -> Response:
        if response is not None and not request.accept_encodings[ALGORITHM]:
            response.vary.add("Accept-Encoding")
            return response
        return super().after_request(response)


def init_app(app: Flask) -> None:
    app.config.update(
        COMPRESS_ALGORITHM=[ALGORITHM],
        COMPRESS_STREAMS=False,  # the API streams nothing; a stream has no size to weigh
        COMPRESS_MIMETYPES=list(MEDIA_TYPES),
        COMPRESS_MIN_SIZE=MIN_SIZE,
    )
    _Compress(app)
