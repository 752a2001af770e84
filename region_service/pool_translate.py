"""Proto <-> domain translation of multi-zone pools: slices, outcomes, transfers and gossip, for the
internal PoolPeerService (both ends) and the public pool calls of InventoryService.

The `*_from_pb` functions are total: any message, however malformed, becomes the domain value or an
InvalidArgument naming the field, never another exception (a peer is trusted, but a bug in one must not
crash the other). Values a domain type checks itself (tenant, sku, quantities) are left to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from consistency.escrow_stock import Rebalance
from consistency.eventual_stock import Gossip
from consistency.pool_slices import PoolSlice
from consistency.reservations import StrategyName
from consistency.zone_stock import Outcome, RebalanceRequest, Verdict
from ordermesh.api.v1 import inventory_pb2 as ipb
from ordermesh.api.v1 import pool_peers_pb2 as pb
from ordermesh.errors import InvalidArgument
from region_service.storage.pools import Transfer, TransferState
from region_service.translate import timestamp_pb

STRATEGY_TO_PB: dict[StrategyName, ipb.PoolStrategy] = {
    StrategyName.STRONG: ipb.POOL_STRATEGY_STRONG,
    StrategyName.ESCROW: ipb.POOL_STRATEGY_ESCROW,
    StrategyName.EVENTUAL: ipb.POOL_STRATEGY_EVENTUAL,
}
STRATEGY_FROM_PB: dict[int, StrategyName] = {int(v): k for k, v in STRATEGY_TO_PB.items()}
_VERDICT_TO_PB: dict[Verdict, pb.PoolVerdict] = {
    Verdict.GRANTED: pb.POOL_VERDICT_GRANTED,
    Verdict.REFUSED: pb.POOL_VERDICT_REFUSED,
    Verdict.FORWARD: pb.POOL_VERDICT_FORWARD,
}
_VERDICT_FROM_PB: dict[int, Verdict] = {int(v): k for k, v in _VERDICT_TO_PB.items()}
_STATE_TO_PB: dict[TransferState, pb.TransferState] = {
    TransferState.SENT: pb.TRANSFER_STATE_SENT,
    TransferState.RECEIVED: pb.TRANSFER_STATE_RECEIVED,
    TransferState.DONE: pb.TRANSFER_STATE_DONE,
}
_STATE_FROM_PB: dict[int, TransferState] = {int(v): k for k, v in _STATE_TO_PB.items()}
T = TypeVar("T")


def _enum(table: dict[int, T], value: int, at: str) -> T:
    try:
        return table[int(value)]
    except KeyError:
        raise InvalidArgument.single(at, f"unknown value {value}") from None


# -- slices ----------------------------------------------------------------------------------------


def slice_to_pb(piece: PoolSlice, sku: str = "") -> ipb.PoolSlice:
    out = ipb.PoolSlice(
        sku=sku,
        strategy=STRATEGY_TO_PB[piece.strategy],
        zones=list(piece.zones),
        zone=piece.zone,
        owner=piece.owner,
        stock=piece.stock,
        low_watermark=piece.low_watermark,
        free=piece.free,
        held=piece.held,
        committed=piece.committed,
        fence=piece.fence,
        taken=list(piece.taken),
        returned=list(piece.returned),
    )
    if piece.as_of_us:
        out.as_of.CopyFrom(timestamp_pb(piece.as_of_us))
    return out


def slice_from_pb(message: ipb.PoolSlice) -> PoolSlice:
    as_of_us = (
        message.as_of.seconds * 1_000_000 + message.as_of.nanos // 1000 if message.HasField("as_of") else 0
    )
    return PoolSlice(
        _enum(STRATEGY_FROM_PB, message.strategy, "strategy"),
        tuple(message.zones),
        message.zone,
        message.owner,
        message.stock,
        message.low_watermark,
        message.free,
        message.held,
        message.committed,
        message.fence,
        tuple(message.taken),
        tuple(message.returned),
        as_of_us,
    )


# -- outcomes --------------------------------------------------------------------------------------


def outcome_to_pb(outcome: Outcome) -> pb.PoolOutcome:
    out = pb.PoolOutcome(
        verdict=_VERDICT_TO_PB[outcome.verdict],
        zone=outcome.zone,
        quantity=outcome.quantity,
        available=outcome.available,
        forward_to=outcome.forward_to,
    )
    if outcome.rebalance is not None:
        out.rebalance.CopyFrom(
            pb.PoolRebalanceRequest(zone=outcome.rebalance.zone, quantity=outcome.rebalance.quantity)
        )
    return out


def outcome_from_pb(message: pb.PoolOutcome) -> Outcome:
    rebalance = (
        RebalanceRequest(message.rebalance.zone, message.rebalance.quantity)
        if message.HasField("rebalance")
        else None
    )
    verdict = _enum(_VERDICT_FROM_PB, message.verdict, "verdict")
    return Outcome(verdict, message.zone, message.quantity, message.available, message.forward_to, rebalance)


# -- transfers -------------------------------------------------------------------------------------


def transfer_to_pb(transfer: Transfer) -> pb.Transfer:
    return pb.Transfer(
        tenant=transfer.tenant,
        sku=transfer.sku,
        transfer_id=transfer.transfer_id,
        from_zone=transfer.from_zone,
        to_zone=transfer.to_zone,
        quantity=transfer.quantity,
        token=transfer.token,
        state=_STATE_TO_PB[transfer.state],
    )


def transfer_from_pb(message: pb.Transfer, at: str = "transfer") -> Transfer:
    if not message.transfer_id:
        raise InvalidArgument.single(f"{at}.transfer_id", "required")
    return Transfer(
        message.tenant,
        message.sku,
        message.transfer_id,
        message.from_zone,
        message.to_zone,
        message.quantity,
        message.token,
        _enum(_STATE_FROM_PB, message.state, f"{at}.state"),
    )


def transfer_state_to_pb(state: TransferState | None) -> pb.TransferState:
    return pb.TRANSFER_STATE_UNSPECIFIED if state is None else _STATE_TO_PB[state]


def transfer_state_from_pb(value: int) -> TransferState | None:
    if value == pb.TRANSFER_STATE_UNSPECIFIED:
        return None
    return _enum(_STATE_FROM_PB, value, "state")


def transfers_to_pb(transfers: Sequence[Transfer]) -> pb.ListTransfersResponse:
    return pb.ListTransfersResponse(transfers=[transfer_to_pb(t) for t in transfers])


def rebalance_from_pb(message: pb.SendQuotaRequest) -> Rebalance:
    return Rebalance(message.from_zone, message.to_zone, message.quantity)


# -- fences and gossip -----------------------------------------------------------------------------


def fence_pb(holder: str, token: int) -> pb.Fence:
    return pb.Fence(holder=holder, token=token)


def fence_from_pb(message: pb.Fence) -> tuple[str, int]:
    if not message.holder:
        raise InvalidArgument.single("fence.holder", "required: the lock holder")
    if message.token < 1:
        raise InvalidArgument.single("fence.token", "required: a fencing token >= 1")
    return message.holder, message.token


def gossip_to_pb(message: Gossip) -> pb.PoolGossip:
    return pb.PoolGossip(zone=message.zone, taken=list(message.taken), returned=list(message.returned))


def gossip_from_pb(message: pb.PoolGossip) -> Gossip:
    if not message.zone:
        raise InvalidArgument.single("gossip.zone", "required")
    if len(message.taken) != len(message.returned):
        raise InvalidArgument.single("gossip.returned", "one entry per entry of taken")
    return Gossip(message.zone, tuple(message.taken), tuple(message.returned))
