"""orders: initial tables (with the outbox and processed_events of the event backbone)

Revision ID: orders_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "orders_0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "orders"


def upgrade() -> None:
    op.create_table("orders",
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("user_id", sa.String(length=64), nullable=False),
    sa.Column("email", sa.String(length=320), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("currency", sa.String(length=3), nullable=False),
    sa.Column("total_minor", sa.BigInteger(), nullable=False),
    sa.Column("payment_method_id", sa.String(length=64), nullable=False),
    sa.Column("idempotency_key", sa.String(length=128), nullable=True),
    sa.Column("request_hash", sa.String(length=64), nullable=True),
    sa.Column("reason", sa.String(length=300), nullable=True),
    sa.Column("refunded", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    sa.UniqueConstraint("user_id", "idempotency_key", name=op.f("uq_orders_user_id_idempotency_key")),
    schema=SCHEMA
    )
    op.create_index(op.f("ix_orders_user_id"), "orders", ["user_id"], unique=False, schema=SCHEMA)
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
    op.create_table("processed_events",
    sa.Column("consumer", sa.String(length=128), nullable=False),
    sa.Column("event_id", sa.String(length=64), nullable=False),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
    schema=SCHEMA
    )
    op.create_table("order_lines",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
    sa.Column("order_id", sa.String(length=36), nullable=False),
    sa.Column("product_id", sa.Integer(), nullable=False),
    sa.Column("sku", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("quantity", sa.Integer(), nullable=False),
    sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
    sa.Column("line_total_minor", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["order_id"], ["orders.orders.id"], name=op.f("fk_order_lines_order_id_orders"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    schema=SCHEMA
    )
    op.create_index(op.f("ix_order_lines_order_id"), "order_lines", ["order_id"], unique=False, schema=SCHEMA)


def downgrade() -> None:
    op.drop_index(op.f("ix_order_lines_order_id"), table_name="order_lines", schema=SCHEMA)
    op.drop_table("order_lines", schema=SCHEMA)
    op.drop_table("processed_events", schema=SCHEMA)
    op.drop_index(op.f("ix_outbox_published_at"), table_name="outbox", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_index(op.f("ix_orders_user_id"), table_name="orders", schema=SCHEMA)
    op.drop_table("orders", schema=SCHEMA)
