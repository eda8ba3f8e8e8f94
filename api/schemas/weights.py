"""Schemas of weights versions: the admin's prior and the weights learned from outcomes."""

from __future__ import annotations

from marshmallow import fields, validate

from api.schemas.common import StrictSchema, page_of
from models.vocabulary import WeightsSource


class WeightsVersionSchema(StrictSchema):
    version = fields.Integer(required=True, metadata={"description": "1 is the admin's prior"})
    weights = fields.Dict(
        required=True,
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": "Criterion name -> weight (>= 0)"},
    )
    source = fields.String(required=True, validate=validate.OneOf(list(WeightsSource)))
    active = fields.Boolean(
        required=True, metadata={"description": "Runs score with the active version"}
    )
    evaluation = fields.Dict(
        required=True,
        metadata={
            "description": "Learned versions: cross-validation folds, samples, "
            "spearman_learned and spearman_current (rank correlation of predicted and "
            "realized success), improvement, margin, activated and the reason"
        },
    )
    samples = fields.Integer(required=True, metadata={"description": "Outcomes learned from"})
    summary = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "In plain words, how the weights differ from the admin's"},
    )
    created_by = fields.UUID(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)


WeightsVersionListSchema = page_of(WeightsVersionSchema, "WeightsVersionList")
