"""Alembic environment: runs the migrations on the connection or URL the caller gives."""

from alembic import context
from sqlalchemy import Connection

from models import Base  # every model, so the metadata is complete
from models.db import make_engine
from models.migrate import check_foreign_keys, sqlite_foreign_keys_off

config = context.config
target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Migrations are maintenance: a data migration run by a table owner that is
            # not a superuser sees every organization's rows (migration 0008's policies).
            connection.exec_driver_sql(
                "SELECT set_config('mentormatch.organization_id', 'system', true)"
            )
        context.run_migrations()
        check_foreign_keys(connection)


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url (models.migrate.alembic_config does)")
    engine = make_engine(url)
    with engine.connect() as conn, sqlite_foreign_keys_off(conn):
        run(conn)
    engine.dispose()
