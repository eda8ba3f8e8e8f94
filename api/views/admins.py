"""Owners manage the admins of their organization."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor
from api.db import get_session
from api.schemas.admins import (
    AdminCreatedSchema,
    AdminCreateSchema,
    AdminDeleteArgs,
    AdminListSchema,
    AdminSchema,
    RotatedKeySchema,
)
from api.services import offboarding, organizations

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
    @blp.arguments(AdminDeleteArgs, location="query")
    @blp.response(204)
    def delete(self, args: dict[str, Any], admin_id: uuid.UUID) -> None:
        """Remove an admin and revoke their keys (owner only); ?erase=true erases the email."""
        offboarding.remove_admin(get_session(), current_actor(), admin_id, **args)


@blp.route("/me/keys")
class MyKeys(MethodView):
    @blp.response(201, RotatedKeySchema)
    def post(self) -> dict[str, Any]:
        """Rotate one's own API key: the new key is shown once, the one used is revoked."""
        actor = current_actor()
        return {
            "admin_id": actor.admin_id,
            "api_key": organizations.rotate_key(get_session(), actor),
        }
