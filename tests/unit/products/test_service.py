"""product-service logic on a migrated database (SQLite here; the PostgreSQL run reuses these)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import BLANK_SCHEMA, MetaData, select

from cloudmart.core.errors import Conflict, NotFound, Unprocessable
from cloudmart.services.products import service
from cloudmart.services.products.models import StockLevel, metadata
from cloudmart.services.products.schemas import (
    CategoryCreate,
    CategoryUpdate,
    ProductCreate,
    ProductQuery,
    ProductUpdate,
)


async def seed(db, *, stock=(10, 5, 0)):
    async with db.transaction() as s:
        books = await service.create_category(s, CategoryCreate(slug="books", name="Books"))
        toys = await service.create_category(s, CategoryCreate(slug="toys", name="Toys"))
        a = await service.create_product(
            s, ProductCreate(sku="b-1", name="Python Book", category_id=books.id, price_minor=3000,
                             currency="USD", initial_stock=stock[0], description="snakes 100% fun")
        )
        b = await service.create_product(
            s, ProductCreate(sku="T-1", name="Robot", category_id=toys.id, price_minor=12000,
                             currency="usd", initial_stock=stock[1])
        )
        c = await service.create_product(
            s, ProductCreate(sku="T-2", name="Kite", category_id=toys.id, price_minor=1500,
                             currency="KRW", initial_stock=stock[2])
        )
    return books, toys, a, b, c


async def test_migration_matches_models(db):
    if db.is_sqlite:  # one file per service: the schema is translated away
        target = MetaData()
        for table in metadata.sorted_tables:
            table.to_metadata(target, schema=None, referred_schema_fn=lambda *_: BLANK_SCHEMA)
        opts = {}
    else:
        target = metadata
        opts = {
            "include_schemas": True,
            "version_table_schema": "products",
            "include_name": lambda name, type_, parent: type_ != "schema" or name == "products",
        }

    def diff(conn):
        return compare_metadata(MigrationContext.configure(conn, opts=opts), target)

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_category_crud_and_conflicts(db):
    books, toys, a, *_ = await seed(db)
    async with db.transaction() as s:
        assert [c.slug for c in await service.list_categories(s)] == ["books", "toys"]
        with pytest.raises(Conflict):
            await service.create_category(s, CategoryCreate(slug="books", name="Again"))
    async with db.transaction() as s:
        updated = await service.update_category(s, books.id, CategoryUpdate(name="Printed books"))
        assert updated.name == "Printed books" and updated.slug == "books"
        with pytest.raises(Conflict, match="still has 1 product"):
            await service.delete_category(s, books.id)
        with pytest.raises(NotFound):
            await service.get_category(s, 999)
    async with db.transaction() as s:
        await service.delete_product(s, a.id)
        await service.delete_category(s, books.id)
        assert [c.slug for c in await service.list_categories(s)] == ["toys"]


async def test_product_create_normalizes_and_rejects(db):
    books, _, a, b, _ = await seed(db)
    assert (a.sku, a.price_minor, a.currency, a.price) == ("B-1", 3000, "USD", "30.00")
    assert b.currency == "USD"
    async with db.transaction() as s:
        with pytest.raises(Conflict, match="SKU 'B-1'"):
            await service.create_product(s, ProductCreate(sku="b-1", name="x", price_minor=1, currency="USD"))
        with pytest.raises(Unprocessable) as exc:
            await service.create_product(s, ProductCreate(sku="z", name="x", price_minor=1, currency="USD", category_id=77))
        assert exc.value.extensions["errors"][0]["field"] == "category_id"


async def test_update_product_and_inactive_is_hidden(db):
    *_, a, b, c = await seed(db)
    async with db.transaction() as s:
        updated = await service.update_product(s, a.id, ProductUpdate(price_minor=3500, name="Python Book 2e"))
        assert (updated.price_minor, updated.name, updated.price) == (3500, "Python Book 2e", "35.00")
        with pytest.raises(Conflict):
            await service.update_product(s, b.id, ProductUpdate(sku="b-1"))
        with pytest.raises(Unprocessable, match="price_minor cannot be null"):
            await service.update_product(s, b.id, ProductUpdate.model_validate({"price_minor": None}))
        await service.update_product(s, c.id, ProductUpdate(active=False))
    async with db.transaction() as s:
        with pytest.raises(NotFound):
            await service.get_product(s, c.id)
        assert (await service.get_product(s, c.id, public=False)).active is False
        page = await service.search_products(s, ProductQuery())
        assert [p.sku for p in page.items] == ["B-1", "T-1"]


async def test_search_filters_sorting_and_pages(db):
    *_, a, b, c = await seed(db)
    async with db.transaction() as s:
        q = lambda **kw: service.search_products(s, ProductQuery(**kw))  # noqa: E731
        assert [p.id for p in (await q(q="ROBOT")).items] == [b.id]
        assert [p.id for p in (await q(q="100%")).items] == [a.id]  # % is literal, not a wildcard
        assert (await q(q="s%f")).total == 0 and (await q(q="s_akes")).total == 0
        assert [p.id for p in (await q(category="toys", sort="price")).items] == [c.id, b.id]
        assert [p.id for p in (await q(min_price=2000, max_price=12000, currency="USD")).items] == [a.id, b.id]
        assert [p.id for p in (await q(min_price=1000, currency="KRW")).items] == [c.id]
        assert [p.id for p in (await q(currency="krw")).items] == [c.id]
        assert [p.id for p in (await q(sort="-price")).items] == [c.id, b.id, a.id]  # KRW, then USD
        assert [p.name for p in (await q(sort="name")).items] == ["Kite", "Python Book", "Robot"]
        page = await q(limit=2, offset=2)
        assert page.total == 3 and [p.id for p in page.items] == [c.id] and page.limit == 2
        assert (await q(category="nope")).total == 0


async def test_quote_prices_reports_missing(db):
    *_, a, b, c = await seed(db)
    async with db.transaction() as s:
        await service.update_product(s, c.id, ProductUpdate(active=False))
        quote = await service.quote_prices(s, [b.id, a.id, 999, c.id, a.id])
    assert [(i.product_id, i.price_minor, i.available) for i in quote.items] == [(b.id, 12000, 5), (a.id, 3000, 10)]
    assert quote.missing == [999, c.id]


async def test_reserve_all_or_nothing(db):
    *_, a, b, c = await seed(db)
    async with db.transaction() as s:
        rejected = await service.reserve_stock(s, "o-1", [(a.id, 3), (b.id, 6)])
    assert not rejected.ok and rejected.status == "rejected"
    assert rejected.shortages[0] == {"product_id": b.id, "requested": 6, "available": 5, "problem": "insufficient"}
    async with db.transaction() as s:
        stocks = {x.product_id: (x.on_hand, x.reserved) for x in (await s.scalars(select(StockLevel))).all()}
    assert stocks == {a.id: (10, 0), b.id: (5, 0), c.id: (0, 0)}  # nothing half-reserved
    async with db.transaction() as s:
        ok = await service.reserve_stock(s, "o-2", [{"product_id": a.id, "quantity": 3}, {"product_id": b.id, "quantity": 5}])
    assert ok.ok and ok.changed and ok.lines == ((a.id, 3), (b.id, 5))
    async with db.transaction() as s:
        assert (await service.get_stock(s, a.id)).available == 7
        assert (await service.get_stock(s, b.id)).available == 0
        unknown = await service.reserve_stock(s, "o-3", [(a.id, 1), (424242, 1)])
    assert unknown.status == "rejected" and "424242 does not exist" in unknown.reason


async def test_reserve_is_idempotent_per_order(db):
    *_, a, _, _ = await seed(db)
    for _ in range(3):
        async with db.transaction() as s:
            result = await service.reserve_stock(s, "o-1", [(a.id, 4)])
    assert result.ok and not result.changed and result.lines == ((a.id, 4),)
    async with db.transaction() as s:
        assert (await service.get_stock(s, a.id)).reserved == 4
        again = await service.reserve_stock(s, "o-1", [(a.id, 9)])  # replays answer the first outcome
    assert again.lines == ((a.id, 4),) and not again.changed


async def test_commit_and_release(db):
    *_, a, b, _ = await seed(db)
    async with db.transaction() as s:
        await service.reserve_stock(s, "paid", [(a.id, 2)])
        await service.reserve_stock(s, "cancelled", [(b.id, 1)])
    async with db.transaction() as s:
        committed = await service.commit_reservation(s, "paid")
        again = await service.commit_reservation(s, "paid")
        released = await service.release_reservation(s, "cancelled", "customer cancelled")
        released_again = await service.release_reservation(s, "cancelled")
    assert committed.status == "committed" and committed.changed and not again.changed
    assert released.status == "released" and released.changed and not released_again.changed
    async with db.transaction() as s:
        sa_, sb = await service.get_stock(s, a.id), await service.get_stock(s, b.id)
        assert (sa_.on_hand, sa_.reserved) == (8, 0)
        assert (sb.on_hand, sb.reserved) == (5, 0)
        # a paid order cancelled later: its units come back on hand
        refunded = await service.release_reservation(s, "paid", "refunded")
        assert refunded.status == "released" and (await service.get_stock(s, a.id)).on_hand == 10
        # a released reservation cannot be committed
        late = await service.commit_reservation(s, "cancelled")
        assert late.status == "released" and not late.changed and not late.ok
        with pytest.raises(NotFound):
            await service.commit_reservation(s, "never")


async def test_release_before_reserve_blocks_late_reservation(db):
    *_, a, _, _ = await seed(db)
    async with db.transaction() as s:
        early = await service.release_reservation(s, "o-9", "cancelled")
        assert early.status == "released" and early.lines == ()
        late = await service.reserve_stock(s, "o-9", [(a.id, 1)])
        assert late.status == "released" and not late.changed and not late.ok
        assert (await service.get_stock(s, a.id)).reserved == 0


async def test_rejected_reservation_release_is_a_no_op(db):
    *_, _, _, c = await seed(db)
    async with db.transaction() as s:
        rejected = await service.reserve_stock(s, "o-5", [(c.id, 1)])
        released = await service.release_reservation(s, "o-5")
    assert rejected.status == "rejected" and released.status == "rejected" and not released.changed


@pytest.mark.parametrize(
    "lines",
    [[], [(1, 0)], [(1, -2)], [(0, 1)], [{"product_id": "1", "quantity": 1}], [{"product_id": 1}], [(True, 1)]],
)
async def test_invalid_lines_raise_value_error(db, lines):
    async with db.transaction() as s:
        with pytest.raises(ValueError):
            await service.reserve_stock(s, "bad", lines)


async def test_set_stock_respects_reservations(db):
    *_, a, _, _ = await seed(db)
    async with db.transaction() as s:
        await service.reserve_stock(s, "o-1", [(a.id, 6)])
    async with db.transaction() as s:
        assert (await service.set_stock(s, a.id, 20)).available == 14
    async with db.transaction() as s:
        with pytest.raises(Conflict, match="below the 6 unit"):
            await service.set_stock(s, a.id, 5)
    async with db.transaction() as s:
        assert (await service.get_stock(s, a.id)).on_hand == 20
        with pytest.raises(NotFound):
            await service.set_stock(s, 999, 1)


async def test_delete_product_with_reserved_units_conflicts(db):
    *_, a, b, _ = await seed(db)
    async with db.transaction() as s:
        await service.reserve_stock(s, "o-1", [(a.id, 1)])
    async with db.transaction() as s:
        with pytest.raises(Conflict, match="reserved"):
            await service.delete_product(s, a.id)
        await service.delete_product(s, b.id)
        with pytest.raises(NotFound):
            await service.get_product(s, b.id)
