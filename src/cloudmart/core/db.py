"""Async SQLAlchemy access to a service's own database.

Each service declares its tables on its own `MetaData(schema=<service>)`. On PostgreSQL that is
the service's schema; on SQLite (embedded mode, one file per service) the schema is translated
away, so the same models and queries run on both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def service_metadata(schema: str) -> MetaData:
    """MetaData for one service's tables, with constraint names Alembic can reverse."""
    return MetaData(
        schema=schema,
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        },
    )


class Database:
    """One service's engine and session factory."""

    def __init__(self, url: str, schema: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.schema = schema
        self.is_sqlite = url.startswith("sqlite")
        # No pool_pre_ping: it costs a round trip on every checkout, i.e. every transaction. A
        # connection the server dropped fails its first statement instead; SQLAlchemy then
        # invalidates the whole pool, the API answers 503 and consumers retry (transient).
        kwargs: dict = {"echo": echo}
        if self.is_sqlite:
            kwargs = {"echo": echo, "connect_args": {"timeout": 30}}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        engine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            engine = engine.execution_options(schema_translate_map={schema: None})
        self.engine: AsyncEngine = engine
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # any driver/network failure means "not ready"
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()
