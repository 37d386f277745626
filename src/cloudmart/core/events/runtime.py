"""Event wiring for the runtime: one bus, a relay per service with an outbox, a consumer group per
service with event handlers, and per-service background workers.

Embedded mode (no KAFKA_BROKERS): one InProcessBus shared by all services of the process.
Distributed mode: a KafkaBus; each service's consumer group is its title (e.g. payment-service).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from sqlalchemy import event

from cloudmart.core.config import Settings
from cloudmart.core.events.bus import EventBus, InProcessBus
from cloudmart.core.events.consumer import IdempotentConsumer
from cloudmart.core.events.envelope import SAGA_TOPICS, TOPIC_DEADLETTER
from cloudmart.core.events.kafka import KafkaBus
from cloudmart.core.events.outbox import Relay, outbox_table, processed_table
from cloudmart.core.service import ServiceContext

log = structlog.get_logger("cloudmart.events.runtime")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def tune_sqlite(ctx: ServiceContext) -> None:
    """Embedded mode: the relay, the consumers and the API write one SQLite file concurrently.
    WAL lets readers run beside the writer and commits append to the log instead of rewriting
    the journal (synchronous=NORMAL is durable in WAL mode except on power loss)."""
    engine = ctx.db.engine.sync_engine
    if not ctx.db.is_sqlite or event.contains(engine, "connect", _sqlite_pragmas):
        return
    event.listen(engine, "connect", _sqlite_pragmas)
    await ctx.db.engine.dispose()  # pooled connections predate the listener


def make_bus(settings: Settings) -> EventBus:
    brokers = settings.kafka_bootstrap()
    if brokers:
        return KafkaBus(brokers, client_id=settings.service_name, topics=[*SAGA_TOPICS, TOPIC_DEADLETTER])
    return InProcessBus()


class EventRuntime:
    def __init__(
        self,
        settings: Settings,
        contexts: Mapping[str, ServiceContext] | Iterable[ServiceContext],
        *,
        bus: EventBus | None = None,
        relays: bool = True,
        consumers: bool = True,
    ) -> None:
        self.settings = settings
        self.contexts = list(contexts.values()) if isinstance(contexts, Mapping) else list(contexts)
        self.bus = bus or make_bus(settings)
        self.relays: list[Relay] = []
        self.consumers: dict[str, IdempotentConsumer] = {}
        self.workers: list[asyncio.Task[Any]] = []
        for ctx in self.contexts:
            ctx.bus = self.bus
            if relays and outbox_table(ctx) is not None:
                self.relays.append(Relay(ctx, self.bus))
            handlers = ctx.spec.event_handlers
            if consumers and handlers and processed_table(ctx) is not None:
                consumer = IdempotentConsumer(ctx, handlers)
                self.consumers[ctx.spec.name] = consumer
                topics = list(ctx.spec.topics) or list(SAGA_TOPICS)
                if ctx.spec.batch_events and isinstance(self.bus, KafkaBus):
                    self.bus.subscribe(ctx.spec.title, topics, consumer.handle, batch_handler=consumer.handle_batch)
                else:
                    self.bus.subscribe(ctx.spec.title, topics, consumer.handle)

    async def start(self) -> None:
        for ctx in self.contexts:
            await tune_sqlite(ctx)
        await self.bus.start()
        for relay in self.relays:
            relay.start()
        for ctx in self.contexts:
            for worker in getattr(ctx.spec, "workers", ()):
                self.workers.append(asyncio.create_task(worker(ctx), name=f"worker:{ctx.spec.name}"))
        log.info(
            "event runtime started",
            bus=type(self.bus).__name__,
            relays=[r.ctx.spec.name for r in self.relays],
            consumers=list(self.consumers),
        )

    async def stop(self) -> None:
        for task in self.workers:
            task.cancel()
        for task in self.workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.workers = []
        for relay in self.relays:
            await relay.stop()
        await self.bus.stop()
