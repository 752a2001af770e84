"""Authentication interceptor: the tenant comes from call credentials (the API key), never from a request.

Deny by default: every method needs a known key except the health and reflection services, which
stock tools call without one. The internal PoolPeerService (region to region) takes only the cluster's
peer key (`x-peer-key`, digest in the topology's peer_key_sha256), and the tenant services only tenant
keys: neither kind of key opens the other's services. A missing or unknown key is UNAUTHENTICATED
(rich status); the principal of an accepted call is handed to the servicer through a context variable
that is set inside the handler itself, so it is visible to exactly that call.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc import aio

from ordermesh.errors import Unauthenticated
from ordermesh.rpc_errors import to_rpc_status
from ordermesh.topology import Topology
from region_service.orders import Principal

log = logging.getLogger(__name__)

EXEMPT_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
PEER_PREFIX = "/ordermesh.v1.PoolPeerService/"
PEER_KEY_HEADER = "x-peer-key"
MAX_KEY = 256

_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "ordermesh_principal", default=None
)


def current_principal() -> Principal:
    """The authenticated caller of the running call (UNAUTHENTICATED if the interceptor did not run)."""
    who = _principal.get()
    if who is None:
        raise Unauthenticated("this call carries no authenticated tenant")
    return who


def api_key_of(metadata: Sequence[Any] | None) -> str:
    """The key from `x-api-key`, or from `authorization: Bearer <key>`; "" when neither is present."""
    bearer = ""
    for item in metadata or ():
        key, value = item[0], item[1]
        if not isinstance(value, str):
            continue
        if key == "x-api-key":
            return value.strip()
        if key == "authorization" and value[:7].lower() == "bearer ":
            bearer = value[7:].strip()
    return bearer


def authenticate(topology: Topology, metadata: Sequence[Any] | None) -> Principal:
    key = api_key_of(metadata)
    if not key:
        raise Unauthenticated("missing API key: send it as x-api-key metadata")
    if len(key) > MAX_KEY:
        raise Unauthenticated("unknown API key")
    tenant = topology.tenant_for_key(key)
    if tenant is None:
        raise Unauthenticated("unknown API key")
    return Principal(tenant.name, hashlib.sha256(key.encode("utf-8")).hexdigest()[:12])


def authenticate_peer(topology: Topology, metadata: Sequence[Any] | None) -> None:
    """Accepts a region-to-region call carrying a valid peer key; UNAUTHENTICATED otherwise."""
    key = ""
    for item in metadata or ():
        if item[0] == PEER_KEY_HEADER and isinstance(item[1], str):
            key = item[1].strip()
    if not key:
        raise Unauthenticated("missing peer key: region-to-region calls send it as x-peer-key metadata")
    if len(key) > MAX_KEY or not topology.is_peer_key(key):
        raise Unauthenticated("unknown peer key")


Behavior = Callable[..., Any]


def _wrap(handler: grpc.RpcMethodHandler, wrap: Callable[[Behavior], Behavior]) -> grpc.RpcMethodHandler:
    """The same handler with its behavior wrapped (one of the four kinds is set)."""
    des, ser = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(wrap(handler.unary_unary), des, ser)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream), des, ser)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(wrap(handler.stream_unary), des, ser)
    return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream), des, ser)


class AuthInterceptor(aio.ServerInterceptor):  # type: ignore[misc]
    # Accepted keys are remembered (the topology never changes under a running server): two
    # SHA-256s and a scan of every tenant per call were a measurable share of CreateOrder's CPU.
    # Only accepted keys are kept, and only so many, so unknown keys cannot grow it.
    MAX_CACHED_KEYS = 1024

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._accepted: dict[str, Principal] = {}
        # The handler bound to a principal, per method: built once, not per call (same bound).
        self._bound: dict[tuple[str, Principal], grpc.RpcMethodHandler] = {}

    def _authenticate(self, metadata: Sequence[Any] | None) -> Principal:
        key = api_key_of(metadata)
        who = self._accepted.get(key)
        if who is None:
            who = authenticate(self.topology, metadata)
            if len(self._accepted) < self.MAX_CACHED_KEYS:
                self._accepted[key] = who
        return who

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(EXEMPT_PREFIXES):
            return handler
        peer = method.startswith(PEER_PREFIX)
        try:
            if peer:
                authenticate_peer(self.topology, handler_call_details.invocation_metadata)
            else:
                who = self._authenticate(handler_call_details.invocation_metadata)
        except Unauthenticated as exc:
            log.info("refused %s: %s", method, exc)
            status = to_rpc_status(exc)
            streaming = handler.response_streaming

            def refuse(_behavior: Behavior) -> Behavior:
                if streaming:

                    async def refuse_stream(_request: Any, context: aio.ServicerContext) -> Any:
                        await context.abort_with_status(status)
                        yield  # pragma: no cover  (makes this an async generator)

                    return refuse_stream

                async def refuse_unary(_request: Any, context: aio.ServicerContext) -> Any:
                    await context.abort_with_status(status)

                return refuse_unary

            return _wrap(handler, refuse)
        if peer:  # a region acting for a tenant it has authenticated: no principal here
            return handler

        bound = self._bound.get((method, who))
        if bound is None:
            bound = self._bind(handler, who)
            if len(self._bound) < self.MAX_CACHED_KEYS * 8:
                self._bound[(method, who)] = bound
        return bound

    @staticmethod
    def _bind(handler: grpc.RpcMethodHandler, who: Principal) -> grpc.RpcMethodHandler:
        """The handler with `who` set as the principal inside each call."""

        def bind(behavior: Behavior) -> Behavior:
            if handler.response_streaming:

                async def bound_stream(request: Any, context: aio.ServicerContext) -> Any:
                    _principal.set(who)
                    async for item in behavior(request, context):
                        yield item

                return bound_stream

            async def bound_unary(request: Any, context: aio.ServicerContext) -> Any:
                _principal.set(who)
                return await behavior(request, context)

            return bound_unary

        return _wrap(handler, bind)
