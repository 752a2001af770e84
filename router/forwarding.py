"""The router's OrderService: authenticate, route by the pure policy, forward raw bytes to a region.

Failure semantics: a call goes only to regions of its own zone. UNAVAILABLE from a region (transport
failure, FENCED, SHUTTING_DOWN, …) is retried at the next candidate region of the same zone, with a
small jittered backoff, until the call's deadline (the caller's remaining time, capped by
`default_timeout`); when the zone has no healthy region the answer is UNAVAILABLE with reason
ZONE_UNAVAILABLE. Every other answer of a region passes through unchanged (code, details, trailing
metadata with `grpc-status-details-bin`). Writes are safe to retry because each carries a request_id
and the zone database (shared by the zone's regions) replays it. A WatchOrderEvents stream is retried
only before its first event; a region failing mid-stream ends it with UNAVAILABLE (resume from the
cursor). Every routed write is recorded in the residency log, whatever its outcome.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError, Message
from grpc import aio

from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.countries import is_country
from ordermesh.errors import InvalidArgument, OrdermeshError, Unauthenticated, ZoneUnavailable
from ordermesh.ids import ORDER_ID
from ordermesh.topology import Topology
from router import policy
from router.directory import Directory
from router.residency_log import REFUSED, SERVED, WRITE_METHODS, ZONE_UNAVAILABLE, ResidencyLog
from router.upstream import Attempts, ChannelPool, Refusal, RouteOf, refusal_of

log = logging.getLogger(__name__)

SERVICE = "ordermesh.v1.OrderService"
MAX_KEY = 256
# Transport-level headers that gRPC sets itself; everything else the caller sent is forwarded as is.
_RESERVED = ("grpc-", ":")
_HOP_BY_HOP = frozenset({"user-agent", "te", "content-type"})


def tenant_of(topology: Topology, metadata: Sequence[Any] | None) -> str:
    """The tenant of the `x-api-key` (or `authorization: Bearer`) key; Unauthenticated otherwise."""
    key = bearer = ""
    for item in metadata or ():
        name, value = item[0], item[1]
        if not isinstance(value, str):
            continue
        if name == "x-api-key":
            key = value.strip()
            break
        if name == "authorization" and value[:7].lower() == "bearer ":
            bearer = value[7:].strip()
    key = key or bearer
    if not key:
        raise Unauthenticated("missing API key: send it as x-api-key metadata")
    tenant = topology.tenant_for_key(key) if len(key) <= MAX_KEY else None
    if tenant is None:
        raise Unauthenticated("unknown API key")
    return tenant.name


def parse_request(message: type[Message], raw: bytes) -> Any:
    try:
        return message.FromString(raw)
    except (DecodeError, ValueError) as exc:
        name = message.DESCRIPTOR.full_name
        raise InvalidArgument.single("", f"the request is not a valid {name}") from exc


def zone_required(zone: str) -> None:
    if not zone:
        raise InvalidArgument.single("zone", "required when calling through a router")


class Forwarder:
    """Build once per router; `handler()` is the generic handler to add to a grpc.aio server."""

    service = SERVICE  # the forwarded service (router.inventory_forwarding forwards another)

    def __init__(
        self,
        topology: Topology,
        directory: Directory,
        residency_log: ResidencyLog,
        *,
        pool: ChannelPool | None = None,
        default_timeout: float = 30.0,
        backoff: float = 0.02,
        max_backoff: float = 0.25,
        rng: random.Random | None = None,
    ) -> None:
        self.topology = topology
        self.directory = directory
        self.residency_log = residency_log
        self.pool = pool or ChannelPool()
        self.default_timeout = default_timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        # Accepted keys -> tenant (the topology never changes under a running router), sparing a
        # SHA-256 and a scan of every tenant per call. Bounded, and only accepted keys are kept.
        self._tenants: dict[tuple[tuple[str, Any], ...], str] = {}

    def handler(self) -> grpc.GenericRpcHandler:
        unary = grpc.unary_unary_rpc_method_handler  # no (de)serializers: raw bytes in and out
        handlers = {
            name: unary(self._unary_method(name))
            for name in ("CreateOrder", "GetOrder", "ListOrders", "UpdateOrderStatus", "CancelOrder")
        }
        handlers["WatchOrderEvents"] = grpc.unary_stream_rpc_method_handler(self._watch)
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    # -- routing of each method -----------------------------------------------------------------------

    def _route_of(self, method: str, tenant: str, raw: bytes) -> tuple[RouteOf, str, str]:
        """(route function, request_id, zone hint for the residency log) of one request."""
        t = self.topology
        if method == "CreateOrder":
            req = parse_request(pb.CreateOrderRequest, raw)
            country = req.customer.country
            if not is_country(country):
                why = "required" if not country else "not an ISO 3166-1 alpha-2 code (e.g. DE, US)"
                raise InvalidArgument.single("customer.country", why)
            zone_hint = t.tenants[tenant].country_overrides.get(country) or t.countries.get(country, "")
            return (
                lambda s: policy.route_new_order(t, s.placements, s.healthy, tenant, country),
                req.request_id,
                zone_hint,
            )
        if method in ("ListOrders", "WatchOrderEvents"):
            listing = pb.ListOrdersRequest if method == "ListOrders" else pb.WatchOrderEventsRequest
            req = parse_request(listing, raw)
            zone_required(req.zone)
            return lambda s: policy.route_zone(t, s.placements, s.healthy, tenant, req.zone), "", req.zone
        message = {
            "GetOrder": pb.GetOrderRequest,
            "UpdateOrderStatus": pb.UpdateOrderStatusRequest,
            "CancelOrder": pb.CancelOrderRequest,
        }[method]
        req = parse_request(message, raw)
        match = ORDER_ID.fullmatch(req.order_id)
        return (
            lambda s: policy.route_order_id(t, s.placements, s.healthy, tenant, req.order_id),
            getattr(req, "request_id", ""),
            match.group(1) if match else "",
        )

    # -- unary methods ----------------------------------------------------------------------------------

    def _unary_method(self, method: str) -> Callable[[bytes, aio.ServicerContext], Any]:
        path = f"/{self.service}/{method}"
        write = method in WRITE_METHODS

        async def forward(raw: bytes, context: aio.ServicerContext) -> bytes:
            tenant, request_id, zone, region = "", "", "", ""
            try:
                tenant = self._tenant(context.invocation_metadata())
                route_of, request_id, zone = self._route_of(method, tenant, raw)
                answer, zone, region = await self._call(path, raw, context, route_of, self._deadline(context))
            except (Refusal, OrdermeshError) as exc:
                refusal = exc if isinstance(exc, Refusal) else Refusal.of(exc)
                if write and tenant:
                    decision = ZONE_UNAVAILABLE if isinstance(exc, ZoneUnavailable) else REFUSED
                    self._record(tenant, method, request_id, zone, refusal.region, decision, refusal.code)
                await _abort(context, refusal)
            if write:
                self._record(tenant, method, request_id, zone, region, SERVED, grpc.StatusCode.OK)
            return answer

        return forward

    def _tenant(self, metadata: Sequence[Any] | None) -> str:
        key = tuple((m[0], m[1]) for m in metadata or () if m[0] in ("x-api-key", "authorization"))
        tenant = self._tenants.get(key)
        if tenant is None:
            tenant = tenant_of(self.topology, metadata)
            if len(self._tenants) < 1024:
                self._tenants[key] = tenant
        return tenant

    def _deadline(self, context: aio.ServicerContext, cap: bool = True) -> float | None:
        remaining: float | None = context.time_remaining()
        if remaining is None or remaining > 1e9:  # no deadline from the caller
            return asyncio.get_running_loop().time() + self.default_timeout if cap else None
        limit = min(remaining, self.default_timeout) if cap else remaining
        return asyncio.get_running_loop().time() + limit

    def _record(
        self, tenant: str, method: str, request_id: str, zone: str, region: str, decision: str, code: Any
    ) -> None:
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        self.residency_log.record(
            tenant=tenant,
            method=method,
            request_id=request_id,
            zone=zone,
            region=region,
            decision=decision,
            code=name,
        )

    async def _call(
        self, path: str, raw: bytes, context: aio.ServicerContext, route_of: RouteOf, deadline: float | None
    ) -> tuple[bytes, str, str]:
        """(answer, zone, region that answered); raises Refusal or a domain error."""
        metadata = _forwarded(context.invocation_metadata())
        attempts = Attempts(self.directory, self.rng, self.backoff, self.max_backoff)
        while True:
            route, region, endpoint = attempts.next(route_of)
            timeout = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if endpoint is not None and (timeout is None or timeout > 0):
                callable_ = self.pool.get(endpoint).unary_unary(path)
                try:
                    answer: bytes = await callable_(raw, timeout=timeout, metadata=metadata)
                    return answer, route.zone, region
                except aio.AioRpcError as exc:
                    attempts.failed(region, endpoint, exc)
            await attempts.pause(deadline)

    # -- the event stream -------------------------------------------------------------------------------

    async def _watch(self, raw: bytes, context: aio.ServicerContext) -> AsyncIterator[bytes]:
        path = f"/{SERVICE}/WatchOrderEvents"
        try:
            tenant = tenant_of(self.topology, context.invocation_metadata())
            route_of, _, _ = self._route_of("WatchOrderEvents", tenant, raw)
        except OrdermeshError as err:
            await _abort(context, Refusal.of(err))
        metadata = _forwarded(context.invocation_metadata())
        deadline = self._deadline(context, cap=False)
        attempts = Attempts(self.directory, self.rng, self.backoff, self.max_backoff)
        while True:
            try:
                _, region, endpoint = attempts.next(route_of)
            except Refusal as refusal:
                await _abort(context, refusal)
            except OrdermeshError as err:
                await _abort(context, Refusal.of(err))
            timeout = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if endpoint is not None and (timeout is None or timeout > 0):
                call = self.pool.get(endpoint).unary_stream(path)(raw, timeout=timeout, metadata=metadata)
                started = False
                try:
                    async for event in call:
                        started = True
                        yield event
                    return
                except aio.AioRpcError as exc:
                    if started or exc.code() != grpc.StatusCode.UNAVAILABLE:
                        await _abort(context, refusal_of(exc, region))
                    attempts.failed(region, endpoint, exc)
                finally:
                    call.cancel()
            try:
                await attempts.pause(deadline)
            except Refusal as refusal:
                await _abort(context, refusal)


def _forwarded(metadata: Sequence[Any] | None) -> tuple[tuple[str, Any], ...]:
    return tuple(
        (m[0], m[1]) for m in metadata or () if not m[0].startswith(_RESERVED) and m[0] not in _HOP_BY_HOP
    )


async def _abort(context: aio.ServicerContext, refusal: Refusal) -> NoReturn:
    await context.abort(refusal.code, refusal.details, refusal.trailers)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover
