"""ordermesh.v1.OrderService end to end over real gRPC, against SQLite and a real PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from deploy.postgres_server import PostgresServer
from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.client import StorefrontClient, channel_options
from ordermesh.clock import ManualClock
from ordermesh.errors import (
    DatabaseUnavailable,
    Fenced,
    IdempotencyKeyReused,
    InvalidArgument,
    InvalidTransition,
    NotFound,
    ResidencyViolation,
    StaleVersion,
)
from ordermesh.money import Money
from ordermesh.order import OrderLine
from ordermesh.status import OrderStatus
from ordermesh.topology import Topology
from region_service.storage import admin
from tests.integration.region_harness import (
    ACME_KEY,
    GLOBEX_KEY,
    RegionThread,
    create_request,
    eu_database,
    make_topology,
    raw_stub,
    row_counts,
    rpc_failure,
    running_region,
)

LINE = OrderLine("SKU-1", 2, Money(1999, "EUR"))
S = OrderStatus


class Env:
    def __init__(self, topology: Topology, region: RegionThread, clock: ManualClock) -> None:
        self.topology = topology
        self.region = region
        self.clock = clock
        self.url = topology.zones["eu"].database_url
        self.acme = StorefrontClient(region.target, ACME_KEY)
        self.globex = StorefrontClient(region.target, GLOBEX_KEY)

    def rows(self) -> dict[str, int]:
        return row_counts(self.url)


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    url = eu_database(request.param, request, tmp_path)
    topology = make_topology(url, tmp_path)
    clock = ManualClock()
    # No background sealing: watchers seal on read, and the runner's attempt counter stays exact.
    with running_region(topology, clock=clock, seal_interval_s=3600, watch_poll_s=0.05) as region:
        e = Env(topology, region, clock)
        yield e
        e.acme.close()
        e.globex.close()


def _create(env: Env, customer: str = "c-1", **kw: object) -> pb.Order:
    env.clock.advance(1)
    return env.acme.create_order(customer, "DE", [LINE], **kw)  # type: ignore[arg-type]


def test_create_then_get_returns_the_stored_order(env: Env) -> None:
    order = _create(env)
    assert order.order_id.startswith("eu-") and order.name == f"orders/{order.order_id}"
    assert (order.status, order.version, order.etag, order.zone) == (pb.PENDING, 1, '"1"', "eu")
    assert (order.total.amount_minor, order.total.currency) == (3998, "EUR")
    assert env.acme.get_order(order.order_id) == order
    assert env.rows() == {"orders": 1, "order_events": 1, "idempotency_keys": 1}


def test_replay_with_same_request_id_returns_identical_response(env: Env) -> None:
    first = _create(env, request_id="same-1")
    env.clock.advance(5)
    again = env.acme.create_order("c-1", "DE", [LINE], request_id="same-1")
    assert again.SerializeToString(deterministic=True) == first.SerializeToString(deterministic=True)
    assert env.rows() == {"orders": 1, "order_events": 1, "idempotency_keys": 1}


def test_same_request_id_with_other_body_is_refused_and_writes_nothing(env: Env) -> None:
    _create(env, request_id="same-2")
    with raw_stub(env.region.target, ACME_KEY) as raw:
        code, err, _ = rpc_failure(
            lambda: raw.stub.CreateOrder(create_request("same-2", qty=3), metadata=raw.metadata)
        )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and isinstance(err, IdempotencyKeyReused)
    assert env.rows() == {"orders": 1, "order_events": 1, "idempotency_keys": 1}


def test_retried_changes_replay_even_after_the_order_moved_on(env: Env) -> None:
    """A retry of an applied change meets an order that no longer allows it (stale etag, no such
    transition); it must still get the first answer back, and apply nothing twice."""
    order = _create(env, request_id="mv-0")
    oid = order.order_id
    confirmed = env.acme.update_order_status(oid, S.CONFIRMED, etag=order.etag, request_id="mv-1")
    cancelled = env.acme.cancel_order(oid, reason="r", request_id="mv-2")
    again_confirm = env.acme.update_order_status(oid, S.CONFIRMED, etag=order.etag, request_id="mv-1")
    again_cancel = env.acme.cancel_order(oid, reason="r", request_id="mv-2")
    wire = lambda msg: msg.SerializeToString(deterministic=True)  # noqa: E731
    assert wire(again_confirm) == wire(confirmed)
    assert wire(again_cancel) == wire(cancelled)
    assert env.acme.get_order(order.order_id).version == 3
    assert env.rows() == {"orders": 1, "order_events": 3, "idempotency_keys": 3}
    # The same key with another change is refused as key reuse, not as the change's own error.
    with raw_stub(env.region.target, ACME_KEY) as raw:
        code, err, _ = rpc_failure(
            lambda: raw.stub.UpdateOrderStatus(
                pb.UpdateOrderStatusRequest(request_id="mv-1", order_id=order.order_id, status=pb.ON_HOLD),
                metadata=raw.metadata,
            )
        )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and isinstance(err, IdempotencyKeyReused)
    assert env.rows() == {"orders": 1, "order_events": 3, "idempotency_keys": 3}


def test_list_pages_newest_first_and_filters(env: Env) -> None:
    made = [_create(env, customer=f"c-{i}") for i in range(7)]
    env.acme.update_order_status(made[1].order_id, S.CONFIRMED)
    env.acme.update_order_status(made[4].order_id, S.CONFIRMED)
    _create_globex = env.globex.create_order("g-1", "FR", [LINE])
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = env.acme.list_orders(page_size=3, page_token=token)
        seen += [o.order_id for o in page.orders]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == [o.order_id for o in reversed(made)] and pages == 3
    assert _create_globex.order_id not in seen
    confirmed = env.acme.list_orders(statuses=[S.CONFIRMED])
    assert [o.order_id for o in confirmed.orders] == [made[4].order_id, made[1].order_id]
    window = env.acme.list_orders(
        created_after=made[2].create_time.ToDatetime(), created_before=made[5].create_time.ToDatetime()
    )
    assert [o.order_id for o in window.orders] == [made[4].order_id, made[3].order_id, made[2].order_id]
    assert len(env.acme.list_orders(page_size=5000).orders) == 7  # coerced to the maximum, not refused
    first = env.acme.list_orders(page_size=2)
    for bad in (
        lambda: env.acme.list_orders(page_size=2, page_token=first.next_page_token, statuses=[S.PENDING]),
        lambda: env.acme.list_orders(page_token="not-a-token!"),
        lambda: env.acme.list_orders(page_size=-1),
        lambda: env.acme.list_orders(zone="us"),
    ):
        with pytest.raises(InvalidArgument):
            bad()


def test_update_checks_etag_and_expected_version(env: Env) -> None:
    order = _create(env)
    confirmed = env.acme.update_order_status(order.order_id, S.CONFIRMED, etag=order.etag, reason="paid")
    assert (confirmed.status, confirmed.version) == (pb.CONFIRMED, 2)
    with raw_stub(env.region.target, ACME_KEY) as raw:
        for stale in (
            pb.UpdateOrderStatusRequest(
                request_id="u-1", order_id=order.order_id, status=pb.ALLOCATED, etag='"1"'
            ),
            pb.UpdateOrderStatusRequest(
                request_id="u-2", order_id=order.order_id, status=pb.ALLOCATED, expected_version=1
            ),
        ):
            assert env.region.server is not None
            attempts = env.region.server.runner.stats.attempts
            code, err, _ = rpc_failure(
                lambda req=stale: raw.stub.UpdateOrderStatus(req, metadata=raw.metadata)
            )
            assert code == grpc.StatusCode.ABORTED and isinstance(err, StaleVersion)
            # One refused transaction plus one idempotency-key lookup; a channel retry would add two more.
            assert env.region.server.runner.stats.attempts == attempts + 2
            assert err.metadata["current_version"] == "2"
        code, err, _ = rpc_failure(
            lambda: raw.stub.UpdateOrderStatus(
                pb.UpdateOrderStatusRequest(request_id="u-3", order_id=order.order_id, status=pb.DELIVERED),
                metadata=raw.metadata,
            )
        )
        assert code == grpc.StatusCode.FAILED_PRECONDITION and isinstance(err, InvalidTransition)
    assert env.acme.get_order(order.order_id).version == 2
    assert env.rows() == {"orders": 1, "order_events": 2, "idempotency_keys": 2}


def test_cancel_before_shipping_and_refused_after(env: Env) -> None:
    kept = _create(env)
    cancelled = env.acme.cancel_order(kept.order_id, reason="customer asked", expected_version=1)
    assert (cancelled.status, cancelled.version) == (pb.CANCELLED, 2)
    shipped = _create(env)
    for status in (S.CONFIRMED, S.ALLOCATED, S.SHIPPED):
        env.acme.update_order_status(shipped.order_id, status)
    with raw_stub(env.region.target, ACME_KEY) as raw:
        code, err, _ = rpc_failure(
            lambda: raw.stub.CancelOrder(
                pb.CancelOrderRequest(request_id="c-x", order_id=shipped.order_id), metadata=raw.metadata
            )
        )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and isinstance(err, InvalidTransition)
    assert env.acme.get_order(shipped.order_id).status == pb.SHIPPED


def test_watch_replays_resumes_and_follows(env: Env) -> None:
    a, b = _create(env), _create(env)
    env.clock.advance(1)  # chain order follows event time: give the cancellation its own instant
    env.acme.cancel_order(a.order_id)
    replay = list(env.acme.watch_order_events(stop_at_end=True, timeout=10))
    assert [(e.order_id, e.type) for e in replay] == [
        (a.order_id, pb.ORDER_CREATED),
        (b.order_id, pb.ORDER_CREATED),
        (a.order_id, pb.ORDER_CANCELLED),
    ]
    assert [e.sequence for e in replay] == [1, 2, 3]
    assert replay[2].from_status == pb.PENDING and replay[2].actor.startswith("acme:")
    resumed = list(env.acme.watch_order_events(cursor=replay[0].cursor, stop_at_end=True, timeout=10))
    assert resumed == replay[1:]
    only_a = list(env.acme.watch_order_events(order_id=a.order_id, stop_at_end=True, timeout=10))
    assert [e.sequence for e in only_a] == [1, 3]
    assert list(env.globex.watch_order_events(stop_at_end=True, timeout=10)) == []

    got: list[pb.OrderEvent] = []
    with env.acme.watch_order_events(cursor=replay[-1].cursor, timeout=20) as stream:

        def follow() -> None:
            for event in stream:
                got.append(event)
                return

        follower = threading.Thread(target=follow)
        follower.start()
        time.sleep(0.3)
        c = _create(env)
        follower.join(10)
    assert [(e.order_id, e.sequence) for e in got] == [(c.order_id, 4)]
    with pytest.raises(InvalidArgument):
        list(env.acme.watch_order_events(cursor="garbage", stop_at_end=True))
    with pytest.raises(InvalidArgument):  # a cursor of another shard
        list(env.globex.watch_order_events(cursor=replay[0].cursor, stop_at_end=True))


def test_other_tenants_orders_are_not_found(env: Env) -> None:
    order = _create(env)
    with pytest.raises(NotFound):
        env.globex.get_order(order.order_id)
    with pytest.raises(NotFound):
        env.globex.cancel_order(order.order_id)
    assert env.globex.list_orders().orders == []
    assert env.acme.get_order(order.order_id).status == pb.PENDING


def test_missing_or_unknown_key_is_unauthenticated(env: Env) -> None:
    for key in (None, "wrong-key"):
        with raw_stub(env.region.target, key) as raw:
            code, err, _ = rpc_failure(lambda: raw.stub.GetOrder(pb.GetOrderRequest(order_id="x")))
            assert code == grpc.StatusCode.UNAUTHENTICATED and err is not None
            assert err.reason == "UNAUTHENTICATED"
            code, err, _ = rpc_failure(
                lambda: list(raw.stub.WatchOrderEvents(pb.WatchOrderEventsRequest(stop_at_end=True)))
            )
            assert code == grpc.StatusCode.UNAUTHENTICATED and err is not None
    with raw_stub(env.region.target, None) as raw:  # Bearer works as well
        page = raw.stub.ListOrders(
            pb.ListOrdersRequest(), metadata=(("authorization", f"Bearer {ACME_KEY}"),)
        )
        assert page.orders == []
    assert env.rows()["orders"] == 0


def test_us_customer_at_eu_region_is_a_residency_violation(env: Env) -> None:
    with raw_stub(env.region.target, ACME_KEY) as raw:
        code, err, _ = rpc_failure(
            lambda: raw.stub.CreateOrder(create_request("res-1", country="US"), metadata=raw.metadata)
        )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and isinstance(err, ResidencyViolation)
    assert err.metadata["zone"] == "us"
    assert env.rows() == {"orders": 0, "order_events": 0, "idempotency_keys": 0}


def test_malformed_id_is_invalid_argument_and_unknown_id_not_found(env: Env) -> None:
    with raw_stub(env.region.target, ACME_KEY) as raw:
        code, err, _ = rpc_failure(
            lambda: raw.stub.GetOrder(pb.GetOrderRequest(order_id="nope"), metadata=raw.metadata)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(err, InvalidArgument)
        assert [v.field for v in err.violations] == ["order_id"]
        bucket = env.topology.shard("acme", "eu").bucket
        for unknown in (f"eu-{bucket}-{'0' * 26}", f"us-{bucket}-{'0' * 26}", f"eu-{bucket + 1}-{'0' * 26}"):
            code, err, _ = rpc_failure(
                lambda u=unknown: raw.stub.GetOrder(pb.GetOrderRequest(order_id=u), metadata=raw.metadata)
            )
            assert code == grpc.StatusCode.NOT_FOUND and isinstance(err, NotFound)
        bad = pb.CreateOrderRequest(
            request_id="",
            customer=pb.Customer(country="ZZ"),
            lines=[pb.OrderLine(sku="-bad", quantity=0), pb.OrderLine(sku="OK", quantity=1)],
        )
        code, err, _ = rpc_failure(lambda: raw.stub.CreateOrder(bad, metadata=raw.metadata))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(err, InvalidArgument)
    fields = {v.field for v in err.violations}
    assert {
        "request_id",
        "customer.customer_id",
        "customer.country",
        "lines[0].sku",
        "lines[0].quantity",
    } <= fields
    assert env.rows()["orders"] == 0


def test_health_serving_and_reflection_lists_the_service(env: Env) -> None:
    channel = grpc.insecure_channel(env.region.target, options=channel_options())
    try:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "ordermesh.v1.OrderService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for r in replies for s in r.list_services_response.service}
        assert {"ordermesh.v1.OrderService", "grpc.health.v1.Health"} <= names
    finally:
        channel.close()


def test_fenced_instance_writes_nothing(env: Env) -> None:
    order = _create(env)
    before = env.rows()
    shard = env.topology.shard("acme", "eu")
    from region_service.storage.engine import make_engine

    engine = make_engine(env.url)
    try:  # another region took the shard over behind this instance's back
        admin.set_epoch(engine, shard, 1, "eu-central", env.clock.now_us())
    finally:
        engine.dispose()
    with raw_stub(env.region.target, ACME_KEY) as raw:
        assert env.region.server is not None
        attempts = env.region.server.runner.stats.attempts
        code, err, _ = rpc_failure(lambda: raw.stub.CreateOrder(create_request("f-1"), metadata=raw.metadata))
        # FENCED carries a no-retry pushback: the channel's retryPolicy must not hammer a zombie
        assert env.region.server.runner.stats.attempts == attempts + 1
        assert code == grpc.StatusCode.UNAVAILABLE and isinstance(err, Fenced)
        code, err, _ = rpc_failure(
            lambda: raw.stub.CancelOrder(
                pb.CancelOrderRequest(request_id="f-2", order_id=order.order_id), metadata=raw.metadata
            )
        )
        assert code == grpc.StatusCode.UNAVAILABLE and isinstance(err, Fenced)
    assert env.rows() == before
    assert env.acme.get_order(order.order_id).status == pb.PENDING  # reads are not fenced


def test_lost_database_is_unavailable_not_internal(postgres_server: PostgresServer, tmp_path: Path) -> None:
    name = f"gone_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    topology = make_topology(postgres_server.url(name), tmp_path)
    with running_region(topology) as region, raw_stub(region.target, ACME_KEY) as raw:
        raw.stub.CreateOrder(create_request("db-1"), metadata=raw.metadata, timeout=10)
        postgres_server.drop_database(name)  # terminates the pool's connections, then the database
        code, err, _ = rpc_failure(
            lambda: raw.stub.CreateOrder(create_request("db-2"), metadata=raw.metadata, timeout=30)
        )
    assert code == grpc.StatusCode.UNAVAILABLE and isinstance(err, DatabaseUnavailable)
