"""The cache port, its Redis and in-memory adapters, and the cache-aside helper.

Values are opaque bytes (services cache their serialized responses). The cache is an
optimisation only: every failure of the cache server surfaces as `CacheError`, and
`CacheAside` turns it into a fall-through to the loader (logged, counted in
`cloudmart_cache_errors_total`), so reads keep working with Redis down.

Stampede protection in `CacheAside`: one load per key at a time in a process (single flight:
concurrent misses await the same task), TTL jitter so keys written together do not expire
together, and probabilistic early refresh ("XFetch", Vattani et al.): a hit close to expiry
may refresh the value in the background, with a probability that grows as expiry nears and
with how long the value took to compute, while the caller gets the current value at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import struct
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Protocol, runtime_checkable

import structlog
from prometheus_client import CollectorRegistry, Counter
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from cloudmart.core.config import Settings

log = structlog.get_logger("cloudmart.cache")

CACHE_REQUESTS = Counter(
    "cloudmart_cache_requests_total",
    "Cache-aside lookups by outcome (hit, miss, error = cache unavailable, bypass = no cache).",
    ["cache", "result"],
    registry=None,
)
CACHE_ERRORS = Counter(
    "cloudmart_cache_errors_total",
    "Cache operations that failed and fell through to the database.",
    ["cache", "operation"],
    registry=None,
)
CACHE_LOADS = Counter(
    "cloudmart_cache_loads_total",
    "Loader calls made by cache-aside (misses after single flight, and early refreshes).",
    ["cache", "reason"],
    registry=None,
)
CACHE_COLLECTORS = (CACHE_REQUESTS, CACHE_ERRORS, CACHE_LOADS)


def register_cache_metrics(registry: CollectorRegistry) -> None:
    """Expose the cache metrics on a service's registry (idempotent)."""
    for collector in CACHE_COLLECTORS:
        try:
            registry.register(collector)
        except ValueError:  # already registered there
            pass


class CacheError(Exception):
    """The cache server could not serve an operation (down, timed out, circuit open)."""


@runtime_checkable
class Cache(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def incr(self, key: str) -> int: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class MemoryCache:
    """In-process LRU with per-key expiry (embedded mode)."""

    backend = "memory"

    def __init__(self, max_entries: int = 10_000) -> None:
        self._data: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires <= time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._data[key] = (value, time.monotonic() + ttl)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    async def delete(self, *keys: str) -> None:
        self.discard(keys)

    def discard(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    async def incr(self, key: str) -> int:
        current = await self.get(key)
        value = int(current or b"0") + 1
        self._data[key] = (str(value).encode(), math.inf)
        return value

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self.clear()


class RedisCache:
    """redis.asyncio adapter. Failures raise CacheError; after one, a short circuit-breaker
    cool-down skips Redis entirely so a dead or unreachable server costs no timeouts."""

    backend = "redis"

    def __init__(self, url: str, *, timeout: float = 0.5, cooldown: float = 1.0) -> None:
        self.url = url
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._cooldown = cooldown
        self._open_until = 0.0
        self._failing = False

    async def _call(self, operation: str, coro_factory: Callable[[], Awaitable]):
        if self._open_until > time.monotonic():
            raise CacheError(f"redis circuit open ({operation})")
        try:
            result = await coro_factory()
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._open_until = time.monotonic() + self._cooldown
            if not self._failing:
                self._failing = True
                log.warning("cache_unavailable", backend="redis", operation=operation, error=str(exc))
            raise CacheError(f"redis {operation} failed: {exc}") from exc
        if self._failing:
            self._failing = False
            log.info("cache_recovered", backend="redis")
        return result

    async def get(self, key: str) -> bytes | None:
        return await self._call("get", partial(self._redis.get, key))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._call("set", lambda: self._redis.set(key, value, px=max(1, int(ttl * 1000))))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._call("delete", lambda: self._redis.delete(*keys))

    async def incr(self, key: str) -> int:
        return int(await self._call("incr", lambda: self._redis.incr(key)))

    async def ping(self) -> bool:
        try:
            return bool(await self._call("ping", self._redis.ping))
        except CacheError:
            return False

    async def close(self) -> None:
        await self._redis.aclose()


_ABSENT: bytes = bytes(bytearray(b"absent"))  # a unique object: the near cache's "no such key"


class NearCache:
    """Redis plus an in-process copy of the keys this process reads, for a few seconds.

    Coherence: every delete/incr is published on a Redis pub/sub channel and every process drops
    those keys from its copy when the message arrives (the same approach as Redis's own
    client-side caching), and the writing process drops them at once, so a read after a write in
    the same process always misses. Another replica may serve the old value until the message
    reaches it (normally well under a millisecond on one network) and never longer than `ttl`.
    While the subscription is down (Redis unreachable, reconnecting) the local copy is emptied
    and bypassed, so no invalidation can be missed.
    """

    backend = "redis"
    CHANNEL = "cloudmart:cache:invalidate"

    def __init__(self, remote: RedisCache, *, ttl: float = 2.0, max_entries: int = 10_000) -> None:
        self.remote = remote
        self.url = remote.url
        self.ttl = ttl
        self.local = MemoryCache(max_entries)
        self._subscriber = aioredis.Redis.from_url(remote.url, socket_connect_timeout=1.0)
        self._listener: asyncio.Task | None = None
        self._live = False
        self._epoch = 0  # bumped by every invalidation received and every loss of subscription

    def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        backoff = 0.05
        while True:
            pubsub = self._subscriber.pubsub()
            try:
                await pubsub.subscribe(self.CHANNEL)
                async for message in pubsub.listen():
                    kind = message.get("type") if message else None
                    if kind == "message":
                        self._drop(message["data"].split(b"\n"))
                    elif kind == "subscribe":  # confirmed: from here on no invalidation is missed
                        self._live = True
                        backoff = 0.05
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                log.debug("cache_invalidation_feed_lost", error=str(exc))
            finally:
                self._live = False
                self._epoch += 1
                self.local.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _drop(self, keys: Iterable[str | bytes]) -> None:
        self._epoch += 1
        self.local.discard(k.decode() if isinstance(k, bytes) else k for k in keys)

    async def get(self, key: str) -> bytes | None:
        self._ensure_listener()
        if self._live:
            value = await self.local.get(key)
            if value is not None:
                return None if value is _ABSENT else value
        epoch = self._epoch
        value = await self.remote.get(key)
        if self._live and epoch == self._epoch and await self.local.get(key) is None:
            # Never over an entry written meanwhile (a set after this GET was sent is newer).
            # Absence is kept too (version counters that were never bumped are read on every hit).
            await self.local.set(key, _ABSENT if value is None else value, self.ttl)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        epoch = self._epoch
        await self.remote.set(key, value, ttl)
        if self._live and epoch == self._epoch:
            await self.local.set(key, value, min(ttl, self.ttl))
        else:  # at least never leave an absence marker in front of the value just written
            self.local.discard((key,))

    async def _publish(self, keys: tuple[str, ...]) -> None:
        await self.remote._call("publish", partial(self.remote._redis.publish, self.CHANNEL, "\n".join(keys)))

    async def delete(self, *keys: str) -> None:
        self._drop(keys)
        await self.remote.delete(*keys)
        await self._publish(keys)

    async def incr(self, key: str) -> int:
        self._drop((key,))
        value = await self.remote.incr(key)
        await self._publish((key,))
        return value

    async def ping(self) -> bool:
        return await self.remote.ping()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self._subscriber.aclose()
        await self.remote.close()


def cache_from_settings(settings: Settings) -> Cache | None:
    """Redis (with a near cache unless CACHE_LOCAL_TTL_SECONDS=0) when a Redis URL/host is
    configured, in-memory otherwise, none when disabled."""
    if not settings.cache_enabled:
        return None
    url = settings.resolved_redis_url()
    if not url:
        return MemoryCache()
    if settings.cache_local_ttl_seconds > 0:
        return NearCache(RedisCache(url), ttl=settings.cache_local_ttl_seconds)
    return RedisCache(url)


_HEADER = struct.Struct("!dd")  # logical expiry (unix time), load duration (s)
_KEEP_FINISHED_LOAD = 2.0  # seconds a finished load is remembered, for callers that asked before its end


class CacheAside:
    """Read-through helper over a Cache for one namespace (e.g. "products").

    `cache=None` means "no cache": every read calls the loader (used to measure uncached reads
    and when CACHE_ENABLED=false).
    """

    def __init__(
        self,
        cache: Cache | None,
        namespace: str,
        *,
        ttl: float = 60.0,
        jitter: float = 0.1,
        beta: float = 1.0,
    ) -> None:
        self.cache = cache
        self.namespace = namespace
        self.ttl = ttl
        self.jitter = jitter
        self.beta = beta
        self._label = cache.backend if cache is not None else "none"
        self._outcome = {r: CACHE_REQUESTS.labels(self._label, r) for r in ("hit", "miss", "error", "bypass")}
        # key -> (monotonic end, or inf while running; load task), kept a moment after the end.
        self._loads: dict[str, tuple[float, asyncio.Task[bytes]]] = {}

    def key(self, *parts: object) -> str:
        return ":".join((self.namespace, *map(str, parts)))

    def _fail(self, operation: str) -> None:
        CACHE_ERRORS.labels(self._label, operation).inc()

    async def get_or_load(self, key: str, loader: Callable[[], Awaitable[bytes]]) -> bytes:
        if self.cache is None:
            self._outcome["bypass"].inc()
            return await loader()
        asked = time.monotonic()
        try:
            raw = await self.cache.get(key)
        except CacheError:
            self._fail("get")
            self._outcome["error"].inc()
            return await self._single_flight(key, loader, asked, store=False, reason="fallthrough")
        if raw is None or len(raw) < _HEADER.size:
            self._outcome["miss"].inc()
            return await self._single_flight(key, loader, asked, store=True, reason="miss")
        self._outcome["hit"].inc()
        expires, delta = _HEADER.unpack_from(raw)
        if not self._running(key) and self._should_refresh_early(expires, delta):
            # The caller keeps the current value; the refresh runs on its own.
            self._start(key, loader, store=True, reason="early_refresh")
        return raw[_HEADER.size :]

    def _should_refresh_early(self, expires: float, delta: float) -> bool:
        # -log(U) for U in (0, 1] is an Exp(1) sample: XFetch's "recompute a bit early" term.
        return time.time() - delta * self.beta * math.log(1.0 - random.random()) >= expires

    def _running(self, key: str) -> bool:
        load = self._loads.get(key)
        return load is not None and not load[1].done()

    async def _single_flight(self, key: str, loader, asked: float, *, store: bool, reason: str) -> bytes:
        # Join a load in progress, or one that was still in progress when this caller asked the
        # cache (its miss predates that load's write to the cache): the same single flight.
        load = self._loads.get(key)
        if load is not None and (not load[1].done() or load[0] >= asked):
            task = load[1]
        else:
            task = self._start(key, loader, store=store, reason=reason)
        # shield: a caller that goes away (client disconnect) does not cancel the others' load.
        return await asyncio.shield(task)

    def _start(self, key: str, loader, *, store: bool, reason: str) -> asyncio.Task[bytes]:
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._load(key, loader, store, reason))
        self._loads[key] = (math.inf, task)
        task.add_done_callback(lambda t: self._finished(key, t))
        return task

    def _finished(self, key: str, task: asyncio.Task[bytes]) -> None:
        if (load := self._loads.get(key)) is not None and load[1] is task:
            self._loads[key] = (time.monotonic(), task)
        asyncio.get_running_loop().call_later(_KEEP_FINISHED_LOAD, self._forget, key, task)
        # Retrieving the exception keeps unawaited early refreshes from warning at GC time.
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("cache_load_failed", key=key, error=str(exc))

    def _forget(self, key: str, task: asyncio.Task[bytes]) -> None:
        load = self._loads.get(key)
        if load is not None and load[1] is task:
            del self._loads[key]

    async def _load(self, key: str, loader, store: bool, reason: str) -> bytes:
        CACHE_LOADS.labels(self._label, reason).inc()
        started = time.monotonic()
        value = await loader()
        delta = time.monotonic() - started
        if store and self.cache is not None:
            ttl = self.ttl * (1.0 + random.uniform(-self.jitter, self.jitter))
            try:
                await self.cache.set(key, _HEADER.pack(time.time() + ttl, delta) + value, ttl)
            except CacheError:
                self._fail("set")
        return value

    async def generation(self, name: str) -> int | None:
        """The current value of a version counter, for versioned keys (None: cache unusable)."""
        if self.cache is None:
            return None
        try:
            raw = await self.cache.get(self.key("gen", name))
        except CacheError:
            self._fail("get")
            return None
        return int(raw or b"0")

    async def get_or_load_versioned(
        self, generation: str, parts: tuple[object, ...], loader: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """Cache-aside under a version counter: bumping `generation` invalidates every such key."""
        if self.cache is None:
            return await self.get_or_load("", loader)
        asked = time.monotonic()
        gen = await self.generation(generation)
        if gen is None:  # cache unusable: still one load per key at a time for the database
            self._outcome["error"].inc()
            key = self.key(generation, "fallthrough", *parts)
            return await self._single_flight(key, loader, asked, store=False, reason="fallthrough")
        return await self.get_or_load(self.key(generation, gen, *parts), loader)

    async def invalidate(self, *keys: str, generations: tuple[str, ...] = ()) -> None:
        """Drop keys and bump version counters. Call after the write has committed."""
        if self.cache is None:
            return
        try:
            if keys:
                await self.cache.delete(*keys)
            for name in generations:
                await self.cache.incr(self.key("gen", name))
        except CacheError:
            # Entries left behind expire within the TTL; a Redis that was down usually lost them.
            self._fail("invalidate")
            log.warning("cache_invalidation_failed", keys=list(keys), generations=list(generations))
