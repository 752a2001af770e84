"""Fuzzed InventoryService requests never crash a region server nor answer INTERNAL/UNKNOWN; refusals
are deliberate statuses, and INVALID_ARGUMENT always names its fields."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordermesh.api.v1 import inventory_pb2 as pb
from ordermesh.errors import InvalidArgument
from ordermesh.rpc_errors import from_rpc_error
from ordermesh.topology import parse_topology
from tests.integration.inventory_harness import Stubs, stubs, with_inventory
from tests.integration.region_harness import ACME_KEY, running_region, topology_data

ALLOWED = {
    grpc.StatusCode.INVALID_ARGUMENT: {"INVALID_ARGUMENT"},
    grpc.StatusCode.NOT_FOUND: {"NOT_FOUND"},
    grpc.StatusCode.FAILED_PRECONDITION: {"IDEMPOTENCY_KEY_REUSED"},
}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-2, 12))
TEXT = st.one_of(st.text(max_size=40), st.just("x" * 100_000))
ZONE = st.one_of(st.sampled_from(["eu", "us", ""]), TEXT)
SKU = st.one_of(st.sampled_from(["SKU-1", "SKU-2"]), TEXT)
WAREHOUSE = st.one_of(st.sampled_from(["dub-1", "ams-1", "nyc-1", "nowhere-1"]), TEXT)
INBOUND_ID = st.one_of(st.sampled_from(["po-1", "po-2"]), TEXT)
TIMESTAMP = st.one_of(
    st.none(),
    st.builds(lambda s, n: {"seconds": s, "nanos": n}, INT64, st.integers(-(2**31), 2**31 - 1)),
    st.builds(lambda s: {"seconds": s}, st.integers(1_700_000_000, 1_700_010_000)),
)
ORDER_ID = st.one_of(TEXT, st.from_regex(r"\A(eu|us)-[0-9]{1,2}-[0-9a-hjkmnp-tv-z]{26}\Z"))
TIER = st.one_of(st.integers(0, 5), st.integers(-(2**31), 2**31 - 1))

REQUESTS = st.one_of(
    st.builds(
        lambda *a: ("SetStock", pb.SetStockRequest(zone=a[0], warehouse=a[1], sku=a[2], on_hand=a[3])),
        ZONE,
        WAREHOUSE,
        SKU,
        INT64,
    ),
    st.builds(
        lambda *a: (
            "AddInbound",
            pb.AddInboundRequest(
                zone=a[0], inbound_id=a[1], warehouse=a[2], sku=a[3], quantity=a[4], eta=a[5]
            ),
        ),
        ZONE,
        INBOUND_ID,
        WAREHOUSE,
        SKU,
        INT64,
        TIMESTAMP,
    ),
    st.builds(
        lambda *a: ("ReceiveInbound", pb.ReceiveInboundRequest(zone=a[0], inbound_id=a[1])), ZONE, INBOUND_ID
    ),
    st.builds(lambda *a: ("GetAvailability", _availability(*a)), ZONE, SKU, TIMESTAMP, TIER),
    st.builds(lambda o: ("ListReservations", pb.ListReservationsRequest(order_id=o)), ORDER_ID),
)


def _availability(zone: str, sku: str, at: Any, tier: int) -> pb.GetAvailabilityRequest:
    req = pb.GetAvailabilityRequest(zone=zone, sku=sku, at=at)
    req.tier = tier  # type: ignore[assignment]  # open enum: unknown numbers must be survivable
    return req


def _answered_deliberately(s: Stubs, method: str, request: Any) -> None:
    try:
        s.call(method, request, timeout=30)
    except grpc.RpcError as exc:
        err = from_rpc_error(exc)
        assert exc.code() in ALLOWED, (method, exc.code(), exc.details())
        assert err is not None and err.reason in ALLOWED[exc.code()], (method, exc.details())
        if isinstance(err, InvalidArgument):
            assert err.violations, "INVALID_ARGUMENT without field violations"


@pytest.fixture
def acme(tmp_path: Path) -> Iterator[Stubs]:
    data = with_inventory(topology_data(f"sqlite:///{tmp_path / 'eu.db'}", f"sqlite:///{tmp_path / 'us.db'}"))
    with running_region(parse_topology(data)) as region, stubs(region.target, ACME_KEY) as s:
        yield s


def test_fuzzed_inventory_requests_are_answered_deliberately(acme: Stubs) -> None:
    @FUZZ
    @given(REQUESTS)
    def check(call: tuple[str, Any]) -> None:
        _answered_deliberately(acme, *call)

    check()

    @FUZZ
    @given(st.sampled_from(["SetStock", "AddInbound", "GetAvailability"]), st.binary(max_size=200))
    def garbage(method: str, data: bytes) -> None:
        try:
            acme.raw(method, data)
        except grpc.RpcError as exc:
            assert exc.code() in ALLOWED, (method, exc.code(), exc.details())

    garbage()
