"""Responses encoded by orjson (api/json_output.py): the same JSON as Flask's own."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask import Flask

from api.json_output import OrjsonProvider

DOCUMENT: dict[str, Any] = {
    "zeta": 1,
    "alpha": [1.5, None, True, "Zoë ✓"],
    "nested": {"b": {"c": [{}]}, "a": "x"},
    7: "a number key",
    "big": 2**62,
}


def _app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    app.json = OrjsonProvider(app)
    return app


def test_a_response_is_the_standard_librarys_json_in_the_same_key_order() -> None:
    app = _app()
    with app.app_context():
        answer = app.json.response(DOCUMENT)
    body = answer.get_data()
    assert answer.mimetype == "application/json"
    assert body.endswith(b"}\n")
    assert b"\n" not in body[:-1]  # compact, one newline
    stdlib = json.dumps(DOCUMENT, separators=(",", ":"), ensure_ascii=False)
    assert body.decode() == stdlib + "\n"  # the same text, key for key (but UTF-8)
    plain = Flask(__name__)  # Flask's own provider, keys in their order too
    plain.json.sort_keys = False  # type: ignore[attr-defined]
    with plain.app_context():
        flasks = plain.json.response(DOCUMENT).get_data()
    assert json.loads(body) == json.loads(flasks)
    assert list(json.loads(body)) == list(json.loads(flasks))
    assert "Zoë ✓".encode() in body  # UTF-8, not \\u escapes


def test_what_orjson_does_not_know_goes_through_flasks_default() -> None:
    app = _app()
    ident = uuid.uuid4()
    with app.app_context():
        text = app.json.dumps({"d": Decimal("1.25"), "u": ident, "day": date(2026, 12, 3)})
        stamp = app.json.dumps({"at": datetime(2026, 12, 3, 7, 0, tzinfo=UTC)})
    assert json.loads(text) == {
        "d": "1.25",
        "u": str(ident),
        "day": "Thu, 03 Dec 2026 00:00:00 GMT",
    }
    assert json.loads(stamp) == {"at": "Thu, 03 Dec 2026 07:00:00 GMT"}  # Flask's, as before


def test_debug_output_stays_indented_by_the_standard_library() -> None:
    app = _app(DEBUG=True)
    with app.app_context():
        body = app.json.response({"a": [1]}).get_data()
    assert body == b'{\n  "a": [\n    1\n  ]\n}\n'


def test_an_integer_beyond_64_bits_is_written_by_the_standard_library() -> None:
    """orjson refuses it; a 422 may quote such a number from the request."""
    app = _app()
    huge = {"value": 10**30, "text": "Zoë"}
    with app.app_context():
        assert json.loads(app.json.response(huge).get_data()) == huge
        assert json.loads(app.json.dumps(huge)) == huge
