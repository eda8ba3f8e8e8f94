from __future__ import annotations

from marshmallow import fields, validate

from api.schemas.common import StrictSchema

ADMIN_ROLES = ["owner", "admin"]


class AdminCreateSchema(StrictSchema):
    email = fields.Email(required=True)
    role = fields.String(load_default="admin", validate=validate.OneOf(ADMIN_ROLES))


class AdminSchema(StrictSchema):
    id = fields.UUID(required=True, dump_only=True)
    email = fields.String(
        required=True, allow_none=True, metadata={"description": "null once erased on request"}
    )
    role = fields.String(required=True, validate=validate.OneOf(ADMIN_ROLES))
    created_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "set once the admin was removed"}
    )
    erased_at = fields.DateTime(
        required=True,
        allow_none=True,
        metadata={"description": "set once the removed admin's email was erased"},
    )


class AdminDeleteArgs(StrictSchema):
    erase = fields.Boolean(
        load_default=False,
        metadata={"description": "also erase the admin's email (the audit log keeps the id)"},
    )


class AdminCreatedSchema(AdminSchema):
    api_key = fields.String(
        required=True, metadata={"description": "Shown once; only its hash is stored"}
    )


class AdminListSchema(StrictSchema):
    items = fields.List(fields.Nested(AdminSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class RotatedKeySchema(StrictSchema):
    admin_id = fields.UUID(required=True)
    api_key = fields.String(
        required=True, metadata={"description": "Shown once; the key used is revoked"}
    )
