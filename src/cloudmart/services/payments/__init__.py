"""payment-service: card tokenization (sandbox provider), charge and refund in the order saga."""

from __future__ import annotations

from cloudmart.core.events.envelope import TOPIC_INVENTORY, TOPIC_ORDERS
from cloudmart.core.service import ServiceSpec
from cloudmart.services.payments.api import router
from cloudmart.services.payments.models import metadata
from cloudmart.services.payments.service import HANDLERS

SPEC = ServiceSpec(
    name="payments",
    title="payment-service",
    router=router,
    metadata=metadata,
    event_handlers=HANDLERS,
    topics=(TOPIC_INVENTORY, TOPIC_ORDERS),
    batch_events=True,
)
