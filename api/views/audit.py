"""The audit log and its hash-chain check."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor
from api.db import get_session
from api.schemas.audit import (
    AuditArgs,
    AuditListSchema,
    ChainReportSchema,
    SignedHeadSchema,
    VerifyArgs,
)
from api.services import audit

blp = Blueprint("audit", __name__, url_prefix="/v1/audit", description="Audit log")


@blp.route("")
class AuditLog(MethodView):
    @blp.arguments(AuditArgs, location="query")
    @blp.response(200, AuditListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The organization's audit events, filtered, in chain order (or newest first)."""
        return audit.list_events(get_session(), current_actor(), **args)


@blp.route("/verify")
class AuditVerify(MethodView):
    @blp.arguments(VerifyArgs, location="query")
    @blp.response(200, ChainReportSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Check the organization's chain: any edited, deleted or reordered event, and that
        it still extends a saved head (``since_head``)."""
        return audit.verify_organization(get_session(), current_actor(), **args)


@blp.route("/head")
class AuditHead(MethodView):
    @blp.response(200, SignedHeadSchema)
    def get(self) -> Any:
        """The chain's head, signed: keep it outside, to prove later the chain extends it."""
        return audit.signed_head(get_session(), current_actor())
