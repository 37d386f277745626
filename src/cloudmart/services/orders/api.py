"""order-service HTTP API (thin: validation and wiring; logic in service.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from cloudmart.core.deps import CtxDep, PrincipalDep, SessionDep
from cloudmart.services.orders import catalog, service
from cloudmart.services.orders.models import CANCELLED, PAID, PENDING, RESERVED
from cloudmart.services.orders.schemas import OrderCreate, OrderOut, OrderPage

router = APIRouter(tags=["orders"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Replaying the same key and body returns the same order; a different body is 422",
    ),
]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OrderOut)
async def create_order(
    body: OrderCreate,
    request: Request,
    response: Response,
    ctx: CtxDep,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    authorization = request.headers.get("authorization")

    async def quoter(ids: list[int]):
        return await catalog.quote(ctx, ids, authorization)

    order, replayed = await service.place_order(session, ctx, principal, body, idempotency_key, quoter)
    if replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/orders/{order.id}"
    return order


@router.get("", response_model=OrderPage)
async def list_orders(
    session: SessionDep,
    principal: PrincipalDep,
    status_: Annotated[str | None, Query(alias="status", pattern=f"^({PENDING}|{RESERVED}|{PAID}|{CANCELLED})$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OrderPage:
    return await service.list_orders(session, principal, status=status_, limit=limit, offset=offset)


@router.get("/{order_id}", response_model=OrderOut)
async def get_order(order_id: str, session: SessionDep, principal: PrincipalDep) -> OrderOut:
    return await service.get_order(session, principal, order_id)


@router.post("/{order_id}/cancel", response_model=OrderOut)
async def cancel_order(order_id: str, ctx: CtxDep, session: SessionDep, principal: PrincipalDep) -> OrderOut:
    return await service.cancel_order(session, ctx, principal, order_id)
