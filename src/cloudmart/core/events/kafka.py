"""Kafka adapter of the bus port (aiokafka).

Producer: `acks=all`; `publish_many` returns when the broker has acknowledged every
message (or raises, and the outbox keeps the rows for the next try). Consumers: one
AIOKafkaConsumer per group, auto-commit off; a fetched batch is applied partition by partition
(partitions in parallel, messages of one partition in order) and its offsets are committed only
after every handler returned, i.e. after the effects are committed to the database (offsets of
consecutive batches are committed together, at most every `commit_interval`). A crash
before the commit means redelivery, which the idempotent consumer turns into a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from cloudmart.core.events.bus import Message, MessageHandler

log = structlog.get_logger("cloudmart.events.kafka")

# Applies one partition's messages in order; returns once all their effects are durable.
BatchHandler = Callable[[list[Message]], Awaitable[None]]


class _Subscription:
    def __init__(
        self,
        bus: KafkaBus,
        group: str,
        topics: Sequence[str],
        handler: MessageHandler,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        self.bus = bus
        self.group = group
        self.topics = list(topics)
        self.handler = handler
        self.batch_handler = batch_handler
        self.task: asyncio.Task[None] | None = None
        self.consumer: AIOKafkaConsumer | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"kafka:{self.group}")

    async def _connect(self) -> AIOKafkaConsumer:
        backoff = 0.2
        while True:
            consumer = AIOKafkaConsumer(
                *self.topics,
                bootstrap_servers=self.bus.bootstrap,
                group_id=self.group,
                client_id=f"{self.group}-consumer",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=self.bus.max_batch,
                session_timeout_ms=10_000,
                heartbeat_interval_ms=1_000,
                metadata_max_age_ms=5_000,
            )
            try:
                await consumer.start()
                return consumer
            except KafkaError as exc:
                log.warning("consumer cannot reach kafka; retrying", group=self.group, error=repr(exc))
                with contextlib.suppress(Exception):
                    await consumer.stop()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _apply_partition(self, records: list) -> None:
        if self.batch_handler is not None:
            await self.batch_handler([Message(r.topic, (r.key or b"").decode(), r.value) for r in records])
            return
        for record in records:
            await self.handler(Message(record.topic, (record.key or b"").decode(), record.value))

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict) -> None:
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            # The effects are durable and idempotent: a redelivered batch is a no-op.
            log.warning("offset commit failed; batch may be redelivered", group=self.group, error=repr(exc))

    async def _run(self) -> None:
        self.consumer = consumer = await self._connect()
        # Offsets of applied batches, committed together at most every `commit_interval` (and
        # whenever the consumer is idle or stops): each commit is a broker round trip, and a
        # crash before it only means redelivery of events whose effects are already durable.
        pending: dict = {}
        last_commit = time.monotonic()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=self.bus.max_batch)
                if batch:
                    try:
                        await asyncio.gather(*(self._apply_partition(records) for records in batch.values()))
                    except Exception as exc:  # handlers retry themselves; this only guards the loop
                        log.error("batch failed; fetching it again", group=self.group, error=repr(exc))
                        for tp, records in batch.items():
                            consumer.seek(tp, records[0].offset)
                        await asyncio.sleep(1.0)
                        continue
                    pending.update({tp: records[-1].offset + 1 for tp, records in batch.items()})
                if pending and (not batch or time.monotonic() - last_commit >= self.bus.commit_interval):
                    offsets, pending = pending, {}
                    await self._commit(consumer, offsets)
                    last_commit = time.monotonic()
        finally:
            if pending:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._commit(consumer, pending), 5.0)
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None


class KafkaBus:
    def __init__(
        self,
        bootstrap: Sequence[str] | str,
        *,
        client_id: str = "cloudmart",
        topics: Sequence[str] = (),
        partitions: int = 6,
        max_batch: int = 200,
        commit_interval: float = 0.25,
    ) -> None:
        self.bootstrap = bootstrap if isinstance(bootstrap, str) else ",".join(bootstrap)
        self.client_id = client_id
        self.topics = list(topics)
        self.partitions = partitions
        self.max_batch = max_batch
        self.commit_interval = commit_interval
        self.producer: AIOKafkaProducer | None = None
        self.subscriptions: list[_Subscription] = []
        self.running = False
        self._connect_task: asyncio.Task[None] | None = None
        self._producer_lock = asyncio.Lock()

    def subscribe(
        self, group: str, topics: Sequence[str], handler: MessageHandler, *, batch_handler: BatchHandler | None = None
    ) -> None:
        sub = _Subscription(self, group, topics, handler, batch_handler)
        self.subscriptions.append(sub)
        if self.running:
            sub.start()

    async def ensure_topics(self) -> None:
        if not self.topics:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=f"{self.client_id}-admin")
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in self.topics if t not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [NewTopic(t, num_partitions=self.partitions, replication_factor=1) for t in missing]
                    )
        finally:
            await admin.close()

    async def _producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self.producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    client_id=f"{self.client_id}-producer",
                    acks="all",
                    # Not the idempotent producer: after a broker crash it can be left fenced
                    # (OutOfOrderSequence) for good. Duplicates are the consumers' job anyway.
                    enable_idempotence=False,
                    linger_ms=2,
                    request_timeout_ms=10_000,
                    metadata_max_age_ms=5_000,
                )
                try:
                    await producer.start()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise
                self.producer = producer
            return self.producer

    async def start(self) -> None:
        """Start without requiring the broker: topics and producer are set up in the background,
        consumers keep retrying, the outbox holds events until the broker is reachable."""
        if self.running:
            return
        self.running = True
        for sub in self.subscriptions:
            sub.start()
        self._connect_task = asyncio.create_task(self._connect_in_background(), name="kafka:connect")

    async def _connect_in_background(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self.ensure_topics()
                await self._producer()
                return
            except Exception as exc:  # the broker may be away; keep trying until stop()
                log.warning("kafka not reachable yet", error=repr(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def wait_connected(self, timeout: float = 30.0) -> None:
        if self._connect_task is not None:
            await asyncio.wait_for(asyncio.shield(self._connect_task), timeout)

    async def stop(self) -> None:
        self.running = False
        if self._connect_task is not None:
            self._connect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connect_task
        for sub in self.subscriptions:
            await sub.stop()
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
            self.producer = None

    async def publish(self, message: Message) -> None:
        await self.publish_many([message])

    async def publish_many(self, messages: Sequence[Message]) -> None:
        producer = await self._producer()
        try:
            futures = [await producer.send(m.topic, value=m.value, key=m.key.encode()) for m in messages]
            await asyncio.gather(*futures)
        except Exception:
            # Start from a fresh producer next time: a failed one may be stuck in a bad state.
            async with self._producer_lock:
                if self.producer is producer:
                    self.producer = None
                    with contextlib.suppress(Exception):
                        await producer.stop()
            raise

    async def ready(self) -> bool:
        if self.producer is None:
            return False
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 2.0)
            return True
        except Exception:
            return False
