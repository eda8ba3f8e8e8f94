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
    id = fields.UUID()
    status = fields.String(metadata={"enum": [s.value for s in ExportStatus]})
    format = fields.String()
    rows = fields.Integer(metadata={"description": "Rows the export holds, all tables together"})
    created_at = fields.DateTime()
    expires_at = fields.DateTime(metadata={"description": "Deleted then if not downloaded"})
    error = fields.String(allow_none=True)


class ParticipantExportSchema(Schema):
    """Everything held about one participant; the rows as the organization export has them."""

    participant = fields.Dict()
    matches = fields.List(
        fields.Dict(), metadata={"description": "With score, breakdown, reasons and outcomes"}
    )
    unmatched = fields.List(fields.Dict(), metadata={"description": "Runs that left them out"})
    audit_events = fields.List(fields.Dict(), metadata={"description": "Events naming their id"})
