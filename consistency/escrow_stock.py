"""The `escrow` strategy: the global stock is split into per-zone quotas; a zone holds only from its
own quota, so it never waits on another region and never oversells. A zone running low asks for a
rebalance: quota moves from the zone with the most headroom, under a lock with a fencing token.

Fencing (after Kleppmann, "How to do distributed locking"): a rebalance carries the token of the lock
it was planned under, and one carrying a token older than the last applied one is refused, so a
holder that paused past its lock's expiry cannot move quota that a newer holder already moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consistency.zone_stock import (
    MAX_GLOBAL_STOCK,
    Outcome,
    RebalanceRequest,
    Summary,
    Verdict,
    bump,
    check_new,
    check_quantity,
    check_zone,
)
from ordermesh.errors import Fenced, InvalidArgument

Row = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EscrowState:
    zones: tuple[str, ...]
    stock: int
    quota: tuple[int, ...]  # free units each zone may hold without asking anyone
    held: tuple[int, ...]
    committed: tuple[int, ...]
    low_watermark: int = 0  # a zone whose quota falls below this asks for a rebalance
    fence: int = 0  # fencing token of the last applied rebalance
    as_of_us: int = 0


@dataclass(frozen=True, slots=True)
class Rebalance:
    """Move `quantity` of quota from one zone to another (planned by `plan_rebalance`)."""

    from_zone: str
    to_zone: str
    quantity: int


def _with(state: EscrowState, quota: Row, held: Row, committed: Row, fence: int, now_us: int) -> EscrowState:
    # a constructor call, not dataclasses.replace: several times cheaper, once per simulated order
    return EscrowState(state.zones, state.stock, quota, held, committed, state.low_watermark, fence, now_us)


def new(
    stock: int,
    zones: Sequence[str],
    quotas: Sequence[int] | None = None,
    low_watermark: int = 0,
    now_us: int = 0,
) -> EscrowState:
    """Quotas default to an even split (the remainder to the first zones); given ones must sum to stock."""
    check_new(stock, zones)
    n = len(zones)
    if quotas is None:
        quotas = [stock // n + (1 if i < stock % n else 0) for i in range(n)]
    if len(quotas) != n or any(q < 0 for q in quotas) or sum(quotas) != stock:
        raise InvalidArgument.single("quotas", f"one quota >= 0 per zone, summing to the stock {stock}")
    zero = tuple(0 for _ in zones)
    return EscrowState(tuple(zones), stock, tuple(quotas), zero, zero, low_watermark, 0, now_us)


def reserve(state: EscrowState, zone: str, quantity: int, now_us: int) -> tuple[EscrowState, Outcome]:
    """Holds from the zone's own quota, or refuses; either way may ask for a rebalance."""
    i = check_zone(state.zones, zone)
    check_quantity(quantity)
    have = state.quota[i]
    if quantity > have:
        ask = RebalanceRequest(zone, max(quantity - have, state.low_watermark - have))
        return state, Outcome(Verdict.REFUSED, zone, quantity, have, rebalance=ask)
    quota, held = bump(state.quota, i, -quantity), bump(state.held, i, quantity)
    after = _with(state, quota, held, state.committed, state.fence, now_us)
    left = after.quota[i]
    ask_more = RebalanceRequest(zone, state.low_watermark - left) if left < state.low_watermark else None
    return after, Outcome(Verdict.GRANTED, zone, quantity, left, rebalance=ask_more)


def _held_index(state: EscrowState, zone: str, quantity: int) -> int:
    i = check_zone(state.zones, zone)
    check_quantity(quantity)
    if quantity > state.held[i]:
        raise InvalidArgument.single("quantity", f"exceeds the {state.held[i]} units held in zone {zone}")
    return i


def release(state: EscrowState, zone: str, quantity: int, now_us: int) -> tuple[EscrowState, Outcome]:
    """Held units go back to the quota of the zone that held them."""
    i = _held_index(state, zone, quantity)
    quota, held = bump(state.quota, i, quantity), bump(state.held, i, -quantity)
    after = _with(state, quota, held, state.committed, state.fence, now_us)
    return after, Outcome(Verdict.GRANTED, zone, quantity, after.quota[i])


def commit(state: EscrowState, zone: str, quantity: int, now_us: int) -> tuple[EscrowState, Outcome]:
    i = _held_index(state, zone, quantity)
    held, committed = bump(state.held, i, -quantity), bump(state.committed, i, quantity)
    after = _with(state, state.quota, held, committed, state.fence, now_us)
    return after, Outcome(Verdict.GRANTED, zone, quantity, after.quota[i])


def plan_rebalance(state: EscrowState, request: RebalanceRequest) -> Rebalance | None:
    """Quota for `request.zone` from the zone with the most headroom: at least what was asked (if the
    donor has it), or half the difference between them if that is more; None if nobody has any."""
    to = check_zone(state.zones, request.zone)
    donors = [(q, -i) for i, q in enumerate(state.quota) if i != to and q > 0]
    if not donors:
        return None
    have, neg_i = max(donors)
    amount = min(have, max(request.quantity, (have - state.quota[to]) // 2, 1))
    return Rebalance(state.zones[-neg_i], request.zone, amount)


def rebalance(state: EscrowState, move: Rebalance, token: int, now_us: int) -> tuple[EscrowState, int]:
    """Applies a planned move under fencing token `token`; returns the state and the units moved.

    Refused with FENCED if `token` is older than the last applied one (an equal token is the same lock
    holder moving again). Moves at most the donor's current quota: quota spent since planning stays
    spent, so quotas never go negative and the sum of quotas and holds never exceeds the stock.
    """
    src = check_zone(state.zones, move.from_zone)
    dst = check_zone(state.zones, move.to_zone)
    check_quantity(move.quantity, MAX_GLOBAL_STOCK)
    if src == dst:
        raise InvalidArgument.single("to_zone", "a rebalance moves quota between two different zones")
    if not isinstance(token, int) or isinstance(token, bool) or token < 1:
        raise InvalidArgument.single("token", "a fencing token is an integer >= 1")
    if token < state.fence:
        raise Fenced(
            f"rebalance fenced: token {token} is older than the last applied token {state.fence}",
            {"token": str(token), "current": str(state.fence)},
        )
    moved = min(move.quantity, state.quota[src])
    quota = bump(bump(state.quota, src, -moved), dst, moved)
    return _with(state, quota, state.held, state.committed, token, now_us), moved


def oversold(state: EscrowState) -> int:
    return max(0, sum(state.held) + sum(state.committed) - state.stock)


def conserved(state: EscrowState) -> bool:
    parts = (*state.quota, *state.held, *state.committed)
    return min(parts) >= 0 and sum(parts) == state.stock


def summary(state: EscrowState) -> Summary:
    return Summary(
        "escrow", state.stock, sum(state.quota), sum(state.held), sum(state.committed), oversold(state)
    )
