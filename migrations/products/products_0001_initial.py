"""products: categories, products, stock levels, reservations, outbox and processed events

Revision ID: products_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "products_0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "products"


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_categories"),
        sa.UniqueConstraint("slug", name="uq_categories_slug"),
        schema=SCHEMA,
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("sku", name="uq_products_sku"),
        sa.ForeignKeyConstraint(
            ["category_id"],
            [f"{SCHEMA}.categories.id"],
            name="fk_products_category_id_categories",
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint("price_minor >= 0", name="ck_products_price_non_negative"),
        sa.CheckConstraint("length(currency) = 3", name="ck_products_currency_iso"),
        schema=SCHEMA,
    )
    op.create_index("ix_products_name", "products", ["name"], schema=SCHEMA)
    op.create_index("ix_products_category_id", "products", ["category_id"], schema=SCHEMA)
    op.create_index("ix_products_price_minor", "products", ["price_minor"], schema=SCHEMA)
    op.create_table(
        "stock_levels",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("product_id", name="pk_stock_levels"),
        sa.ForeignKeyConstraint(
            ["product_id"],
            [f"{SCHEMA}.products.id"],
            name="fk_stock_levels_product_id_products",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("on_hand >= 0", name="ck_stock_levels_on_hand_non_negative"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_levels_reserved_non_negative"),
        sa.CheckConstraint("reserved <= on_hand", name="ck_stock_levels_reserved_within_on_hand"),
        schema=SCHEMA,
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("order_id", name="pk_reservations"),
        sa.CheckConstraint(
            "status IN ('reserved', 'rejected', 'committed', 'released')", name="ck_reservations_status_known"
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "reservation_lines",
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "product_id", name="pk_reservation_lines"),
        sa.ForeignKeyConstraint(
            ["order_id"],
            [f"{SCHEMA}.reservations.order_id"],
            name="fk_reservation_lines_order_id_reservations",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("quantity > 0", name="ck_reservation_lines_quantity_positive"),
        schema=SCHEMA,
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"], schema=SCHEMA)
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("processed_events", schema=SCHEMA)
    op.drop_index("ix_outbox_published_at", table_name="outbox", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_table("reservation_lines", schema=SCHEMA)
    op.drop_table("reservations", schema=SCHEMA)
    op.drop_table("stock_levels", schema=SCHEMA)
    op.drop_index("ix_products_price_minor", table_name="products", schema=SCHEMA)
    op.drop_index("ix_products_category_id", table_name="products", schema=SCHEMA)
    op.drop_index("ix_products_name", table_name="products", schema=SCHEMA)
    op.drop_table("products", schema=SCHEMA)
    op.drop_table("categories", schema=SCHEMA)
