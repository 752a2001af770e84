"""Tables of multi-zone SKU pools: each zone's slice, escrow quota transfers, and the lease locks.

Every zone database holds its own zone's slice of a pool (`sku_pools`), the transfers that zone
sent or received (`pool_transfers`), and the leases of the rebalances that wrote to it
(`inventory_leases`). Eventual's grow-only rows are TEXT lists of integers (one per zone, in the
order of `zones`): portable, and only ever read and written whole. Migration 0003 creates them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, PrimaryKeyConstraint, Table, Text

from region_service.storage.schema import metadata

SKU_POOLS_PK = "pk_sku_pools"
POOL_TRANSFERS_PK = "pk_pool_transfers"
INVENTORY_LEASES_PK = "pk_inventory_leases"

sku_pools = Table(
    "sku_pools",
    metadata,
    Column("tenant", Text, nullable=False),
    Column("sku", Text, nullable=False),
    Column("zone", Text, nullable=False),
    Column("strategy", Text, nullable=False),
    Column("zones", Text, nullable=False),  # comma list, the pool's zone order
    Column("owner", Text, nullable=False),  # strong: the zone with the count; "" otherwise
    Column("stock", BigInteger, nullable=False),
    Column("low_watermark", BigInteger, nullable=False),
    Column("free", BigInteger, nullable=False),  # strong owner: free units; escrow: this zone's quota
    Column("held", BigInteger, nullable=False),
    Column("committed", BigInteger, nullable=False),
    Column("fence", BigInteger, nullable=False),  # escrow: token of the last rebalance applied here
    Column("taken", Text, nullable=False),  # eventual: this zone's view of units taken, per zone
    Column("returned", Text, nullable=False),  # eventual: … and of units returned, per zone
    Column("version", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "sku", "zone", name=SKU_POOLS_PK),
    CheckConstraint("strategy IN ('strong', 'escrow', 'eventual')", name="ck_sku_pools_strategy"),
    CheckConstraint("free >= 0 AND held >= 0 AND committed >= 0", name="ck_sku_pools_counts"),
)

pool_transfers = Table(
    "pool_transfers",
    metadata,
    Column("tenant", Text, nullable=False),
    Column("sku", Text, nullable=False),
    Column("zone", Text, nullable=False),  # whose side this row is: from_zone (sent/done) or to_zone
    Column("transfer_id", Text, nullable=False),
    Column("from_zone", Text, nullable=False),
    Column("to_zone", Text, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("token", BigInteger, nullable=False),  # fencing token the donor's write was made under
    Column("state", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "sku", "zone", "transfer_id", name=POOL_TRANSFERS_PK),
    CheckConstraint("state IN ('sent', 'received', 'done')", name="ck_pool_transfers_state"),
    CheckConstraint("quantity > 0", name="ck_pool_transfers_quantity"),
)
Index("ix_pool_transfers_state", pool_transfers.c.tenant, pool_transfers.c.sku, pool_transfers.c.state)

inventory_leases = Table(
    "inventory_leases",
    metadata,
    Column("name", Text, nullable=False),
    Column("holder", Text, nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("name", name=INVENTORY_LEASES_PK),
)
