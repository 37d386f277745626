"""Transactional outbox: `emit` writes an event in the caller's transaction; `Relay` publishes.

The relay takes unpublished rows in `seq` order (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
replicas share the work without publishing a row twice at once), publishes them, and marks them
published in the same transaction. A broker failure rolls that back and the rows wait for the
next attempt (with backoff): delivery is at least once, and consumers are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from sqlalchemy import Table, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudmart.core.events.bus import EventBus, Message
from cloudmart.core.events.envelope import TOPIC_OF, CloudEvent
from cloudmart.core.service import ServiceContext

log = structlog.get_logger("cloudmart.events.outbox")

WAKE_KEY = "outbox_wake"


def outbox_table(ctx: ServiceContext) -> Table | None:
    md = ctx.spec.metadata
    return md.tables.get(f"{md.schema}.outbox" if md.schema else "outbox")


def processed_table(ctx: ServiceContext) -> Table | None:
    md = ctx.spec.metadata
    return md.tables.get(f"{md.schema}.processed_events" if md.schema else "processed_events")


def source_of(ctx: ServiceContext) -> str:
    return f"/cloudmart/{ctx.spec.title}"


def _wake_after_commit(session: AsyncSession, ctx: ServiceContext) -> None:
    wake: asyncio.Event | None = ctx.extras.get(WAKE_KEY)
    if wake is None or session.info.get(WAKE_KEY):
        return
    session.info[WAKE_KEY] = True

    def after_commit(_session: Any) -> None:
        wake.set()

    event.listen(session.sync_session, "after_commit", after_commit, once=True)


_INSERTS: dict[Table, Any] = {}


def _insert_of(table: Table) -> Any:
    """One INSERT statement per outbox table, reused: it keeps its memoized cache key."""
    stmt = _INSERTS.get(table)
    if stmt is None:
        stmt = _INSERTS[table] = insert(table)
    return stmt


async def emit(
    session: AsyncSession,
    ctx: ServiceContext,
    type: str,
    subject: str,
    data: dict[str, Any],
    *,
    topic: str | None = None,
) -> CloudEvent:
    """Write a CloudEvent into the service's outbox within the caller's transaction."""
    table = outbox_table(ctx)
    if table is None:
        raise RuntimeError(f"{ctx.spec.title} has no outbox table (add_event_tables on its metadata)")
    topic = topic or TOPIC_OF.get(type)
    if topic is None:
        raise ValueError(f"no topic is known for event type {type!r}")
    ce = CloudEvent(source=source_of(ctx), type=type, subject=subject, data=data)
    await session.execute(
        _insert_of(table),
        {
            "event_id": ce.id,
            "topic": topic,
            "key": subject,
            "type": type,
            "payload": ce.model_dump(mode="json"),
            "created_at": ce.time,
            "attempts": 0,
        },
    )
    _wake_after_commit(session, ctx)
    return ce


class Relay:
    """Publishes one service's outbox to the bus until stopped."""

    def __init__(
        self,
        ctx: ServiceContext,
        bus: EventBus,
        *,
        batch_size: int = 200,
        idle_interval: float = 1.0,
        max_backoff: float = 5.0,
        coalesce: float = 0.01,
    ) -> None:
        table = outbox_table(ctx)
        if table is None:
            raise ValueError(f"{ctx.spec.title} has no outbox table")
        self.ctx = ctx
        self.bus = bus
        self.table = table
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.max_backoff = max_backoff
        self.coalesce = coalesce
        self.wake: asyncio.Event = ctx.extras.setdefault(WAKE_KEY, asyncio.Event())
        self.task: asyncio.Task[None] | None = None
        self.published = 0

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"relay:{self.ctx.spec.name}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None

    async def publish_pending(self) -> int:
        """One pass: publish up to batch_size rows; returns how many were published."""
        t = self.table
        query = select(t.c.seq, t.c.topic, t.c.key, t.c.payload).where(t.c.published_at.is_(None))
        query = query.order_by(t.c.seq).limit(self.batch_size)
        if not self.ctx.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        async with self.ctx.db.transaction() as session:
            rows = (await session.execute(query)).all()
            if not rows:
                return 0
            # The payload is the CloudEvent as `emit` dumped it: serialize it as it is.
            messages = [Message(r.topic, r.key, orjson.dumps(r.payload)) for r in rows]
            await self.bus.publish_many(messages)
            await session.execute(
                update(t).where(t.c.seq.in_([r.seq for r in rows])).values(published_at=datetime.now(UTC))
            )
        self.published += len(rows)
        return len(rows)

    async def _record_failure(self, error: BaseException) -> None:
        t = self.table
        with contextlib.suppress(Exception):
            async with self.ctx.db.transaction() as session:
                first = select(t.c.seq).where(t.c.published_at.is_(None)).order_by(t.c.seq).limit(self.batch_size)
                await session.execute(
                    update(t)
                    .where(t.c.seq.in_(first.scalar_subquery()))
                    .values(attempts=t.c.attempts + 1, last_error=repr(error)[:500])
                )

    async def run(self) -> None:
        backoff = 0.1
        while True:
            self.wake.clear()
            try:
                published = await self.publish_pending()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: keep the rows, back off, try again
                log.warning("outbox relay failed; will retry", service=self.ctx.spec.title, error=repr(exc))
                await self._record_failure(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if published < self.batch_size:
                # Local commits wake the relay at once; the poll only picks up rows another
                # replica left behind, so it need not be frequent (each pass is a transaction).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.idle_interval)
                if self.wake.is_set() and self.coalesce > 0:
                    # Let commits landing just after this one join the same pass: one
                    # transaction and one broker round trip for several events.
                    await asyncio.sleep(self.coalesce)
