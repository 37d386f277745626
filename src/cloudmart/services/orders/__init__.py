"""order-service: orders with an Idempotency-Key, the order state machine driven by events."""

from __future__ import annotations

from cloudmart.core.events.envelope import TOPIC_INVENTORY, TOPIC_PAYMENTS
from cloudmart.core.service import ServiceSpec
from cloudmart.services.orders.api import router
from cloudmart.services.orders.models import metadata
from cloudmart.services.orders.service import HANDLERS

SPEC = ServiceSpec(
    name="orders",
    title="order-service",
    router=router,
    metadata=metadata,
    event_handlers=HANDLERS,
    topics=(TOPIC_INVENTORY, TOPIC_PAYMENTS),
    batch_events=True,
)
