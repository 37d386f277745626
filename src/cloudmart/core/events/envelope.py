"""CloudEvents 1.0 structured JSON envelope used on every topic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

TOPIC_ORDERS = "cloudmart.orders"
TOPIC_INVENTORY = "cloudmart.inventory"
TOPIC_PAYMENTS = "cloudmart.payments"
# Dead-letter records of events a consumer could not apply (written through the outbox).
TOPIC_DEADLETTER = "cloudmart.deadletter"
SAGA_TOPICS = (TOPIC_ORDERS, TOPIC_INVENTORY, TOPIC_PAYMENTS)

# Event type -> topic. Kafka key is always the order id (the event's subject) for per-order ordering.
TOPIC_OF = {
    "order.created": TOPIC_ORDERS,
    "order.cancel_requested": TOPIC_ORDERS,
    "order.paid": TOPIC_ORDERS,
    "order.cancelled": TOPIC_ORDERS,
    "inventory.reserved": TOPIC_INVENTORY,
    "inventory.rejected": TOPIC_INVENTORY,
    "inventory.released": TOPIC_INVENTORY,
    "inventory.committed": TOPIC_INVENTORY,
    "payment.succeeded": TOPIC_PAYMENTS,
    "payment.failed": TOPIC_PAYMENTS,
    "payment.refunded": TOPIC_PAYMENTS,
    "deadletter": TOPIC_DEADLETTER,
}


class CloudEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str  # e.g. "/cloudmart/order-service"
    type: str  # e.g. "order.created"
    specversion: str = "1.0"
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str  # the order id
    datacontenttype: str = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate(orjson.loads(raw))
