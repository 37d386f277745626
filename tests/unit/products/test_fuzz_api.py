"""Whatever a client sends to product-service, the answer is a 4xx problem, never a 5xx."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudmart.core.cache import MemoryCache
from unit.products.kit import ADMIN, app_client, make_ctx

pytestmark = pytest.mark.timeout(180)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=8,
)
product_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "sku": st.text(max_size=70),
            "name": st.text(max_size=210),
            "price_minor": scalars,
            "currency": st.text(max_size=4) | st.sampled_from(["USD", "usd", "KRW", "XTS", "EURO"]),
            "category_id": scalars,
            "initial_stock": scalars,
            "active": scalars,
            "description": json_values,
        },
    ),
)
query_params = st.dictionaries(
    st.sampled_from(["q", "category", "min_price", "max_price", "currency", "sort", "limit", "offset", "x"]),
    st.text(max_size=12) | st.integers(min_value=-(10**15), max_value=10**15).map(str),
    max_size=5,
)

WRITES = [
    ("POST", "/api/products"),
    ("PATCH", "/api/products/1"),
    ("PUT", "/api/products/1/stock"),
    ("POST", "/api/products/categories"),
    ("PATCH", "/api/products/categories/1"),
    ("POST", "/api/products/prices:quote"),
]


def examples(strategy, n: int = 40) -> list:
    generated: list = []

    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
    @given(value=strategy)
    def collect(value):
        generated.append(value)

    collect()
    return generated


@pytest.fixture
async def client(db):
    async with app_client(make_ctx(db, MemoryCache())) as c:
        await c.post("/api/products/categories", json={"slug": "c", "name": "C"}, headers=ADMIN)
        await c.post("/api/products", json={"sku": "s", "name": "n", "price_minor": 1, "currency": "USD"}, headers=ADMIN)
        yield c


def problem_or_success(r, context) -> None:
    assert r.status_code < 500, (context, r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), (context, r.text)


@pytest.mark.parametrize(("method", "path"), WRITES)
async def test_random_bodies_never_5xx(client, method, path):
    for body in examples(product_bodies):
        r = await client.request(method, path, json=body, headers=ADMIN)
        problem_or_success(r, (method, path, body))


async def test_random_query_strings_never_5xx(client):
    for params in examples(query_params, 80):
        problem_or_success(await client.get("/api/products", params=params), params)


async def test_garbage_payloads_and_paths_never_5xx(client):
    samples = [b"", b"{", b"null", b"\xff\xfe", b'{"price_minor": 1e400}', b"[" * 50, b'{"product_ids": [1e308]}']
    for method, path in WRITES:
        for raw in samples:
            r = await client.request(method, path, content=raw, headers={**ADMIN, "content-type": "application/json"})
            assert 400 <= r.status_code < 500, (path, raw, r.text)
    for path in ["/api/products/99999999999999999999", "/api/products/-1/stock", "/api/products/%00", "/api/products/categories/x"]:
        problem_or_success(await client.get(path), path)
