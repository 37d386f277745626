"""notification-service: order and payment notifications (in-app feed, e-mail over SMTP)."""

from __future__ import annotations

from cloudmart.core.events.envelope import TOPIC_ORDERS, TOPIC_PAYMENTS
from cloudmart.core.service import ServiceSpec
from cloudmart.services.notifications.api import router
from cloudmart.services.notifications.models import metadata
from cloudmart.services.notifications.service import HANDLERS, delivery_worker, on_startup

SPEC = ServiceSpec(
    name="notifications",
    title="notification-service",
    router=router,
    metadata=metadata,
    event_handlers=HANDLERS,
    topics=(TOPIC_ORDERS, TOPIC_PAYMENTS),
    batch_events=True,
    on_startup=on_startup,
    workers=(delivery_worker,),
)
