"""flask-smorest blueprints, one module per resource."""

from api.views import admins, audit, health, matches, participants, programs, runs

BLUEPRINTS = [
    health.blp,
    admins.blp,
    matches.blp,
    audit.blp,
    programs.blp,
    participants.blp,
    runs.blp,
]
