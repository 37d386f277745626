"""Test kit for product-service: a migrated database, a ServiceContext, the app, and tokens."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx

from cloudmart.core.auth import KeyStore, TokenIssuer, TokenVerifier
from cloudmart.core.config import Settings
from cloudmart.core.db import Database
from cloudmart.core.http import create_service_app
from cloudmart.core.migrate import upgrade
from cloudmart.core.service import ServiceContext
from cloudmart.services.products import SPEC

KEYS = KeyStore()
KEYS.rotate()


async def migrated_sqlite(tmp_path) -> Database:
    settings = Settings(CLOUDMART_DATA_DIR=str(tmp_path))
    db = Database(settings.sqlite_url("products"), "products")
    await upgrade(db, SPEC)
    return db


async def migrated_postgres(url: str) -> Database:
    """A clean `products` schema on a real PostgreSQL, migrated to head."""
    from sqlalchemy import text

    db = Database(Settings(DATABASE_URL=url).postgres_url(), "products")
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS products CASCADE"))
    await upgrade(db, SPEC)
    return db


def make_ctx(db: Database, cache=None, **settings) -> ServiceContext:
    s = Settings(**settings)
    return ServiceContext(settings=s, spec=SPEC, db=db, cache=cache, tokens=TokenVerifier(s, keys=KEYS))


def token(*roles: str, sub: str = "user-1") -> str:
    return TokenIssuer(KEYS, Settings()).issue(sub, f"{sub}@example.com", list(roles)).token


ADMIN = {"Authorization": f"Bearer {token('admin', 'customer', sub='admin-1')}"}
CUSTOMER = {"Authorization": f"Bearer {token('customer')}"}


@asynccontextmanager
async def app_client(ctx: ServiceContext):
    app = create_service_app(SPEC, ctx)
    await SPEC.on_startup(ctx)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://products") as client:
        yield client
