"""Review and publication: proposals, edits, publication, ends, recommendations."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor
from api.db import get_session
from api.limits import expensive
from api.schemas.matches import (
    EndSchema,
    MatchEditSchema,
    MatchListArgs,
    MatchListSchema,
    MatchSchema,
    PublicationSchema,
    PublishSchema,
    RecommendationArgs,
    RecommendationListSchema,
    RunMatchesArgs,
    RunMatchesSchema,
)
from api.services import matches, publication, recommendations, run_downloads
from api.services.run_downloads import MEDIA_TYPES, MatchesFormat

blp = Blueprint(
    "matches", __name__, url_prefix="/v1", description="Review, edit, publish and end matches"
)


def _format(args: dict[str, Any]) -> MatchesFormat:
    """The format asked for: ``?format=`` first, else the best of Accept (JSON for */*)."""
    if args["format"] is not None:
        return MatchesFormat(args["format"])
    best = request.accept_mimetypes.best_match(
        [MEDIA_TYPES[f] for f in MatchesFormat], default=MEDIA_TYPES[MatchesFormat.JSON]
    )
    return next(f for f in MatchesFormat if MEDIA_TYPES[f] == best)


@blp.route("/programs/<uuid:program_id>/runs/<uuid:run_id>/matches")
class RunMatches(MethodView):
    @blp.arguments(RunMatchesArgs, location="query")
    @blp.response(200, RunMatchesSchema)
    def get(self, args: dict[str, Any], program_id: uuid.UUID, run_id: uuid.UUID) -> Any:
        """A run's proposals with explanations, and the mentees it left unmatched with why."""
        fmt = _format(args)
        if fmt is MatchesFormat.JSON:
            args.pop("format")
            return matches.list_run_matches(
                get_session(), current_actor(), program_id, run_id, **args
            )
        download = run_downloads.download_run_matches(
            get_session(), current_actor(), program_id, run_id, fmt=fmt, status=args["status"]
        )
        return Response(
            download.content,
            mimetype=download.media_type,
            headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
        )


@blp.route("/programs/<uuid:program_id>/runs/<uuid:run_id>/publish")
class RunPublish(MethodView):
    @blp.arguments(PublishSchema, required=False)  # no body: publish all
    @blp.response(200, PublicationSchema)
    def post(self, body: dict[str, Any], program_id: uuid.UUID, run_id: uuid.UUID) -> Any:
        """Publish all of a run's proposals, or some (idempotent)."""
        return publication.publish(get_session(), current_actor(), program_id, run_id, **body)


@blp.route("/programs/<uuid:program_id>/matches")
class ProgramMatches(MethodView):
    @blp.arguments(MatchListArgs, location="query")
    @blp.response(200, MatchListSchema)
    def get(self, args: dict[str, Any], program_id: uuid.UUID) -> Any:
        """A program's matches, by status."""
        return matches.list_matches(get_session(), current_actor(), program_id, **args)


@blp.route("/matches/<uuid:match_id>")
class MatchById(MethodView):
    @blp.response(200, MatchSchema)
    def get(self, match_id: uuid.UUID) -> Any:
        """One match with its explanation."""
        return matches.get_match(get_session(), current_actor(), match_id)

    @blp.arguments(MatchEditSchema)
    @blp.response(200, MatchSchema)
    def patch(self, body: dict[str, Any], match_id: uuid.UUID) -> Any:
        """Give a proposal's mentee another mentor (revalidated, re-explained) or reject it."""
        return matches.edit_match(get_session(), current_actor(), match_id, **body)


@blp.route("/matches/<uuid:match_id>/end")
class MatchEnd(MethodView):
    @blp.arguments(EndSchema)
    @blp.response(200, MatchSchema)
    def post(self, body: dict[str, Any], match_id: uuid.UUID) -> Any:
        """End a published match with a reason, releasing the mentor's place."""
        return publication.end_match(get_session(), current_actor(), match_id, **body)


@blp.route("/programs/<uuid:program_id>/participants/<uuid:participant_id>/recommendations")
class Recommendations(MethodView):
    @expensive
    @blp.arguments(RecommendationArgs, location="query")
    @blp.response(200, RecommendationListSchema)
    def get(self, args: dict[str, Any], program_id: uuid.UUID, participant_id: uuid.UUID) -> Any:
        """The best feasible partners of a participant, ranked, with score and reasons."""
        return recommendations.recommend(
            get_session(), current_actor(), program_id, participant_id, **args
        )
