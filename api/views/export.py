"""The organization export: at once, or built by a job and downloaded once."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, current_app, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor
from api.db import get_jobs, get_session
from api.limits import expensive
from api.schemas.export import ExportArgs, ExportJobSchema
from api.services import export_jobs
from api.services.errors import Conflict
from models.vocabulary import ExportStatus

blp = Blueprint("export", __name__, url_prefix="/v1/export", description="Organization export")

_FILE = {
    "description": "The export: a JSON document, or (format=csv) a zip of one CSV per table",
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
    },
}


def _answer(result: export_jobs.ExportFile | export_jobs.ExportJob) -> Any:
    if isinstance(result, export_jobs.ExportFile):
        disposition = f'attachment; filename="{result.filename}"'
        return Response(
            result.content,
            mimetype=result.content_type,
            headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
        )
    if result.status == ExportStatus.FAILED:
        raise Conflict(f"export {result.id} failed ({result.error}); request a new one")
    location = url_for("export.ExportDownload", job_id=result.id)
    return result, 202, {"Location": location, "Retry-After": "5"}


@blp.route("")
class OrganizationExport(MethodView):
    @expensive
    @blp.arguments(ExportArgs, location="query")
    @blp.response(202, ExportJobSchema, description="Too large to answer now: poll Location")
    @blp.doc(responses={"200": _FILE})
    def get(self, args: dict[str, Any]) -> Any:
        """Export all of the organization's data (a job above the size limit)."""
        threshold = current_app.config.get("EXPORT_JOB_ROWS", export_jobs.EXPORT_JOB_ROWS)
        return _answer(
            export_jobs.export_organization(
                get_session(),
                current_actor(),
                fmt=args["format"],
                threshold=threshold,
                enqueue=get_jobs().enqueue_export,
            )
        )


@blp.route("/<uuid:job_id>")
class ExportDownload(MethodView):
    @blp.response(202, ExportJobSchema, description="Still being built")
    @blp.doc(responses={"200": _FILE})
    def get(self, job_id: uuid.UUID) -> Any:
        """Download a built export, once; 404 after that or once it expired."""
        return _answer(export_jobs.download(get_session(), current_actor(), job_id))
