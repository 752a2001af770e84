"""The AdminService (manual Failover / Drain / Failback, ListPlacements), served by the failover controller.

Failure semantics: a controller that is not the elected leader answers FAILED_PRECONDITION / NOT_LEADER
(metadata "leader" names the leader), so no two processes ever plan moves; a move that loses its
compare-and-set is reported with applied=false and an error, never retried blindly. A coordinator
that does not answer gives UNAVAILABLE (the outcome of a move may be unknown: ListPlacements shows it).

Auth: every AdminService call carries `x-admin-key` metadata whose SHA-256 must equal the configured
digest (`--admin-key-sha256` or $ORDERMESH_ADMIN_KEY_SHA256); otherwise UNAUTHENTICATED. Health and
reflection stay open so that stock tools work.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from consistency.coordinator import CoordinatorError
from ordermesh.api.v1 import admin_pb2 as pb
from ordermesh.api.v1 import admin_pb2_grpc as pb_grpc
from ordermesh.errors import DatabaseUnavailable, OrdermeshError, Unauthenticated
from ordermesh.rpc_errors import to_rpc_status
from router.failover import ELECTION, AppliedMove, FailoverController
from router.policy import home_region

SERVICE = "ordermesh.v1.AdminService"
ADMIN_KEY_HEADER = "x-admin-key"


def _moves(applied: list[AppliedMove]) -> list[pb.ShardMove]:
    return [
        pb.ShardMove(
            shard=str(a.move.shard),
            from_region=a.move.from_region,
            to_region=a.move.to_region,
            epoch=a.placement.epoch if a.placement is not None else 0,
            applied=a.placement is not None,
            error=a.error,
        )
        for a in applied
    ]


class AdminServicer(pb_grpc.AdminServiceServicer):
    """Thin: translate the request, call the controller, translate its answer or domain error."""

    def __init__(self, controller: FailoverController) -> None:
        self.controller = controller

    def _run(self, context: grpc.ServicerContext, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except OrdermeshError as exc:
            context.abort_with_status(to_rpc_status(exc))
        except CoordinatorError as exc:
            # Reuse the "backend unreachable, retry" row of the error table: the coordinator is a backend.
            context.abort_with_status(to_rpc_status(DatabaseUnavailable(f"coordinator: {exc}")))

    def Failover(self, request: pb.FailoverRequest, context: grpc.ServicerContext) -> pb.FailoverResponse:
        moves = self._run(context, lambda: self.controller.failover(request.region))
        return pb.FailoverResponse(moves=_moves(moves))

    def Drain(self, request: pb.DrainRequest, context: grpc.ServicerContext) -> pb.DrainResponse:
        moves = self._run(context, lambda: self.controller.drain(request.region))
        return pb.DrainResponse(moves=_moves(moves))

    def Failback(self, request: pb.FailbackRequest, context: grpc.ServicerContext) -> pb.FailbackResponse:
        moves = self._run(context, lambda: self.controller.failback(request.region or None))
        return pb.FailbackResponse(moves=_moves(moves))

    def ListPlacements(
        self, request: pb.ListPlacementsRequest, context: grpc.ServicerContext
    ) -> pb.ListPlacementsResponse:
        controller = self.controller

        def read() -> pb.ListPlacementsResponse:
            placements = controller.coordinator.placements()
            answer = pb.ListPlacementsResponse(leader=controller.coordinator.leader(ELECTION) or "")
            for shard in controller.shards:
                home, epoch = home_region(controller.topology, shard, placements)
                answer.placements.append(
                    pb.ShardPlacement(
                        shard=str(shard),
                        tenant=shard.tenant,
                        zone=shard.zone,
                        bucket=shard.bucket,
                        home_region=home,
                        epoch=epoch,
                    )
                )
            for r in controller.status():
                answer.regions.append(
                    pb.RegionState(
                        region=r.region,
                        zone=r.zone,
                        instances=r.instances,
                        live=r.live,
                        dead=r.dead,
                        drained=r.drained,
                    )
                )
            return answer

        answer: pb.ListPlacementsResponse = self._run(context, read)
        return answer


def _deny(message: str) -> grpc.RpcMethodHandler:
    def abort(_request: Any, context: grpc.ServicerContext) -> None:
        context.abort_with_status(to_rpc_status(Unauthenticated(message)))

    return grpc.unary_unary_rpc_method_handler(abort)


class AdminKeyInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Lets AdminService calls through only with the right `x-admin-key` (constant-time compare)."""

    def __init__(self, key_sha256: str) -> None:
        self.key_sha256 = key_sha256.lower()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if not handler_call_details.method.startswith(f"/{SERVICE}/"):
            return continuation(handler_call_details)
        keys = [v for k, v in handler_call_details.invocation_metadata or () if k == ADMIN_KEY_HEADER]
        if not keys or not isinstance(keys[0], str):
            return _deny(f"missing {ADMIN_KEY_HEADER} metadata")
        digest = hashlib.sha256(keys[0].encode("utf-8")).hexdigest()
        if not hmac.compare_digest(digest, self.key_sha256):
            return _deny("wrong admin key")
        return continuation(handler_call_details)


def build_admin_server(
    controller: FailoverController, key_sha256: str, host: str = "127.0.0.1", port: int = 0
) -> tuple[grpc.Server, int]:
    """An unstarted gRPC server with AdminService, health (SERVING) and reflection; returns (server, port)."""
    server = grpc.server(
        ThreadPoolExecutor(max_workers=8, thread_name_prefix="admin"),
        interceptors=[AdminKeyInterceptor(key_sha256)],
        options=[("grpc.so_reuseport", 0)],
    )
    pb_grpc.add_AdminServiceServicer_to_server(AdminServicer(controller), server)  # type: ignore[no-untyped-call]
    health_servicer = health.HealthServicer()
    for name in ("", SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (
        pb.DESCRIPTOR.services_by_name["AdminService"].full_name,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    reflection.enable_server_reflection(names, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port} (address in use?)")
    return server, bound


class AdminClient:
    """A small typed client of AdminService (CLI, tests, drills)."""

    def __init__(self, target: str, admin_key: str, *, timeout: float = 10.0) -> None:
        self.channel = grpc.insecure_channel(target, options=[("grpc.so_reuseport", 0)])
        self.stub: Any = pb_grpc.AdminServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.metadata = ((ADMIN_KEY_HEADER, admin_key),)
        self.timeout = timeout

    def failover(self, region: str) -> pb.FailoverResponse:
        answer: pb.FailoverResponse = self.stub.Failover(
            pb.FailoverRequest(region=region), metadata=self.metadata, timeout=self.timeout
        )
        return answer

    def drain(self, region: str) -> pb.DrainResponse:
        answer: pb.DrainResponse = self.stub.Drain(
            pb.DrainRequest(region=region), metadata=self.metadata, timeout=self.timeout
        )
        return answer

    def failback(self, region: str = "") -> pb.FailbackResponse:
        answer: pb.FailbackResponse = self.stub.Failback(
            pb.FailbackRequest(region=region), metadata=self.metadata, timeout=self.timeout
        )
        return answer

    def list_placements(self) -> pb.ListPlacementsResponse:
        answer: pb.ListPlacementsResponse = self.stub.ListPlacements(
            pb.ListPlacementsRequest(), metadata=self.metadata, timeout=self.timeout
        )
        return answer

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
