"""Cached catalog reads (cache-aside over ctx.cache) and their invalidation.

Cached, all under versioned keys: each product (`products:item-<id>:<version>`), catalog pages
and the category list (`products:lists:<generation>:<query>`). A committed write bumps the
version, so the old entries are dead at once, and a read that loaded the old row before the
commit can only store it under the old version, where nobody looks: no stale refill race.
Not cached: stock (it changes with every order) and price quotes (order-service needs the
authoritative price). Writers call `invalidate_*` after their transaction has committed.
"""

from __future__ import annotations

from cloudmart.core.cache import CacheAside, register_cache_metrics
from cloudmart.core.service import ServiceContext
from cloudmart.services.products import service
from cloudmart.services.products.schemas import ProductQuery

_EXTRA = "products.catalog_cache"
LISTS, CATEGORIES = "lists", "categories"


def _item(product_id: int) -> str:
    return f"item-{product_id}"


class CatalogReads:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.aside = CacheAside(ctx.cache, "products", ttl=ctx.settings.cache_ttl_seconds)

    async def product_json(self, product_id: int) -> bytes:
        async def load() -> bytes:
            async with self.ctx.db.transaction() as session:
                product = await service.get_product(session, product_id, public=True)
            return product.model_dump_json().encode()

        return await self.aside.get_or_load_versioned(_item(product_id), (), load)

    async def page_json(self, params: ProductQuery) -> bytes:
        async def load() -> bytes:
            async with self.ctx.db.transaction() as session:
                page = await service.search_products(session, params)
            return page.model_dump_json().encode()

        return await self.aside.get_or_load_versioned(LISTS, (params.model_dump_json(),), load)

    async def categories_json(self) -> bytes:
        async def load() -> bytes:
            async with self.ctx.db.transaction() as session:
                categories = await service.list_categories(session)
            return b"[" + b",".join(c.model_dump_json().encode() for c in categories) + b"]"

        return await self.aside.get_or_load_versioned(CATEGORIES, ("all",), load)

    async def invalidate_products(self, *product_ids: int) -> None:
        await self.aside.invalidate(generations=(LISTS, *map(_item, product_ids)))

    async def invalidate_categories(self) -> None:
        await self.aside.invalidate(generations=(CATEGORIES, LISTS))


def catalog(ctx: ServiceContext) -> CatalogReads:
    reads = ctx.extras.get(_EXTRA)
    if reads is None or reads.aside.cache is not ctx.cache:
        reads = ctx.extras[_EXTRA] = CatalogReads(ctx)
        if ctx.metrics_registry is not None:
            register_cache_metrics(ctx.metrics_registry)
    return reads
