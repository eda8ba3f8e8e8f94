"""The organization itself: offboarding."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor
from api.db import get_session
from api.schemas.organization import OrganizationDeletedSchema, OrganizationDeleteSchema
from api.services import offboarding

blp = Blueprint(
    "organization", __name__, url_prefix="/v1/organization", description="The organization"
)


@blp.route("")
class OrganizationResource(MethodView):
    @blp.arguments(OrganizationDeleteSchema)
    @blp.response(202, OrganizationDeletedSchema)
    def delete(self, body: dict[str, Any]) -> Any:
        """Delete the organization (owner only): keys stop now, data is purged after retention."""
        retention_days = current_app.extensions["mentormatch"].settings.retention_days
        return offboarding.delete_organization(
            get_session(), current_actor(), confirm=body["confirm"], retention_days=retention_days
        )
