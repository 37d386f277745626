"""Alembic environment shared by every service's history (see cloudmart.core.migrate).

Run through `cloudmart.core.migrate.upgrade(db, spec)`, which passes an open connection and
the service's spec in `config.attributes`. Offline (SQL script) mode is not supported.
"""

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through cloudmart.core.migrate (it supplies the connection)")

spec = config.attributes["spec"]
context.configure(
    connection=connection,
    target_metadata=spec.metadata,
    version_table="alembic_version",
    version_table_schema=config.attributes["version_table_schema"],
    include_schemas=True,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
