"""notification-service response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class NotificationOut(BaseModel):
    id: int
    order_id: str
    kind: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    total: int
    unread: int


class DeliveryOut(BaseModel):
    id: int
    notification_id: int
    channel: str
    recipient: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None
