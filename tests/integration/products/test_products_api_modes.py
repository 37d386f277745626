"""product-service through HTTP in both runtime modes: embedded (SQLite + in-memory cache,
`cloudmart up`'s app) and distributed (real PostgreSQL + real Redis, `cloudmart serve`'s app)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager

from cloudmart.core.auth import TokenVerifier
from cloudmart.core.config import Settings
from cloudmart.core.runtime import create_distributed_app
from cloudmart.local import EmbeddedApp
from cloudmart.services.products import SPEC, service
from unit.products.kit import ADMIN, CUSTOMER, KEYS

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(180)]


@asynccontextmanager
async def running(mode: str, tmp_path, *, pg_url: str | None = None, redis_url: str | None = None):
    if mode == "embedded":
        settings = Settings(CLOUDMART_DATA_DIR=str(tmp_path))
        app = EmbeddedApp(settings, {"products": SPEC}, seed=True)
        ctx = app.contexts["products"]
    else:
        settings = Settings(
            CLOUDMART_MODE="distributed", DATABASE_URL=pg_url, REDIS_URL=redis_url, CLOUDMART_DATA_DIR=str(tmp_path)
        )
        app = create_distributed_app(settings, SPEC)
        ctx = app.state.ctx
    ctx.tokens = TokenVerifier(settings, keys=KEYS)  # tokens minted by the test kit's key
    async with LifespanManager(app):
        if mode == "distributed":
            await SPEC.seed_demo(ctx)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.ctx = ctx
            client.mode = mode
            yield client


@pytest.fixture(params=["embedded", "distributed"])
async def api(request, tmp_path):
    kwargs = {}
    if request.param == "distributed":
        kwargs = {"pg_url": request.getfixturevalue("postgres_url"), "redis_url": request.getfixturevalue("redis_url")}
    async with running(request.param, tmp_path, **kwargs) as client:
        yield client


async def test_browse_the_seeded_catalog(api):
    page = (await api.get("/api/products", params={"limit": 5, "sort": "-price", "currency": "USD"})).json()
    assert page["total"] >= 5 and len(page["items"]) == 5
    prices = [i["price_minor"] for i in page["items"]]
    assert prices == sorted(prices, reverse=True)
    cats = (await api.get("/api/products/categories")).json()
    assert {"books", "electronics"} <= {c["slug"] for c in cats}
    books = (await api.get("/api/products", params={"category": "books"})).json()
    assert books["total"] >= 1
    one = (await api.get(f"/api/products/{books['items'][0]['id']}")).json()
    assert one == books["items"][0]
    assert api.ctx.cache.backend == {"embedded": "memory", "distributed": "redis"}[api.mode]
    ready = (await api.get("/ready")).json()
    checks = ready.get("checks") or ready["services"]["products"]["checks"]
    assert checks["cache"]["ok"] is True


async def test_price_update_then_read_shows_new_price(api):
    item = (await api.get("/api/products", params={"limit": 1})).json()["items"][0]
    url = f"/api/products/{item['id']}"
    assert (await api.get(url)).json()["price_minor"] == item["price_minor"]  # now cached
    new_price = item["price_minor"] + 101
    r = await api.patch(url, json={"price_minor": new_price}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert (await api.get(url)).json()["price_minor"] == new_price
    listed = (await api.get("/api/products", params={"limit": 1})).json()["items"][0]
    assert listed["price_minor"] == new_price
    quote = (await api.post("/api/products/prices:quote", json={"product_ids": [item["id"]]})).json()
    assert quote["items"][0]["price_minor"] == new_price


async def test_customer_gets_403_on_admin_routes_and_422_on_bad_input(api):
    r = await api.patch("/api/products/1", json={"price_minor": 1}, headers=CUSTOMER)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    r = await api.get("/api/products", params={"limit": 1000})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
    r = await api.get("/api/products", params={"min_price": 10, "max_price": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "max_price"


async def test_fifty_concurrent_cold_reads_load_once(api, monkeypatch):
    item = (await api.get("/api/products", params={"limit": 1, "sort": "-id"})).json()["items"][0]
    await api.patch(f"/api/products/{item['id']}", json={"name": "Cold"}, headers=ADMIN)  # evicts it
    loads = {"n": 0}
    original = service.get_product

    async def counting(*args, **kwargs):
        loads["n"] += 1
        await asyncio.sleep(0.02)  # a slow query widens the stampede window
        return await original(*args, **kwargs)

    monkeypatch.setattr(service, "get_product", counting)
    responses = await asyncio.gather(*(api.get(f"/api/products/{item['id']}") for _ in range(50)))
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["name"] for r in responses} == {"Cold"}
    assert loads["n"] == 1


async def test_redis_stopped_mid_test_reads_keep_working(tmp_path, postgres_url, own_redis):
    async with running("distributed", tmp_path, pg_url=postgres_url, redis_url=own_redis.url) as api:
        item = (await api.get("/api/products", params={"limit": 1})).json()["items"][0]
        url = f"/api/products/{item['id']}"
        assert (await api.get(url)).status_code == 200

        own_redis.stop()
        for _ in range(100):  # the near cache notices the lost subscription and empties itself
            if not api.ctx.cache._live:
                break
            await asyncio.sleep(0.05)
        for _ in range(5):
            r = await api.get(url)
            assert r.status_code == 200 and r.json()["id"] == item["id"]
        assert (await api.get("/api/products", params={"limit": 3})).status_code == 200
        # writes still work, and the next read shows them
        r = await api.patch(url, json={"price_minor": 4242}, headers=ADMIN)
        assert r.status_code == 200
        assert (await api.get(url)).json()["price_minor"] == 4242
        ready = await api.get("/ready")
        assert ready.status_code == 200 and ready.json()["checks"]["cache"]["ok"] is False
        metrics = (await api.get("/metrics")).text
        errors = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith('cloudmart_cache_errors_total{cache="redis",operation="get"}')
        ]
        assert errors and errors[0] >= 5

        own_redis.start()
        await asyncio.sleep(1.2)  # the adapter's circuit-breaker cool-down
        assert (await api.get("/ready")).json()["checks"]["cache"]["ok"] is True
        assert (await api.get(url)).json()["price_minor"] == 4242
        hits_before = _sample(await api.get("/metrics"), "hit")
        assert (await api.get(url)).json()["price_minor"] == 4242
        assert _sample(await api.get("/metrics"), "hit") == hits_before + 1


def _sample(response: httpx.Response, result: str) -> float:
    prefix = f'cloudmart_cache_requests_total{{cache="redis",result="{result}"}}'
    for line in response.text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_database_down_cached_reads_survive_and_writes_get_503(tmp_path, own_postgres, redis_url):
    pg_url = own_postgres.url()
    async with running("distributed", tmp_path, pg_url=pg_url, redis_url=redis_url) as api:
        item = (await api.get("/api/products", params={"limit": 1})).json()["items"][0]
        url = f"/api/products/{item['id']}"
        assert (await api.get(url)).status_code == 200  # cached now

        own_postgres.stop()
        try:
            assert (await api.get(url)).json()["price_minor"] == item["price_minor"]  # from the cache
            stock = await api.get(f"{url}/stock")
            assert stock.status_code == 503 and stock.headers["retry-after"]
            assert stock.headers["content-type"].startswith("application/problem+json")
            write = await api.patch(url, json={"price_minor": 1}, headers=ADMIN)
            assert write.status_code == 503 and write.headers["retry-after"]
            assert (await api.get("/ready")).status_code == 503
        finally:
            own_postgres.start()
        for _ in range(100):
            if (await api.get("/ready")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await api.get(url)).json()["price_minor"] == item["price_minor"]  # nothing half-written
        quote = (await api.post("/api/products/prices:quote", json={"product_ids": [item["id"]]})).json()
        assert quote["items"][0]["price_minor"] == item["price_minor"]
