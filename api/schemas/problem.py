"""The one error body of the API, RFC 9457 problem details (built by api.errors.problem)."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields


class ProblemSchema(Schema):
    """Every 4xx and 5xx answer, as ``application/problem+json``.

    Some problems carry more members than the five standard ones; they are listed
    here, and a client should ignore any it does not know.
    """

    class Meta:
        unknown = INCLUDE  # documented as additionalProperties: true
        ordered = True

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Not found"})
    status = fields.Integer(required=True, metadata={"example": 404})
    detail = fields.String(
        required=True,
        metadata={"example": "program 1f0c2a4e-93c1-4d3e-9a53-2b8f6c1d7e90 not found"},
    )
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={
            "description": "422: every bad field by its dotted path (CSV uploads: "
            "'row N.column') with its messages, all at once",
            "example": {"config.criteria.0.weight": ["expected a number >= 0, got -1"]},
        },
    )
    request_id = fields.String(metadata={"description": "The X-Request-Id of the request"})
    active_run_id = fields.UUID(
        metadata={"description": "409 of POST .../runs: the run still active in the way"}
    )
    have = fields.Integer(metadata={"description": "409 of weights/learn: outcomes usable"})
    need = fields.Integer(metadata={"description": "409 of weights/learn: outcomes needed"})
    matches = fields.List(
        fields.String(), metadata={"description": "409: the match ids in the way (first 20)"}
    )
    capacity = fields.Integer(metadata={"description": "409: the capacity refused"})
    published_load = fields.Integer(
        metadata={"description": "409: the mentor's published matches, above that capacity"}
    )
    conflicts = fields.Dict(
        metadata={
            "description": "422 of a config change: count, external_ids (first 20) and "
            "fields of the participants that would no longer fit"
        }
    )
    constraint = fields.String(metadata={"description": "409: the database constraint met"})
