"""notification-service: turn saga events into notifications (in-app feed + e-mail) and deliver
e-mail with retries and a dead-letter record."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cloudmart.core.auth import Principal
from cloudmart.core.errors import NotFound
from cloudmart.core.events.envelope import CloudEvent
from cloudmart.core.service import ServiceContext
from cloudmart.services.notifications.channels import SmtpChannel
from cloudmart.services.notifications.models import DEAD, PENDING, SENT, deliveries, notifications
from cloudmart.services.notifications.schemas import DeliveryOut, NotificationOut, NotificationPage

log = structlog.get_logger("cloudmart.notifications")

CHANNEL_KEY = "smtp_channel"
MAX_ATTEMPTS = 5
BASE_BACKOFF_SECONDS = 2.0


def now() -> datetime:
    return datetime.now(UTC)


def _money(minor: Any, currency: Any) -> str:
    try:
        return f"{int(minor) / 100:.2f} {currency}"
    except (TypeError, ValueError):
        return f"{minor} {currency}"


def render(event: CloudEvent) -> tuple[str, str, str] | None:
    """(kind, title, body) for an event a customer hears about, else None."""
    d = event.data
    short = event.subject[:8]
    amount = _money(d.get("total_minor", d.get("amount_minor")), d.get("currency"))
    if event.type == "order.paid":
        return "order_paid", f"Order {short} is paid", f"We received {amount} for order {event.subject}. Thank you!"
    if event.type == "order.cancelled":
        reason = d.get("reason") or "cancelled"
        return "order_cancelled", f"Order {short} was cancelled", f"Order {event.subject} was cancelled: {reason}."
    if event.type == "payment.refunded":
        return "payment_refunded", f"Refund for order {short}", f"{amount} was refunded for order {event.subject}."
    return None


async def notify(event: CloudEvent, session: AsyncSession, ctx: ServiceContext) -> None:
    rendered = render(event)
    user_id = event.data.get("user_id")
    if rendered is None or not user_id:
        return
    kind, title, body = rendered
    # One statement: (order_id, kind) is unique, so a second event of the same kind inserts nothing.
    insert_ = pg_insert if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite_insert
    result = await session.execute(
        insert_(notifications)
        .values(user_id=user_id, order_id=event.subject, kind=kind, title=title, body=body, created_at=now())
        .on_conflict_do_nothing(index_elements=["order_id", "kind"])
        .returning(notifications.c.id)
    )
    notification_id = result.scalar_one_or_none()
    if notification_id is None:
        return
    email = event.data.get("email")
    if email and ctx.extras.get(CHANNEL_KEY) is not None:
        await session.execute(
            insert(deliveries).values(
                notification_id=notification_id, channel="email", recipient=email, status=PENDING,
                attempts=0, next_attempt_at=now(),
            )
        )


HANDLERS = {"order.paid": notify, "order.cancelled": notify, "payment.refunded": notify}


async def deliver_due(ctx: ServiceContext, *, limit: int = 50) -> int:
    """Send the e-mails that are due; returns how many were attempted."""
    channel: SmtpChannel | None = ctx.extras.get(CHANNEL_KEY)
    if channel is None:
        return 0
    base = float(ctx.extras.get("smtp_backoff_seconds", BASE_BACKOFF_SECONDS))
    max_attempts = int(ctx.extras.get("smtp_max_attempts", MAX_ATTEMPTS))
    query = (
        select(deliveries, notifications.c.title, notifications.c.body)
        .join(notifications, notifications.c.id == deliveries.c.notification_id)
        .where(deliveries.c.status == PENDING, deliveries.c.next_attempt_at <= now())
        .order_by(deliveries.c.id)
        .limit(limit)
    )
    if not ctx.db.is_sqlite:
        query = query.with_for_update(of=deliveries, skip_locked=True)
    async with ctx.db.transaction() as session:
        due = (await session.execute(query)).all()
        for row in due:
            attempts = row.attempts + 1
            try:
                await channel.send(row.recipient, row.title, row.body)
            except Exception as exc:  # any SMTP or network failure: retry later, then dead-letter
                dead = attempts >= max_attempts
                await session.execute(
                    update(deliveries).where(deliveries.c.id == row.id).values(
                        attempts=attempts,
                        status=DEAD if dead else PENDING,
                        last_error=repr(exc)[:500],
                        next_attempt_at=now() + timedelta(seconds=base * 2 ** (attempts - 1)),
                    )
                )
                log.warning("e-mail delivery failed", delivery=row.id, attempt=attempts, dead=dead, error=repr(exc)[:200])
                continue
            await session.execute(
                update(deliveries).where(deliveries.c.id == row.id).values(attempts=attempts, status=SENT, sent_at=now())
            )
    return len(due)


async def delivery_worker(ctx: ServiceContext, *, interval: float = 0.5) -> None:
    if ctx.extras.get(CHANNEL_KEY) is None:
        channel = SmtpChannel.from_settings(ctx.settings)
        if channel is None:
            return  # no SMTP configured: notifications stay in the in-app feed only
        ctx.extras[CHANNEL_KEY] = channel
    while True:
        try:
            await deliver_due(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # database away: try again on the next tick
            log.warning("delivery pass failed", error=repr(exc)[:300])
        await asyncio.sleep(interval)


async def on_startup(ctx: ServiceContext) -> None:
    channel = SmtpChannel.from_settings(ctx.settings)
    if channel is not None:
        ctx.extras.setdefault(CHANNEL_KEY, channel)


def _out(row: Any) -> NotificationOut:
    return NotificationOut(**{k: getattr(row, k) for k in NotificationOut.model_fields})


async def feed(session: AsyncSession, principal: Principal, *, unread_only: bool, limit: int, offset: int) -> NotificationPage:
    mine = notifications.c.user_id == principal.sub
    where = [mine, notifications.c.read_at.is_(None)] if unread_only else [mine]
    total = (await session.execute(select(func.count()).select_from(notifications).where(*where))).scalar_one()
    unread = (
        await session.execute(select(func.count()).select_from(notifications).where(mine, notifications.c.read_at.is_(None)))
    ).scalar_one()
    rows = await session.execute(
        select(notifications).where(*where).order_by(notifications.c.id.desc()).limit(limit).offset(offset)
    )
    return NotificationPage(items=[_out(r) for r in rows], total=total, unread=unread)


async def mark_read(session: AsyncSession, principal: Principal, notification_id: int) -> NotificationOut:
    row = (await session.execute(select(notifications).where(notifications.c.id == notification_id))).first()
    if row is None or row.user_id != principal.sub:
        raise NotFound(f"notification {notification_id} not found")
    if row.read_at is None:
        await session.execute(update(notifications).where(notifications.c.id == notification_id).values(read_at=now()))
        row = (await session.execute(select(notifications).where(notifications.c.id == notification_id))).first()
    return _out(row)


async def list_deliveries(session: AsyncSession, *, status: str | None, limit: int) -> list[DeliveryOut]:
    query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
    if status:
        query = query.where(deliveries.c.status == status)
    return [DeliveryOut(**{k: getattr(r, k) for k in DeliveryOut.model_fields}) for r in await session.execute(query)]
