"""The zone database schema as SQLAlchemy Core tables (the migrations in migrations/versions create it).

Times are BIGINT microseconds since the Unix epoch: exact, portable, and the same integers the
domain uses. Money is BIGINT minor units plus a currency code. Constraint names are explicit so
that error handling (see transactions.py) can tell which constraint a conflict hit, on every backend.

Why the audit chain is sealed asynchronously: a writer only INSERTs its event *unsealed* (no
sequence, no hashes) in its own transaction. A separate sealer (chain.py) later gives each shard's
unsealed events their (sequence, prev_hash, chain_hash) with `ordermesh.audit.seal` and moves the
shard's chain head in `shard_chains`. If every writer advanced the chain head itself, all writes of
a shard would serialize on that one hot row, and under SERIALIZABLE most of them would abort and
retry under load. The sealer is the only writer of the chain head, so writers never conflict with
each other on it; and because it seals only what is already committed and visible, the sequence it
assigns follows commit visibility, which is what a watch cursor needs: no event can ever appear
behind a cursor a reader has already passed.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Constraint names the transaction runner treats as "a concurrent twin committed first: re-run".
IDEMPOTENCY_PK = "pk_idempotency_keys"
SHARD_CHAINS_PK = "pk_shard_chains"
SHARD_EPOCHS_PK = "pk_shard_epochs"
EVENT_SEQUENCE_UQ = "uq_order_events_shard_sequence"

orders = Table(
    "orders",
    metadata,
    Column("order_id", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("zone", Text, nullable=False),
    Column("bucket", Integer, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("customer_country", Text, nullable=False),
    Column("customer_tier", Integer, nullable=False, server_default="0"),  # 0002
    Column("status", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("create_time_us", BigInteger, nullable=False),
    Column("update_time_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("order_id", name="pk_orders"),
)
Index(
    "ix_orders_listing",
    orders.c.tenant,
    orders.c.zone,
    orders.c.create_time_us.desc(),
    orders.c.order_id.desc(),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", Text, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", Text, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    PrimaryKeyConstraint("order_id", "line_no", name="pk_order_lines"),
    ForeignKeyConstraint(["order_id"], ["orders.order_id"], name="fk_order_lines_order", ondelete="CASCADE"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("event_id", Text, nullable=False),
    Column("shard_key", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("order_version", BigInteger, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("from_status", Text, nullable=True),
    Column("to_status", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("occurred_us", BigInteger, nullable=False),
    Column("sequence", BigInteger, nullable=True),
    Column("prev_hash", Text, nullable=True),
    Column("chain_hash", Text, nullable=True),
    PrimaryKeyConstraint("event_id", name="pk_order_events"),
    UniqueConstraint("shard_key", "sequence", name=EVENT_SEQUENCE_UQ),
)
# The sealer's work queue: only unsealed rows are in this index, so it stays small.
Index(
    "ix_order_events_unsealed",
    order_events.c.shard_key,
    postgresql_where=order_events.c.sequence.is_(None),
    sqlite_where=order_events.c.sequence.is_(None),
)

shard_chains = Table(
    "shard_chains",
    metadata,
    Column("shard_key", Text, nullable=False),
    Column("last_sequence", BigInteger, nullable=False),
    Column("last_hash", Text, nullable=False),
    PrimaryKeyConstraint("shard_key", name=SHARD_CHAINS_PK),
)

shard_epochs = Table(
    "shard_epochs",
    metadata,
    Column("shard_key", Text, nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("home_region", Text, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("shard_key", name=SHARD_EPOCHS_PK),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("request_id", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "method", "request_id", name=IDEMPOTENCY_PK),
)
Index("ix_idempotency_keys_expires", idempotency_keys.c.expires_us)

# Inventory (migration 0002): stock per SKU per warehouse, inbound stock, order-line reservations.
# A tenant's catalogue is its own: every row carries the tenant, and every read filters on it.
STOCK_LEVELS_PK = "pk_stock_levels"
RESERVATIONS_PK = "pk_reservations"

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("tenant", Text, nullable=False),
    Column("sku", Text, nullable=False),
    Column("warehouse", Text, nullable=False),
    Column("zone", Text, nullable=False),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("safety_stock", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "sku", "warehouse", name=STOCK_LEVELS_PK),
)

inbound_stock = Table(
    "inbound_stock",
    metadata,
    Column("tenant", Text, nullable=False),
    Column("inbound_id", Text, nullable=False),
    Column("sku", Text, nullable=False),
    Column("warehouse", Text, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("eta_us", BigInteger, nullable=False),
    Column("received_us", BigInteger, nullable=True),  # NULL while on its way
    Column("created_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "inbound_id", name="pk_inbound_stock"),
)
Index("ix_inbound_stock_sku", inbound_stock.c.tenant, inbound_stock.c.sku)

reservations = Table(
    "reservations",
    metadata,
    Column("tenant", Text, nullable=False),
    Column("reservation_id", Text, nullable=False),  # {order_id}/{line_no}/{warehouse}
    Column("order_id", Text, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", Text, nullable=False),
    Column("warehouse", Text, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "reservation_id", name=RESERVATIONS_PK),
)
Index("ix_reservations_order", reservations.c.order_id)
# The reaper's work queue: only held rows are in it.
Index(
    "ix_reservations_held_expiry",
    reservations.c.expires_us,
    postgresql_where=reservations.c.state == "held",
    sqlite_where=reservations.c.state == "held",
)
