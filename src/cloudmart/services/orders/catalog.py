"""Authoritative prices from product-service over HTTP (never from the client, never cached)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from cloudmart.core.errors import ServiceUnavailable, Unprocessable
from cloudmart.core.service import ServiceContext

QUOTE_PATH = "/api/products/prices:quote"


@dataclass(frozen=True)
class PricedItem:
    product_id: int
    sku: str
    name: str
    price_minor: int
    currency: str
    available: int


def _url(ctx: ServiceContext) -> str:
    client: httpx.AsyncClient = ctx.http
    if str(client.base_url):
        return QUOTE_PATH
    return ctx.settings.product_service_url.rstrip("/") + QUOTE_PATH


async def quote(ctx: ServiceContext, product_ids: list[int], authorization: str | None = None) -> dict[int, PricedItem]:
    """Prices for every id, or 422 naming the unknown ones; 503 when product-service is away."""
    if ctx.http is None:
        raise ServiceUnavailable("product-service is not reachable from order-service (no HTTP client)")
    headers = {"Authorization": authorization} if authorization else {}
    try:
        response = await ctx.http.post(_url(ctx), json={"product_ids": product_ids}, headers=headers, timeout=5.0)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"product-service unavailable: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        raise ServiceUnavailable(f"product-service answered {response.status_code}")
    if response.status_code != 200:
        raise ServiceUnavailable(f"product-service refused the price quote ({response.status_code})")
    body = response.json()
    missing = body.get("missing") or []
    if missing:
        ids = ", ".join(str(i) for i in missing)
        raise Unprocessable(
            f"unknown product id(s): {ids}",
            errors=[{"field": "lines.product_id", "message": f"product {i} does not exist or is not for sale"} for i in missing],
        )
    return {
        item["product_id"]: PricedItem(
            item["product_id"], item["sku"], item["name"], item["price_minor"], item["currency"], item["available"]
        )
        for item in body["items"]
    }
