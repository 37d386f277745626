"""RedisCache against a real Redis server (scripts/redis.sh), including the server going away."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from cloudmart.core.cache import CacheAside, CacheError, MemoryCache, NearCache, RedisCache, register_cache_metrics

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis_cache(redis_url):
    cache = RedisCache(redis_url)
    yield cache
    await cache.close()


async def test_redis_adapter_roundtrip_and_expiry(redis_cache):
    assert await redis_cache.ping()
    await redis_cache.set("k", b"\x00bytes", 5)
    assert await redis_cache.get("k") == b"\x00bytes"
    await redis_cache.set("short", b"v", 0.05)
    await asyncio.sleep(0.15)
    assert await redis_cache.get("short") is None
    assert await redis_cache.incr("n") == 1
    assert await redis_cache.incr("n") == 2
    await redis_cache.delete("k", "n")
    assert await redis_cache.get("k") is None and await redis_cache.get("n") is None


@pytest.fixture(params=["memory", "redis"])
async def any_cache(request):
    if request.param == "memory":
        yield MemoryCache()
        return
    cache = RedisCache(request.getfixturevalue("redis_url"))
    yield cache
    await cache.close()


async def test_invalidation_shows_the_new_value_at_once(any_cache):
    aside = CacheAside(any_cache, "products", ttl=60)
    price = {"minor": 1999}

    async def load() -> bytes:
        return str(price["minor"]).encode()

    assert await aside.get_or_load("products:item:1", load) == b"1999"
    price["minor"] = 2499
    await aside.invalidate("products:item:1")
    assert await aside.get_or_load("products:item:1", load) == b"2499"


async def test_fifty_concurrent_cold_reads_load_once_on_redis(redis_cache):
    aside = CacheAside(redis_cache, "products", ttl=60)
    calls = {"n": 0}

    async def load() -> bytes:
        calls["n"] += 1
        await asyncio.sleep(0.05)
        return b"payload"

    results = await asyncio.gather(*(aside.get_or_load("products:item:7", load) for _ in range(50)))
    assert results == [b"payload"] * 50
    assert calls["n"] == 1
    assert await aside.get_or_load("products:item:7", load) == b"payload"
    assert calls["n"] == 1


async def test_redis_stopped_mid_test_falls_through_then_recovers(own_redis):
    registry = CollectorRegistry()
    register_cache_metrics(registry)

    def errors(op: str) -> float:
        return registry.get_sample_value("cloudmart_cache_errors_total", {"cache": "redis", "operation": op}) or 0.0

    cache = RedisCache(own_redis.url, cooldown=0.2)
    aside = CacheAside(cache, "products", ttl=60)
    db = {"v": b"v1", "loads": 0}

    async def load() -> bytes:
        db["loads"] += 1
        return db["v"]

    try:
        assert await aside.get_or_load("products:item:1", load) == b"v1"
        assert await aside.get_or_load("products:item:1", load) == b"v1"
        assert db["loads"] == 1

        own_redis.stop()
        before = errors("get")
        db["v"] = b"v2"
        with capture_logs() as logs:
            for _ in range(5):
                assert await aside.get_or_load("products:item:1", load) == b"v2"
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["cache_unavailable"]  # once
        assert db["loads"] == 6  # every read went to the database
        assert errors("get") - before == 5
        assert not await cache.ping()

        own_redis.start()  # a fresh, empty server on the same port
        await asyncio.sleep(0.25)  # past the circuit-breaker cool-down
        assert await cache.ping()
        assert await aside.get_or_load("products:item:1", load) == b"v2"
        assert await aside.get_or_load("products:item:1", load) == b"v2"
        assert db["loads"] == 7  # cached again
    finally:
        await cache.close()


async def _until(predicate, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_near_cache_replicas_stay_coherent(redis_url):
    """Two replicas' near caches on one Redis: a write on one is seen by the other."""
    a, b = NearCache(RedisCache(redis_url), ttl=30), NearCache(RedisCache(redis_url), ttl=30)
    try:
        await a.get("warmup")
        await b.get("warmup")
        assert await _until(lambda: _live(a, b))
        await b.set("products:item:1", b"v1", 60)
        assert await a.get("products:item:1") == b"v1"
        assert "products:item:1" in a.local._data  # served locally from now on

        await b.delete("products:item:1")  # the writer's own copy is gone at once
        assert await b.get("products:item:1") is None

        async def a_sees_it() -> bool:
            return await a.get("products:item:1") is None

        assert await _until(a_sees_it, timeout=5.0)

        assert await b.incr("products:gen:lists") == 1
        assert await a.get("products:gen:lists") == b"1"
        assert await b.incr("products:gen:lists") == 2

        async def a_sees_gen() -> bool:
            return await a.get("products:gen:lists") == b"2"

        assert await _until(a_sees_gen, timeout=5.0)
    finally:
        await a.close()
        await b.close()


async def _live(*caches) -> bool:
    return all(c._live for c in caches)


async def test_near_cache_bypasses_local_copy_while_redis_is_down(own_redis):
    cache = NearCache(RedisCache(own_redis.url, cooldown=0.1), ttl=30)
    try:
        await cache.get("warmup")
        assert await _until(lambda: _live(cache))
        await cache.set("k", b"v", 60)
        assert await cache.get("k") == b"v"
        own_redis.stop()

        async def down() -> bool:
            return not cache._live

        assert await _until(down)
        assert cache.local._data == {}
        with pytest.raises(CacheError):
            await cache.get("k")
        own_redis.start()

        async def back() -> bool:
            return cache._live and await cache.ping()

        assert await _until(back, timeout=5.0)
        assert await cache.get("k") is None  # a fresh server, and no stale local copy
    finally:
        await cache.close()
