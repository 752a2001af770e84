"""PoolPeerServiceServicer: the internal gRPC face of this zone's PoolBook, called by other zones' regions.

Failure semantics (as the public servicers, region_service.servicer_shell): each call runs the
synchronous PoolBook in the region's thread pool; domain errors (FENCED, CONTENTION, INVALID_ARGUMENT,
...) become their rich status so the calling region re-raises the very same error type
(grpc_pool_peers.py); a lost database is UNAVAILABLE (DATABASE_UNAVAILABLE); bytes that do not parse are
INVALID_ARGUMENT. A request for a zone this region does not serve is refused before anything is read.
Only callers with the cluster's peer key get here (region_service.auth).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from grpc import aio

from consistency.pool_slices import check_pool
from ordermesh.api.v1 import inventory_pb2 as ipb
from ordermesh.api.v1 import pool_peers_pb2 as pb
from ordermesh.errors import InvalidArgument
from region_service import pool_translate as tr
from region_service.pools import PoolBook
from region_service.servicer import lenient, required
from region_service.servicer_shell import ServicerShell

SERVICE = "ordermesh.v1.PoolPeerService"
MAX_LEASE_NAME = 256


class PoolPeerServiceServicer(ServicerShell):
    """ordermesh.v1.PoolPeerService over one zone's PoolBook."""

    def __init__(
        self,
        book: PoolBook,
        *,
        executor: ThreadPoolExecutor | None = None,
        draining: asyncio.Event | None = None,
    ) -> None:
        super().__init__(
            executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="pool-peer"), draining
        )
        self.book = book

    # -- request checks ------------------------------------------------------------------------------

    def _zone(self, zone: str, at: str = "zone") -> None:
        if zone != self.book.zone:
            raise InvalidArgument.single(at, f"this region serves zone {self.book.zone}, not {zone[:32]!r}")

    def _pool(self, key: pb.PoolKey, at: str = "pool") -> tuple[str, str]:
        self._zone(key.zone, f"{at}.zone" if at else "zone")
        check_pool(key.tenant, key.sku)
        return key.tenant, key.sku

    # -- reads ---------------------------------------------------------------------------------------

    async def GetSlice(self, request: pb.PoolKey | None, context: aio.ServicerContext) -> ipb.PoolSlice:
        async def call() -> ipb.PoolSlice:
            tenant, sku = self._pool(required(request, "PoolKey"), "")
            return tr.slice_to_pb(await self._run(self.book.slice, tenant, sku), sku)

        return await self._answer(context, call)

    async def ListTransfers(
        self, request: pb.ListTransfersRequest | None, context: aio.ServicerContext
    ) -> pb.ListTransfersResponse:
        async def call() -> pb.ListTransfersResponse:
            req = required(request, "ListTransfersRequest")
            tenant, sku = self._pool(req.pool)
            state = tr.transfer_state_from_pb(req.state)
            return tr.transfers_to_pb(await self._run(self.book.transfers, tenant, sku, state))

        return await self._answer(context, call)

    # -- strong forward ------------------------------------------------------------------------------

    async def _units(
        self, request: pb.PoolUnits | None, context: aio.ServicerContext, op: str
    ) -> pb.PoolOutcome:
        async def call() -> pb.PoolOutcome:
            req = required(request, "PoolUnits")
            tenant, sku = self._pool(req.pool)
            outcome = await self._run(getattr(self.book, op), tenant, sku, req.quantity)
            return tr.outcome_to_pb(outcome)

        return await self._answer(context, call)

    async def Reserve(self, request: pb.PoolUnits | None, context: aio.ServicerContext) -> pb.PoolOutcome:
        return await self._units(request, context, "reserve")

    async def Release(self, request: pb.PoolUnits | None, context: aio.ServicerContext) -> pb.PoolOutcome:
        return await self._units(request, context, "release")

    async def Commit(self, request: pb.PoolUnits | None, context: aio.ServicerContext) -> pb.PoolOutcome:
        return await self._units(request, context, "commit")

    # -- escrow --------------------------------------------------------------------------------------

    async def SendQuota(
        self, request: pb.SendQuotaRequest | None, context: aio.ServicerContext
    ) -> pb.SendQuotaResponse:
        async def call() -> pb.SendQuotaResponse:
            req = required(request, "SendQuotaRequest")
            tenant, sku = self._pool(req.pool)
            self._zone(req.from_zone, "from_zone")  # the donor is always the zone called
            holder, token = tr.fence_from_pb(req.fence)
            move = tr.rebalance_from_pb(req)
            if move.quantity < 1:
                raise InvalidArgument.single("quantity", "must be >= 1")
            sent = await self._run(self.book.escrow.send, tenant, sku, move, holder, token)
            answer = pb.SendQuotaResponse()
            if sent is not None:
                answer.transfer.CopyFrom(tr.transfer_to_pb(sent))
            return answer

        return await self._answer(context, call)

    async def _transfer(
        self, request: pb.TransferCall | None, context: aio.ServicerContext, side: str
    ) -> pb.TransferApplied:
        async def call() -> pb.TransferApplied:
            req = required(request, "TransferCall")
            self._zone(req.zone)
            transfer = tr.transfer_from_pb(req.transfer)
            check_pool(transfer.tenant, transfer.sku)
            expected = transfer.to_zone if side == "receive" else transfer.from_zone
            if expected != self.book.zone:
                raise InvalidArgument.single(
                    "transfer", f"zone {self.book.zone} is not this transfer's {side} side"
                )
            holder, token = tr.fence_from_pb(req.fence)
            step = self.book.escrow.receive if side == "receive" else self.book.escrow.finish
            return pb.TransferApplied(applied=await self._run(step, transfer, holder, token))

        return await self._answer(context, call)

    async def ReceiveQuota(
        self, request: pb.TransferCall | None, context: aio.ServicerContext
    ) -> pb.TransferApplied:
        return await self._transfer(request, context, "receive")

    async def FinishTransfer(
        self, request: pb.TransferCall | None, context: aio.ServicerContext
    ) -> pb.TransferApplied:
        return await self._transfer(request, context, "finish")

    async def _lease(
        self, request: pb.LeaseCall | None, context: aio.ServicerContext, op: str
    ) -> pb.LeaseAnswer:
        async def call() -> pb.LeaseAnswer:
            req = required(request, "LeaseCall")
            self._zone(req.zone)
            if not req.name or len(req.name) > MAX_LEASE_NAME:
                raise InvalidArgument.single("name", f"required: 1..{MAX_LEASE_NAME} characters")
            holder, token = tr.fence_from_pb(req.fence)
            step = self.book.escrow.acquire_lease if op == "acquire" else self.book.escrow.release_lease
            await self._run(step, req.name, holder, token)
            return pb.LeaseAnswer()

        return await self._answer(context, call)

    async def AcquireLease(
        self, request: pb.LeaseCall | None, context: aio.ServicerContext
    ) -> pb.LeaseAnswer:
        return await self._lease(request, context, "acquire")

    async def ReleaseLease(
        self, request: pb.LeaseCall | None, context: aio.ServicerContext
    ) -> pb.LeaseAnswer:
        return await self._lease(request, context, "release")

    # -- eventual ------------------------------------------------------------------------------------

    async def GetGossip(self, request: pb.PoolKey | None, context: aio.ServicerContext) -> pb.PoolGossip:
        async def call() -> pb.PoolGossip:
            tenant, sku = self._pool(required(request, "PoolKey"), "")
            return tr.gossip_to_pb(await self._run(self.book.gossip_message, tenant, sku))

        return await self._answer(context, call)

    async def MergeGossip(
        self, request: pb.MergeGossipRequest | None, context: aio.ServicerContext
    ) -> pb.MergeGossipResponse:
        async def call() -> pb.MergeGossipResponse:
            req = required(request, "MergeGossipRequest")
            tenant, sku = self._pool(req.pool)
            message = tr.gossip_from_pb(req.gossip)
            config = await self._run(self.book.configuration, tenant, sku)
            # merge takes an element-wise max over rows of the pool's width: a row of another width
            # would be cut short silently, so it is refused here
            if (
                len(message.taken) != len(config.zones)
                or min((*message.taken, *message.returned), default=0) < 0
            ):
                raise InvalidArgument.single("gossip.taken", f"{len(config.zones)} counts >= 0, one per zone")
            await self._run(self.book.merge_gossip, tenant, sku, message)
            return pb.MergeGossipResponse()

        return await self._answer(context, call)


def generic_handler(servicer: PoolPeerServiceServicer) -> grpc.GenericRpcHandler:
    """The PoolPeerService methods with lenient request parsing (unparseable bytes -> INVALID_ARGUMENT)."""

    def unary(fn: Any, req: type[Any], resp: type[Any]) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(fn, lenient(req), resp.SerializeToString)

    s = servicer
    handlers = {
        "GetSlice": unary(s.GetSlice, pb.PoolKey, ipb.PoolSlice),
        "ListTransfers": unary(s.ListTransfers, pb.ListTransfersRequest, pb.ListTransfersResponse),
        "Reserve": unary(s.Reserve, pb.PoolUnits, pb.PoolOutcome),
        "Release": unary(s.Release, pb.PoolUnits, pb.PoolOutcome),
        "Commit": unary(s.Commit, pb.PoolUnits, pb.PoolOutcome),
        "SendQuota": unary(s.SendQuota, pb.SendQuotaRequest, pb.SendQuotaResponse),
        "ReceiveQuota": unary(s.ReceiveQuota, pb.TransferCall, pb.TransferApplied),
        "FinishTransfer": unary(s.FinishTransfer, pb.TransferCall, pb.TransferApplied),
        "AcquireLease": unary(s.AcquireLease, pb.LeaseCall, pb.LeaseAnswer),
        "ReleaseLease": unary(s.ReleaseLease, pb.LeaseCall, pb.LeaseAnswer),
        "GetGossip": unary(s.GetGossip, pb.PoolKey, pb.PoolGossip),
        "MergeGossip": unary(s.MergeGossip, pb.MergeGossipRequest, pb.MergeGossipResponse),
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)
