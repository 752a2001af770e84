"""64 concurrent CreateOrder calls with one request_id: one order, one event, one key (both backends)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ordermesh.client import StorefrontClient
from ordermesh.money import Money
from ordermesh.order import OrderLine
from tests.integration.region_harness import ACME_KEY, eu_database, make_topology, row_counts, running_region

CALLERS = 64


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_creates_with_one_request_id_apply_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = eu_database(backend, request, tmp_path)
    topology = make_topology(url, tmp_path)
    barrier = threading.Barrier(CALLERS)
    with running_region(topology, workers=32) as region:
        # One channel per caller, so the calls really are concurrent HTTP/2 streams and connections.
        clients = [StorefrontClient(region.target, ACME_KEY, timeout=60) for _ in range(CALLERS)]

        def create(client: StorefrontClient) -> bytes:
            barrier.wait()
            order = client.create_order(
                "c-1", "DE", [OrderLine("SKU-1", 1, Money(500, "EUR"))], request_id="once"
            )
            return order.SerializeToString(deterministic=True)

        try:
            with ThreadPoolExecutor(CALLERS) as pool:
                answers = list(pool.map(create, clients))
        finally:
            for client in clients:
                client.close()
        assert len(set(answers)) == 1  # every caller got the same order, byte for byte
        assert row_counts(url) == {"orders": 1, "order_events": 1, "idempotency_keys": 1}
