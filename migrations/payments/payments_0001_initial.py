"""payments: initial tables (with the outbox and processed_events of the event backbone)

Revision ID: payments_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "payments_0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "payments"


def upgrade() -> None:
    op.create_table("outbox",
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
    sa.Column("event_id", sa.String(length=64), nullable=False),
    sa.Column("topic", sa.String(length=128), nullable=False),
    sa.Column("key", sa.String(length=128), nullable=False),
    sa.Column("type", sa.String(length=128), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
    sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    schema=SCHEMA
    )
    op.create_index(op.f("ix_outbox_published_at"), "outbox", ["published_at"], unique=False, schema=SCHEMA)
    op.create_table("payment_methods",
    sa.Column("id", sa.String(length=40), nullable=False),
    sa.Column("user_id", sa.String(length=64), nullable=False),
    sa.Column("brand", sa.String(length=16), nullable=False),
    sa.Column("last4", sa.String(length=4), nullable=False),
    sa.Column("exp_month", sa.Integer(), nullable=False),
    sa.Column("exp_year", sa.Integer(), nullable=False),
    sa.Column("provider_ref", sa.String(length=80), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
    schema=SCHEMA
    )
    op.create_index(op.f("ix_payment_methods_user_id"), "payment_methods", ["user_id"], unique=False, schema=SCHEMA)
    op.create_table("payments",
    sa.Column("order_id", sa.String(length=36), nullable=False),
    sa.Column("user_id", sa.String(length=64), nullable=False),
    sa.Column("payment_method_id", sa.String(length=40), nullable=True),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(length=3), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("charge_id", sa.String(length=40), nullable=True),
    sa.Column("refund_id", sa.String(length=40), nullable=True),
    sa.Column("failure_code", sa.String(length=40), nullable=True),
    sa.Column("failure_message", sa.String(length=300), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("order_id", name=op.f("pk_payments")),
    schema=SCHEMA
    )
    op.create_index(op.f("ix_payments_user_id"), "payments", ["user_id"], unique=False, schema=SCHEMA)
    op.create_table("processed_events",
    sa.Column("consumer", sa.String(length=128), nullable=False),
    sa.Column("event_id", sa.String(length=64), nullable=False),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
    schema=SCHEMA
    )
    op.create_table("provider_ledger",
    sa.Column("id", sa.String(length=40), nullable=False),
    sa.Column("idempotency_key", sa.String(length=80), nullable=False),
    sa.Column("kind", sa.String(length=8), nullable=False),
    sa.Column("provider_ref", sa.String(length=80), nullable=True),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(length=3), nullable=False),
    sa.Column("outcome", sa.String(length=24), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_ledger")),
    sa.UniqueConstraint("idempotency_key", name=op.f("uq_provider_ledger_idempotency_key")),
    schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("provider_ledger", schema=SCHEMA)
    op.drop_table("processed_events", schema=SCHEMA)
    op.drop_index(op.f("ix_payments_user_id"), table_name="payments", schema=SCHEMA)
    op.drop_table("payments", schema=SCHEMA)
    op.drop_index(op.f("ix_payment_methods_user_id"), table_name="payment_methods", schema=SCHEMA)
    op.drop_table("payment_methods", schema=SCHEMA)
    op.drop_index(op.f("ix_outbox_published_at"), table_name="outbox", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
