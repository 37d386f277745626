"""product-service: catalog, search, stock and order reservations, with a cache-aside read path."""

from __future__ import annotations

from cloudmart.core.service import ServiceContext, ServiceSpec
from cloudmart.services.products.api import router
from cloudmart.services.products.events import HANDLERS, TOPICS
from cloudmart.services.products.models import metadata
from cloudmart.services.products.reads import catalog
from cloudmart.services.products.seed import seed_demo


async def on_startup(ctx: ServiceContext) -> None:
    catalog(ctx)  # builds the cache-aside reader and exposes the cache metrics on /metrics


SPEC = ServiceSpec(
    name="products",
    title="product-service",
    router=router,
    metadata=metadata,
    event_handlers=HANDLERS,
    topics=TOPICS,
    on_startup=on_startup,
    seed_demo=seed_demo,
)
