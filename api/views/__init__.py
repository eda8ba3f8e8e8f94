"""flask-smorest blueprints, one module per resource."""

from api.views import admins, health

BLUEPRINTS = [health.blp, admins.blp]
