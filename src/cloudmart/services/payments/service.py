"""payment-service logic: tokenization, and the saga: charge on `inventory.reserved`, refund
(or void) on `order.cancelled`. The `payments` row per order is locked by both handlers, so a
charge and a cancellation of the same order never interleave, and a redelivered
`inventory.reserved` finds the row and charges nothing."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cloudmart.core.auth import Principal
from cloudmart.core.errors import NotFound, Unprocessable
from cloudmart.core.events.envelope import CloudEvent
from cloudmart.core.events.outbox import emit
from cloudmart.core.service import ServiceContext
from cloudmart.services.payments.models import (
    FAILED,
    PROCESSING,
    REFUNDED,
    SUCCEEDED,
    VOIDED,
    payment_methods,
    payments,
)
from cloudmart.services.payments.sandbox import CardError, SandboxProvider
from cloudmart.services.payments.schemas import PaymentMethodCreate, PaymentMethodOut, PaymentOut

PROVIDER_KEY = "payment_provider"


def provider_of(ctx: ServiceContext) -> SandboxProvider:
    return ctx.extras.setdefault(PROVIDER_KEY, SandboxProvider())


def now() -> datetime:
    return datetime.now(UTC)


def _method_out(row: Any) -> PaymentMethodOut:
    return PaymentMethodOut(
        id=row.id, brand=row.brand, last4=row.last4, exp_month=row.exp_month, exp_year=row.exp_year,
        created_at=row.created_at,
    )


def _payment_out(row: Any) -> PaymentOut:
    return PaymentOut(**{c: getattr(row, c) for c in PaymentOut.model_fields})


async def add_payment_method(
    session: AsyncSession, ctx: ServiceContext, principal: Principal, body: PaymentMethodCreate
) -> PaymentMethodOut:
    try:
        token = provider_of(ctx).tokenize(body.number, body.exp_month, body.exp_year, body.cvc)
    except CardError as exc:
        raise Unprocessable(exc.message, errors=[{"field": exc.field, "message": exc.message}]) from exc
    values = {
        "id": f"pm_{secrets.token_hex(12)}",
        "user_id": principal.sub,
        "brand": token.brand,
        "last4": token.last4,
        "exp_month": body.exp_month,
        "exp_year": body.exp_year,
        "provider_ref": token.ref,
        "created_at": now(),
    }
    await session.execute(insert(payment_methods).values(**values))
    return PaymentMethodOut(**{k: values[k] for k in PaymentMethodOut.model_fields})


async def list_payment_methods(session: AsyncSession, principal: Principal) -> list[PaymentMethodOut]:
    rows = await session.execute(
        select(payment_methods).where(payment_methods.c.user_id == principal.sub).order_by(payment_methods.c.created_at)
    )
    return [_method_out(r) for r in rows]


async def list_payments(session: AsyncSession, principal: Principal) -> list[PaymentOut]:
    rows = await session.execute(
        select(payments).where(payments.c.user_id == principal.sub).order_by(payments.c.created_at.desc())
    )
    return [_payment_out(r) for r in rows]


async def get_payment(session: AsyncSession, principal: Principal, order_id: str) -> PaymentOut:
    row = (await session.execute(select(payments).where(payments.c.order_id == order_id))).first()
    if row is None or not (principal.is_admin or row.user_id == principal.sub):
        raise NotFound(f"no payment for order {order_id}")
    return _payment_out(row)


async def _claim(session: AsyncSession, order_id: str, values: dict[str, Any]) -> tuple[Any, bool]:
    """Lock the order's payment row, creating it with `values` if absent. (row, created).
    A concurrent claim of the same order waits for the first one's transaction, then finds it."""
    insert_ = pg_insert if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite_insert
    stamp = now()
    created = (
        await session.execute(
            insert_(payments)
            .values(order_id=order_id, created_at=stamp, updated_at=stamp, **values)
            .on_conflict_do_nothing(index_elements=["order_id"])
            .returning(*payments.c)
        )
    ).first()
    if created is not None:
        return created, True
    query = select(payments).where(payments.c.order_id == order_id).with_for_update()
    return (await session.execute(query)).one(), False


def _payment_event(row: Any, **extra: Any) -> dict[str, Any]:
    return {
        "order_id": row.order_id, "user_id": row.user_id, "amount_minor": row.amount_minor,
        "currency": row.currency, "charge_id": row.charge_id, **extra,
    }


async def on_inventory_reserved(event: CloudEvent, session: AsyncSession, ctx: ServiceContext) -> None:
    data = event.data
    order_id = event.subject
    row, created = await _claim(
        session, order_id,
        {
            "user_id": str(data.get("user_id") or ""),
            "payment_method_id": data.get("payment_method_id"),
            "amount_minor": int(data.get("total_minor") or 0),
            "currency": str(data.get("currency") or "")[:3],
            "status": PROCESSING,
        },
    )
    if not created:
        return  # already charged, failed, or voided by an earlier cancellation
    extra = {"email": data.get("email")}
    method = (
        await session.execute(select(payment_methods).where(payment_methods.c.id == row.payment_method_id))
    ).first()
    if method is None or method.user_id != row.user_id:
        reason = f"payment method {row.payment_method_id} is not one of the customer's"
        await _finish(session, order_id, status=FAILED, failure_code="invalid_payment_method", failure_message=reason)
        await emit(session, ctx, "payment.failed", order_id, _payment_event(row, reason=reason, code="invalid_payment_method", **extra))
        return
    result = await provider_of(ctx).charge(
        session, method.provider_ref, row.amount_minor, row.currency, idempotency_key=f"charge:{order_id}"
    )
    if result.succeeded:
        row = await _finish(session, order_id, status=SUCCEEDED, charge_id=result.id)
        await emit(session, ctx, "payment.succeeded", order_id, _payment_event(row, brand=method.brand, last4=method.last4, **extra))
    else:
        row = await _finish(session, order_id, status=FAILED, failure_code=result.outcome, failure_message=result.message)
        await emit(session, ctx, "payment.failed", order_id, _payment_event(row, reason=result.message, code=result.outcome, **extra))


async def _finish(session: AsyncSession, order_id: str, **values: Any) -> Any:
    result = await session.execute(
        update(payments).where(payments.c.order_id == order_id).values(updated_at=now(), **values).returning(*payments.c)
    )
    return result.one()


async def on_order_cancelled(event: CloudEvent, session: AsyncSession, ctx: ServiceContext) -> None:
    data = event.data
    order_id = event.subject
    row, created = await _claim(
        session, order_id,
        {
            "user_id": str(data.get("user_id") or ""),
            "payment_method_id": data.get("payment_method_id"),
            "amount_minor": int(data.get("total_minor") or 0),
            "currency": str(data.get("currency") or "")[:3],
            "status": VOIDED,
            "failure_message": "order cancelled before payment",
        },
    )
    if created or row.status != SUCCEEDED:
        return  # nothing was charged (and nothing will be: the voided row blocks a late charge)
    refund = await provider_of(ctx).refund(
        session, row.charge_id, row.amount_minor, row.currency, idempotency_key=f"refund:{order_id}"
    )
    row = await _finish(session, order_id, status=REFUNDED, refund_id=refund.id)
    await emit(session, ctx, "payment.refunded", order_id, _payment_event(row, refund_id=refund.id, email=data.get("email")))


HANDLERS = {
    "inventory.reserved": on_inventory_reserved,
    "order.cancelled": on_order_cancelled,
}
