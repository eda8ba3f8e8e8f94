"""Participants: one as JSON, many as ``{"items": [...]}``, or a ``text/csv`` upload."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, fields, pre_dump, validate
from sqlalchemy import Row

from api.schemas.common import PageArgs, StrictBoolean, StrictSchema, page_of
from api.schemas.fast_dump import FastDump
from api.services import participants
from api.services.participants_validation import INT_BOUNDS, MAX_ID_LENGTH, MAX_LIST, ROLES
from models import Participant
from scoring.limits import MAX_SKILL_LENGTH, MAX_SKILLS

MAX_ITEMS = 10_000


def _bounded(key: str) -> validate.Range:
    """The ``level``/``capacity`` bounds of the service, with its wording."""
    low, high = INT_BOUNDS[key]
    return validate.Range(
        min=low, max=high, error=f"{key} must be a whole number from {{min}} to {{max}}, or empty"
    )


class ParticipantInSchema(StrictSchema):
    """The shape of one participant; the program's own rules are checked by the service."""

    external_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The dashboard's user id; bulk uploads upsert by it"},
    )
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.String(allow_none=True, validate=validate.Length(max=320))
    position = fields.String(allow_none=True, validate=validate.Length(max=200))
    level = fields.Integer(strict=True, allow_none=True, validate=_bounded("level"))
    skills = fields.List(
        fields.String(validate=validate.Length(max=MAX_SKILL_LENGTH)),
        validate=validate.Length(max=MAX_SKILLS),
        metadata={"description": f"Offered (mentor) or wanted; at most {MAX_SKILLS}"},
    )
    capacity = fields.Integer(
        strict=True,
        allow_none=True,
        validate=_bounded("capacity"),
        metadata={
            "description": "A mentor: how many mentees at most (else the config's "
            "default_capacity); "
            "a mentee: how many mentors at most (else default_mentee_capacity, 1 by default)"
        },
    )
    attributes = fields.Dict(
        keys=fields.String(),
        metadata={"description": "Values of the program's fields, by field key"},
    )
    # ``exclude`` is also marshmallow's own Schema option (the fields to leave out), so
    # the field takes another attribute name and keeps "exclude" as the key on the wire.
    exclude_ = fields.List(
        fields.String(validate=validate.Length(max=MAX_ID_LENGTH)),
        data_key="exclude",
        attribute="exclude",
        validate=validate.Length(max=MAX_LIST),
        metadata={"description": f"External ids never to be paired with; at most {MAX_LIST}"},
    )
    active = StrictBoolean()


class ParticipantPatchSchema(ParticipantInSchema):
    """Any subset of the participant's values; the result is checked whole."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


class _BulkEnvelopeSchema(StrictSchema):
    items = fields.List(
        fields.Dict(), required=True, validate=validate.Length(min=1, max=MAX_ITEMS)
    )


class ParticipantUploadSchema(StrictSchema):
    """``{"items": [...]}`` for a bulk upsert; one participant object; or a CSV body.

    A ``text/csv`` body reaches this schema as ``{"csv": <bytes>}`` (see the
    participants blueprint's parser), so one schema decides which of the three it is.
    Bulk items are documented as participants but checked by the service, in one pass
    with the program's own rules (as CSV rows are), so one answer lists every bad row.
    """

    items = fields.List(
        fields.Nested(ParticipantInSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_ITEMS),
    )

    def load(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("csv"), bytes) and len(data) == 1:
            return {"csv": data["csv"]}
        if isinstance(data, Mapping) and "items" in data:
            return _BulkEnvelopeSchema().load(data, *args, **kwargs)
        return {"item": ParticipantInSchema().load(data, *args, **kwargs)}


class ParticipantSchema(FastDump):
    id = fields.UUID(required=True)
    external_id = fields.String(required=True, allow_none=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    name = fields.String(required=True)
    email = fields.String(required=True, allow_none=True)
    position = fields.String(required=True, allow_none=True)
    level = fields.Integer(required=True, allow_none=True)
    skills = fields.List(fields.String(), required=True)
    capacity = fields.Integer(required=True, allow_none=True)
    attributes = fields.Dict(required=True)
    exclude_ = fields.List(
        fields.String(), required=True, data_key="exclude", attribute="exclude"
    )  # see above
    active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    erased_at = fields.DateTime(required=True, allow_none=True)

    @pre_dump
    def _public(self, participant: Participant | Row[Any], **_: Any) -> dict[str, Any]:
        # A loaded Participant (writes answer with it) or a Core row (the reads).
        return participants.public(participant)


class ImportResultSchema(Schema):
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    ids = fields.List(
        fields.UUID(), required=True, metadata={"description": "One per uploaded row, in order"}
    )


class UploadResultSchema(ParticipantSchema):
    """The created participant; for a bulk or CSV upload, an :class:`ImportResultSchema`."""

    def dump(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(obj, participants.ImportResult):
            return ImportResultSchema().dump(obj, *args, **kwargs)
        return super().dump(obj, *args, **kwargs)


class ParticipantListArgs(PageArgs):
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()


ParticipantListSchema = page_of(ParticipantSchema, "ParticipantList")
