"""Schema of the program report (answers only: it takes no arguments)."""

from __future__ import annotations

from marshmallow import fields

from api.schemas.common import StrictSchema
from api.schemas.matches import PersonRefSchema


class ReportRunSchema(StrictSchema):
    id = fields.UUID(required=True)
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(required=True, allow_none=True)
    config_version = fields.Integer(required=True)
    weights_version = fields.Integer(required=True, allow_none=True)
    objective = fields.String(required=True)
    scope = fields.String(required=True)


class MatchRateSchema(StrictSchema):
    run_mentees = fields.Integer(required=True, metadata={"description": "The run's cohort"})
    run_matched = fields.Integer(required=True)
    run_rate = fields.Float(required=True, allow_none=True)
    active_mentees = fields.Integer(required=True)
    published_mentees = fields.Integer(
        required=True, metadata={"description": "Active mentees with a published match now"}
    )
    published_rate = fields.Float(required=True, allow_none=True)


class BinSchema(StrictSchema):
    low = fields.Float(required=True)
    high = fields.Float(required=True)
    count = fields.Integer(required=True)


class LowPairSchema(StrictSchema):
    match_id = fields.UUID(required=True)
    mentee = fields.Nested(PersonRefSchema, required=True)
    mentor = fields.Nested(PersonRefSchema, required=True)
    score = fields.Float(required=True)
    status = fields.String(required=True)


class ScoresSchema(StrictSchema):
    pairs = fields.Integer(required=True)
    total = fields.Float(required=True)
    mean = fields.Float(required=True, allow_none=True)
    min = fields.Float(required=True, allow_none=True)
    histogram = fields.List(fields.Nested(BinSchema), required=True)
    lowest = fields.List(fields.Nested(LowPairSchema), required=True)


class LoadSchema(StrictSchema):
    pairs = fields.Integer(required=True, metadata={"description": "Pairs of the run"})
    mentors = fields.Integer(required=True, metadata={"description": "Mentors with that load"})


class MenteeLoadSchema(StrictSchema):
    pairs = fields.Integer(required=True, metadata={"description": "Mentors of the run"})
    mentees = fields.Integer(required=True, metadata={"description": "Mentees with that many"})


class MatchingSummarySchema(StrictSchema):
    total = fields.Float(required=True)
    mean = fields.Float(required=True, allow_none=True)
    min = fields.Float(required=True, allow_none=True)
    matched = fields.Integer(required=True)
    coverage = fields.Float(required=True)


class QualitySchema(StrictSchema):
    status = fields.String(
        required=True, metadata={"description": "computed, skipped (see reason) or no_run"}
    )
    reason = fields.String(required=True, allow_none=True)
    pair_limit = fields.Integer(
        metadata={"description": "Largest cohort (mentee x mentor pairs) with baselines"}
    )
    seed = fields.Integer(metadata={"description": "Seed of the random feasible matching"})
    optimal = fields.Nested(
        MatchingSummarySchema, allow_none=True, metadata={"description": "The run as solved"}
    )
    greedy = fields.Nested(MatchingSummarySchema, allow_none=True)
    random = fields.Nested(MatchingSummarySchema, allow_none=True)
    summary = fields.String(allow_none=True, metadata={"description": "The comparison in words"})


class DecileSchema(StrictSchema):
    low = fields.Float(required=True)
    high = fields.Float(required=True)
    count = fields.Integer(required=True)
    mean_success = fields.Float(required=True, allow_none=True)


class CriterionSuccessSchema(StrictSchema):
    criterion = fields.String(required=True)
    samples = fields.Integer(required=True)
    correlation = fields.Float(required=True, allow_none=True)
    mean_success_high = fields.Float(required=True, allow_none=True)
    mean_success_low = fields.Float(required=True, allow_none=True)


class OutcomesSummarySchema(StrictSchema):
    samples = fields.Integer(required=True)
    mean_success = fields.Float(required=True)
    early_end_rate = fields.Float(required=True, allow_none=True)
    by_decile = fields.List(fields.Nested(DecileSchema), required=True)
    by_criterion = fields.List(fields.Nested(CriterionSuccessSchema), required=True)


class ReportSchema(StrictSchema):
    program_id = fields.UUID(required=True)
    generated_at = fields.DateTime(required=True)
    run = fields.Nested(
        ReportRunSchema,
        required=True,
        allow_none=True,
        metadata={"description": "The latest succeeded real (not dry) run"},
    )
    match_rate = fields.Nested(MatchRateSchema, required=True)
    scores = fields.Nested(ScoresSchema, required=True, allow_none=True)
    unmatched_by_reason = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    mentor_load = fields.List(fields.Nested(LoadSchema), required=True)
    mentee_load = fields.List(fields.Nested(MenteeLoadSchema), required=True)
    quality = fields.Nested(QualitySchema, required=True)
    outcomes = fields.Nested(
        OutcomesSummarySchema,
        required=True,
        allow_none=True,
        metadata={"description": "None until a published or ended match has an outcome"},
    )
