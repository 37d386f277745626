"""Service registry (lazy, tolerant of unbuilt services) and per-service Alembic on SQLite."""

import pytest
from sqlalchemy import inspect

from cloudmart.core import migrate
from cloudmart.core.config import Settings
from cloudmart.core.db import Database
from cloudmart.services import registry
from cloudmart.services.users import SPEC as USERS


def test_registry_names_and_aliases():
    assert registry.canonical_name("user-service") == "users"
    assert registry.load_spec("users") is USERS
    with pytest.raises(registry.ServiceNotAvailable, match="unknown service 'shop'"):
        registry.canonical_name("shop")
    assert "users" in registry.available_specs()


def test_unbuilt_service_is_skipped_not_fatal(monkeypatch):
    monkeypatch.setitem(registry.SPECS, "ghost", "cloudmart.services.ghost:SPEC")
    with pytest.raises(registry.ServiceNotAvailable, match="not built yet"):
        registry.load_spec("ghost")
    assert "ghost" not in registry.available_specs(["users", "ghost"])


def test_broken_service_import_is_raised(monkeypatch):
    monkeypatch.setitem(registry.SPECS, "broken", "cloudmart.core.config:nothing_here")
    with pytest.raises(registry.ServiceNotAvailable, match="no nothing_here"):
        registry.load_spec("broken")


async def test_users_migrations_upgrade_downgrade_upgrade_on_sqlite(tmp_path):
    db = Database(Settings(CLOUDMART_DATA_DIR=str(tmp_path)).sqlite_url("users"), "users")

    async def tables() -> set[str]:
        async with db.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))

    await migrate.upgrade(db, USERS)
    assert await migrate.current_revision(db, USERS) == migrate.head_revision(USERS, db) == "users_0001"
    assert {"users", "refresh_tokens", "alembic_version"} <= await tables()
    await migrate.upgrade(db, USERS)  # idempotent
    await migrate.downgrade(db, USERS, "base")
    assert await migrate.current_revision(db, USERS) is None
    assert await tables() <= {"alembic_version"}
    await migrate.upgrade(db, USERS)
    assert {"users", "refresh_tokens"} <= await tables()
    await db.dispose()


async def test_missing_migrations_dir_is_a_clear_error(tmp_path):
    from dataclasses import replace

    ghost = replace(USERS, name="ghost")
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/g.db", "ghost")
    with pytest.raises(FileNotFoundError, match="no migrations for service 'ghost'"):
        await migrate.upgrade(db, ghost)
    await db.dispose()


async def test_shutdown_is_bounded_when_a_dependency_hangs(tmp_path, monkeypatch):
    import asyncio

    from cloudmart.core import runtime

    class StuckEvents:
        async def stop(self):
            await asyncio.sleep(3600)

    monkeypatch.setattr(runtime, "STOP_STEP_TIMEOUT", 0.2)
    settings = Settings(CLOUDMART_DATA_DIR=str(tmp_path))
    ctx = runtime.make_context(settings, USERS)
    rt = runtime.ServiceRuntime(settings, {"users": ctx})
    rt.events = StuckEvents()
    await asyncio.wait_for(rt.stop(), 5)
