"""product-service over HTTP (in-process ASGI) on SQLite with the in-memory cache."""

from __future__ import annotations

import asyncio

import pytest

from cloudmart.core.cache import MemoryCache
from unit.products.kit import ADMIN, CUSTOMER, app_client, make_ctx, token

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def client(db):
    async with app_client(make_ctx(db, MemoryCache())) as c:
        yield c


async def create(client, **over):
    body = {"sku": "mug-1", "name": "Mug", "price_minor": 1200, "currency": "USD", "initial_stock": 5, **over}
    r = await client.post("/api/products", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()


def fields(r):
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return {e["field"] for e in r.json().get("errors", [])}


async def test_admin_creates_and_public_reads(client):
    cat = await client.post("/api/products/categories", json={"slug": "home", "name": "Home"}, headers=ADMIN)
    assert cat.status_code == 201
    p = await create(client, category_id=cat.json()["id"])
    assert p["price"] == "12.00" and p["sku"] == "MUG-1"
    assert p["created_at"].endswith(("Z", "+00:00"))
    r = await client.get(f"/api/products/{p['id']}")
    assert r.status_code == 200 and r.json()["name"] == "Mug"
    page = (await client.get("/api/products", params={"category": "home"})).json()
    assert page["total"] == 1 and page["items"][0]["id"] == p["id"]
    cats = (await client.get("/api/products/categories")).json()
    assert [c["slug"] for c in cats] == ["home"]
    stock = (await client.get(f"/api/products/{p['id']}/stock")).json()
    assert stock == {"product_id": p["id"], "on_hand": 5, "reserved": 0, "available": 5}


async def test_price_update_is_visible_immediately(client):
    p = await create(client)
    assert (await client.get(f"/api/products/{p['id']}")).json()["price_minor"] == 1200
    assert (await client.get("/api/products")).json()["items"][0]["price_minor"] == 1200
    r = await client.patch(f"/api/products/{p['id']}", json={"price_minor": 1500}, headers=ADMIN)
    assert r.status_code == 200
    assert (await client.get(f"/api/products/{p['id']}")).json()["price_minor"] == 1500
    assert (await client.get("/api/products")).json()["items"][0]["price_minor"] == 1500
    assert (await client.delete(f"/api/products/{p['id']}", headers=ADMIN)).status_code == 204
    assert (await client.get(f"/api/products/{p['id']}")).status_code == 404
    assert (await client.get("/api/products")).json()["total"] == 0


async def test_category_rename_is_visible_immediately(client):
    cat = (await client.post("/api/products/categories", json={"slug": "toys", "name": "Toys"}, headers=ADMIN)).json()
    assert (await client.get("/api/products/categories")).json()[0]["name"] == "Toys"
    r = await client.patch(f"/api/products/categories/{cat['id']}", json={"name": "Games"}, headers=ADMIN)
    assert r.status_code == 200
    assert (await client.get("/api/products/categories")).json()[0]["name"] == "Games"
    assert (await client.delete(f"/api/products/categories/{cat['id']}", headers=ADMIN)).status_code == 204
    assert (await client.get("/api/products/categories")).json() == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/products", {"sku": "x", "name": "x", "price_minor": 1, "currency": "USD"}),
        ("patch", "/api/products/1", {"price_minor": 1}),
        ("delete", "/api/products/1", None),
        ("put", "/api/products/1/stock", {"on_hand": 3}),
        ("post", "/api/products/categories", {"slug": "a", "name": "A"}),
        ("patch", "/api/products/categories/1", {"name": "A"}),
        ("delete", "/api/products/categories/1", None),
        ("get", "/api/products/reservations/o-1", None),
    ],
)
async def test_admin_routes_forbid_customers_and_need_a_token(client, method, path, body):
    await create(client)
    kwargs = {"json": body} if body is not None else {}
    r = await client.request(method.upper(), path, headers=CUSTOMER, **kwargs)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.request(method.upper(), path, **kwargs)
    assert r.status_code == 401
    r = await client.request(method.upper(), path, headers={"Authorization": "Bearer not-a-jwt"}, **kwargs)
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"sort": "popularity"}, "sort"),
        ({"min_price": -5}, "min_price"),
        ({"min_price": 500, "max_price": 100}, "max_price"),
        ({"currency": "XYZ"}, "currency"),
        ({"max_price": 100}, "currency"),
        ({"category": "Not A Slug"}, "category"),
        ({"q": "x" * 101}, "q"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_invalid_pagination_or_filter_is_422_naming_the_field(client, params, field):
    r = await client.get("/api/products", params=params)
    assert r.status_code == 422, r.text
    assert field in fields(r), r.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"price_minor": 19.99}, "price_minor"),
        ({"price_minor": "1999"}, "price_minor"),
        ({"price_minor": -1}, "price_minor"),
        ({"currency": "dollars"}, "currency"),
        ({"currency": "ABC"}, "currency"),
        ({"sku": "no spaces"}, "sku"),
        ({"name": ""}, "name"),
        ({"initial_stock": -3}, "initial_stock"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_invalid_product_is_422_naming_the_field(client, body, field):
    base = {"sku": "ok-1", "name": "Ok", "price_minor": 100, "currency": "USD"}
    r = await client.post("/api/products", json={**base, **body}, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert field in fields(r), r.json()


async def test_conflicts_and_not_found(client):
    p = await create(client)
    r = await client.post(
        "/api/products", json={"sku": "MUG-1", "name": "Other", "price_minor": 1, "currency": "USD"}, headers=ADMIN
    )
    assert r.status_code == 409 and "MUG-1" in r.json()["detail"]
    r = await client.post(
        "/api/products", json={"sku": "new", "name": "n", "price_minor": 1, "currency": "USD", "category_id": 9}, headers=ADMIN
    )
    assert r.status_code == 422 and "category_id" in fields(r)
    assert (await client.get("/api/products/999")).status_code == 404
    assert (await client.get("/api/products/0")).status_code == 422
    assert (await client.get("/api/products/abc")).status_code == 422
    assert (await client.get("/api/products/999/stock")).status_code == 404
    assert (await client.patch("/api/products/999", json={"name": "x"}, headers=ADMIN)).status_code == 404
    r = await client.put(f"/api/products/{p['id']}/stock", json={"on_hand": -1}, headers=ADMIN)
    assert r.status_code == 422 and "on_hand" in fields(r)
    r = await client.put(f"/api/products/{p['id']}/stock", json={"on_hand": 9}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["available"] == 9
    assert (await client.get("/api/products/reservations/nope", headers=ADMIN)).status_code == 404


async def test_price_quote_is_authoritative(client):
    a = await create(client)
    b = await create(client, sku="kettle", name="Kettle", price_minor=3500, currency="EUR")
    r = await client.post("/api/products/prices:quote", json={"product_ids": [b["id"], a["id"], 4040]})
    assert r.status_code == 200
    body = r.json()
    assert [(i["product_id"], i["price_minor"], i["currency"]) for i in body["items"]] == [
        (b["id"], 3500, "EUR"),
        (a["id"], 1200, "USD"),
    ]
    assert body["missing"] == [4040]
    for bad in ({"product_ids": []}, {"product_ids": ["x"]}, {"product_ids": list(range(1, 102))}, {}):
        r = await client.post("/api/products/prices:quote", json=bad)
        assert r.status_code == 422 and "product_ids" in " ".join(fields(r))


async def test_fifty_concurrent_cold_reads_hit_the_database_once(client, monkeypatch):
    from cloudmart.services.products import service

    p = await create(client)
    loads = {"n": 0}
    original = service.get_product

    async def counting(*args, **kwargs):
        loads["n"] += 1
        await asyncio.sleep(0.02)
        return await original(*args, **kwargs)

    monkeypatch.setattr(service, "get_product", counting)
    responses = await asyncio.gather(*(client.get(f"/api/products/{p['id']}") for _ in range(50)))
    assert {r.status_code for r in responses} == {200}
    assert loads["n"] == 1


async def test_seed_demo_and_metrics(db):
    ctx = make_ctx(db, MemoryCache())
    async with app_client(ctx) as client:
        from cloudmart.services.products import SPEC

        first = await SPEC.seed_demo(ctx)
        second = await SPEC.seed_demo(ctx)
        assert first["seeded"] and not second["seeded"] and second["products"] == first["products"]
        page = (await client.get("/api/products", params={"limit": 100})).json()
        assert page["total"] == first["products"]
        assert {i["currency"] for i in page["items"]} >= {"USD", "KRW", "EUR"}
        krw = next(i for i in page["items"] if i["currency"] == "KRW")
        assert "." not in krw["price"]
        await client.get(f"/api/products/{page['items'][0]['id']}")
        await client.get(f"/api/products/{page['items'][0]['id']}")
        metrics = (await client.get("/metrics")).text
        assert 'cloudmart_cache_requests_total{cache="memory",result="hit"}' in metrics


async def test_expired_token_is_401(client):
    import time

    import jwt

    from unit.products.kit import KEYS

    kid, key = KEYS.signing_key()
    now = int(time.time())
    expired = jwt.encode(
        {"iss": "cloudmart-user-service", "aud": "cloudmart", "sub": "a", "roles": ["admin"], "iat": now - 100, "exp": now - 10},
        key,
        algorithm="RS256",
        headers={"kid": kid},
    )
    r = await client.post("/api/products/categories", json={"slug": "a", "name": "A"}, headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401
    assert token("admin")  # a fresh admin token still works below
    r = await client.post("/api/products/categories", json={"slug": "a", "name": "A"}, headers=ADMIN)
    assert r.status_code == 201
