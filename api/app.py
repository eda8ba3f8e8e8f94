"""The Flask application factory. Nothing is built at import time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, send_from_directory
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from swagger_ui_bundle import swagger_ui_path

from api import (
    auth,
    body,
    compression,
    conditional,
    cors,
    db,
    errors,
    faults,
    limits,
    logs,
    metrics,
)
from api.json_output import OrjsonProvider
from api.openapi import DescriptionPlugin, MentormatchApi
from api.services import cohort_cache, retention
from api.services.runs.queue import Jobs, build_jobs
from api.settings import OVERRIDE_KEYS, Settings
from api.views import BLUEPRINTS
from models import make_engine, make_session_factory

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
}


@dataclass
class State:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    jobs: Jobs


def make_jobs(settings: Settings, session_factory: sessionmaker[Session]) -> Jobs:
    """The queue with every task registered, the daily purge included (the app's and
    ``mentormatch worker``'s: one list of tasks)."""
    return build_jobs(
        settings, session_factory, daily=[retention.daily_task(settings.retention_days)]
    )


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the ``MENTORMATCH_*`` settings, with ``config`` on top.

    The keys of ``config`` that name a setting (``DATABASE_URL``, ``LOG_LEVEL``, see
    :mod:`api.settings`) override it; the others are Flask's (``TESTING``).
    """
    config = config or {}
    settings = Settings.from_env().with_overrides(
        {key: value for key, value in config.items() if key in OVERRIDE_KEYS}
    )
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping({k: v for k, v in config.items() if k not in OVERRIDE_KEYS})
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.json = OrjsonProvider(app)  # keys in their order, encoded by orjson

    logs.configure_logging(settings.log_level)
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine, info={"audit_key": settings.audit_secret()})
    jobs = make_jobs(settings, session_factory)
    app.extensions["mentormatch"] = State(settings, engine, session_factory, jobs)
    # The process's recommendation cache (one per process, whichever app is built last).
    cohort_cache.COHORTS.configure(settings.cohort_cache_mb * cohort_cache.MIB)

    metrics.init_app(app, settings, session_factory)  # first: it counts the final status
    logs.init_app(app)
    # Before cors and conditional: after-request hooks run in reverse, so gzip comes last,
    # after the ETag is taken of the JSON and with the Vary: Origin of CORS to extend.
    compression.init_app(app)
    cors.init_app(app, settings.cors_origins)
    db.init_app(app)
    auth.init_app(app)
    body.init_app(app)  # after auth: a request without a key is refused unread
    conditional.init_app(app)  # after body: If-Match is checked on a well-formed body

    # Problems, operationIds, headers and examples for every operation (api/openapi.py).
    api = MentormatchApi(app, spec_kwargs={"extra_plugins": [DescriptionPlugin()]})
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    errors.register_error_handlers(app)  # after Api(): ours replace flask-smorest's JSON errors
    # After the blueprints, whose views they wrap: faults first, so that the retry of a
    # read runs inside its rate limit, which counts the request once.
    faults.init_app(app)
    limits.init_app(app, settings)

    @app.get("/v1/docs/assets/<path:filename>", endpoint="docs_assets")
    def _docs_assets(filename: str) -> Any:
        return send_from_directory(swagger_ui_path, filename)

    return app
