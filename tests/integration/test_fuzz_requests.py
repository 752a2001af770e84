"""Malformed requests never crash a region server, never answer INTERNAL/UNKNOWN, and write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.errors import InvalidArgument, OrdermeshError
from ordermesh.order import validate_draft, validate_request_id
from ordermesh.residency import zone_of_order
from ordermesh.topology import Topology
from region_service.translate import draft_from_pb
from tests.integration.region_harness import (
    ACME_KEY,
    Raw,
    make_topology,
    raw_stub,
    row_counts,
    running_region,
)

ALLOWED = {
    grpc.StatusCode.INVALID_ARGUMENT: {"INVALID_ARGUMENT"},
    grpc.StatusCode.NOT_FOUND: {"NOT_FOUND"},
    grpc.StatusCode.FAILED_PRECONDITION: {"RESIDENCY_VIOLATION"},
}
EMPTY = {"orders": 0, "order_events": 0, "idempotency_keys": 0}
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
SHORT = settings(FUZZ, max_examples=40)

INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
HUGE = st.just("x" * 300_000)
TEXT = st.one_of(
    st.text(max_size=40), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=3), HUGE
)
ID_LIKE = st.one_of(
    TEXT,
    st.from_regex(r"\A[a-z]{1,3}-[0-9]{1,6}-[0-9a-z]{24,27}\Z"),
    st.from_regex(r"\Aeu-[0-9]{1,2}-[0-9a-hjkmnp-tv-z]{26}\Z"),
)
TOKEN = st.one_of(st.text(max_size=60), st.binary(max_size=80).map(lambda b: b.hex()), HUGE)
# Near-valid values too, so requests also get past validation to residency and the id checks.
MONEY = st.builds(
    pb.Money,
    amount_minor=st.one_of(INT64, st.integers(-1, 10**6)),
    currency=st.one_of(TEXT, st.sampled_from(["EUR", "USD", "JPY", "eur"])),
)
LINE = st.builds(
    pb.OrderLine,
    sku=st.one_of(TEXT, st.sampled_from(["SKU-1", "SKU-2"])),
    quantity=st.one_of(INT64, st.integers(-1, 3)),
    unit_price=st.one_of(st.none(), MONEY),
)
VALID_LINE = pb.OrderLine(sku="SKU-1", quantity=1, unit_price=pb.Money(amount_minor=100, currency="EUR"))
LINES = st.one_of(
    st.lists(LINE, max_size=4),
    st.just([VALID_LINE]),
    st.integers(201, 260).map(lambda n: [pb.OrderLine(sku=f"S{i}", quantity=1) for i in range(n)]),
)
CUSTOMER = st.one_of(
    st.none(),
    st.builds(pb.Customer, customer_id=TEXT, country=TEXT),
    st.builds(pb.Customer, customer_id=st.just("c-1"), country=st.sampled_from(["US", "DE", "FR", "JP", ""])),
)
STATUS = st.one_of(st.integers(-5, 20), INT32)
TIMESTAMP = st.one_of(st.none(), st.builds(lambda s, n: {"seconds": s, "nanos": n}, INT64, INT32))


def _writes_nothing(topology: Topology, req: pb.CreateOrderRequest) -> bool:
    """True if the server must refuse this create (so the fuzz never makes a valid order by chance)."""
    try:
        validate_request_id(req.request_id)
        draft = validate_draft(draft_from_pb(req))
        return zone_of_order(topology, "acme", draft.customer.country).zone != "eu"
    except OrdermeshError:
        return True


def _expect_refusal_or_ok(call: Any, ok_allowed: bool) -> None:
    try:
        call()
    except grpc.RpcError as exc:
        from ordermesh.rpc_errors import from_rpc_error

        err = from_rpc_error(exc)
        assert exc.code() in ALLOWED, (exc.code(), exc.details())
        assert err is not None and err.reason in ALLOWED[exc.code()], (exc.code(), exc.details())
        if isinstance(err, InvalidArgument):
            assert err.violations, "INVALID_ARGUMENT without field violations"
        return
    assert ok_allowed, "a malformed mutation was accepted"


def _create(raw: Raw, topology: Topology, request_id: str, customer: Any, lines: Any) -> None:
    req = pb.CreateOrderRequest(request_id=request_id, customer=customer, lines=lines)
    assume(_writes_nothing(topology, req))
    _expect_refusal_or_ok(lambda: raw.stub.CreateOrder(req, metadata=raw.metadata, timeout=30), False)


def _update(
    raw: Raw, request_id: str, order_id: str, status: int, version: int, etag: str, reason: str
) -> None:
    req = pb.UpdateOrderStatusRequest(
        request_id=request_id, order_id=order_id, expected_version=version, etag=etag, reason=reason
    )
    req.status = status  # type: ignore[assignment]  # open enum: unknown numbers must be survivable
    _expect_refusal_or_ok(lambda: raw.stub.UpdateOrderStatus(req, metadata=raw.metadata, timeout=30), False)
    cancel = pb.CancelOrderRequest(
        request_id=request_id, order_id=order_id, expected_version=version, etag=etag
    )
    _expect_refusal_or_ok(lambda: raw.stub.CancelOrder(cancel, metadata=raw.metadata, timeout=30), False)


def _reads(
    raw: Raw, order_id: str, zone: str, size: int, token: str, statuses: list[int], after: Any
) -> None:
    _expect_refusal_or_ok(
        lambda: raw.stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=raw.metadata), True
    )
    req = pb.ListOrdersRequest(zone=zone, page_size=size, page_token=token, created_after=after)
    req.statuses.extend(statuses)  # type: ignore[arg-type]
    _expect_refusal_or_ok(lambda: raw.stub.ListOrders(req, metadata=raw.metadata, timeout=30), True)
    watch = pb.WatchOrderEventsRequest(zone=zone, cursor=token, order_id=order_id[:80], stop_at_end=True)
    _expect_refusal_or_ok(
        lambda: list(raw.stub.WatchOrderEvents(watch, metadata=raw.metadata, timeout=30)), True
    )


def _garbage(raw: Raw, data: bytes) -> None:
    for method in ("CreateOrder", "UpdateOrderStatus", "CancelOrder", "GetOrder", "ListOrders"):
        call = raw.channel.unary_unary(f"/ordermesh.v1.OrderService/{method}")
        _expect_refusal_or_ok(
            lambda c=call: c(data, metadata=raw.metadata, timeout=30), method in {"GetOrder", "ListOrders"}
        )


def _run_all(raw: Raw, topology: Topology, config: settings) -> None:
    @config
    @given(st.one_of(TEXT, st.uuids().map(str)), CUSTOMER, LINES)
    def creates(request_id: str, customer: Any, lines: Any) -> None:
        _create(raw, topology, request_id, customer, lines)

    @config
    @given(TEXT, ID_LIKE, STATUS, INT64, TEXT, TEXT)
    def updates(request_id: str, order_id: str, status: int, version: int, etag: str, reason: str) -> None:
        _update(raw, request_id, order_id, status, version, etag, reason)

    @config
    @given(
        ID_LIKE,
        st.sampled_from(["", "eu", "us", "apac", "EU"]) | TEXT,
        INT32,
        TOKEN,
        st.lists(STATUS, max_size=40),
        TIMESTAMP,
    )
    def reads(order_id: str, zone: str, size: int, token: str, statuses: list[int], after: Any) -> None:
        _reads(raw, order_id, zone, size, token, statuses, after)

    @config
    @given(st.binary(max_size=300))
    def garbage(data: bytes) -> None:
        _garbage(raw, data)

    for check in (creates, updates, reads, garbage):
        check()


@pytest.fixture(scope="module")
def sqlite_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Raw, Topology]]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    topology = make_topology(f"sqlite:///{tmp / 'eu.db'}", tmp)
    with running_region(topology) as region, raw_stub(region.target, ACME_KEY) as raw:
        yield raw, topology


def test_fuzzed_requests_are_refused_cleanly_on_sqlite(sqlite_region: tuple[Raw, Topology]) -> None:
    raw, topology = sqlite_region
    _run_all(raw, topology, FUZZ)
    assert row_counts(topology.zones["eu"].database_url) == EMPTY


def test_fuzzed_requests_are_refused_cleanly_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    topology = make_topology(postgres_url, tmp_path)
    with running_region(topology) as region, raw_stub(region.target, ACME_KEY) as raw:
        _run_all(raw, topology, SHORT)
    assert row_counts(postgres_url) == EMPTY
