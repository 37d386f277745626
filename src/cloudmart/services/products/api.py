"""product-service HTTP API, mounted at /api/products. Thin: parsing, auth, cache, transactions.

Writes run in their own transaction and invalidate the cache after it has committed, so a read
that follows a write's response always sees the write.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from starlette.responses import Response

from cloudmart.core.deps import AdminDep, CtxDep, SessionDep
from cloudmart.core.errors import NotFound
from cloudmart.services.products import service
from cloudmart.services.products.reads import catalog
from cloudmart.services.products.schemas import (
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    ProductCreate,
    ProductOut,
    ProductPage,
    ProductQuery,
    ProductUpdate,
    QuoteRequest,
    QuoteResponse,
    ReservationOut,
    StockOut,
    StockUpdate,
)

router = APIRouter(tags=["products"])

ProductId = Annotated[int, Path(ge=1, le=2**31 - 1, description="product id")]
CategoryId = Annotated[int, Path(ge=1, le=2**31 - 1, description="category id")]


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


# ---------------------------------------------------------------- categories


@router.get("/categories", response_model=list[CategoryOut], summary="All categories")
async def list_categories(ctx: CtxDep) -> Response:
    return _json(await catalog(ctx).categories_json())


@router.get("/categories/{category_id}", response_model=CategoryOut)
async def get_category(category_id: CategoryId, session: SessionDep) -> CategoryOut:
    return await service.get_category(session, category_id)


@router.post("/categories", status_code=status.HTTP_201_CREATED, response_model=CategoryOut)
async def create_category(body: CategoryCreate, ctx: CtxDep, _: AdminDep) -> CategoryOut:
    async with ctx.db.transaction() as session:
        created = await service.create_category(session, body)
    await catalog(ctx).invalidate_categories()
    return created


@router.patch("/categories/{category_id}", response_model=CategoryOut)
async def update_category(category_id: CategoryId, body: CategoryUpdate, ctx: CtxDep, _: AdminDep) -> CategoryOut:
    async with ctx.db.transaction() as session:
        updated = await service.update_category(session, category_id, body)
    await catalog(ctx).invalidate_categories()
    return updated


@router.delete("/categories/{category_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_category(category_id: CategoryId, ctx: CtxDep, _: AdminDep) -> Response:
    async with ctx.db.transaction() as session:
        await service.delete_category(session, category_id)
    await catalog(ctx).invalidate_categories()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- products


@router.get("", response_model=ProductPage, summary="Search, filter and page the catalog")
async def list_products(params: Annotated[ProductQuery, Query()], ctx: CtxDep) -> Response:
    return _json(await catalog(ctx).page_json(params))


@router.post(
    "/prices:quote",
    response_model=QuoteResponse,
    summary="Authoritative prices and availability (uncached), for order-service",
)
async def quote_prices(body: QuoteRequest, session: SessionDep) -> QuoteResponse:
    return await service.quote_prices(session, body.product_ids)


@router.get("/{product_id}", response_model=ProductOut, summary="One product (cached)")
async def get_product(product_id: ProductId, ctx: CtxDep) -> Response:
    return _json(await catalog(ctx).product_json(product_id))


@router.get("/{product_id}/stock", response_model=StockOut, summary="Live stock level (uncached)")
async def get_stock(product_id: ProductId, session: SessionDep) -> StockOut:
    return await service.get_stock(session, product_id)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProductOut)
async def create_product(body: ProductCreate, ctx: CtxDep, _: AdminDep) -> ProductOut:
    async with ctx.db.transaction() as session:
        created = await service.create_product(session, body)
    await catalog(ctx).invalidate_products(created.id)
    return created


@router.patch("/{product_id}", response_model=ProductOut)
async def update_product(product_id: ProductId, body: ProductUpdate, ctx: CtxDep, _: AdminDep) -> ProductOut:
    async with ctx.db.transaction() as session:
        updated = await service.update_product(session, product_id, body)
    await catalog(ctx).invalidate_products(product_id)
    return updated


@router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_product(product_id: ProductId, ctx: CtxDep, _: AdminDep) -> Response:
    async with ctx.db.transaction() as session:
        await service.delete_product(session, product_id)
    await catalog(ctx).invalidate_products(product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{product_id}/stock", response_model=StockOut, summary="Set units on hand (inventory count)")
async def set_stock(product_id: ProductId, body: StockUpdate, session: SessionDep, _: AdminDep) -> StockOut:
    return await service.set_stock(session, product_id, body.on_hand)


@router.get("/reservations/{order_id}", response_model=ReservationOut, summary="An order's stock reservation")
async def get_reservation(
    order_id: Annotated[str, Path(min_length=1, max_length=64)], session: SessionDep, _: AdminDep
) -> ReservationOut:
    result = await service.get_reservation(session, order_id)
    if result is None:
        raise NotFound(f"no reservation for order {order_id}")
    return ReservationOut.model_validate(result.as_dict())
