"""Programs and their matching configuration (DESIGN section 4)."""

from __future__ import annotations

from marshmallow import fields, validate

from api.schemas.common import StrictSchema, page_of

_CONFIG_HELP = (
    "Matching configuration: fields, position_levels, criteria, default_capacity, "
    "default_mentee_capacity (a mentee's places, default 1), spread (true: every mentor "
    "and mentee gets a first partner before anyone a further one), tolerance (the "
    "optimality gap a run accepts, in [0, 1)), min_score, objective. Validated "
    "completely on save; stored normalized."
)


class ProgramCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    config = fields.Dict(
        keys=fields.String(), required=True, metadata={"description": _CONFIG_HELP}
    )


class ProgramUpdateSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    config = fields.Dict(
        keys=fields.String(),
        metadata={"description": "A changed configuration becomes a new config_version"},
    )
    on_conflict = fields.String(
        load_default="refuse",
        validate=validate.OneOf(["refuse", "clear"]),
        metadata={
            "description": "When stored participants would no longer fit the new config: "
            '"refuse" (422 naming them) or "clear" (their conflicting values become missing)'
        },
    )


class ProgramSchema(StrictSchema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True, allow_none=True)
    config = fields.Dict(required=True)
    config_version = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


ProgramListSchema = page_of(ProgramSchema, "ProgramList")
