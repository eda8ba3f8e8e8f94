"""flask-smorest blueprints, one module per resource."""

from api.views import (
    admins,
    audit,
    export,
    health,
    matches,
    organization,
    outcomes,
    participants,
    programs,
    reports,
    runs,
    weights,
)

BLUEPRINTS = [
    health.blp,
    admins.blp,
    matches.blp,
    audit.blp,
    programs.blp,
    participants.blp,
    runs.blp,
    outcomes.blp,
    weights.blp,
    reports.blp,
    organization.blp,
    export.blp,
]
