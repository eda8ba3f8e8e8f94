"""Schemas of the audit log and its chain check."""

from __future__ import annotations

from marshmallow import fields, validate

from api.schemas.common import PageArgs, StrictSchema


class AuditArgs(PageArgs):
    program_id = fields.UUID(load_default=None)
    actor_id = fields.UUID(load_default=None)
    action = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    since = fields.AwareDateTime(
        load_default=None, metadata={"description": "Inclusive, ISO 8601 with offset"}
    )
    until = fields.AwareDateTime(
        load_default=None, metadata={"description": "Exclusive, ISO 8601 with offset"}
    )
    order = fields.String(load_default="asc", validate=validate.OneOf(["asc", "desc"]))


class AuditEventSchema(StrictSchema):
    id = fields.UUID(required=True)
    seq = fields.Integer(required=True)
    actor_id = fields.UUID(required=True, allow_none=True)
    action = fields.String(required=True)
    program_id = fields.UUID(required=True, allow_none=True)
    target_type = fields.String(required=True, allow_none=True)
    target_ids = fields.List(fields.String(), required=True)
    details = fields.Dict(required=True)
    created_at = fields.DateTime(required=True)
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)


class AuditListSchema(StrictSchema):
    items = fields.List(fields.Nested(AuditEventSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class ChainReportSchema(StrictSchema):
    valid = fields.Boolean(required=True)
    events = fields.Integer(required=True)
    first_bad_seq = fields.Integer(required=True, allow_none=True)
    problem = fields.String(required=True, allow_none=True)
    unkeyed = fields.Integer(
        required=True,
        metadata={"description": "Events at the start written before the keyed (HMAC) scheme"},
    )
    since_seq = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "The seq of the saved head checked, if any"},
    )


class VerifyArgs(StrictSchema):
    since_head = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=300),
        metadata={"description": "An anchor from GET /v1/audit/head: prove the chain extends it"},
    )


class SignedHeadSchema(StrictSchema):
    seq = fields.Integer(required=True)
    head = fields.String(required=True)
    time = fields.DateTime(required=True)
    signature = fields.String(
        required=True, metadata={"description": "HMAC-SHA-256 with the audit key"}
    )
    anchor = fields.String(
        required=True, metadata={"description": "Keep it outside; verify?since_head="}
    )
