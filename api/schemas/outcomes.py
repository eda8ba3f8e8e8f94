"""Schemas of outcome records: realized engagement of a match, counts and ratings only."""

from __future__ import annotations

from marshmallow import fields, validate

from api.schemas.common import StrictBoolean, StrictSchema, page_of

#: The largest count a record takes: the columns are 32-bit integers.
MAX_COUNT = 1_000_000_000


def _count(description: str) -> fields.Integer:
    return fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=MAX_COUNT),
        metadata={"description": description},
    )


def _rating(who: str) -> fields.Integer:
    return fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=5),
        metadata={"description": f"The {who}'s rating of the match, 1 (poor) to 5 (excellent)"},
    )


class OutcomeCreateSchema(StrictSchema):
    """Every field is optional, but a record gives at least one (else 422)."""

    meetings = _count("Meetings held so far")
    messages = _count("Messages exchanged (a count; never their content)")
    goals_completed = _count("Goals completed; at most goals_total")
    goals_total = _count("Goals set")
    milestones = _count("Milestones reached")
    mentor_rating = _rating("mentor")
    mentee_rating = _rating("mentee")
    ended_early = StrictBoolean(metadata={"description": "The match ended before its term"})
    ended_reason = fields.String(
        validate=validate.Length(max=500),
        metadata={
            "description": "Why it ended early; participant-side reasons (withdrew, no show, "
            "mismatch...) lower the success, others (program ended, left the company) do not"
        },
    )


class OutcomeSchema(StrictSchema):
    id = fields.UUID(required=True)
    match_id = fields.UUID(required=True)
    meetings = fields.Integer(required=True, allow_none=True)
    messages = fields.Integer(required=True, allow_none=True)
    goals_completed = fields.Integer(required=True, allow_none=True)
    goals_total = fields.Integer(required=True, allow_none=True)
    milestones = fields.Integer(required=True, allow_none=True)
    mentor_rating = fields.Integer(required=True, allow_none=True)
    mentee_rating = fields.Integer(required=True, allow_none=True)
    ended_early = fields.Boolean(required=True, allow_none=True)
    ended_reason = fields.String(required=True, allow_none=True)
    success = fields.Float(
        required=True,
        allow_none=True,
        metadata={
            "description": "Realized success in [0, 1] of this record by the program's "
            "config.success; null when no part of the formula is present"
        },
    )
    recorded_by = fields.UUID(required=True, allow_none=True)
    recorded_at = fields.DateTime(required=True)


OutcomeListSchema = page_of(OutcomeSchema, "OutcomeList")
