"""product-service's part of the order saga (choreography, see ARCHITECTURE.md §4):

- `order.created`   → reserve every line or none → `inventory.reserved` | `inventory.rejected`
- `order.paid`      → commit the reservation (units leave stock)  → `inventory.committed`
- `order.cancelled` → release it (reserved or committed units return) → `inventory.released`

Each handler runs inside the idempotent consumer's transaction; the follow-up event goes to the
products outbox in that same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloudmart.core.errors import NotFound
from cloudmart.core.events.envelope import TOPIC_ORDERS, CloudEvent
from cloudmart.core.events.outbox import emit
from cloudmart.core.service import EventHandler, ServiceContext
from cloudmart.services.products import service


def _order_summary(data: dict[str, Any]) -> dict[str, Any]:
    """What payment-service needs downstream, carried along so it never asks order-service."""
    keys = ("order_id", "user_id", "email", "total_minor", "currency", "payment_method_id")
    return {k: data.get(k) for k in keys}


async def on_order_created(event: CloudEvent, session: AsyncSession, ctx: ServiceContext) -> None:
    order_id = event.subject
    try:
        result = await service.reserve_stock(session, order_id, event.data.get("lines") or [])
    except ValueError as exc:
        await emit(session, ctx, "inventory.rejected", order_id,
                   {**_order_summary(event.data), "reason": f"invalid order lines: {exc}", "shortages": []})
        return
    if not result.changed:
        return  # replay of an order already decided, or cancelled before it was reserved
    if result.ok:
        await emit(session, ctx, "inventory.reserved", order_id,
                   {**_order_summary(event.data), "lines": result.as_dict()["lines"]})
    else:
        await emit(session, ctx, "inventory.rejected", order_id,
                   {**_order_summary(event.data), "reason": result.reason, "shortages": list(result.shortages)})


async def on_order_paid(event: CloudEvent, session: AsyncSession, ctx: ServiceContext) -> None:
    try:
        result = await service.commit_reservation(session, event.subject)
    except NotFound:
        return  # nothing was reserved for it (cannot happen in the saga's order; nothing to commit)
    if result.changed:
        await emit(session, ctx, "inventory.committed", event.subject, result.as_dict())


async def on_order_cancelled(event: CloudEvent, session: AsyncSession, ctx: ServiceContext) -> None:
    result = await service.release_reservation(session, event.subject, event.data.get("reason"))
    if result.changed and result.lines:
        await emit(session, ctx, "inventory.released", event.subject, result.as_dict())


HANDLERS: dict[str, EventHandler] = {
    "order.created": on_order_created,
    "order.paid": on_order_paid,
    "order.cancelled": on_order_cancelled,
}
TOPICS: tuple[str, ...] = (TOPIC_ORDERS,)
