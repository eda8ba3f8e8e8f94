"""Schemas of matches: proposals with explanations, edits, publication, ends, recommendations."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from api.schemas.common import PageArgs, StrictBoolean, StrictSchema
from api.services.run_downloads import MAX_ROWS, MatchesFormat
from models.vocabulary import MatchStatus, Role

STATUSES = list(MatchStatus)

#: Match ids one publish call may name (publishing a whole run takes no list).
MAX_MATCH_IDS = 10_000


class PersonRefSchema(StrictSchema):
    id = fields.UUID(required=True)
    external_id = fields.String(required=True, allow_none=True)
    name = fields.String(required=True)


class BreakdownItemSchema(StrictSchema):
    criterion = fields.String(required=True)
    weight = fields.Float(required=True)
    similarity = fields.Float(required=True)
    contribution = fields.Float(required=True)


_BREAKDOWN_ORDER = tuple(BreakdownItemSchema().dump_fields)
_BREAKDOWN_KEYS = frozenset(_BREAKDOWN_ORDER)


class BreakdownField(fields.List[Any]):
    """``List(Nested(BreakdownItemSchema))`` that passes through, keys in the schema's
    order, a breakdown already in the shape the schema dumps (the stored one: each entry
    a dict of exactly the schema's keys, a ``str`` criterion and ``float`` numbers), the
    output marshmallow gives for it. A page of 50 matches holds some 400 entries:
    dumping each through the nested schema was a tenth of the page's web CPU. Any other
    breakdown (an ``int`` weight, a key more or less, None) is dumped by the nested
    schema as before.

    A subclass of ``List``: the OpenAPI document describes it as the list it is.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.Nested(BreakdownItemSchema), **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if type(value) is list and all(map(_dumped_as_is, value)):
            # In the schema's key order, as marshmallow writes it: PostgreSQL's JSONB
            # gives the stored dicts back in an order of its own.
            return [{key: item[key] for key in _BREAKDOWN_ORDER} for item in value]
        return super()._serialize(value, attr, obj, **kwargs)


def _dumped_as_is(item: Any) -> bool:
    """Whether ``BreakdownItemSchema`` dumps ``item`` to an equal dict."""
    return (
        type(item) is dict
        and item.keys() == _BREAKDOWN_KEYS
        and type(item["criterion"]) is str
        and type(item["weight"]) is float
        and type(item["similarity"]) is float
        and type(item["contribution"]) is float
    )


class MatchSchema(StrictSchema):
    id = fields.UUID(required=True)
    program_id = fields.UUID(required=True)
    run_id = fields.UUID(required=True, allow_none=True)
    mentee = fields.Nested(PersonRefSchema, required=True)
    mentor = fields.Nested(PersonRefSchema, required=True)
    score = fields.Float(
        required=True, metadata={"description": "Weighted mean similarity in [0, 1]"}
    )
    breakdown = BreakdownField(
        required=True,
        metadata={"description": "Per criterion; the contributions sum to the score"},
    )
    reasons = fields.List(fields.String(), required=True)
    predicted_success = fields.Float(
        required=True,
        allow_none=True,
        metadata={
            "description": "Realized success in [0, 1] predicted from the score, calibrated "
            "on the program's past outcomes; null while it has too few"
        },
    )
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    version = fields.Integer(
        required=True,
        metadata={"description": "Bumped by every change; send it back in PATCH to guard edits"},
    )
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    edited_by = fields.UUID(required=True, allow_none=True)
    published_by = fields.UUID(required=True, allow_none=True)
    published_at = fields.DateTime(required=True, allow_none=True)
    ended_by = fields.UUID(required=True, allow_none=True)
    ended_at = fields.DateTime(required=True, allow_none=True)
    ended_reason = fields.String(required=True, allow_none=True)


class MatchListSchema(StrictSchema):
    items = fields.List(fields.Nested(MatchSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class UnmatchedSchema(StrictSchema):
    mentee = fields.Nested(PersonRefSchema, required=True)
    reason = fields.String(required=True)


class RunMatchesSchema(MatchListSchema):
    unmatched = fields.List(
        fields.Nested(UnmatchedSchema),
        required=True,
        metadata={
            "description": "Every mentee the run left unmatched, with why; "
            "given in full on the first page (no cursor), empty on later pages"
        },
    )
    unmatched_count = fields.Integer(required=True)


class MatchListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))


class RunMatchesArgs(MatchListArgs):
    format = fields.String(
        load_default=None,
        validate=validate.OneOf(list(MatchesFormat)),
        metadata={
            "description": "json (one page, the default), or a file of every proposal "
            "and every unmatched mentee, limit and cursor ignored (up to "
            f"{MAX_ROWS} rows, else 422): csv (UTF-8 with BOM) or xlsx. Without it, "
            "Accept: text/csv or the xlsx media type chooses the file"
        },
    )


class MatchEditSchema(StrictSchema):
    mentor_id = fields.UUID(metadata={"description": "Give the mentee this mentor instead"})
    mentor_external_id = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The new mentor by the dashboard's id"},
    )
    status = fields.String(
        validate=validate.OneOf([MatchStatus.REJECTED]),
        metadata={"description": "Reject the proposal"},
    )
    version = fields.Integer(
        strict=True,
        metadata={"description": "Optional: refuse (409) if the match changed since"},
    )
    allow_previous_pair = StrictBoolean(
        load_default=False,
        metadata={
            "description": "Propose the new pair even though it was ended or rejected "
            "before (an audited override of 'a pair is not proposed again'). Exactly one "
            "of mentor_id, mentor_external_id or status is given (else 422)."
        },
    )


class PublishSchema(StrictSchema):
    match_ids = fields.List(
        fields.UUID(),
        validate=validate.Length(min=1, max=MAX_MATCH_IDS),
        metadata={"description": "Publish only these proposals of the run (default: all)"},
    )


class PublicationSchema(StrictSchema):
    run_id = fields.UUID(required=True)
    newly_published = fields.Integer(
        required=True, metadata={"description": "Published by this call (0 when repeated)"}
    )
    published = fields.List(
        fields.UUID(),
        required=True,
        metadata={"description": "Of the requested matches, those now published"},
    )


class EndSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class RecommendationArgs(StrictSchema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))


class RecommendationSchema(StrictSchema):
    partner = fields.Nested(PersonRefSchema, required=True)
    score = fields.Float(required=True)
    breakdown = fields.List(fields.Nested(BreakdownItemSchema), required=True)
    reasons = fields.List(fields.String(), required=True)


class RecommendationListSchema(StrictSchema):
    participant = fields.Nested(PersonRefSchema, required=True)
    role = fields.String(required=True, validate=validate.OneOf(list(Role)))
    items = fields.List(fields.Nested(RecommendationSchema), required=True)
    note = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "Why there are no recommendations at all: 'already matched' "
            "(a mentee whose places are all taken by published matches) or 'no free place' "
            "(a mentor at capacity); "
            "null otherwise"
        },
    )
