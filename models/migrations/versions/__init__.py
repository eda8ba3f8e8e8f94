"""Alembic's revision scripts (alembic skips this file); a package so that setuptools ships them."""
