"""The program report: match rate, scores, baselines, outcomes."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor
from api.db import get_session
from api.limits import expensive
from api.schemas.reports import ReportSchema
from api.services import reports

blp = Blueprint(
    "reports",
    __name__,
    url_prefix="/v1/programs",
    description="How good a program's matching is, and how its matches went",
)


@blp.route("/<uuid:program_id>/report")
class Report(MethodView):
    @expensive
    @blp.response(200, ReportSchema)
    def get(self, program_id: uuid.UUID) -> Any:
        """The program's report: its latest run against greedy and random, and outcomes."""
        return reports.program_report(get_session(), current_actor(), program_id)
