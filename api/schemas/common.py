"""Pieces shared by every resource's schemas.

Request bodies are JSON, so their numbers and booleans are typed: a request schema
takes ``true``/``false`` only through :class:`StrictBoolean` and numbers only through
:class:`StrictFloat` or ``fields.Integer(strict=True)``; ``"yes"``, ``"1"`` or ``1``
for a boolean and ``"0.5"`` for a number are refused. Query-string arguments are
strings by nature and keep marshmallow's usual parsing (``?active=true``).

Every string a request carries, at any depth (config objects included), is checked by
:class:`StrictSchema` for control characters: see :mod:`api.services.text`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from api.schemas.fast_dump import FastDump
from api.services.text import control_char_problems

#: Longest cursor any list issues (a base64 ``[timestamp, uuid]`` is about 100).
MAX_CURSOR = 512


class StrictSchema(FastDump):
    """Unknown fields refused, control characters refused on load; dumped fast
    (:mod:`api.schemas.fast_dump`)."""

    class Meta:
        unknown = RAISE
        ordered = True

    @pre_load
    def _no_control_characters(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping):
            problems = control_char_problems(data)
            if problems:
                errors: dict[str, list[str]] = {}
                for path, message in problems:
                    errors.setdefault(path, []).append(message)
                raise ValidationError(errors)
        return data


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false``; nothing else (not ``1``, ``"yes"`` or ``"true"``)."""

    default_error_messages = {"invalid": "Not a valid boolean: expected true or false."}

    # marshmallow's signature (mypy checks the override); this field needs only the value.
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:  # noqa: ARG002
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictFloat(fields.Float):
    """A JSON number (integer or decimal); a numeric string such as ``"1"`` is refused."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class PageArgs(StrictSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(load_default=None, validate=validate.Length(max=MAX_CURSOR))


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """A ``{"items": [...], "next_cursor": ...}`` schema for ``item``."""
    return type(
        name,
        (FastDump,),
        {
            "items": fields.List(fields.Nested(item), required=True),
            "next_cursor": fields.String(required=True, allow_none=True),
        },
    )
