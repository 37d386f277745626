"""payment-service tables (schema `payments`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, String, Table

from cloudmart.core.db import service_metadata
from cloudmart.core.events.tables import add_event_tables

SCHEMA = "payments"
metadata = service_metadata(SCHEMA)

# payments.status
PROCESSING, SUCCEEDED, FAILED, REFUNDED, VOIDED = "processing", "succeeded", "failed", "refunded", "voided"

# Only brand and last4 of a card are kept; the provider holds the card behind `provider_ref`.
payment_methods = Table(
    "payment_methods",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("brand", String(16), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
    Column("provider_ref", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One row per order: at most one successful charge per order, whatever is redelivered.
payments = Table(
    "payments",
    metadata,
    Column("order_id", String(36), primary_key=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("payment_method_id", String(40), nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("charge_id", String(40), nullable=True),
    Column("refund_id", String(40), nullable=True),
    Column("failure_code", String(40), nullable=True),
    Column("failure_message", String(300), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The sandbox provider's own ledger: every charge and refund it performed, unique per
# idempotency key — the record that proves no order was charged twice.
provider_ledger = Table(
    "provider_ledger",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(80), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),  # charge | refund
    Column("provider_ref", String(80), nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("outcome", String(24), nullable=False),  # succeeded | card_declined | insufficient_funds
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outbox, processed_events = add_event_tables(metadata)
