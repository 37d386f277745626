"""order-service logic: place (idempotent), read, cancel, and the saga transitions (§4).

State machine: PENDING → RESERVED (inventory.reserved) → PAID (payment.succeeded); PENDING or
RESERVED → CANCELLED (inventory.rejected, payment.failed, customer cancel); PAID → CANCELLED by
the customer, which refunds. Every transition emits its event in the same transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudmart.core.auth import Principal
from cloudmart.core.errors import Conflict, NotFound, Unprocessable
from cloudmart.core.events.envelope import CloudEvent
from cloudmart.core.events.outbox import emit
from cloudmart.core.service import ServiceContext
from cloudmart.services.orders.catalog import PricedItem
from cloudmart.services.orders.models import (
    CANCELLED,
    OPEN_STATES,
    PAID,
    PENDING,
    RESERVED,
    order_lines,
    orders,
)
from cloudmart.services.orders.schemas import OrderCreate, OrderLineOut, OrderOut, OrderPage

Quoter = Callable[[list[int]], Awaitable[dict[int, PricedItem]]]


def now() -> datetime:
    return datetime.now(UTC)


def request_hash(body: OrderCreate) -> str:
    canonical = {
        "lines": sorted((line.product_id, line.quantity) for line in body.lines),
        "payment_method_id": body.payment_method_id,
    }
    return hashlib.sha256(orjson.dumps(canonical)).hexdigest()


async def _lines(session: AsyncSession, order_ids: list[str]) -> dict[str, list[OrderLineOut]]:
    out: dict[str, list[OrderLineOut]] = {i: [] for i in order_ids}
    if not order_ids:
        return out
    rows = await session.execute(
        select(order_lines).where(order_lines.c.order_id.in_(order_ids)).order_by(order_lines.c.id)
    )
    for r in rows:
        out[r.order_id].append(
            OrderLineOut(
                product_id=r.product_id, sku=r.sku, name=r.name, quantity=r.quantity,
                unit_price_minor=r.unit_price_minor, line_total_minor=r.line_total_minor,
            )
        )
    return out


def _out(row: Any, lines: list[OrderLineOut]) -> OrderOut:
    return OrderOut(
        id=row.id, user_id=row.user_id, status=row.status, currency=row.currency,
        total_minor=row.total_minor, payment_method_id=row.payment_method_id, reason=row.reason,
        refunded=row.refunded, created_at=row.created_at, updated_at=row.updated_at,
        paid_at=row.paid_at, cancelled_at=row.cancelled_at, lines=lines,
    )


async def _load(session: AsyncSession, order_id: str, *, lock: bool = False) -> Any:
    query = select(orders).where(orders.c.id == order_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def order_out(session: AsyncSession, row: Any) -> OrderOut:
    return _out(row, (await _lines(session, [row.id]))[row.id])


def event_data(row: Any, lines: list[OrderLineOut] | None = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_id": row.id,
        "user_id": row.user_id,
        "email": row.email,
        "status": row.status,
        "total_minor": row.total_minor,
        "currency": row.currency,
        "payment_method_id": row.payment_method_id,
        "reason": row.reason,
    }
    if lines is not None:
        data["lines"] = [{"product_id": ln.product_id, "quantity": ln.quantity} for ln in lines]
    data.update(extra)
    return data


async def find_by_key(session: AsyncSession, user_id: str, key: str) -> Any:
    return (
        await session.execute(select(orders).where(orders.c.user_id == user_id, orders.c.idempotency_key == key))
    ).first()


async def place_order(
    session: AsyncSession,
    ctx: ServiceContext,
    principal: Principal,
    body: OrderCreate,
    idempotency_key: str | None,
    quoter: Quoter,
) -> tuple[OrderOut, bool]:
    """Create the order (PENDING) and `order.created` in one transaction. Returns (order,
    replayed): a replay of the same key and body returns the first order unchanged."""
    fingerprint = request_hash(body)
    if idempotency_key is not None:
        existing = await find_by_key(session, principal.sub, idempotency_key)
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise Unprocessable(
                    "Idempotency-Key was already used with a different request body",
                    errors=[{"field": "Idempotency-Key", "message": "reused with a different body"}],
                )
            return await order_out(session, existing), True

    prices = await quoter([line.product_id for line in body.lines])
    currencies = {prices[line.product_id].currency for line in body.lines}
    if len(currencies) != 1:
        raise Unprocessable(f"an order is paid in one currency; these products are priced in {sorted(currencies)}")
    order_id = str(uuid.uuid4())
    stamp = now()
    lines = [
        OrderLineOut(
            product_id=line.product_id,
            sku=prices[line.product_id].sku,
            name=prices[line.product_id].name,
            quantity=line.quantity,
            unit_price_minor=prices[line.product_id].price_minor,
            line_total_minor=prices[line.product_id].price_minor * line.quantity,
        )
        for line in body.lines
    ]
    values = {
        "id": order_id,
        "user_id": principal.sub,
        "email": principal.email or "",
        "status": PENDING,
        "currency": currencies.pop(),
        "total_minor": sum(ln.line_total_minor for ln in lines),
        "payment_method_id": body.payment_method_id,
        "idempotency_key": idempotency_key,
        "request_hash": fingerprint,
        "reason": None,
        "refunded": False,
        "created_at": stamp,
        "updated_at": stamp,
        "paid_at": None,
        "cancelled_at": None,
    }
    row = (await session.execute(insert(orders).values(**values).returning(*orders.c))).one()
    await session.execute(insert(order_lines), [{"order_id": order_id, **ln.model_dump()} for ln in lines])
    await emit(session, ctx, "order.created", order_id, event_data(row, lines))
    return _out(row, lines), False


def _visible_to(principal: Principal, row: Any) -> bool:
    return principal.is_admin or row.user_id == principal.sub


async def get_order(session: AsyncSession, principal: Principal, order_id: str) -> OrderOut:
    row = await _load(session, order_id)
    if row is None or not _visible_to(principal, row):
        raise NotFound(f"order {order_id} not found")
    return await order_out(session, row)


async def list_orders(
    session: AsyncSession, principal: Principal, *, status: str | None, limit: int, offset: int
) -> OrderPage:
    where = [orders.c.user_id == principal.sub]
    if status:
        where.append(orders.c.status == status)
    total = (await session.execute(select(func.count()).select_from(orders).where(*where))).scalar_one()
    rows = (
        await session.execute(
            select(orders).where(*where).order_by(orders.c.created_at.desc(), orders.c.id).limit(limit).offset(offset)
        )
    ).all()
    lines = await _lines(session, [r.id for r in rows])
    return OrderPage(items=[_out(r, lines[r.id]) for r in rows], total=total, limit=limit, offset=offset)


async def _transition(
    session: AsyncSession, order_id: str, allowed: tuple[str, ...], **values: Any
) -> Any | None:
    """Move the order if it is in one of `allowed`; returns the updated row or None."""
    values.setdefault("updated_at", now())
    result = await session.execute(
        update(orders)
        .where(orders.c.id == order_id, orders.c.status.in_(allowed))
        .values(**values)
        .returning(*orders.c)
    )
    return result.first()


async def cancel_order(session: AsyncSession, ctx: ServiceContext, principal: Principal, order_id: str) -> OrderOut:
    row = await _load(session, order_id, lock=True)
    if row is None or not _visible_to(principal, row):
        raise NotFound(f"order {order_id} not found")
    if row.status == CANCELLED:
        raise Conflict(f"order {order_id} is already cancelled")
    paid = row.status == PAID
    reason = "cancelled by the customer" + ("; the payment is refunded" if paid else "")
    stamp = now()
    moved = await _transition(
        session, order_id, (*OPEN_STATES, PAID), status=CANCELLED, reason=reason, cancelled_at=stamp
    )
    if moved is None:
        raise Conflict(f"order {order_id} changed state meanwhile; retry")
    await emit(session, ctx, "order.cancelled", order_id, event_data(moved, paid=paid, by="customer"))
    return await order_out(session, moved)


# ------------------------------------------------------------------ saga handlers


async def on_inventory_reserved(event: CloudEvent, session: AsyncSession, ctx: ServiceContext) -> None:
    await _transition(session, event.subject, (PENDING,), status=RESERVED)


async def _cancel_by_saga(session: AsyncSession, ctx: ServiceContext, order_id: str, reason: str) -> None:
    moved = await _transition(
        session, order_id, OPEN_STATES, status=CANCELLED, reason=reason[:300], cancelled_at=now()
    )
    if moved is not None:
        await emit(session, ctx, "order.cancelled", order_id, event_data(moved, paid=False, by="saga"))


async def on_inventory_rejected(event: CloudEvent, session: AsyncSession, ctx: ServiceContext) -> None:
    await _cancel_by_saga(session, ctx, event.subject, f"out of stock: {event.data.get('reason') or 'rejected'}")


async def on_payment_succeeded(event: CloudEvent, session: AsyncSession, ctx: ServiceContext) -> None:
    stamp = now()
    moved = await _transition(session, event.subject, OPEN_STATES, status=PAID, paid_at=stamp)
    if moved is not None:
        await emit(session, ctx, "order.paid", event.subject, event_data(moved, charge_id=event.data.get("charge_id")))
    # A payment for an order cancelled meanwhile is refunded by payment-service on order.cancelled.


async def on_payment_failed(event: CloudEvent, session: AsyncSession, ctx: ServiceContext) -> None:
    await _cancel_by_saga(session, ctx, event.subject, f"payment failed: {event.data.get('reason') or 'declined'}")


async def on_payment_refunded(event: CloudEvent, session: AsyncSession, ctx: ServiceContext) -> None:
    await session.execute(update(orders).where(orders.c.id == event.subject).values(refunded=True, updated_at=now()))


HANDLERS = {
    "inventory.reserved": on_inventory_reserved,
    "inventory.rejected": on_inventory_rejected,
    "payment.succeeded": on_payment_succeeded,
    "payment.failed": on_payment_failed,
    "payment.refunded": on_payment_refunded,
}
