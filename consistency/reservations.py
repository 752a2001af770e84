"""Multi-zone SKU strategies behind one small interface: `strong`, `escrow` and `eventual`.

Pick a strategy per SKU with `StrategyName`, build its state with `new_state`, then drive it with
`reserve` / `release` / `commit` (each `(state, zone, quantity, now_us) -> (state, Outcome)`) and the
strategy's own background step: escrow's `plan_rebalance` + `rebalance` (under a fenced lock),
eventual's `gossip` + `merge` (or `reconcile`). `oversold`, `conserved` and `summary` read any state.
Everything is pure: the simulator supplies the clock and delays the messages (a strong FORWARD is a
cross-region call; a rebalance waits for its lock; gossip travels between zones).

    state = new_state(StrategyName.ESCROW, stock=100, zones=["eu", "us"], low_watermark=5)
    state, outcome = reserve(state, "eu", 3, now_us)
    if outcome.rebalance:
        move = escrow_stock.plan_rebalance(state, outcome.rebalance)
        ... acquire the lock (fencing token t) ...; state, moved = escrow_stock.rebalance(state, move, t, now)
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TypeVar

from consistency import escrow_stock, eventual_stock, strong_stock
from consistency.escrow_stock import EscrowState
from consistency.eventual_stock import EventualState
from consistency.strong_stock import StrongState
from consistency.zone_stock import Outcome, Summary


class StrategyName(StrEnum):
    STRONG = "strong"  # one authoritative count, cross-region call; never oversells
    ESCROW = "escrow"  # per-zone quotas, fenced rebalancing; never oversells
    EVENTUAL = "eventual"  # local counts, async reconciliation; oversell possible, measured


MultiZoneState = StrongState | EscrowState | EventualState
# A concrete state keeps its type through a call; the union (what new_state gives) stays the union.
Z = TypeVar("Z", StrongState, EscrowState, EventualState, MultiZoneState)


def new_state(
    strategy: StrategyName | str,
    stock: int,
    zones: Sequence[str],
    *,
    owner: str | None = None,
    quotas: Sequence[int] | None = None,
    low_watermark: int = 0,
    now_us: int = 0,
) -> MultiZoneState:
    """The factory: `owner` is for strong (default: first zone), `quotas`/`low_watermark` for escrow."""
    name = StrategyName(strategy)
    if name is StrategyName.STRONG:
        return strong_stock.new(stock, zones, owner, now_us)
    if name is StrategyName.ESCROW:
        return escrow_stock.new(stock, zones, quotas, low_watermark, now_us)
    return eventual_stock.new(stock, zones, now_us)


def strategy_of(state: MultiZoneState) -> StrategyName:
    if isinstance(state, StrongState):
        return StrategyName.STRONG
    if isinstance(state, EscrowState):
        return StrategyName.ESCROW
    return StrategyName.EVENTUAL


def reserve(state: Z, zone: str, quantity: int, now_us: int) -> tuple[Z, Outcome]:
    """Hold `quantity` units for an order of `zone` (strong from a non-owner zone: FORWARD)."""
    if isinstance(state, StrongState):
        return strong_stock.reserve(state, zone, quantity, now_us)
    if isinstance(state, EscrowState):
        return escrow_stock.reserve(state, zone, quantity, now_us)
    return eventual_stock.reserve(state, zone, quantity, now_us)


def release(state: Z, zone: str, quantity: int, now_us: int) -> tuple[Z, Outcome]:
    """Held units of `zone` become free again (cancel or hold expiry)."""
    if isinstance(state, StrongState):
        return strong_stock.release(state, zone, quantity, now_us)
    if isinstance(state, EscrowState):
        return escrow_stock.release(state, zone, quantity, now_us)
    return eventual_stock.release(state, zone, quantity, now_us)


def commit(state: Z, zone: str, quantity: int, now_us: int) -> tuple[Z, Outcome]:
    """Held units of `zone` shipped."""
    if isinstance(state, StrongState):
        return strong_stock.commit(state, zone, quantity, now_us)
    if isinstance(state, EscrowState):
        return escrow_stock.commit(state, zone, quantity, now_us)
    return eventual_stock.commit(state, zone, quantity, now_us)


def oversold(state: MultiZoneState) -> int:
    """Units held or shipped beyond the stock: 0 always for strong and escrow."""
    if isinstance(state, StrongState):
        return strong_stock.oversold(state)
    if isinstance(state, EscrowState):
        return escrow_stock.oversold(state)
    return eventual_stock.oversold(state)


def conserved(state: MultiZoneState) -> bool:
    """The state's own accounting balances (see each strategy for what that means)."""
    if isinstance(state, StrongState):
        return strong_stock.conserved(state)
    if isinstance(state, EscrowState):
        return escrow_stock.conserved(state)
    return eventual_stock.conserved(state)


def summary(state: MultiZoneState) -> Summary:
    if isinstance(state, StrongState):
        return strong_stock.summary(state)
    if isinstance(state, EscrowState):
        return escrow_stock.summary(state)
    return eventual_stock.summary(state)
