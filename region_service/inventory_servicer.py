"""InventoryServiceServicer: the gRPC shell of a region's stock — translate, call the InventoryBook, answer.

Failure semantics (as region_service.servicer): the book is synchronous, so each call runs in the
region's bounded thread pool; domain errors become their rich status, a lost database connection
UNAVAILABLE (DATABASE_UNAVAILABLE, safe to retry: every inventory write is idempotent), anything else
INTERNAL with a log reference. Request bytes that do not parse are INVALID_ARGUMENT: the deserializers
here never raise. While the region drains, new calls answer UNAVAILABLE (SHUTTING_DOWN).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from grpc import aio

from ordermesh.api.v1 import inventory_pb2 as pb
from ordermesh.errors import ZoneUnavailable
from region_service import inventory_translate as tr
from region_service.auth import current_principal
from region_service.inventory import InventoryBook
from region_service.pool_translate import slice_to_pb
from region_service.pools import PoolBook
from region_service.servicer import lenient, required
from region_service.servicer_shell import ServicerShell

T = TypeVar("T")
SERVICE = "ordermesh.v1.InventoryService"


class InventoryServiceServicer(ServicerShell):
    """The ordermesh.v1.InventoryService of one region instance."""

    def __init__(
        self,
        book: InventoryBook,
        *,
        executor: ThreadPoolExecutor | None = None,
        draining: asyncio.Event | None = None,
        pools: PoolBook | None = None,
    ) -> None:
        # `draining` is shared with the region's OrderService servicer, so one drain stops both.
        super().__init__(
            executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="inventory"), draining
        )
        self.book = book
        self.pools = pools  # this zone's side of the multi-zone pools (None: this region serves none)

    def _pool_book(self) -> PoolBook:
        if self.pools is None:
            raise ZoneUnavailable(f"this region serves no multi-zone pools of zone {self.book.zone}")
        return self.pools

    async def SetStock(
        self, request: pb.SetStockRequest | None, context: aio.ServicerContext
    ) -> pb.StockLevel:
        async def call() -> pb.StockLevel:
            change = tr.stock_change_from_pb(required(request, "SetStockRequest"), self.book.zone)
            level = await self._run(
                self.book.set_stock,
                current_principal().tenant,
                change.warehouse,
                change.sku,
                change.on_hand,
                change.safety_stock,
            )
            return tr.stock_level_to_pb(level)

        return await self._answer(context, call)

    async def AddInbound(
        self, request: pb.AddInboundRequest | None, context: aio.ServicerContext
    ) -> pb.InboundStock:
        async def call() -> pb.InboundStock:
            item = tr.new_inbound_from_pb(required(request, "AddInboundRequest"), self.book.zone)
            record = await self._run(
                self.book.add_inbound,
                current_principal().tenant,
                item.inbound_id,
                item.warehouse,
                item.sku,
                item.quantity,
                item.eta_us,
            )
            return tr.inbound_to_pb(record)

        return await self._answer(context, call)

    async def ReceiveInbound(
        self, request: pb.ReceiveInboundRequest | None, context: aio.ServicerContext
    ) -> pb.StockLevel:
        async def call() -> pb.StockLevel:
            inbound_id = tr.inbound_id_from_pb(required(request, "ReceiveInboundRequest"), self.book.zone)
            level = await self._run(self.book.receive_inbound, current_principal().tenant, inbound_id)
            return tr.stock_level_to_pb(level)

        return await self._answer(context, call)

    async def GetAvailability(
        self, request: pb.GetAvailabilityRequest | None, context: aio.ServicerContext
    ) -> pb.Availability:
        async def call() -> pb.Availability:
            query = tr.availability_query_from_pb(required(request, "GetAvailabilityRequest"), self.book.zone)
            found = await self._run(
                self.book.availability, current_principal().tenant, query.sku, query.at_us, query.tier
            )
            return tr.availability_to_pb(found)

        return await self._answer(context, call)

    async def ListReservations(
        self, request: pb.ListReservationsRequest | None, context: aio.ServicerContext
    ) -> pb.ListReservationsResponse:
        async def call() -> pb.ListReservationsResponse:
            order_id = tr.order_id_from_pb(required(request, "ListReservationsRequest"))
            holds = await self._run(self.book.reservations, current_principal().tenant, order_id)
            return tr.reservations_to_pb(holds)

        return await self._answer(context, call)

    async def ConfigurePool(
        self, request: pb.ConfigurePoolRequest | None, context: aio.ServicerContext
    ) -> pb.PoolSlice:
        async def call() -> pb.PoolSlice:
            tenant = current_principal().tenant
            spec = self.book.topology.tenants.get(tenant)
            usable = spec.zones if spec is not None else frozenset()
            config = tr.pool_config_from_pb(required(request, "ConfigurePoolRequest"), self.book.zone, usable)
            piece = await self._run(
                self._pool_book().configure,
                tenant,
                config.sku,
                config.strategy,
                config.zones,
                owner=config.owner,
                stock=config.stock,
                low_watermark=config.low_watermark,
                quotas=config.quotas,
            )
            return slice_to_pb(piece, config.sku)

        return await self._answer(context, call)

    async def GetPool(self, request: pb.GetPoolRequest | None, context: aio.ServicerContext) -> pb.Pool:
        async def call() -> pb.Pool:
            sku = tr.pool_key_from_pb(required(request, "GetPoolRequest"), self.book.zone)
            tenant = current_principal().tenant
            report = await self._run(self._pool_book().global_summary, tenant, sku)
            return tr.pool_to_pb(report, sku)

        return await self._answer(context, call)


def generic_handler(servicer: InventoryServiceServicer) -> grpc.GenericRpcHandler:
    """The InventoryService methods with lenient request parsing (unparseable bytes -> INVALID_ARGUMENT)."""

    def unary(fn: Any, req: type[Any], resp: type[Any]) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(fn, lenient(req), resp.SerializeToString)

    handlers = {
        "SetStock": unary(servicer.SetStock, pb.SetStockRequest, pb.StockLevel),
        "AddInbound": unary(servicer.AddInbound, pb.AddInboundRequest, pb.InboundStock),
        "ReceiveInbound": unary(servicer.ReceiveInbound, pb.ReceiveInboundRequest, pb.StockLevel),
        "GetAvailability": unary(servicer.GetAvailability, pb.GetAvailabilityRequest, pb.Availability),
        "ListReservations": unary(
            servicer.ListReservations, pb.ListReservationsRequest, pb.ListReservationsResponse
        ),
        "ConfigurePool": unary(servicer.ConfigurePool, pb.ConfigurePoolRequest, pb.PoolSlice),
        "GetPool": unary(servicer.GetPool, pb.GetPoolRequest, pb.Pool),
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)
