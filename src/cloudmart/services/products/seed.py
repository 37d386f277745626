"""The demo catalog `cloudmart up` seeds into an empty product database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from cloudmart.core.service import ServiceContext
from cloudmart.services.products import service
from cloudmart.services.products.models import Product
from cloudmart.services.products.reads import catalog
from cloudmart.services.products.schemas import CategoryCreate, ProductCreate

CATEGORIES = [
    ("electronics", "Electronics", "Gadgets, audio and accessories"),
    ("books", "Books", "Paper and ink, and a few e-readers"),
    ("home", "Home & Kitchen", "For the places you live in"),
    ("apparel", "Apparel", "Clothes for every season"),
]

# (sku, name, category slug, price in minor units, currency, units on hand, description)
PRODUCTS = [
    ("EL-HEAD-001", "Noise-cancelling headphones", "electronics", 19900, "USD", 40, "Over-ear, 30 h battery"),
    ("EL-KEYB-002", "Mechanical keyboard", "electronics", 8900, "USD", 25, "Tenkeyless, hot-swappable switches"),
    ("EL-CHRG-003", "USB-C charger 65W", "electronics", 3900, "USD", 120, "GaN, two ports"),
    ("EL-SPKR-004", "Portable speaker", "electronics", 59000, "KRW", 30, "Waterproof, 12 h playback"),
    ("BK-K8S-001", "Kubernetes in Practice", "books", 4500, "USD", 60, "Operating clusters for real"),
    ("BK-FIN-002", "Cloud FinOps", "books", 3900, "USD", 45, "Cost-aware engineering"),
    ("BK-DDD-003", "Designing Data-Intensive Apps", "books", 4999, "USD", 15, "Reliable, scalable systems"),
    ("HM-MUG-001", "Ceramic mug", "home", 1200, "USD", 200, "350 ml, dishwasher safe"),
    ("HM-KETT-002", "Electric kettle", "home", 3500, "EUR", 35, "1.7 l, temperature control"),
    ("HM-LAMP-003", "Desk lamp", "home", 45000, "KRW", 20, "Dimmable LED"),
    ("AP-HOOD-001", "CloudMart hoodie", "apparel", 5500, "USD", 80, "Organic cotton"),
    ("AP-SOCK-002", "Merino socks", "apparel", 1800, "USD", 3, "Almost sold out"),
]


async def seed_demo(ctx: ServiceContext) -> dict[str, Any]:
    """Create the demo catalog when no product exists yet; returns what is there."""
    async with ctx.db.transaction() as session:
        existing = await session.scalar(select(func.count(Product.id)))
        if existing:
            return {"categories": len(await service.list_categories(session)), "products": existing, "seeded": False}
        ids = {}
        for slug, name, description in CATEGORIES:
            category = await service.create_category(
                session, CategoryCreate(slug=slug, name=name, description=description)
            )
            ids[slug] = category.id
        for sku, name, slug, price, currency, stock, description in PRODUCTS:
            await service.create_product(
                session,
                ProductCreate(
                    sku=sku,
                    name=name,
                    description=description,
                    category_id=ids[slug],
                    price_minor=price,
                    currency=currency,
                    initial_stock=stock,
                ),
            )
    await catalog(ctx).invalidate_categories()
    return {"categories": len(CATEGORIES), "products": len(PRODUCTS), "seeded": True}
