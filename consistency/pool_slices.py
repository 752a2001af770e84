"""One zone's slice of a multi-zone SKU's state (what that zone's database stores), and back.

A zone database holds only its own zone's counters, so the service builds a strategy state from the
slices it has (`join`), calls the pure strategy, and stores its own zone's part again (`slice_of`).
Zones missing from a join count as zero: that is all a local decision needs (escrow and eventual
read only the deciding zone's entries; a strong non-owner only learns it must FORWARD).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from consistency import escrow_stock
from consistency.escrow_stock import EscrowState, Rebalance
from consistency.eventual_stock import EventualState
from consistency.reservations import MultiZoneState, StrategyName, new_state, strategy_of, summary
from consistency.reservations import conserved as state_conserved
from consistency.stock import SKU_RULE
from consistency.strong_stock import StrongState
from consistency.zone_stock import check_zone
from ordermesh.errors import InvalidArgument
from ordermesh.order import SKU
from ordermesh.shard import is_tenant_name, is_zone_name

Row = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PoolSlice:
    """The counters of one zone of a multi-zone SKU, as its zone database stores them."""

    strategy: StrategyName
    zones: tuple[str, ...]
    zone: str
    owner: str  # strong: the zone with the authoritative count; "" for the other strategies
    stock: int
    low_watermark: int = 0  # escrow
    free: int = 0  # strong: the owner's free units (0 elsewhere); escrow: this zone's quota; eventual: 0
    held: int = 0  # strong (owner) and escrow; eventual: 0 (derived from the rows)
    committed: int = 0
    fence: int = 0  # escrow: fencing token of the last rebalance applied to this slice
    taken: Row = ()  # eventual: this zone's view, one entry per zone (grow-only)
    returned: Row = ()
    as_of_us: int = 0

    def same_configuration(self, other: PoolSlice) -> bool:
        """Same SKU setup (strategy, zones, owner, stock, watermark), whatever the counters say now."""
        return (self.strategy, self.zones, self.zone, self.owner, self.stock, self.low_watermark) == (
            other.strategy, other.zones, other.zone, other.owner, other.stock, other.low_watermark
        )  # fmt: skip


def check_pool(tenant: str, sku: str) -> None:
    """INVALID_ARGUMENT for a malformed tenant or sku (before anything is read or written)."""
    if not isinstance(tenant, str) or not is_tenant_name(tenant):
        raise InvalidArgument.single("tenant", "2..40 of a-z 0-9 -, starting with a letter")
    if not isinstance(sku, str) or not SKU.match(sku):
        raise InvalidArgument.single("sku", SKU_RULE)


def check_zone_name(zone: str, at: str) -> str:
    if not isinstance(zone, str) or not is_zone_name(zone):
        raise InvalidArgument.single(at, f"{zone!r} is not a zone name (a-z 0-9, starting with a letter)")
    return zone


def configured(
    strategy: StrategyName | str,
    stock: int,
    zones: Sequence[str],
    *,
    owner: str | None = None,
    quotas: Sequence[int] | None = None,
    low_watermark: int = 0,
    now_us: int = 0,
) -> dict[str, PoolSlice]:
    """Every zone's first slice, from the strategy factory (which validates the arguments)."""
    if strategy not in tuple(StrategyName):
        raise InvalidArgument.single("strategy", f"one of {', '.join(StrategyName)}")
    for zone in zones:
        check_zone_name(zone, "zones")
    if not isinstance(low_watermark, int) or not 0 <= low_watermark <= max(stock, 0):
        raise InvalidArgument.single("low_watermark", "an integer 0..stock")
    state = new_state(
        strategy, stock, zones, owner=owner, quotas=quotas, low_watermark=low_watermark, now_us=now_us
    )
    return {zone: slice_of(state, zone) for zone in state.zones}


def slice_of(state: MultiZoneState, zone: str) -> PoolSlice:
    """The part of `state` that `zone`'s database stores."""
    i = check_zone(state.zones, zone)
    name = strategy_of(state)
    if isinstance(state, StrongState):
        counts = (state.free, state.held, state.committed) if zone == state.owner else (0, 0, 0)
        owner = state.owner
        return PoolSlice(name, state.zones, zone, owner, state.stock, 0, *counts, as_of_us=state.as_of_us)
    if isinstance(state, EscrowState):
        return PoolSlice(
            name, state.zones, zone, "", state.stock, state.low_watermark,
            state.quota[i], state.held[i], state.committed[i], state.fence, as_of_us=state.as_of_us,
        )  # fmt: skip
    return PoolSlice(
        name, state.zones, zone, "", state.stock, committed=state.committed[i],
        taken=state.taken[i], returned=state.returned[i], as_of_us=state.as_of_us,
    )  # fmt: skip


def join(slices: Sequence[PoolSlice]) -> MultiZoneState:
    """A strategy state from the slices of one SKU (at least one); absent zones count as zero."""
    if not slices:
        raise ValueError("join needs at least one slice")
    first = slices[0]
    by_zone: Mapping[str, PoolSlice] = {s.zone: s for s in slices}
    if any(not s.same_configuration(replace(first, zone=s.zone)) for s in slices):
        raise ValueError(f"slices of different configurations: {[s.zone for s in slices]}")
    zones, as_of = first.zones, max(s.as_of_us for s in slices)
    zero = tuple(0 for _ in zones)
    if first.strategy is StrategyName.STRONG:
        own = by_zone.get(first.owner)
        free, held, committed = (own.free, own.held, own.committed) if own else (0, 0, 0)
        return StrongState(zones, first.owner, first.stock, free, held, committed, as_of)
    if first.strategy is StrategyName.ESCROW:
        parts = [by_zone.get(z) for z in zones]
        return EscrowState(
            zones, first.stock,
            tuple(p.free if p else 0 for p in parts),
            tuple(p.held if p else 0 for p in parts),
            tuple(p.committed if p else 0 for p in parts),
            first.low_watermark, max(s.fence for s in slices), as_of,
        )  # fmt: skip
    rows = [by_zone.get(z) for z in zones]
    return EventualState(
        zones, first.stock,
        tuple(r.taken if r else zero for r in rows),
        tuple(r.returned if r else zero for r in rows),
        tuple(r.committed if r else 0 for r in rows),
        as_of,
    )  # fmt: skip


def debit(donor: PoolSlice, move: Rebalance, token: int, now_us: int) -> tuple[PoolSlice, int]:
    """The donor's half of an escrow rebalance (escrow_stock.rebalance on its slice alone): FENCED for a
    token older than the slice's fence; moves at most the quota the donor still has."""
    state = join([donor])
    assert isinstance(state, EscrowState)
    after, moved = escrow_stock.rebalance(state, move, token, now_us)
    return slice_of(after, donor.zone), moved


def credit(recipient: PoolSlice, move: Rebalance, moved: int, token: int, now_us: int) -> PoolSlice:
    """The recipient's half: `moved` units of quota arrive from `move.from_zone` (fenced the same way)."""
    sender = replace(recipient, zone=move.from_zone, free=moved, held=0, committed=0, fence=0)
    state = join([recipient, sender])
    assert isinstance(state, EscrowState)
    after, landed = escrow_stock.rebalance(state, replace(move, quantity=moved), token, now_us)
    assert landed == moved
    return slice_of(after, recipient.zone)


def conserved(slices: Sequence[PoolSlice], in_transit: int = 0) -> bool:
    """All zones' slices balance: no negative counter, and free + held + committed (+ escrow quota in
    transit between zone databases) == stock; eventual also needs views no larger than the truth."""
    state = join(slices)
    s = summary(state)
    balanced = s.free + s.held + s.committed + in_transit == s.stock and min(s.held, s.committed) >= 0
    if isinstance(state, EscrowState):
        return balanced and min(*state.quota, *state.held, *state.committed, in_transit) >= 0
    return balanced and state_conserved(state)
