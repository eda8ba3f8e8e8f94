"""Mentoring programs and their versioned matching configuration."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor
from api.db import get_session
from api.schemas.common import PageArgs
from api.schemas.programs import (
    ProgramCreateSchema,
    ProgramListSchema,
    ProgramSchema,
    ProgramUpdateSchema,
)
from api.services import programs

blp = Blueprint(
    "programs", __name__, url_prefix="/v1/programs", description="Programs and their config"
)


@blp.route("")
class Programs(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ProgramListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List the organization's programs (cursor-paginated)."""
        return programs.list_programs(get_session(), current_actor(), **args)

    @blp.arguments(ProgramCreateSchema)
    @blp.response(201, ProgramSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a program; its config is validated completely and becomes version 1."""
        return programs.create_program(get_session(), current_actor(), **body)


@blp.route("/<uuid:program_id>")
class ProgramById(MethodView):
    @blp.response(200, ProgramSchema)
    def get(self, program_id: uuid.UUID) -> Any:
        """Read a program with its current config."""
        return programs.get(get_session(), current_actor(), program_id)

    @blp.arguments(ProgramUpdateSchema)
    @blp.response(200, ProgramSchema)
    def patch(self, body: dict[str, Any], program_id: uuid.UUID) -> Any:
        """Change name, description or config (a changed config is a new version)."""
        return programs.update_program(get_session(), current_actor(), program_id, **body)

    @blp.response(204)
    def delete(self, program_id: uuid.UUID) -> None:
        """Delete a program (it is purged after the retention period)."""
        programs.delete_program(get_session(), current_actor(), program_id)
