"""Idempotent consumer: apply an event exactly once per consumer, retry with backoff, dead-letter.

`IdempotentConsumer.handle(message)` opens one transaction on the service's database, records the
event id in `processed_events` (a redelivered id is a no-op) and runs the service's handler in that
same transaction, so the effect and the record commit together. Failures:
- transient (database or network unreachable): retried with capped exponential backoff, without
  limit — the message is not committed to the bus meanwhile, so nothing is skipped;
- anything else (a poison message, a bug): retried `max_attempts` times, then dead-lettered: a
  `deadletter` record (the event, the error, the attempts) is written to the service's outbox on
  topic `cloudmart.deadletter` and the id is recorded as processed, in one transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cloudmart.core.events.bus import Message
from cloudmart.core.events.envelope import TOPIC_DEADLETTER, CloudEvent
from cloudmart.core.events.outbox import emit, processed_table
from cloudmart.core.service import EventHandler, ServiceContext

log = structlog.get_logger("cloudmart.events.consumer")


def is_transient(exc: BaseException) -> bool:
    """Infrastructure errors that will go away by themselves; retrying them loses nothing."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return True
        orig = type(exc.orig).__name__ if exc.orig is not None else ""
        return orig in {
            "CannotConnectNowError",
            "ConnectionDoesNotExistError",
            "InterfaceError",
            "InternalClientError",
            "TooManyConnectionsError",
            "SerializationError",
            "DeadlockDetectedError",
        }
    return isinstance(exc, (OSError, ConnectionError, TimeoutError, sa_exc.TimeoutError))


class IdempotentConsumer:
    def __init__(
        self,
        ctx: ServiceContext,
        handlers: Mapping[str, EventHandler],
        *,
        name: str | None = None,
        max_attempts: int = 5,
        base_backoff: float = 0.05,
        max_backoff: float = 5.0,
    ) -> None:
        table = processed_table(ctx)
        if table is None:
            raise ValueError(f"{ctx.spec.title} has no processed_events table")
        self.ctx = ctx
        self.handlers = dict(handlers)
        self.name = name or ctx.spec.name
        self.table = table
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0
        self._record_statements: dict[str, Any] = {}

    def _record_statement(self, dialect: str) -> Any:
        # Built once per dialect: a reused statement keeps its memoized cache key, so each
        # event skips statement construction and cache-key generation.
        stmt = self._record_statements.get(dialect)
        if stmt is None:
            insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
            stmt = insert_(self.table).on_conflict_do_nothing(index_elements=["consumer", "event_id"])
            self._record_statements[dialect] = stmt
        return stmt

    async def _record(self, session: AsyncSession, event_id: str) -> bool:
        """Record the id; False when it was already there (a redelivery). One statement: a
        concurrent redelivery waits on the row and then inserts nothing."""
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        result = await session.execute(
            self._record_statement(dialect),
            {"consumer": self.name, "event_id": event_id, "processed_at": datetime.now(UTC)},
        )
        return result.rowcount == 1

    async def apply(self, event: CloudEvent) -> bool:
        """One attempt in one transaction; True if applied now, False if it had been already."""
        handler = self.handlers.get(event.type)
        async with self.ctx.db.transaction() as session:
            if not await self._record(session, event.id):
                return False
            if handler is not None:
                await handler(event, session, self.ctx)
        return True

    async def _dead_letter(self, event: CloudEvent | None, raw: Message, error: BaseException, attempts: int) -> None:
        event_id = event.id if event is not None else f"unparsable:{raw.topic}:{hash(raw.value) & 0xFFFFFFFF:x}"
        record = {
            "consumer": self.name,
            "topic": raw.topic,
            "key": raw.key,
            "event": event.model_dump(mode="json") if event is not None else None,
            "raw": None if event is not None else raw.value.decode("utf-8", "replace")[:4000],
            "error": repr(error)[:1000],
            "attempts": attempts,
        }
        backoff = self.base_backoff
        while True:
            try:
                async with self.ctx.db.transaction() as session:
                    if await self._record(session, event_id):
                        await emit(session, self.ctx, "deadletter", raw.key or event_id, record, topic=TOPIC_DEADLETTER)
                self.dead_lettered += 1
                log.error("event dead-lettered", consumer=self.name, event_id=event_id, error=record["error"])
                return
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def handle_batch(self, messages: list[Message]) -> None:
        """Apply one partition's messages, in order, in ONE transaction (one commit instead of one
        per event; each event id is still recorded beside its effect). If anything in the batch
        fails, none of it is committed and every message goes through `handle` on its own, with
        its retries and dead-lettering."""
        if len(messages) == 1:
            await self.handle(messages[0])
            return
        try:
            events = [CloudEvent.from_bytes(m.value) for m in messages]
        except (ValidationError, ValueError):
            events = None
        if events is not None:
            events = [e for e in events if e.type in self.handlers]
            if not events:
                return
            try:
                applied = 0
                async with self.ctx.db.transaction() as session:
                    for event in events:
                        if await self._record(session, event.id):
                            await self.handlers[event.type](event, session, self.ctx)
                            applied += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("batch failed; applying its events one by one", consumer=self.name,
                         events=len(events), error=repr(exc)[:300])
            else:
                self.applied += applied
                self.duplicates += len(events) - applied
                return
        for message in messages:
            await self.handle(message)

    async def handle(self, message: Message) -> None:
        """The bus handler: returns once the event is applied, was a duplicate, or dead-lettered."""
        try:
            event = CloudEvent.from_bytes(message.value)
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(None, message, exc, 1)
            return
        if event.type not in self.handlers:
            return  # another service's event on a shared topic
        attempts = 0
        backoff = self.base_backoff
        started = time.monotonic()
        while True:
            try:
                if await self.apply(event):
                    self.applied += 1
                else:
                    self.duplicates += 1
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc):
                    log.warning(
                        "transient failure applying event; retrying",
                        consumer=self.name, event_id=event.id, error=repr(exc)[:300],
                        waited_s=round(time.monotonic() - started, 1),
                    )
                else:
                    attempts += 1
                    if attempts >= self.max_attempts:
                        await self._dead_letter(event, message, exc, attempts)
                        return
                    log.warning("event handler failed; retrying", consumer=self.name, event_id=event.id,
                                attempt=attempts, error=repr(exc)[:300])
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
