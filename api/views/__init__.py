"""flask-smorest blueprints, one module per resource."""

from api.views import admins, health, participants, programs, runs

BLUEPRINTS = [health.blp, admins.blp, programs.blp, participants.blp, runs.blp]
