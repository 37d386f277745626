"""notifications: initial tables (with the outbox and processed_events of the event backbone)

Revision ID: notifications_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "notifications"


def upgrade() -> None:
    op.create_table("notifications",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
    sa.Column("user_id", sa.String(length=64), nullable=False),
    sa.Column("order_id", sa.String(length=36), nullable=False),
    sa.Column("kind", sa.String(length=32), nullable=False),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    sa.UniqueConstraint("order_id", "kind", name=op.f("uq_notifications_order_id_kind")),
    schema=SCHEMA
    )
    op.create_index(op.f("ix_notifications_user_id"), "notifications", ["user_id"], unique=False, schema=SCHEMA)
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
    op.create_table("deliveries",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
    sa.Column("notification_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("channel", sa.String(length=16), nullable=False),
    sa.Column("recipient", sa.String(length=320), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["notification_id"], ["notifications.notifications.id"], name=op.f("fk_deliveries_notification_id_notifications"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    schema=SCHEMA
    )
    op.create_index(op.f("ix_deliveries_notification_id"), "deliveries", ["notification_id"], unique=False, schema=SCHEMA)
    op.create_index(op.f("ix_deliveries_status"), "deliveries", ["status"], unique=False, schema=SCHEMA)


def downgrade() -> None:
    op.drop_index(op.f("ix_deliveries_status"), table_name="deliveries", schema=SCHEMA)
    op.drop_index(op.f("ix_deliveries_notification_id"), table_name="deliveries", schema=SCHEMA)
    op.drop_table("deliveries", schema=SCHEMA)
    op.drop_table("processed_events", schema=SCHEMA)
    op.drop_index(op.f("ix_outbox_published_at"), table_name="outbox", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_index(op.f("ix_notifications_user_id"), table_name="notifications", schema=SCHEMA)
    op.drop_table("notifications", schema=SCHEMA)
