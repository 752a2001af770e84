"""Initial schema: orders, lines, events (audit chain), chain heads, shard epochs, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Hand-written (no autogenerate). Portable types only: BIGINT, INTEGER, TEXT, BYTEA/BLOB; partial
index on the unsealed events (PostgreSQL, CockroachDB and SQLite all support it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("customer_country", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("create_time_us", sa.BigInteger(), nullable=False),
        sa.Column("update_time_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_orders"),
    )
    op.create_index(
        "ix_orders_listing",
        "orders",
        ["tenant", "zone", sa.text("create_time_us DESC"), sa.text("order_id DESC")],
    )
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "line_no", name="pk_order_lines"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name="fk_order_lines_order", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "order_events",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("shard_key", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("order_version", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("occurred_us", sa.BigInteger(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("prev_hash", sa.Text(), nullable=True),
        sa.Column("chain_hash", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_order_events"),
        sa.UniqueConstraint("shard_key", "sequence", name="uq_order_events_shard_sequence"),
    )
    # The sealer's work queue: only unsealed events are indexed, so it stays small.
    op.create_index(
        "ix_order_events_unsealed",
        "order_events",
        ["shard_key"],
        postgresql_where=sa.text("sequence IS NULL"),
        sqlite_where=sa.text("sequence IS NULL"),
    )
    op.create_table(
        "shard_chains",
        sa.Column("shard_key", sa.Text(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("shard_key", name="pk_shard_chains"),
    )
    op.create_table(
        "shard_epochs",
        sa.Column("shard_key", sa.Text(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("home_region", sa.Text(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shard_key", name="pk_shard_epochs"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "method", "request_id", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_expires", "idempotency_keys", ["expires_us"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("shard_epochs")
    op.drop_table("shard_chains")
    op.drop_index("ix_order_events_unsealed", table_name="order_events")
    op.drop_table("order_events")
    op.drop_table("order_lines")
    op.drop_table("orders")
