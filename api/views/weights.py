"""Weights versions: the admin's prior, weights learned from outcomes, activation."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor
from api.db import get_session
from api.schemas.common import PageArgs
from api.schemas.weights import WeightsVersionListSchema, WeightsVersionSchema
from api.services import learning

blp = Blueprint(
    "weights",
    __name__,
    url_prefix="/v1/programs",
    description="Criterion weights learned from realized outcomes",
)


@blp.route("/<uuid:program_id>/weights")
class Weights(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, WeightsVersionListSchema)
    def get(self, args: dict[str, Any], program_id: uuid.UUID) -> Any:
        """The program's weights versions, the admin's prior (version 1) first."""
        return learning.list_weights(get_session(), current_actor(), program_id, **args)


@blp.route("/<uuid:program_id>/weights/learn")
class WeightsLearn(MethodView):
    @blp.response(201, WeightsVersionSchema)
    @blp.alt_response(409, description="Too few outcomes: the problem's have and need say how many")
    def post(self, program_id: uuid.UUID) -> Any:
        """Learn weights from outcomes; active only if they predict success better."""
        return learning.learn_weights(get_session(), current_actor(), program_id)


@blp.route("/<uuid:program_id>/weights/<int:version>/activate")
class WeightsActivate(MethodView):
    @blp.response(200, WeightsVersionSchema)
    def post(self, program_id: uuid.UUID, version: int) -> Any:
        """Make a version the active weights (an older one: a rollback)."""
        return learning.activate_weights(get_session(), current_actor(), program_id, version)
