"""notification-service tables (schema `notifications`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from cloudmart.core.db import service_metadata
from cloudmart.core.events.tables import add_event_tables

SCHEMA = "notifications"
metadata = service_metadata(SCHEMA)

# deliveries.status
PENDING, SENT, DEAD = "pending", "sent", "dead"

# The in-app feed; one notification per (order, kind), so a user sees each one once.
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("order_id", String(36), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("order_id", "kind"),
)

# E-mail deliveries: retried with backoff, then kept as a dead-letter record (status "dead").
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column(
        "notification_id", BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("notifications.notifications.id", ondelete="CASCADE"), nullable=False, index=True,
    ),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
)

outbox, processed_events = add_event_tables(metadata)
