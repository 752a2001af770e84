"""The router's InventoryService: the Forwarder's authentication, same-zone retries and residency log,
routed by the request's `zone` (ListReservations: by the zone carried in the order id).

Failure semantics are router.forwarding's: a call goes only to regions of its zone, UNAVAILABLE is
retried at the zone's next region until the deadline, a zone without a healthy region answers
ZONE_UNAVAILABLE, and any other answer of a region passes through unchanged. Retrying stock writes is
safe because each is idempotent (SetStock sets absolute values, inbounds are keyed by inbound_id).
Stock writes (and ConfigurePool) are logged in the residency log like order writes. The multi-zone pool
calls route like the others, by the request's `zone` (the caller configures each zone of a pool).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import grpc

from ordermesh.api.v1 import inventory_pb2 as pb
from ordermesh.errors import InvalidArgument, NotFound
from ordermesh.ids import ORDER_ID
from ordermesh.shard import Placement, ShardKey
from ordermesh.topology import Topology
from router import policy
from router.forwarding import Forwarder, parse_request, zone_required
from router.upstream import RouteOf

SERVICE = "ordermesh.v1.InventoryService"
_ZONED = {
    "SetStock": pb.SetStockRequest,
    "AddInbound": pb.AddInboundRequest,
    "ReceiveInbound": pb.ReceiveInboundRequest,
    "GetAvailability": pb.GetAvailabilityRequest,
    "ConfigurePool": pb.ConfigurePoolRequest,
    "GetPool": pb.GetPoolRequest,
}


def route_stock(
    topology: Topology,
    placements: Mapping[ShardKey, Placement],
    healthy: Collection[str],
    tenant: str,
    zone: str,
) -> policy.Route:
    """A stock call goes to the home of the tenant's shard in the zone (whose regions write it, fenced).

    Zone names are public (the topology), so an unknown one is INVALID_ARGUMENT; a zone the tenant may
    not use is NOT_FOUND, as for orders."""
    if zone not in topology.zones:
        raise InvalidArgument.single("zone", f"unknown zone {zone[:32]!r}")
    spec = topology.tenants.get(tenant)
    if spec is None or zone not in spec.zones:
        raise NotFound(f"tenant {tenant} keeps no stock in zone {zone}")
    return policy.route_shard(topology, topology.shard(tenant, zone), placements, healthy)


class InventoryForwarder(Forwarder):
    """Build once per router, like Forwarder; `handler()` serves ordermesh.v1.InventoryService."""

    service = SERVICE

    def handler(self) -> grpc.GenericRpcHandler:
        unary = grpc.unary_unary_rpc_method_handler  # no (de)serializers: raw bytes in and out
        names = (*_ZONED, "ListReservations")
        return grpc.method_handlers_generic_handler(
            SERVICE, {name: unary(self._unary_method(name)) for name in names}
        )

    def _route_of(self, method: str, tenant: str, raw: bytes) -> tuple[RouteOf, str, str]:
        """(route function, idempotency key for the residency log, zone hint) of one request."""
        t = self.topology
        if method == "ListReservations":
            order_id = parse_request(pb.ListReservationsRequest, raw).order_id
            match = ORDER_ID.fullmatch(order_id)
            return (
                lambda s: policy.route_order_id(t, s.placements, s.healthy, tenant, order_id),
                "",
                match.group(1) if match else "",
            )
        req = parse_request(_ZONED[method], raw)
        zone_required(req.zone)
        zone: str = req.zone
        key: str = getattr(req, "inbound_id", "")
        return lambda s: route_stock(t, s.placements, s.healthy, tenant, zone), key, zone
