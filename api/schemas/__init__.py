"""marshmallow schemas of the HTTP API. Unknown fields are rejected (marshmallow's RAISE)."""
