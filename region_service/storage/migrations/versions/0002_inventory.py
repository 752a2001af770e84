"""Inventory: customer tier on orders, stock per SKU per warehouse, inbound stock, reservations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Hand-written (no autogenerate: the CockroachDB dialect cannot reflect PostgreSQL). Portable types
only; the reaper's partial index holds only `held` reservations, as 0001's unsealed-events index does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # server_default 0 (standard): orders written before this revision keep a valid tier.
    op.add_column("orders", sa.Column("customer_tier", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "stock_levels",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("warehouse", sa.Text(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=False),
        sa.Column("on_hand", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("safety_stock", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "sku", "warehouse", name="pk_stock_levels"),
    )
    op.create_table(
        "inbound_stock",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("inbound_id", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("warehouse", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("eta_us", sa.BigInteger(), nullable=False),
        sa.Column("received_us", sa.BigInteger(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "inbound_id", name="pk_inbound_stock"),
    )
    op.create_index("ix_inbound_stock_sku", "inbound_stock", ["tenant", "sku"])
    op.create_table(
        "reservations",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("reservation_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("warehouse", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "reservation_id", name="pk_reservations"),
    )
    op.create_index("ix_reservations_order", "reservations", ["order_id"])
    held = sa.text("state = 'held'")
    op.create_index(
        "ix_reservations_held_expiry",
        "reservations",
        ["expires_us"],
        postgresql_where=held,
        sqlite_where=held,
    )


def downgrade() -> None:
    op.drop_index("ix_reservations_held_expiry", table_name="reservations")
    op.drop_index("ix_reservations_order", table_name="reservations")
    op.drop_table("reservations")
    op.drop_index("ix_inbound_stock_sku", table_name="inbound_stock")
    op.drop_table("inbound_stock")
    op.drop_table("stock_levels")
    with op.batch_alter_table("orders") as batch:  # SQLite cannot drop a column in place
        batch.drop_column("customer_tier")
