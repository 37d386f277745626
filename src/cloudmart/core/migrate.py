"""Alembic, one migration history per service: `migrations/<service>/*.py`.

The version table lives in the service's own schema on PostgreSQL (`<schema>.alembic_version`)
and in the service's SQLite file in embedded mode. Migrations name their schema as the service
name (`schema="users"`); on SQLite the Database's schema_translate_map removes it. Every
migration is static (no autogenerate at run time) and has a downgrade.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cloudmart.core.db import Database
from cloudmart.core.paths import project_dir
from cloudmart.core.service import ServiceSpec

VERSION_TABLE = "alembic_version"


def migrations_dir() -> Path:
    return project_dir("migrations")


def alembic_config(spec: ServiceSpec, db: Database) -> Config:
    root = migrations_dir()
    versions = root / spec.name
    if not versions.is_dir():
        raise FileNotFoundError(f"no migrations for service {spec.name!r} at {versions}")
    cfg = Config()
    cfg.set_main_option("script_location", str(root))
    cfg.set_main_option("version_locations", str(versions))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["spec"] = spec
    cfg.attributes["version_table_schema"] = None if db.is_sqlite else spec.name
    return cfg


def _run(conn: Connection, cfg: Config, action: str, revision: str) -> None:
    cfg.attributes["connection"] = conn
    getattr(command, action)(cfg, revision)


async def _with_connection(db: Database, spec: ServiceSpec, action: str, revision: str) -> None:
    cfg = alembic_config(spec, db)
    async with db.engine.begin() as conn:
        if not db.is_sqlite:
            # Serialize concurrent migrators (several replicas starting at once) per schema.
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"migrate:{spec.name}"})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{spec.name}"'))
        await conn.run_sync(_run, cfg, action, revision)


async def upgrade(db: Database, spec: ServiceSpec, revision: str = "head") -> None:
    await _with_connection(db, spec, "upgrade", revision)


async def downgrade(db: Database, spec: ServiceSpec, revision: str = "base") -> None:
    await _with_connection(db, spec, "downgrade", revision)


async def current_revision(db: Database, spec: ServiceSpec) -> str | None:
    schema = None if db.is_sqlite else spec.name

    def read(conn: Connection) -> str | None:
        ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema})
        return ctx.get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


def head_revision(spec: ServiceSpec, db: Database) -> str | None:
    return ScriptDirectory.from_config(alembic_config(spec, db)).get_current_head()
