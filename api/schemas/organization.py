from __future__ import annotations

from marshmallow import fields

from api.schemas.common import StrictSchema


class OrganizationDeleteSchema(StrictSchema):
    confirm = fields.String(
        required=True,
        metadata={"description": "The organization's name, exactly: deleting it is final"},
    )


class OrganizationDeletedSchema(StrictSchema):
    id = fields.UUID(required=True)
    deleted_at = fields.DateTime(required=True)
    purge_after = fields.DateTime(
        required=True,
        metadata={"description": "Every row of the organization is purged after this time"},
    )
