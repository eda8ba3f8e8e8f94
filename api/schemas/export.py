"""Schemas of the organization export, its jobs, and a participant's access export."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.common import StrictSchema
from models.vocabulary import ExportFormat, ExportStatus


class ExportArgs(StrictSchema):
    format = fields.String(
        load_default=ExportFormat.JSON.value,
        validate=validate.OneOf([f.value for f in ExportFormat]),
        metadata={"description": "json (one document) or csv (a zip of one CSV per table)"},
    )


class ExportJobSchema(Schema):
    id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(list(ExportStatus)))
    format = fields.String(required=True, validate=validate.OneOf(list(ExportFormat)))
    rows = fields.Integer(
        required=True, metadata={"description": "Rows the export holds, all tables together"}
    )
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(
        required=True, metadata={"description": "Deleted then if not downloaded"}
    )
    error = fields.String(required=True, allow_none=True)


class ParticipantExportSchema(Schema):
    """Everything held about one participant; the rows as the organization export has them."""

    participant = fields.Dict(required=True)
    matches = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "With score, breakdown, reasons and outcomes"},
    )
    unmatched = fields.List(
        fields.Dict(), required=True, metadata={"description": "Runs that left them out"}
    )
    audit_events = fields.List(
        fields.Dict(), required=True, metadata={"description": "Events naming their id"}
    )
