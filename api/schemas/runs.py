"""Matching runs (DESIGN sections 3 and 5)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, pre_dump, validate

from api.schemas.common import StrictBoolean, StrictFloat, StrictSchema, page_of
from api.services.runs import RunOptions
from api.services.runs.execution import PHASE_AFTER
from models.vocabulary import Objective, RunStatus, Scope

SCOPES = list(Scope)
#: Pins one run may take.
MAX_PINS = 10_000
OBJECTIVES = list(Objective)
#: The worker's phases, in order (``Run.phase``).
PHASES = list(dict.fromkeys(PHASE_AFTER.values()))


class RunCreateSchema(StrictSchema):
    scope = fields.String(
        load_default=Scope.ALL,
        validate=validate.OneOf(SCOPES),
        metadata={
            "description": "Published matches keep their places on both sides: a mentee "
            "is matched again only for the places left, never with a mentor it has or had. "
            "all: everyone else, from scratch; unmatched: "
            "also keep the latest run's pending proposals and the places they hold, "
            "and match only its leftovers, newcomers and those whose match ended"
        },
    )
    pins = fields.List(
        fields.List(
            fields.String(validate=validate.Length(max=200)), validate=validate.Length(equal=2)
        ),
        load_default=list,
        validate=validate.Length(max=MAX_PINS),
        metadata={"description": "Admin-fixed pairs: [[mentee external_id, mentor external_id]]"},
    )
    objective = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(OBJECTIVES),
        metadata={"description": "Default: the program config's objective"},
    )
    dry_run = StrictBoolean(
        load_default=False,
        metadata={"description": "A what-if run: its proposals can never be published"},
    )
    config = fields.Dict(
        keys=fields.String(),
        load_default=None,
        data_key="config",
        attribute="config_overrides",
        metadata={"description": "Dry runs only: config keys overriding the program's config"},
    )
    priority_unmatched = StrictFloat(
        load_default=0.0,
        validate=validate.Range(min=0, max=1),
        metadata={
            "description": "Bonus added to the scores of mentees earlier runs left unmatched, "
            "so that the solver prefers covering them (their true scores are kept)"
        },
    )
    tolerance = StrictFloat(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Relative optimality gap the run accepts, in [0, 1) (default: "
            "the config's tolerance, else 0, the certified optimum). Only where the matcher "
            "supports it (objective total, one mentor per mentee, no spread), else 422; "
            "the run's stats give the proven gap and the method"
        },
    )


class RunOptionsSchema(StrictSchema):
    """A run's options, under the names the trigger's body gives them."""

    pins = fields.List(fields.List(fields.String()), required=True)
    config = fields.Dict(required=True, allow_none=True, attribute="config_overrides")
    priority_unmatched = fields.Float(required=True)
    tolerance = fields.Float(required=True, allow_none=True)

    @pre_dump
    def _typed(self, stored: dict[str, Any], **_kw: object) -> dict[str, Any]:
        return RunOptions.from_json(stored).to_json()


class RunWaitArgs(StrictSchema):
    wait = fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=60),
        metadata={
            "description": "Seconds (at most 60) to wait for the run to finish: "
            "201 with the finished run, else 202 as without it"
        },
    )


class RunSchema(StrictSchema):
    id = fields.UUID(required=True)
    program_id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(list(RunStatus)))
    scope = fields.String(required=True, validate=validate.OneOf(SCOPES))
    objective = fields.String(required=True, validate=validate.OneOf(OBJECTIVES))
    dry_run = fields.Boolean(required=True)
    options = fields.Nested(RunOptionsSchema, required=True)
    triggered_by = fields.UUID(required=True, allow_none=True)
    config_version = fields.Integer(required=True)
    weights_version = fields.Integer(required=True, allow_none=True)
    progress = fields.Float(required=True)
    phase = fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf(PHASES),
        metadata={
            "description": "The phase the worker is in, beside progress: "
            f"{', '.join(PHASES)}. Null while queued and once succeeded; a failed or "
            "cancelled run keeps the phase it stopped in"
        },
    )
    stats = fields.Dict(required=True)
    error = fields.String(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    started_at = fields.DateTime(required=True, allow_none=True)
    finished_at = fields.DateTime(required=True, allow_none=True)


RunListSchema = page_of(RunSchema, "RunList")


class CompareArgs(StrictSchema):
    with_ = fields.UUID(required=True, data_key="with", metadata={"description": "The other run"})


class _Ref(StrictSchema):
    id = fields.UUID(required=True)
    external_id = fields.String(required=True, allow_none=True)


class _Pair(StrictSchema):
    mentee = fields.Nested(_Ref, required=True)
    mentor = fields.Nested(_Ref, required=True)
    score = fields.Float(required=True)


class _RunSummary(StrictSchema):
    id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(list(RunStatus)))
    dry_run = fields.Boolean(required=True)
    objective = fields.String(required=True, validate=validate.OneOf(OBJECTIVES))
    scope = fields.String(required=True, validate=validate.OneOf(SCOPES))
    matched = fields.Integer(required=True)
    n_mentees = fields.Integer(required=True)
    coverage = fields.Float(required=True)
    score_total = fields.Float(required=True)
    score_mean = fields.Float(required=True, allow_none=True)
    score_min = fields.Float(required=True, allow_none=True)


class _Difference(StrictSchema):
    score_total = fields.Float(required=True)
    matched = fields.Integer(required=True)
    coverage = fields.Float(required=True)


class RunComparisonSchema(StrictSchema):
    a = fields.Nested(_RunSummary, required=True)
    b = fields.Nested(_RunSummary, required=True)
    difference = fields.Nested(_Difference, required=True, metadata={"description": "b minus a"})
    common = fields.Integer(required=True, metadata={"description": "Pairs both runs propose"})
    only_in_a_count = fields.Integer(required=True)
    only_in_b_count = fields.Integer(required=True)
    only_in_a = fields.List(
        fields.Nested(_Pair), required=True, metadata={"description": "Best 500 first"}
    )
    only_in_b = fields.List(
        fields.Nested(_Pair), required=True, metadata={"description": "Best 500 first"}
    )
