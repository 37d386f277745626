"""payment-service HTTP API (thin)."""

from __future__ import annotations

from fastapi import APIRouter, status

from cloudmart.core.deps import CtxDep, PrincipalDep, SessionDep
from cloudmart.services.payments import service
from cloudmart.services.payments.schemas import PaymentMethodCreate, PaymentMethodOut, PaymentOut

router = APIRouter(tags=["payments"])


@router.post("/methods", status_code=status.HTTP_201_CREATED, response_model=PaymentMethodOut)
async def add_payment_method(
    body: PaymentMethodCreate, ctx: CtxDep, session: SessionDep, principal: PrincipalDep
) -> PaymentMethodOut:
    return await service.add_payment_method(session, ctx, principal, body)


@router.get("/methods", response_model=list[PaymentMethodOut])
async def list_payment_methods(session: SessionDep, principal: PrincipalDep) -> list[PaymentMethodOut]:
    return await service.list_payment_methods(session, principal)


@router.get("", response_model=list[PaymentOut])
async def list_payments(session: SessionDep, principal: PrincipalDep) -> list[PaymentOut]:
    return await service.list_payments(session, principal)


@router.get("/orders/{order_id}", response_model=PaymentOut)
async def get_payment(order_id: str, session: SessionDep, principal: PrincipalDep) -> PaymentOut:
    return await service.get_payment(session, principal, order_id)
