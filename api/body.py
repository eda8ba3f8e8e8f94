"""Request bodies, checked before a view parses them: the media type, the CSV charset,
and JSON that parsing itself could not survive.

* A body must be JSON (``application/json`` or ``application/*+json``), or CSV
  (``text/csv`` or ``application/csv``) where an endpoint takes CSV; anything else,
  XML included, answers ``415``.
* JSON nested deeper than :data:`MAX_JSON_DEPTH` answers ``422`` naming the path where
  it got too deep. The depth is measured on the raw bytes in linear time, before
  anything is parsed, so a megabyte of ``[`` costs a scan, not a recursion error.
* An integer literal of more than :data:`MAX_INT_DIGITS` digits answers ``422`` naming
  its field (Python refuses past 4,300 digits, and no bound of the API comes close).
* A CSV body in another charset than UTF-8 (``text/csv; charset=windows-1252``) is
  decoded from it; an unknown charset answers ``415``, bytes that are not in the
  declared charset ``422``.

Lone surrogates and control characters inside JSON strings are refused, naming the
field, by the schemas (:mod:`api.services.text`).
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

import numpy as np
from flask import Flask, Request, Response, request

from api.errors import problem
from api.services.errors import ValidationFailed

#: The deepest nesting of arrays and objects a JSON body may have (a config is 6 deep).
MAX_JSON_DEPTH = 32
#: The most digits of an integer literal in a JSON body.
MAX_INT_DIGITS = 50
CSV_TYPES = ("text/csv", "application/csv")
#: Endpoints that take a CSV body besides JSON (the participants upload).
CSV_ENDPOINTS = frozenset({"participants.Participants"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.DOTALL)
_LONG_DIGITS = re.compile(rb"[0-9]{%d,}" % (MAX_INT_DIGITS + 1))
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but the brackets
#: Tokens walked at most to name the path of a too-deep body (its prefix is bounded).
_MAX_TOKENS = 1_000_000


def is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data``, strings skipped; linear time.

    >>> json_depth(b'{"a": [1, {"b": "[[["}]}')
    3
    """
    if data.count(b"[") + data.count(b"{") == 0:
        return 0
    brackets = _STRING.sub(b'""', data).translate(None, _BRACKETS)
    opens = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((opens == ord("[")) | (opens == ord("{")), 1, -1)
    return int(np.cumsum(steps).max(initial=0))


def deep_path(data: bytes, limit: int) -> str:
    """The dotted path of the first container nested deeper than ``limit``.

    >>> deep_path(b'{"config": {"a": [[1]]}}', 3)
    'config.a.0'
    """
    stack: list[list[Any]] = []  # [kind, key or index]
    last = b""
    for n, match in enumerate(_TOKEN.finditer(data)):
        token = match.group()
        if n > _MAX_TOKENS:
            break
        if token.startswith(b'"'):
            last = token
        elif token == b":" and stack:
            stack[-1][1] = json.loads(last)
        elif token == b"," and stack and stack[-1][0] == "[":
            stack[-1][1] += 1
        elif token in (b"[", b"{"):
            if len(stack) >= limit:
                break
            stack.append(["[", 0] if token == b"[" else ["{", None])
        elif token in (b"]", b"}") and stack:
            stack.pop()
    return ".".join(str(key) for _, key in stack if key is not None) or "_schema"


class _LongInt:
    def __init__(self, digits: int) -> None:
        self.digits = digits


def _parse_int(text: str) -> int | _LongInt:
    digits = len(text.lstrip("-"))
    return _LongInt(digits) if digits > MAX_INT_DIGITS else int(text)


def long_int_paths(value: object, path: str = "") -> dict[str, list[str]]:
    """``{path: [message]}`` for every over-long integer of a parsed body."""
    out: dict[str, list[str]] = {}
    if isinstance(value, _LongInt):
        out[path or "_schema"] = [
            f"an integer of {value.digits} digits; at most {MAX_INT_DIGITS} digits are accepted"
        ]
    elif isinstance(value, dict):
        for key, item in value.items():
            out.update(long_int_paths(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.update(long_int_paths(item, f"{path}.{i}" if path else str(i)))
    return out


def json_problems(data: bytes) -> dict[str, list[str]]:
    """What makes a JSON body unparseable safely, by path (empty: parse it as usual)."""
    if json_depth(data) > MAX_JSON_DEPTH:
        path = deep_path(data, MAX_JSON_DEPTH)
        return {path: [f"nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects"]}
    if _LONG_DIGITS.search(_STRING.sub(b'""', data)) is None:
        return {}
    try:
        parsed = json.loads(data, parse_int=_parse_int)
    except ValueError:
        return {}  # not JSON: the schema's parser says so
    return long_int_paths(parsed)


def csv_body(req: Request) -> bytes:
    """The CSV body as UTF-8 bytes, decoded from its declared charset."""
    data = req.get_data()
    charset = req.mimetype_params.get("charset", "utf-8")
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        raise UnsupportedCharset(charset) from None
    if codec in ("utf-8", "utf-8-sig"):
        return data  # decoded (byte-order mark allowed) by the CSV parser
    try:
        return data.decode(codec).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            {"csv": [f"not {charset} text (byte {exc.start}), as the Content-Type says"]}
        ) from None


class UnsupportedCharset(ValidationFailed):
    """A charset Python does not know; answered 415 by :func:`init_app`'s handler."""

    def __init__(self, charset: str) -> None:
        super().__init__({"csv": [f"unknown charset {charset!r}; send UTF-8"]})
        self.charset = charset


def init_app(app: Flask) -> None:
    @app.before_request
    def _check_body() -> Response | None:
        if request.method not in _BODY_METHODS or request.endpoint is None:
            return None
        data = request.get_data(cache=True)
        if not data:
            return None
        mimetype = request.mimetype
        if is_json(mimetype):
            errors = json_problems(data)
            if errors:
                detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
                return problem(422, "Validation failed", detail, errors=errors)
            return None
        if mimetype in CSV_TYPES and request.endpoint in CSV_ENDPOINTS:
            return None
        accepted = "application/json" + (
            " or text/csv" if request.endpoint in CSV_ENDPOINTS else ""
        )
        return problem(
            415,
            "Unsupported Media Type",
            f"a body of type {mimetype or 'unknown'!r} is not accepted here; send {accepted}",
        )

    @app.errorhandler(UnsupportedCharset)
    def _unknown_charset(exc: UnsupportedCharset) -> Response:
        return problem(415, "Unsupported Media Type", exc.errors["csv"][0], errors=exc.errors)
