"""SQL storage of multi-zone SKU pools over one Connection: this zone's slices and quota transfers.

Failure semantics: every method runs inside the caller's transaction and never commits. A slice is
updated only at the version it was read at; if another transaction changed it in between (possible
where the database does not detect it itself), `VersionConflict` is raised, which carries SQLSTATE
40001 so the transaction runner re-runs the whole transaction, exactly as for a serialization failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, text, update

from consistency.pool_slices import PoolSlice
from consistency.reservations import StrategyName
from region_service.storage.pool_schema import pool_transfers, sku_pools


class VersionConflict(Exception):
    """The slice changed since this transaction read it: re-run the transaction (a 40001 in effect)."""

    sqlstate = "40001"  # what SqlTransactionRunner.is_retryable looks for


@dataclass(frozen=True, slots=True)
class StoredSlice:
    slice: PoolSlice
    version: int


class TransferState(StrEnum):
    SENT = "sent"  # donor side: quota left the donor's slice, not yet confirmed by the recipient
    RECEIVED = "received"  # recipient side: the quota was added to the recipient's slice (once)
    DONE = "done"  # donor side: the recipient confirmed


@dataclass(frozen=True, slots=True)
class Transfer:
    """Escrow quota moving from one zone database to another under fencing token `token`."""

    tenant: str
    sku: str
    transfer_id: str
    from_zone: str
    to_zone: str
    quantity: int
    token: int
    state: TransferState = TransferState.SENT


_SLICE_COLUMNS = [c for c in sku_pools.c if c.name not in ("updated_us",)]
_GET = select(*_SLICE_COLUMNS).where(
    sku_pools.c.tenant == bindparam("b_tenant"),
    sku_pools.c.sku == bindparam("b_sku"),
    sku_pools.c.zone == bindparam("b_zone"),
)
_FIELDS = [c.name for c in sku_pools.c]
_ADD = text(
    f"INSERT INTO sku_pools ({', '.join(_FIELDS)}) VALUES ({', '.join(':' + f for f in _FIELDS)})"
    " ON CONFLICT (tenant, sku, zone) DO NOTHING"
)
_COUNTERS = ("free", "held", "committed", "fence", "taken", "returned", "version", "updated_us")
_SAVE = (
    update(sku_pools)
    .where(
        sku_pools.c.tenant == bindparam("b_tenant"),
        sku_pools.c.sku == bindparam("b_sku"),
        sku_pools.c.zone == bindparam("b_zone"),
        sku_pools.c.version == bindparam("b_version"),
    )
    .values({name: bindparam(name) for name in _COUNTERS})
)
_TRANSFER_FIELDS = [c.name for c in pool_transfers.c]
_ADD_TRANSFER = text(
    f"INSERT INTO pool_transfers ({', '.join(_TRANSFER_FIELDS)})"
    f" VALUES ({', '.join(':' + f for f in _TRANSFER_FIELDS)})"
    " ON CONFLICT (tenant, sku, zone, transfer_id) DO NOTHING"
)


def _ints(row: Sequence[int]) -> str:
    return ",".join(str(v) for v in row)


def _parse_ints(value: str) -> tuple[int, ...]:
    return tuple(int(v) for v in value.split(",")) if value else ()


def slice_row(piece: PoolSlice, version: int, now_us: int) -> dict[str, Any]:
    return {
        "tenant": "", "sku": "", "zone": piece.zone, "strategy": piece.strategy.value,
        "zones": ",".join(piece.zones), "owner": piece.owner, "stock": piece.stock,
        "low_watermark": piece.low_watermark, "free": piece.free, "held": piece.held,
        "committed": piece.committed, "fence": piece.fence, "taken": _ints(piece.taken),
        "returned": _ints(piece.returned), "version": version, "updated_us": now_us,
    }  # fmt: skip


def _slice(row: Row[Any]) -> StoredSlice:
    piece = PoolSlice(
        StrategyName(row.strategy), tuple(row.zones.split(",")), row.zone, row.owner, row.stock,
        row.low_watermark, row.free, row.held, row.committed, row.fence,
        _parse_ints(row.taken), _parse_ints(row.returned),
    )  # fmt: skip
    return StoredSlice(piece, row.version)


def _transfer(row: Row[Any]) -> Transfer:
    return Transfer(
        row.tenant, row.sku, row.transfer_id, row.from_zone, row.to_zone, row.quantity, row.token,
        TransferState(row.state),
    )  # fmt: skip


class SqlPoolStore:
    """This zone database's pool slices and transfers, inside one transaction."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def get(self, tenant: str, sku: str, zone: str) -> StoredSlice | None:
        row = self._conn.execute(_GET, {"b_tenant": tenant, "b_sku": sku, "b_zone": zone}).first()
        return _slice(row) if row is not None else None

    def add(self, tenant: str, sku: str, piece: PoolSlice, now_us: int) -> bool:
        """Stores a new slice at version 1 unless one exists (no read first); True when stored."""
        params = {**slice_row(piece, 1, now_us), "tenant": tenant, "sku": sku}
        return bool(self._conn.execute(_ADD, params).rowcount == 1)

    def save(self, tenant: str, sku: str, piece: PoolSlice, version: int, now_us: int) -> int:
        """Writes the slice's counters if it is still at `version`; returns the new version."""
        row = slice_row(piece, version + 1, now_us)
        params = {name: row[name] for name in _COUNTERS}
        keys = {"b_tenant": tenant, "b_sku": sku, "b_zone": piece.zone, "b_version": version}
        if self._conn.execute(_SAVE, {**params, **keys}).rowcount != 1:
            raise VersionConflict(f"pool {tenant}/{sku} in zone {piece.zone} changed since version {version}")
        return version + 1

    def transfers(
        self, tenant: str, sku: str, zone: str, state: TransferState | None = None
    ) -> list[Transfer]:
        """Transfers stored on `zone`'s side (sent or done by it as donor, received as recipient)."""
        t = pool_transfers.c
        query = select(pool_transfers).where(t.tenant == tenant, t.sku == sku, t.zone == zone)
        if state is not None:
            query = query.where(t.state == state.value)
        return [_transfer(row) for row in self._conn.execute(query.order_by(t.transfer_id))]

    def upkeep_work(self, zone: str) -> list[tuple[str, str, str]]:
        """(tenant, sku, strategy) of the zone's pools that have background work: every eventual pool
        (gossip) and the escrow pools with a transfer this zone sent that is not done yet."""
        p, t = sku_pools.c, pool_transfers.c
        eventual = select(p.tenant, p.sku, p.strategy).where(p.zone == zone, p.strategy == "eventual")
        stuck = (
            select(t.tenant, t.sku)
            .where(t.zone == zone, t.from_zone == zone, t.state == TransferState.SENT.value)
            .distinct()
        )
        rows = [(r.tenant, r.sku, r.strategy) for r in self._conn.execute(eventual)]
        rows += [(r.tenant, r.sku, "escrow") for r in self._conn.execute(stuck)]
        return sorted(set(rows))

    def transfer(self, tenant: str, sku: str, zone: str, transfer_id: str) -> Transfer | None:
        t = pool_transfers.c
        query = select(pool_transfers).where(
            t.tenant == tenant, t.sku == sku, t.zone == zone, t.transfer_id == transfer_id
        )
        row = self._conn.execute(query).first()
        return _transfer(row) if row is not None else None

    def add_transfer(self, transfer: Transfer, zone: str, now_us: int) -> bool:
        """Stores `zone`'s side of a transfer unless it exists; True when stored (idempotent by id)."""
        params = {
            "tenant": transfer.tenant, "sku": transfer.sku, "zone": zone,
            "transfer_id": transfer.transfer_id, "from_zone": transfer.from_zone,
            "to_zone": transfer.to_zone, "quantity": transfer.quantity, "token": transfer.token,
            "state": transfer.state.value, "created_us": now_us, "updated_us": now_us,
        }  # fmt: skip
        return bool(self._conn.execute(_ADD_TRANSFER, params).rowcount == 1)

    def set_transfer_state(
        self, transfer: Transfer, zone: str, before: TransferState, after: TransferState, now_us: int
    ) -> bool:
        """Moves `zone`'s row of the transfer from `before` to `after`; False if it was not `before`."""
        t = pool_transfers.c
        which = (t.tenant == transfer.tenant, t.sku == transfer.sku, t.zone == zone)
        done = self._conn.execute(
            update(pool_transfers)
            .where(*which, t.transfer_id == transfer.transfer_id, t.state == before.value)
            .values(state=after.value, updated_us=now_us)
        )
        return bool(done.rowcount == 1)
