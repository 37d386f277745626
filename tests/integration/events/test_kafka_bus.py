"""The Kafka adapter against a real broker: outbox → relay → Kafka → idempotent consumer,
including a broker outage in the middle."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi import APIRouter
from sqlalchemy import Column, Integer, String, Table, func, select

from cloudmart.core.config import Settings
from cloudmart.core.db import Database, service_metadata
from cloudmart.core.events.envelope import TOPIC_ORDERS, CloudEvent
from cloudmart.core.events.kafka import KafkaBus
from cloudmart.core.events.outbox import emit, outbox_table
from cloudmart.core.events.runtime import EventRuntime
from cloudmart.core.events.tables import add_event_tables
from cloudmart.core.service import ServiceContext, ServiceSpec

pytestmark = pytest.mark.kafka


async def _contexts(tmp_path, bootstrap: str):
    settings = Settings(CLOUDMART_DATA_DIR=str(tmp_path), KAFKA_BROKERS=bootstrap, SERVICE_NAME="t")
    pmd = service_metadata("producer")
    add_event_tables(pmd)
    cmd = service_metadata("consumer")
    add_event_tables(cmd)
    seen = Table("seen", cmd, Column("id", Integer, primary_key=True), Column("subject", String(64)))

    async def on_created(event: CloudEvent, session, ctx) -> None:
        await session.execute(seen.insert().values(subject=event.subject))

    # A fresh group name per test run: offsets of earlier runs never interfere.
    suffix = uuid.uuid4().hex[:8]
    specs = [
        ServiceSpec(name="producer", title=f"producer-{suffix}", router=APIRouter(), metadata=pmd),
        ServiceSpec(
            name="consumer", title=f"consumer-{suffix}", router=APIRouter(), metadata=cmd,
            event_handlers={"order.created": on_created}, topics=[TOPIC_ORDERS],
        ),
    ]
    ctxs = []
    for spec in specs:
        db = Database(settings.sqlite_url(spec.name), spec.name)
        async with db.engine.begin() as conn:
            await conn.run_sync(spec.metadata.create_all)
        ctxs.append(ServiceContext(settings=settings, spec=spec, db=db))
    return settings, ctxs, seen


async def _count(ctx, table, *where) -> int:
    async with ctx.db.transaction() as s:
        return (await s.execute(select(func.count()).select_from(table).where(*where))).scalar_one()


async def _until(predicate, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.1)


# The session's broker keeps other tests' events on the same topics: count only this run's.
RUN = uuid.uuid4().hex[:8]


async def _emit_many(ctx, start: int, n: int) -> None:
    for i in range(start, start + n):
        async with ctx.db.transaction() as s:
            await emit(s, ctx, "order.created", f"{RUN}-{i}", {"i": i})


async def test_events_survive_a_broker_outage_exactly_once(own_kafka, tmp_path):
    settings, (producer, consumer), seen = await _contexts(tmp_path, own_kafka.bootstrap)
    runtime = EventRuntime(settings, [producer, consumer])
    assert isinstance(runtime.bus, KafkaBus)
    await runtime.start()
    try:
        await runtime.bus.wait_connected(30)
        await _emit_many(producer, 0, 30)
        await _until(lambda: _count_is(consumer, seen, 30), 60)
        assert await runtime.bus.ready()

        own_kafka.stop()
        await _emit_many(producer, 30, 30)  # written while the broker is away: held in the outbox
        await asyncio.sleep(1.0)
        out = outbox_table(producer)
        assert await _count(producer, out, out.c.published_at.is_(None)) > 0
        assert not await runtime.bus.ready()

        own_kafka.start()
        await _until(lambda: _count_is(consumer, seen, 60), 90)
        assert await _count(producer, out, out.c.published_at.is_(None)) == 0
        async with consumer.db.transaction() as s:
            subjects = (await s.execute(select(seen.c.subject))).scalars().all()
        mine = [x for x in subjects if x.startswith(f"{RUN}-")]
        assert sorted(mine) == sorted(f"{RUN}-{i}" for i in range(60))  # each once, none lost
    finally:
        await runtime.stop()
        for ctx in (producer, consumer):
            await ctx.db.dispose()


async def _count_is(ctx, table, n) -> bool:
    return await _count(ctx, table, table.c.subject.like(f"{RUN}-%")) == n


async def test_a_restarted_consumer_group_resumes_without_duplicates(kafka_server, tmp_path):
    settings, (producer, consumer), seen = await _contexts(tmp_path, kafka_server.bootstrap)
    first = EventRuntime(settings, [producer, consumer])
    await first.start()
    try:
        await first.bus.wait_connected(30)
        await _emit_many(producer, 0, 40)
        await _until(lambda: _count_is(consumer, seen, 40), 60)
    finally:
        await first.stop()
    # The same group started again resumes from its committed offsets: nothing missed, nothing twice.
    second = EventRuntime(settings, [producer, consumer])
    await second.start()
    try:
        await second.bus.wait_connected(30)
        await _emit_many(producer, 40, 10)
        await _until(lambda: _count_is(consumer, seen, 50), 60)
        await asyncio.sleep(1.0)
        assert await _count(consumer, seen, seen.c.subject.like(f"{RUN}-%")) == 50
    finally:
        await second.stop()
        for ctx in (producer, consumer):
            await ctx.db.dispose()
