"""The Flask application factory. Nothing is built at import time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, send_from_directory
from flask_smorest import Api
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from swagger_ui_bundle import swagger_ui_path

from api import auth, db, errors, logs
from api.services.runs.queue import Jobs, build_jobs, settings_from
from api.views import BLUEPRINTS
from models import default_database_url, make_engine, make_session_factory

DEFAULTS: dict[str, Any] = {
    "API_TITLE": "mentormatch",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    # Served from the swagger-ui-bundle package: no CDN, works on a closed network.
    "OPENAPI_SWAGGER_UI_URL": "/v1/docs/assets/",
    "API_SPEC_OPTIONS": {
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    },
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    "DATABASE_URL": None,
    "RETENTION_DAYS": 30,
    "LOG_LEVEL": "INFO",
}


@dataclass
class State:
    engine: Engine
    session_factory: sessionmaker[Session]
    jobs: Jobs


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; settings come from defaults, ``MENTORMATCH_*`` env, then ``config``."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("MENTORMATCH")
    if config:
        app.config.from_mapping(config)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    logs.configure_logging(app.config["LOG_LEVEL"])
    engine = make_engine(app.config["DATABASE_URL"] or default_database_url())
    session_factory = make_session_factory(engine)
    jobs = build_jobs(**settings_from(app.config), session_factory=session_factory)
    app.extensions["mentormatch"] = State(engine, session_factory, jobs)

    logs.init_app(app)
    db.init_app(app)
    auth.init_app(app)

    api = Api(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    errors.register_error_handlers(app)  # after Api(): ours replace flask-smorest's JSON errors

    @app.get("/v1/docs/assets/<path:filename>", endpoint="docs_assets")
    def _docs_assets(filename: str) -> Any:
        return send_from_directory(swagger_ui_path, filename)

    return app
