"""Multi-zone SKU pools: per-zone slices, escrow quota transfers, inventory lease locks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Hand-written (no autogenerate). Portable types only: BIGINT, TEXT; explicit constraint names
(CHECK constraints are accepted by PostgreSQL, CockroachDB and SQLite in CREATE TABLE).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "sku_pools",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=False),
        sa.Column("strategy", sa.Text(), nullable=False),
        sa.Column("zones", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("stock", sa.BigInteger(), nullable=False),
        sa.Column("low_watermark", sa.BigInteger(), nullable=False),
        sa.Column("free", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("committed", sa.BigInteger(), nullable=False),
        sa.Column("fence", sa.BigInteger(), nullable=False),
        sa.Column("taken", sa.Text(), nullable=False),
        sa.Column("returned", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "sku", "zone", name="pk_sku_pools"),
        sa.CheckConstraint("strategy IN ('strong', 'escrow', 'eventual')", name="ck_sku_pools_strategy"),
        sa.CheckConstraint("free >= 0 AND held >= 0 AND committed >= 0", name="ck_sku_pools_counts"),
    )
    op.create_table(
        "pool_transfers",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=False),
        sa.Column("transfer_id", sa.Text(), nullable=False),
        sa.Column("from_zone", sa.Text(), nullable=False),
        sa.Column("to_zone", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "sku", "zone", "transfer_id", name="pk_pool_transfers"),
        sa.CheckConstraint("state IN ('sent', 'received', 'done')", name="ck_pool_transfers_state"),
        sa.CheckConstraint("quantity > 0", name="ck_pool_transfers_quantity"),
    )
    op.create_index("ix_pool_transfers_state", "pool_transfers", ["tenant", "sku", "state"])
    op.create_table(
        "inventory_leases",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_inventory_leases"),
    )


def downgrade() -> None:
    op.drop_table("inventory_leases")
    op.drop_index("ix_pool_transfers_state", table_name="pool_transfers")
    op.drop_table("pool_transfers")
    op.drop_table("sku_pools")
