"""order-service tables (schema `orders`): orders, their lines, and the event tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from cloudmart.core.db import service_metadata
from cloudmart.core.events.tables import add_event_tables

SCHEMA = "orders"
metadata = service_metadata(SCHEMA)

PENDING, RESERVED, PAID, CANCELLED = "PENDING", "RESERVED", "PAID", "CANCELLED"
OPEN_STATES = (PENDING, RESERVED)

orders = Table(
    "orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("email", String(320), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("payment_method_id", String(64), nullable=False),
    Column("idempotency_key", String(128), nullable=True),
    Column("request_hash", String(64), nullable=True),
    Column("reason", String(300), nullable=True),
    Column("refunded", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("paid_at", DateTime(timezone=True), nullable=True),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("user_id", "idempotency_key"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("order_id", String(36), ForeignKey("orders.orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("product_id", Integer, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("line_total_minor", BigInteger, nullable=False),
)

outbox, processed_events = add_event_tables(metadata)
