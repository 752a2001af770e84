"""GrpcPoolPeers: how a region reaches the other zones' pool books — over gRPC (PoolPeerService).

Failure semantics: a call goes to the regions of the zone in the topology's failover order, each over
its own channel, with a deadline and the cluster's peer key; UNAVAILABLE without an ordermesh reason
(nothing listening, a dead connection) and an answer SHUTTING_DOWN move on to the next region of the
same zone, never to another zone; when none answers, ZoneUnavailable. A DEADLINE_EXCEEDED moves on too
for the calls that are safe to repeat (reads, reserve — at worst units stay held at the owner, never
oversold — and the escrow calls, idempotent by transfer id and fenced by token); a release or commit
moves on only when the call never left (failed to connect), otherwise it is ZoneUnavailable at once, as
the first region may have applied it (a repeat could free units twice and oversell). Any answer
carrying an ordermesh error (FENCED, CONTENTION, INVALID_ARGUMENT, ...) is raised here as that very
error type, except a refused peer key (a misconfigured cluster, logged as an error): that region counts
as not answering, so the tenant whose call needed the zone sees ZONE_UNAVAILABLE rather than a verdict
on its own key.

    peers = GrpcPoolPeers(topology, own_book, peer_key)
    peers.book("us").reserve("acme", "SKU-1", 2)   # at a us region, or ZoneUnavailable
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from consistency.coordinator import Coordinator, CoordinatorError, Instance, Unwatch
from consistency.escrow_stock import Rebalance
from consistency.eventual_stock import Gossip
from consistency.pool_slices import PoolSlice
from consistency.zone_stock import Outcome
from ordermesh.api.v1 import inventory_pb2 as ipb
from ordermesh.api.v1 import pool_peers_pb2 as pb
from ordermesh.client import channel_options
from ordermesh.errors import InvalidArgument, ShuttingDown, Unauthenticated, ZoneUnavailable
from ordermesh.rpc_errors import from_rpc_error
from ordermesh.topology import Topology
from region_service import pool_translate as tr
from region_service.pool_peers import PeerBook
from region_service.storage.pools import Transfer, TransferState

log = logging.getLogger(__name__)
SERVICE = "ordermesh.v1.PoolPeerService"
PEER_KEY_HEADER = "x-peer-key"
M = TypeVar("M", bound=Message)
# Region name -> "host:port" of a live instance (default: the topology's endpoint). KeyError: none now.
EndpointOf = Callable[[str], str]


class InstanceEndpoints:
    """EndpointOf from the coordinator's instance registry (what a region actually listens on, also
    when the topology says port 0), watched; the topology's endpoint until the first snapshot."""

    def __init__(self, coordinator: Coordinator, topology: Topology) -> None:
        self._coordinator = coordinator
        self._topology = topology
        self._by_region: dict[str, list[str]] | None = None
        self._unwatch: Unwatch | None = None
        self._lock = threading.Lock()

    def __call__(self, region: str) -> str:
        if self._unwatch is None:
            self._start()
        known = self._by_region
        if known is None:
            return self._topology.region(region).endpoint
        endpoints = known.get(region)
        if not endpoints:
            raise KeyError(region)
        return endpoints[0]

    def _start(self) -> None:
        with self._lock:
            if self._unwatch is not None:
                return
            try:
                self._unwatch = self._coordinator.watch_instances(self._update)
            except CoordinatorError as exc:  # retried on the next call; the topology serves meanwhile
                log.warning("cannot watch region instances: %s", exc)

    def _update(self, instances: list[Instance]) -> None:
        by_region: dict[str, list[str]] = {}
        for instance in instances:
            by_region.setdefault(instance.region, []).append(instance.endpoint)
        self._by_region = by_region

    def close(self) -> None:
        with self._lock:
            unwatch, self._unwatch = self._unwatch, None
        if unwatch is not None:
            unwatch()


class GrpcPoolPeers:
    """PoolPeers of one region: its own zone's PoolBook, and gRPC clients of every other zone."""

    def __init__(
        self,
        topology: Topology,
        own_book: PeerBook,
        peer_key: str,
        *,
        timeout_s: float = 5.0,
        endpoint_of: EndpointOf | None = None,
    ) -> None:
        self.topology = topology
        self.own_book = own_book
        self.timeout_s = timeout_s
        self._metadata = ((PEER_KEY_HEADER, peer_key),)
        self._endpoint_of = endpoint_of or (lambda region: topology.region(region).endpoint)
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()
        self._books: dict[str, RemotePoolBook] = {}
        self._closers: list[Callable[[], None]] = []
        if isinstance(endpoint_of, InstanceEndpoints):
            self._closers.append(endpoint_of.close)

    def book(self, zone: str) -> PeerBook:
        if zone == self.own_book.zone:
            return self.own_book
        if zone not in self.topology.zones:
            raise InvalidArgument.single("zone", f"no pool book for zone {zone[:32]!r}")
        with self._lock:
            remote = self._books.get(zone)
            if remote is None:
                remote = self._books[zone] = RemotePoolBook(zone, self)
        return remote

    def close(self) -> None:
        for closer in self._closers:
            closer()
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.close()

    def _channel(self, endpoint: str) -> grpc.Channel:
        # one channel per endpoint (a region restarted on another port gets a new one)
        with self._lock:
            channel = self._channels.get(endpoint)
            if channel is None:
                channel = self._channels[endpoint] = grpc.insecure_channel(
                    endpoint, options=channel_options()
                )
        return channel

    def call(
        self, zone: str, method: str, request: Message, answer: type[M], *, repeatable: bool = True
    ) -> M:
        """One PoolPeerService call at the first region of `zone` that answers (see the module docstring)."""
        if not self._metadata[0][1]:
            raise ZoneUnavailable(
                f"zone {zone} cannot be called: this region has no peer key (ORDERMESH_PEER_KEY)",
                {"zone": zone},
            )
        path = f"/{SERVICE}/{method}"
        failures: list[str] = []
        for region in self.topology.zones[zone].regions:
            try:
                endpoint = self._endpoint_of(region.name)
            except KeyError:
                failures.append(f"{region.name}: not running")
                continue
            stub = self._channel(endpoint).unary_unary(
                path, request_serializer=_serialize, response_deserializer=answer.FromString
            )
            try:
                reply: M = stub(request, metadata=self._metadata, timeout=self.timeout_s)
                return reply
            except grpc.RpcError as exc:
                domain = from_rpc_error(exc)
                code = exc.code()
                if isinstance(domain, Unauthenticated):
                    # the peer keys of the two regions differ: an operator's mistake, not the tenant's
                    log.error("region %s refused this region's peer key: %s", region.name, domain)
                    failures.append(f"{region.name}: peer key refused")
                    continue
                if domain is not None and not isinstance(domain, ShuttingDown):
                    raise domain from exc
                failures.append(f"{region.name}: {code.name if code else '?'}")
                if domain is not None:  # SHUTTING_DOWN: refused before doing anything
                    continue
                if code is grpc.StatusCode.UNAVAILABLE and (repeatable or _never_sent(exc)):
                    continue
                if code is grpc.StatusCode.DEADLINE_EXCEEDED and repeatable:
                    continue
                break  # not safe to repeat elsewhere, or an answer that is not the zone's to give
        log.warning("zone %s unreachable for %s: %s", zone, method, "; ".join(failures))
        raise ZoneUnavailable(
            f"no region of zone {zone} answered {method} ({'; '.join(failures)})", {"zone": zone}
        )


def _never_sent(exc: grpc.RpcError) -> bool:
    """An UNAVAILABLE from failing to connect (the call never left); a dropped connection is not:
    the region may have applied it, so a release or commit is not repeated elsewhere."""
    details = (exc.details() or "").lower()
    return "failed to connect" in details or "connection refused" in details


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


class RemotePoolBook:
    """Another zone's PoolBook, seen through its regions (the methods the cross-zone call sites use)."""

    def __init__(self, zone: str, peers: GrpcPoolPeers) -> None:
        self._zone = zone
        self._peers = peers
        self._escrow = RemoteEscrow(zone, peers)

    @property
    def zone(self) -> str:
        return self._zone

    @property
    def escrow(self) -> RemoteEscrow:
        return self._escrow

    def _key(self, tenant: str, sku: str) -> pb.PoolKey:
        return pb.PoolKey(zone=self._zone, tenant=tenant, sku=sku)

    def slice(self, tenant: str, sku: str) -> PoolSlice:
        return tr.slice_from_pb(
            self._peers.call(self._zone, "GetSlice", self._key(tenant, sku), ipb.PoolSlice)
        )

    def transfers(self, tenant: str, sku: str, state: TransferState | None = None) -> list[Transfer]:
        request = pb.ListTransfersRequest(pool=self._key(tenant, sku), state=tr.transfer_state_to_pb(state))
        answer = self._peers.call(self._zone, "ListTransfers", request, pb.ListTransfersResponse)
        return [tr.transfer_from_pb(t) for t in answer.transfers]

    def _units(self, method: str, tenant: str, sku: str, quantity: int, repeatable: bool) -> Outcome:
        request = pb.PoolUnits(pool=self._key(tenant, sku), quantity=_int64(quantity, "quantity"))
        answer = self._peers.call(self._zone, method, request, pb.PoolOutcome, repeatable=repeatable)
        return tr.outcome_from_pb(answer)

    def reserve(self, tenant: str, sku: str, quantity: int) -> Outcome:
        return self._units("Reserve", tenant, sku, quantity, True)

    def release(self, tenant: str, sku: str, quantity: int) -> Outcome:
        return self._units("Release", tenant, sku, quantity, False)

    def commit(self, tenant: str, sku: str, quantity: int) -> Outcome:
        return self._units("Commit", tenant, sku, quantity, False)

    def gossip_message(self, tenant: str, sku: str) -> Gossip:
        return tr.gossip_from_pb(
            self._peers.call(self._zone, "GetGossip", self._key(tenant, sku), pb.PoolGossip)
        )

    def merge_gossip(self, tenant: str, sku: str, message: Gossip) -> None:
        request = pb.MergeGossipRequest(pool=self._key(tenant, sku), gossip=tr.gossip_to_pb(message))
        self._peers.call(self._zone, "MergeGossip", request, pb.MergeGossipResponse)


class RemoteEscrow:
    """Another zone's fenced escrow writes (called by this zone while it holds a pool's lock)."""

    def __init__(self, zone: str, peers: GrpcPoolPeers) -> None:
        self._zone = zone
        self._peers = peers

    def send(self, tenant: str, sku: str, move: Rebalance, holder: str, token: int) -> Transfer | None:
        request = pb.SendQuotaRequest(
            pool=pb.PoolKey(zone=self._zone, tenant=tenant, sku=sku),
            from_zone=move.from_zone,
            to_zone=move.to_zone,
            quantity=_int64(move.quantity, "quantity"),
            fence=tr.fence_pb(holder, token),
        )
        answer = self._peers.call(self._zone, "SendQuota", request, pb.SendQuotaResponse)
        return tr.transfer_from_pb(answer.transfer) if answer.HasField("transfer") else None

    def _transfer(self, method: str, transfer: Transfer, holder: str, token: int) -> bool:
        request = pb.TransferCall(
            zone=self._zone, transfer=tr.transfer_to_pb(transfer), fence=tr.fence_pb(holder, token)
        )
        return self._peers.call(self._zone, method, request, pb.TransferApplied).applied

    def receive(self, transfer: Transfer, holder: str, token: int) -> bool:
        return self._transfer("ReceiveQuota", transfer, holder, token)

    def finish(self, transfer: Transfer, holder: str, token: int) -> bool:
        return self._transfer("FinishTransfer", transfer, holder, token)

    def _lease(self, method: str, name: str, holder: str, token: int) -> None:
        request = pb.LeaseCall(zone=self._zone, name=name, fence=tr.fence_pb(holder, token))
        self._peers.call(self._zone, method, request, pb.LeaseAnswer)

    def acquire_lease(self, name: str, holder: str, token: int) -> None:
        self._lease("AcquireLease", name, holder, token)

    def release_lease(self, name: str, holder: str, token: int) -> None:
        self._lease("ReleaseLease", name, holder, token)


def _int64(value: Any, at: str) -> int:
    """A value an int64 field takes, or INVALID_ARGUMENT here (rather than a protobuf error)."""
    if not isinstance(value, int) or isinstance(value, bool) or not -(2**63) <= value < 2**63:
        raise InvalidArgument.single(at, "must be an integer")
    return value
