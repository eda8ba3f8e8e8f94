from __future__ import annotations

from marshmallow import fields, validate

from api.schemas.common import StrictSchema


class AdminCreateSchema(StrictSchema):
    email = fields.Email(required=True)
    role = fields.String(load_default="admin", validate=validate.OneOf(["owner", "admin"]))


class AdminSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    email = fields.String()
    role = fields.String()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


class AdminCreatedSchema(AdminSchema):
    api_key = fields.String(metadata={"description": "Shown once; only its hash is stored"})


class AdminListSchema(StrictSchema):
    items = fields.List(fields.Nested(AdminSchema))
    next_cursor = fields.String(allow_none=True)
