"""The event backbone on SQLite with the in-process bus: outbox, relay, idempotent consumer."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import APIRouter
from sqlalchemy import Column, Integer, String, Table, func, select

from cloudmart.core.config import Settings
from cloudmart.core.db import Database, service_metadata
from cloudmart.core.events.bus import InProcessBus, Message
from cloudmart.core.events.consumer import IdempotentConsumer, is_transient
from cloudmart.core.events.envelope import TOPIC_DEADLETTER, TOPIC_ORDERS, CloudEvent
from cloudmart.core.events.outbox import Relay, emit, outbox_table
from cloudmart.core.events.runtime import EventRuntime
from cloudmart.core.events.tables import add_event_tables
from cloudmart.core.service import ServiceContext, ServiceSpec


def _producer_spec() -> ServiceSpec:
    md = service_metadata("producer")
    add_event_tables(md)
    return ServiceSpec(name="producer", title="producer-service", router=APIRouter(), metadata=md)


def _consumer_spec(handler) -> tuple[ServiceSpec, Table]:
    md = service_metadata("consumer")
    add_event_tables(md)
    seen = Table("seen", md, Column("id", Integer, primary_key=True), Column("subject", String(64)))
    spec = ServiceSpec(
        name="consumer",
        title="consumer-service",
        router=APIRouter(),
        metadata=md,
        event_handlers={"order.created": handler},
        topics=[TOPIC_ORDERS],
    )
    return spec, seen


async def _ctx(tmp_path, spec: ServiceSpec) -> ServiceContext:
    settings = Settings(CLOUDMART_DATA_DIR=str(tmp_path))
    db = Database(settings.sqlite_url(spec.name), spec.name)
    async with db.engine.begin() as conn:
        await conn.run_sync(spec.metadata.create_all)
    return ServiceContext(settings=settings, spec=spec, db=db)


@pytest.fixture
async def pair(tmp_path):
    calls: list[str] = []
    fail_first: dict[str, int] = {}

    async def handler(event: CloudEvent, session, ctx) -> None:
        calls.append(event.id)
        if fail_first.get(event.subject, 0) > 0:
            fail_first[event.subject] -= 1
            raise ValueError("handler bug")
        await session.execute(seen.insert().values(subject=event.subject))

    cspec, seen = _consumer_spec(handler)
    producer = await _ctx(tmp_path, _producer_spec())
    consumer = await _ctx(tmp_path, cspec)
    yield producer, consumer, seen, calls, fail_first
    await producer.db.dispose()
    await consumer.db.dispose()


async def _count(ctx: ServiceContext, table) -> int:
    async with ctx.db.transaction() as s:
        return (await s.execute(select(func.count()).select_from(table))).scalar_one()


async def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_emit_is_part_of_the_callers_transaction(pair):
    producer, *_ = pair
    with pytest.raises(RuntimeError):
        async with producer.db.transaction() as s:
            await emit(s, producer, "order.created", "o-1", {"n": 1})
            raise RuntimeError("rolled back")
    assert await _count(producer, outbox_table(producer)) == 0
    async with producer.db.transaction() as s:
        ev = await emit(s, producer, "order.created", "o-1", {"n": 1})
    assert ev.source == "/cloudmart/producer-service" and ev.specversion == "1.0"
    async with producer.db.transaction() as s:
        row = (await s.execute(select(outbox_table(producer)))).one()
    assert (row.topic, row.key, row.type, row.published_at) == (TOPIC_ORDERS, "o-1", "order.created", None)


async def test_emit_rejects_an_event_type_without_topic(pair):
    producer, *_ = pair
    async with producer.db.transaction() as s:
        with pytest.raises(ValueError, match="no topic"):
            await emit(s, producer, "order.exploded", "o-1", {})


async def test_relay_delivers_each_event_once_through_the_runtime(pair):
    producer, consumer, seen, calls, _ = pair
    runtime = EventRuntime(producer.settings, {"p": producer, "c": consumer})
    assert isinstance(runtime.bus, InProcessBus)
    await runtime.start()
    try:
        async with producer.db.transaction() as s:
            for i in range(25):
                await emit(s, producer, "order.created", f"o-{i}", {"i": i})
        await _wait_for(lambda: _count_eq(consumer, seen, 25))
        # the relay marks a batch published after handing it to the bus, so the consumer can
        # finish first: wait for the mark rather than race it
        await _wait_for(lambda: _unpublished_eq(producer, 0))
    finally:
        await runtime.stop()
    assert producer.bus is runtime.bus and consumer.bus is runtime.bus
    assert len(calls) == 25


async def _count_eq(ctx, table, n) -> bool:
    return await _count(ctx, table) == n


async def _unpublished_eq(ctx, n) -> bool:
    out = outbox_table(ctx)
    async with ctx.db.transaction() as s:
        unpublished = (await s.execute(select(func.count()).where(out.c.published_at.is_(None)))).scalar_one()
    return unpublished == n


async def test_redelivery_is_a_no_op(pair):
    _, consumer, seen, calls, _ = pair
    ic = IdempotentConsumer(consumer, consumer.spec.event_handlers)
    ev = CloudEvent(source="/t", type="order.created", subject="o-9", data={})
    message = Message(TOPIC_ORDERS, "o-9", ev.to_bytes())
    for _ in range(3):
        await ic.handle(message)
    assert await _count(consumer, seen) == 1
    assert (ic.applied, ic.duplicates) == (1, 2)
    assert calls == [ev.id]


async def test_failing_handler_is_retried_then_succeeds(pair):
    _, consumer, seen, calls, fail_first = pair
    ic = IdempotentConsumer(consumer, consumer.spec.event_handlers, base_backoff=0.001)
    fail_first["o-2"] = 2
    ev = CloudEvent(source="/t", type="order.created", subject="o-2", data={})
    await ic.handle(Message(TOPIC_ORDERS, "o-2", ev.to_bytes()))
    assert len(calls) == 3 and await _count(consumer, seen) == 1  # the failed attempts rolled back
    assert ic.dead_lettered == 0


async def test_poison_message_is_dead_lettered_after_max_attempts(pair):
    _, consumer, seen, calls, fail_first = pair
    ic = IdempotentConsumer(consumer, consumer.spec.event_handlers, max_attempts=3, base_backoff=0.001)
    fail_first["o-3"] = 100
    ev = CloudEvent(source="/t", type="order.created", subject="o-3", data={"x": 1})
    message = Message(TOPIC_ORDERS, "o-3", ev.to_bytes())
    await ic.handle(message)
    assert len(calls) == 3 and ic.dead_lettered == 1
    out = outbox_table(consumer)
    async with consumer.db.transaction() as s:
        row = (await s.execute(select(out))).one()
    assert row.topic == TOPIC_DEADLETTER and row.type == "deadletter"
    record = CloudEvent.model_validate(row.payload).data
    assert record["event"]["id"] == ev.id and record["attempts"] == 3 and "handler bug" in record["error"]
    await ic.handle(message)  # a redelivered poison message stays dead-lettered, not retried
    assert len(calls) == 3 and ic.dead_lettered == 1


async def test_unparsable_message_is_dead_lettered(pair):
    _, consumer, *_ = pair
    ic = IdempotentConsumer(consumer, consumer.spec.event_handlers)
    await ic.handle(Message(TOPIC_ORDERS, "k", b"{not json"))
    assert ic.dead_lettered == 1
    async with consumer.db.transaction() as s:
        row = (await s.execute(select(outbox_table(consumer)))).one()
    assert CloudEvent.model_validate(row.payload).data["raw"] == "{not json"


async def test_events_of_other_types_are_ignored(pair):
    _, consumer, seen, calls, _ = pair
    ic = IdempotentConsumer(consumer, consumer.spec.event_handlers)
    ev = CloudEvent(source="/t", type="order.paid", subject="o-4", data={})
    await ic.handle(Message(TOPIC_ORDERS, "o-4", ev.to_bytes()))
    assert calls == [] and ic.applied == 0


def _msgs(*subjects: str) -> tuple[list[CloudEvent], list[Message]]:
    events = [CloudEvent(source="/t", type="order.created", subject=s, data={}) for s in subjects]
    return events, [Message(TOPIC_ORDERS, e.subject, e.to_bytes()) for e in events]


async def test_batch_is_applied_in_one_transaction_and_redelivery_is_a_no_op(pair):
    _, consumer, seen, calls, _ = pair
    ic = IdempotentConsumer(consumer, consumer.spec.event_handlers)
    events, messages = _msgs("o-1", "o-2", "o-3")
    await ic.handle(messages[0])  # already applied before the batch arrives
    await ic.handle_batch(messages)
    assert await _count(consumer, seen) == 3
    assert (ic.applied, ic.duplicates) == (3, 1)
    await ic.handle_batch(messages)  # the whole batch redelivered
    assert await _count(consumer, seen) == 3 and calls == [e.id for e in events]


async def test_failing_batch_commits_nothing_then_each_event_goes_alone(pair):
    _, consumer, seen, calls, fail_first = pair
    ic = IdempotentConsumer(consumer, consumer.spec.event_handlers, max_attempts=2, base_backoff=0.001)
    fail_first["o-6"] = 100  # poison: the batch fails, then o-6 alone is dead-lettered
    events, messages = _msgs("o-5", "o-6", "o-7")
    await ic.handle_batch(messages)
    assert await _count(consumer, seen) == 2  # o-5 and o-7, each applied once
    assert (ic.applied, ic.dead_lettered) == (2, 1)
    # the batch attempt called o-5 and o-6 and rolled back; then o-5, o-6 twice, o-7
    assert calls == [events[0].id, events[1].id, events[0].id, events[1].id, events[1].id, events[2].id]


async def test_batch_with_an_unparsable_message_goes_one_by_one(pair):
    _, consumer, seen, _, _ = pair
    ic = IdempotentConsumer(consumer, consumer.spec.event_handlers)
    _, messages = _msgs("o-8")
    await ic.handle_batch([Message(TOPIC_ORDERS, "k", b"{not json"), *messages])
    assert await _count(consumer, seen) == 1 and ic.dead_lettered == 1


async def test_relay_keeps_rows_while_the_bus_fails(pair):
    producer, *_ = pair

    class FailingBus(InProcessBus):
        async def publish_many(self, messages):
            raise ConnectionError("broker away")

    relay = Relay(producer, FailingBus())
    async with producer.db.transaction() as s:
        await emit(s, producer, "order.created", "o-5", {})
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    out = outbox_table(producer)
    async with producer.db.transaction() as s:
        row = (await s.execute(select(out))).one()
    assert row.published_at is None
    good = InProcessBus()
    await good.start()
    assert await Relay(producer, good).publish_pending() == 1
    await good.stop()


def test_transient_errors_are_told_apart():
    from sqlalchemy.exc import IntegrityError, OperationalError

    assert is_transient(OperationalError("x", {}, ConnectionRefusedError()))
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(IntegrityError("x", {}, Exception("dup")))
    assert not is_transient(ValueError("bug"))


async def test_in_process_bus_keeps_per_key_order_and_waits_for_the_effect():
    bus = InProcessBus(lanes=4)
    seen: dict[str, list[int]] = {}

    async def handler(message: Message) -> None:
        await asyncio.sleep(0.001 * (hash(message.value) % 3))
        seen.setdefault(message.key, []).append(int(message.value))

    bus.subscribe("g", [TOPIC_ORDERS], handler)
    with pytest.raises(RuntimeError, match="not running"):
        await bus.publish(Message(TOPIC_ORDERS, "k", b"0"))
    await bus.start()
    messages = [Message(TOPIC_ORDERS, f"k{i % 5}", str(i).encode()) for i in range(50)]
    await bus.publish_many(messages)
    # publish_many returned: every message has been applied, in order per key.
    assert sum(len(v) for v in seen.values()) == 50
    for key, values in seen.items():
        assert values == sorted(values), key
    await bus.publish(Message("cloudmart.other", "k0", b"99"))  # no subscriber: nothing to wait for
    assert 99 not in seen["k0"]
    assert await bus.ready()
    await bus.stop()
    assert not await bus.ready()
