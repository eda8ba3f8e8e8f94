"""Participants of a program: one, a bulk JSON upsert, or a CSV upload; read and correct."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Request
from flask.views import MethodView
from flask_smorest import Blueprint as _Blueprint
from marshmallow import Schema
from webargs.flaskparser import FlaskParser

from api.auth import current_actor
from api.body import CSV_TYPES, csv_body
from api.db import get_session
from api.schemas.export import ParticipantExportSchema
from api.schemas.participants import (
    ImportResultSchema,
    ParticipantListArgs,
    ParticipantListSchema,
    ParticipantPatchSchema,
    ParticipantSchema,
    ParticipantUploadSchema,
    UploadResultSchema,
)
from api.services import erasure, export, participants


class _UploadParser(FlaskParser):
    """JSON as usual; a CSV body (``text/csv`` or ``application/csv``, in its declared
    charset) is handed to the schema as ``{"csv": utf-8 bytes}``."""

    def load_json(self, req: Request, schema: Schema) -> Any:
        if req.mimetype in CSV_TYPES:
            return {"csv": csv_body(req)}
        return super().load_json(req, schema)


class Blueprint(_Blueprint):
    ARGUMENTS_PARSER = _UploadParser()


_CSV_DOC = {
    "type": "string",
    "description": "Header external_id,role,name[,email,position,level,skills,capacity,"
    "exclude,active][,<program field keys>]; multi-valued cells separated by ';'. "
    "Errors are keyed 'row N.column', the header being row 1.",
    "example": "external_id,role,name,skills,capacity\nm1,mentor,Ann Lee,python;sql,2\n",
}

blp = Blueprint(
    "participants",
    __name__,
    url_prefix="/v1/programs/<uuid:program_id>/participants",
    description="Mentors and mentees of a program",
)


@blp.route("")
class Participants(MethodView):
    @blp.arguments(ParticipantListArgs, location="query")
    @blp.response(200, ParticipantListSchema)
    def get(self, args: dict[str, Any], program_id: uuid.UUID) -> Any:
        """List participants (filters: role, active; cursor-paginated)."""
        return participants.list_participants(get_session(), current_actor(), program_id, **args)

    @blp.arguments(ParticipantUploadSchema)
    @blp.doc(requestBody={"content": {"text/csv": {"schema": _CSV_DOC}}})
    @blp.response(201, UploadResultSchema, description="One participant created")
    @blp.alt_response(200, schema=ImportResultSchema, description="Bulk JSON or CSV upserted")
    def post(self, body: dict[str, Any], program_id: uuid.UUID) -> Any:
        """Create one participant, or upsert many by external_id ({"items": [...]} or text/csv)."""
        result = participants.upload(get_session(), current_actor(), program_id, **body)
        return result, 200 if isinstance(result, participants.ImportResult) else 201


@blp.route("/<uuid:participant_id>")
class ParticipantById(MethodView):
    @blp.response(200, ParticipantSchema)
    def get(self, program_id: uuid.UUID, participant_id: uuid.UUID) -> Any:
        """Read one participant."""
        return participants.get(get_session(), current_actor(), program_id, participant_id)

    @blp.arguments(ParticipantPatchSchema)
    @blp.response(200, ParticipantSchema)
    def patch(self, body: dict[str, Any], program_id: uuid.UUID, participant_id: uuid.UUID) -> Any:
        """Correct a participant; the result is revalidated against the program's config."""
        return participants.update_participant(
            get_session(), current_actor(), program_id, participant_id, body
        )

    @blp.response(204)
    def delete(self, program_id: uuid.UUID, participant_id: uuid.UUID) -> Any:
        """Erase a participant: anonymized at once, matches and outcomes kept (idempotent)."""
        erasure.erase_participant(get_session(), current_actor(), program_id, participant_id)


@blp.route("/<uuid:participant_id>/export")
class ParticipantExport(MethodView):
    @blp.response(200, ParticipantExportSchema)
    def get(self, program_id: uuid.UUID, participant_id: uuid.UUID) -> Any:
        """Everything held about one participant (right of access); audited."""
        return export.participant_data(get_session(), current_actor(), program_id, participant_id)
