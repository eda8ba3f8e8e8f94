"""Owners manage the admins of their organization."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor
from api.db import get_session
from api.schemas.admins import AdminCreatedSchema, AdminCreateSchema, AdminListSchema, AdminSchema
from api.services import organizations

blp = Blueprint("admins", __name__, url_prefix="/v1/admins", description="Admins and their keys")


@blp.route("")
class Admins(MethodView):
    @blp.response(200, AdminListSchema)
    def get(self) -> dict[str, Any]:
        """List the organization's admins."""
        return {
            "items": organizations.list_admins(get_session(), current_actor()),
            "next_cursor": None,
        }

    @blp.arguments(AdminCreateSchema)
    @blp.response(201, AdminCreatedSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create an admin (owner only); the response carries their API key once."""
        created = organizations.create_admin(get_session(), current_actor(), **body)
        admin = {name: getattr(created.admin, name) for name in AdminSchema().fields}
        return {**admin, "api_key": created.api_key}


@blp.route("/<uuid:admin_id>")
class AdminById(MethodView):
    @blp.response(204)
    def delete(self, admin_id: uuid.UUID) -> None:
        """Revoke an admin and all their keys (owner only)."""
        organizations.revoke_admin(get_session(), current_actor(), admin_id)
