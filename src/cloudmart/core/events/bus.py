"""The bus port and its in-process adapter.

Publishing is done only by the outbox relay; `publish_many` returns once every message is durable
on the bus (Kafka: acknowledged by the broker; in-process: applied by every subscribed group), so
the relay marks outbox rows published only after that. Subscribers get messages of one key in
order; a handler that returns has made its effect durable, and only then is the message committed.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

log = structlog.get_logger("cloudmart.events.bus")


@dataclass(frozen=True)
class Message:
    topic: str
    key: str
    value: bytes


MessageHandler = Callable[[Message], Awaitable[None]]


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish_many(self, messages: Sequence[Message]) -> None: ...

    async def publish(self, message: Message) -> None: ...

    def subscribe(self, group: str, topics: Sequence[str], handler: MessageHandler) -> None: ...

    async def ready(self) -> bool: ...


def lane_of(key: str, lanes: int) -> int:
    return zlib.crc32(key.encode()) % lanes


class _Group:
    """One consumer group: messages are spread over lanes by key, each lane applied in order."""

    def __init__(self, name: str, topics: Sequence[str], handler: MessageHandler, lanes: int) -> None:
        self.name = name
        self.topics = set(topics)
        self.handler = handler
        self.queues: list[asyncio.Queue[tuple[Message, asyncio.Future[None]]]] = [
            asyncio.Queue() for _ in range(lanes)
        ]
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._run(q), name=f"bus:{self.name}:{i}") for i, q in enumerate(self.queues)]

    async def _run(self, queue: asyncio.Queue[tuple[Message, asyncio.Future[None]]]) -> None:
        while True:
            message, done = await queue.get()
            try:
                await self.handler(message)
            except Exception as exc:  # the consumer layer retries and dead-letters; this is a last resort
                log.error("in-process handler failed", group=self.name, topic=message.topic, error=repr(exc))
                if not done.done():
                    done.set_exception(exc)
                continue
            if not done.done():
                done.set_result(None)

    def offer(self, message: Message) -> asyncio.Future[None] | None:
        if message.topic not in self.topics:
            return None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queues[lane_of(message.key, len(self.queues))].put_nowait((message, done))
        return done

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []


class InProcessBus:
    """Embedded mode: delivery inside the process. `publish_many` waits until every subscribed
    group has applied each message, so an outbox row is marked published only once its effects
    are committed: a crash in between means redelivery from the outbox, never a lost event."""

    def __init__(self, lanes: int = 8) -> None:
        self.lanes = lanes
        self.groups: list[_Group] = []
        self.running = False

    def subscribe(self, group: str, topics: Sequence[str], handler: MessageHandler) -> None:
        g = _Group(group, topics, handler, self.lanes)
        self.groups.append(g)
        if self.running:
            g.start()

    async def start(self) -> None:
        if not self.running:
            self.running = True
            for g in self.groups:
                g.start()

    async def stop(self) -> None:
        self.running = False
        for g in self.groups:
            await g.stop()

    async def publish(self, message: Message) -> None:
        await self.publish_many([message])

    async def publish_many(self, messages: Sequence[Message]) -> None:
        if not self.running:
            raise RuntimeError("the in-process bus is not running")
        waits = [f for m in messages for g in self.groups if (f := g.offer(m)) is not None]
        if waits:
            await asyncio.gather(*waits)

    async def ready(self) -> bool:
        return self.running
