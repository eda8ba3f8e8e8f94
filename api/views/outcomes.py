"""Realized outcomes of matches: check-ins recorded over time."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor
from api.db import get_session
from api.schemas.common import PageArgs
from api.schemas.outcomes import OutcomeCreateSchema, OutcomeListSchema, OutcomeSchema
from api.services import outcomes

blp = Blueprint("outcomes", __name__, url_prefix="/v1", description="Realized outcomes of matches")


@blp.route("/matches/<uuid:match_id>/outcomes")
class MatchOutcomes(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, OutcomeListSchema)
    def get(self, args: dict[str, Any], match_id: uuid.UUID) -> Any:
        """A match's outcome records, oldest first, each with its realized success."""
        return outcomes.list_outcomes(get_session(), current_actor(), match_id, **args)

    @blp.arguments(OutcomeCreateSchema)
    @blp.response(201, OutcomeSchema)
    @blp.alt_response(409, description="The match is only proposed, or was rejected")
    def post(self, body: dict[str, Any], match_id: uuid.UUID) -> Any:
        """Record an outcome of a published or ended match (counts and ratings only)."""
        return outcomes.record_outcome(get_session(), current_actor(), match_id, **body)
