"""The load benchmark's HTTP client: its timeout is the one it is given, and a request
that got no answer in time is not sent again (the server may be at it: a POST that
waits for its run answered 409 to its own repeat)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.load import Http


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def do_POST(self) -> None:
        self.seen.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(float(self.path.rsplit("/", 1)[-1]))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    _Slow.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_a_request_without_an_answer_in_time_is_not_repeated(server: int) -> None:
    client = Http(server, timeout=0.3)
    with pytest.raises(TimeoutError):
        client.call("key", "POST", "/slow/1.0", {})
    assert _Slow.seen == ["/v1/slow/1.0"]
    client.close()


def test_the_timeout_given_is_the_clients(server: int) -> None:
    client = Http(server, timeout=3.0)  # longer than the answer takes
    assert client.call("key", "POST", "/slow/0.5", {}) == (200, b"{}")
    assert _Slow.seen == ["/v1/slow/0.5"]
    client.close()
