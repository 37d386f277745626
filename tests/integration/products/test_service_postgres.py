"""The product-service logic tests again, on a real PostgreSQL, plus real concurrency."""

from __future__ import annotations

import asyncio

import pytest

from cloudmart.services.products import service
from cloudmart.services.products.schemas import ProductCreate
from unit.products.kit import migrated_postgres
from unit.products.test_service import *  # noqa: F403 -- the same tests, collected here on PostgreSQL

pytestmark = pytest.mark.postgres


@pytest.fixture
async def db(postgres_url):
    database = await migrated_postgres(postgres_url)
    yield database
    await database.dispose()


async def test_concurrent_reservations_never_oversell(db):
    async with db.transaction() as s:
        a = await service.create_product(s, ProductCreate(sku="hot", name="Hot", price_minor=100, currency="USD", initial_stock=7))
        b = await service.create_product(s, ProductCreate(sku="warm", name="Warm", price_minor=100, currency="USD", initial_stock=50))

    async def order(i: int):
        # Lines in both orders, so row locks are taken in opposite request orders: id-sorted
        # locking in reserve_stock is what keeps this deadlock-free.
        lines = [(b.id, 1), (a.id, 1)] if i % 2 else [(a.id, 1), (b.id, 1)]
        async with db.transaction() as s:
            return await service.reserve_stock(s, f"order-{i}", lines)

    results = await asyncio.gather(*(order(i) for i in range(20)))
    assert sum(r.ok for r in results) == 7
    assert all(r.status == "rejected" for r in results if not r.ok)
    async with db.transaction() as s:
        hot, warm = await service.get_stock(s, a.id), await service.get_stock(s, b.id)
    assert (hot.reserved, hot.available) == (7, 0)
    assert warm.reserved == 7  # all-or-nothing: rejected orders hold nothing of the warm product


async def test_duplicate_concurrent_delivery_reserves_once(db):
    async with db.transaction() as s:
        a = await service.create_product(s, ProductCreate(sku="dup", name="Dup", price_minor=1, currency="USD", initial_stock=10))

    async def deliver():
        try:
            async with db.transaction() as s:
                return await service.reserve_stock(s, "same-order", [(a.id, 3)])
        except Exception as exc:  # the loser of the race fails on the order-id key and is retried
            return exc

    first = await asyncio.gather(deliver(), deliver(), deliver())
    assert any(not isinstance(r, Exception) and r.changed for r in first)
    async with db.transaction() as s:
        replay = await service.reserve_stock(s, "same-order", [(a.id, 3)])
        stock = await service.get_stock(s, a.id)
    assert replay.ok and not replay.changed
    assert stock.reserved == 3
