"""Cache-aside behaviour on the in-memory adapter: hits, invalidation, single flight, early refresh."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry

from cloudmart.core.cache import (
    CacheAside,
    CacheError,
    MemoryCache,
    cache_from_settings,
    register_cache_metrics,
)
from cloudmart.core.config import Settings


class FailingCache(MemoryCache):
    """An adapter whose server is gone: every operation raises CacheError, as RedisCache does."""

    backend = "failing"

    async def get(self, key):
        raise CacheError("down")

    async def set(self, key, value, ttl):
        raise CacheError("down")

    async def delete(self, *keys):
        raise CacheError("down")

    async def incr(self, key):
        raise CacheError("down")


def counting_loader(value: bytes, delay: float = 0.0):
    calls = {"n": 0}

    async def load() -> bytes:
        calls["n"] += 1
        if delay:
            await asyncio.sleep(delay)
        return value

    return load, calls


async def test_hit_after_miss_calls_loader_once():
    aside = CacheAside(MemoryCache(), "t", ttl=30)
    load, calls = counting_loader(b'{"a":1}')
    assert await aside.get_or_load("t:k", load) == b'{"a":1}'
    assert await aside.get_or_load("t:k", load) == b'{"a":1}'
    assert calls["n"] == 1


async def test_invalidate_forces_reload_with_new_value():
    aside = CacheAside(MemoryCache(), "t", ttl=30)
    state = {"price": 100}

    async def load() -> bytes:
        return str(state["price"]).encode()

    assert await aside.get_or_load("t:p", load) == b"100"
    state["price"] = 250
    assert await aside.get_or_load("t:p", load) == b"100"  # cached until invalidated
    await aside.invalidate("t:p")
    assert await aside.get_or_load("t:p", load) == b"250"


async def test_generation_bump_invalidates_versioned_keys():
    aside = CacheAside(MemoryCache(), "t", ttl=30)
    state = {"v": b"one"}

    async def load() -> bytes:
        return state["v"]

    assert await aside.get_or_load_versioned("lists", ("q", 1), load) == b"one"
    state["v"] = b"two"
    assert await aside.get_or_load_versioned("lists", ("q", 1), load) == b"one"
    await aside.invalidate(generations=("lists",))
    assert await aside.get_or_load_versioned("lists", ("q", 1), load) == b"two"


async def test_fifty_concurrent_cold_reads_run_the_loader_once():
    aside = CacheAside(MemoryCache(), "t", ttl=30)
    load, calls = counting_loader(b"cold", delay=0.05)
    results = await asyncio.gather(*(aside.get_or_load("t:cold", load) for _ in range(50)))
    assert results == [b"cold"] * 50
    assert calls["n"] == 1


async def test_loader_error_reaches_every_waiter_and_is_not_cached():
    aside = CacheAside(MemoryCache(), "t", ttl=30)
    calls = {"n": 0}

    async def broken() -> bytes:
        calls["n"] += 1
        await asyncio.sleep(0.01)
        raise LookupError("no such row")

    results = await asyncio.gather(*(aside.get_or_load("t:x", broken) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)
    assert calls["n"] == 1
    load, ok_calls = counting_loader(b"fixed")
    assert await aside.get_or_load("t:x", load) == b"fixed"
    assert ok_calls["n"] == 1


async def test_cancelled_caller_does_not_cancel_the_shared_load():
    aside = CacheAside(MemoryCache(), "t", ttl=30)
    load, calls = counting_loader(b"v", delay=0.05)
    first = asyncio.create_task(aside.get_or_load("t:c", load))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(aside.get_or_load("t:c", load))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == b"v"
    assert calls["n"] == 1


async def test_early_refresh_serves_current_value_and_reloads_in_background():
    cache = MemoryCache()
    # beta huge: any hit is "close to expiry", so the refresh always triggers.
    aside = CacheAside(cache, "t", ttl=30, beta=1e9)
    state = {"v": b"old"}

    async def load() -> bytes:
        await asyncio.sleep(0.001)
        return state["v"]

    assert await aside.get_or_load("t:e", load) == b"old"
    state["v"] = b"new"
    assert await aside.get_or_load("t:e", load) == b"old"  # served at once
    await asyncio.sleep(0.05)
    assert await aside.get_or_load("t:e", load) == b"new"


async def test_no_early_refresh_far_from_expiry():
    aside = CacheAside(MemoryCache(), "t", ttl=3600, beta=1.0)
    load, calls = counting_loader(b"v")
    for _ in range(200):
        await aside.get_or_load("t:f", load)
    await asyncio.sleep(0)
    assert calls["n"] == 1


async def test_ttl_jitter_spreads_expiry():
    cache = MemoryCache()
    aside = CacheAside(cache, "t", ttl=100, jitter=0.2)
    load, _ = counting_loader(b"v")
    for i in range(40):
        await aside.get_or_load(f"t:j{i}", load)
    remaining = [exp - time.monotonic() for _, exp in cache._data.values()]
    assert all(79 < r <= 120 for r in remaining)
    assert max(remaining) - min(remaining) > 5


async def test_memory_cache_expiry_and_lru_bound():
    cache = MemoryCache(max_entries=3)
    await cache.set("a", b"1", 0.01)
    await asyncio.sleep(0.02)
    assert await cache.get("a") is None
    for k in "bcde":
        await cache.set(k, k.encode(), 60)
    assert await cache.get("b") is None  # evicted, least recently used
    assert await cache.get("e") == b"e"
    assert await cache.incr("n") == 1 and await cache.incr("n") == 2


async def test_unavailable_cache_falls_through_and_counts():
    registry = CollectorRegistry()
    register_cache_metrics(registry)
    register_cache_metrics(registry)  # idempotent
    before = registry.get_sample_value(
        "cloudmart_cache_errors_total", {"cache": "failing", "operation": "get"}
    ) or 0.0
    aside = CacheAside(FailingCache(), "t", ttl=30)
    load, calls = counting_loader(b"from-db")
    assert await aside.get_or_load("t:k", load) == b"from-db"
    assert await aside.get_or_load_versioned("lists", ("a",), load) == b"from-db"
    await aside.invalidate("t:k", generations=("lists",))  # must not raise
    assert calls["n"] == 2
    after = registry.get_sample_value("cloudmart_cache_errors_total", {"cache": "failing", "operation": "get"})
    assert after - before == 2
    assert registry.get_sample_value(
        "cloudmart_cache_errors_total", {"cache": "failing", "operation": "invalidate"}
    ) >= 1


async def test_no_cache_means_every_read_loads():
    aside = CacheAside(None, "t")
    load, calls = counting_loader(b"v")
    await aside.get_or_load("t:k", load)
    await aside.get_or_load_versioned("g", ("x",), load)
    await aside.invalidate("t:k", generations=("g",))
    assert calls["n"] == 2


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "memory"),
        ({"REDIS_HOST": "redis-service"}, "redis"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "redis"),
        ({"CACHE_ENABLED": "false", "REDIS_HOST": "redis-service"}, None),
    ],
)
def test_cache_from_settings(monkeypatch, env, expected):
    for name in ("REDIS_HOST", "REDIS_URL", "CACHE_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cache = cache_from_settings(Settings())
    assert (cache.backend if cache else None) == expected
    if expected == "redis":
        assert "redis-service" in cache.url or "127.0.0.1" in cache.url


async def test_load_racing_a_write_cannot_refill_a_stale_value():
    """A read loads the old row, the write commits and invalidates, then the read stores: with
    versioned keys that late store lands under the old version and the next read is fresh."""
    aside = CacheAside(MemoryCache(), "t", ttl=60)
    db = {"price": b"100"}
    loaded_old = asyncio.Event()
    release = asyncio.Event()

    async def slow_load() -> bytes:
        value = db["price"]
        loaded_old.set()
        await release.wait()
        return value

    reader = asyncio.create_task(aside.get_or_load_versioned("item-1", (), slow_load))
    await loaded_old.wait()
    db["price"] = b"200"  # the write commits...
    await aside.invalidate(generations=("item-1",))  # ...and invalidates
    release.set()
    assert await reader == b"100"  # that reader started before the write

    async def load() -> bytes:
        return db["price"]

    assert await aside.get_or_load_versioned("item-1", (), load) == b"200"


async def test_cache_down_still_one_load_per_key_at_a_time():
    aside = CacheAside(FailingCache(), "t", ttl=30)
    load, calls = counting_loader(b"db", delay=0.05)
    plain = await asyncio.gather(*(aside.get_or_load("t:k", load) for _ in range(50)))
    versioned = await asyncio.gather(*(aside.get_or_load_versioned("item-1", (), load) for _ in range(50)))
    assert plain == versioned == [b"db"] * 50
    assert calls["n"] == 2  # one per key, none stored
