"""Pieces shared by every resource's schemas."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


class PageArgs(StrictSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(load_default=None)


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """A ``{"items": [...], "next_cursor": ...}`` schema for ``item``."""
    return type(
        name,
        (Schema,),
        {
            "items": fields.List(fields.Nested(item), required=True),
            "next_cursor": fields.String(allow_none=True),
        },
    )
