"""Test harness for InventoryService: warehouses and tenant inventory policies added to the gRPC test
topologies, a raw InventoryService stub per tenant, and the stock tables' row counts."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from sqlalchemy import create_engine, func, select

from ordermesh.api.v1 import inventory_pb2_grpc as inv_grpc
from ordermesh.api.v1 import orders_pb2_grpc as orders_grpc
from ordermesh.client import channel_options
from ordermesh.topology import hash_api_key
from region_service.storage.schema import inbound_stock, reservations, stock_levels
from tests.integration.region_harness import ACME_KEY
from tests.integration.router_harness import EU_ONLY_KEY, ZONE_REGIONS

# Per region (where present in the topology): warehouse -> spec. Lower cost ships first.
WAREHOUSES: dict[str, dict[str, dict[str, int]]] = {
    "eu-west": {"dub-1": {"cost": 10}, "ams-1": {"cost": 20}},
    "eu-central": {"fra-1": {"cost": 15}},
    "us-east": {"nyc-1": {"cost": 10}},
}
# acme: tier priority keeping 20 % of the promisable base for GOLD and above; refuses shortages.
ACME_INVENTORY = {
    "backorder": "reject",
    "allocation": "tier_priority",
    "holdback_bps": 2000,
    "protected_tier": "gold",
    "hold_seconds": 900,
}
HOLD_US = 900 * 1_000_000


def with_inventory(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of raw topology data with WAREHOUSES in its regions and inventory policies for its tenants
    (acme: ACME_INVENTORY; every other tenant: the defaults, first come first served)."""
    out = copy.deepcopy(data)
    for zone in out["zones"].values():
        for name, region in zone["regions"].items():
            if name in WAREHOUSES:
                region["warehouses"] = copy.deepcopy(WAREHOUSES[name])
    for name, tenant in out["tenants"].items():
        tenant["inventory"] = dict(ACME_INVENTORY) if name == "acme" else {}
    return out


def stock_rows(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (stock_levels, inbound_stock, reservations)
            }
    finally:
        engine.dispose()


@dataclass
class Stubs:
    """Raw stubs of both services on one channel, with one tenant's metadata."""

    channel: grpc.Channel
    inventory: Any
    orders: Any
    metadata: tuple[tuple[str, str], ...]

    def call(self, method: str, request: Any, timeout: float = 10.0) -> Any:
        return getattr(self.inventory, method)(request, metadata=self.metadata, timeout=timeout)

    def raw(self, method: str, data: bytes) -> Any:
        """Sends bytes as they are (for requests that do not parse)."""
        call = self.channel.unary_unary(f"/ordermesh.v1.InventoryService/{method}")
        return call(data, metadata=self.metadata, timeout=10)


@contextmanager
def stubs(target: str, api_key: str | None) -> Iterator[Stubs]:
    channel = grpc.insecure_channel(target, options=channel_options())
    try:
        metadata = (("x-api-key", api_key),) if api_key is not None else ()
        yield Stubs(
            channel,
            inv_grpc.InventoryServiceStub(channel),  # type: ignore[no-untyped-call]
            orders_grpc.OrderServiceStub(channel),  # type: ignore[no-untyped-call]
            metadata,
        )
    finally:
        channel.close()


def router_topology_data(eu_url: str, us_url: str) -> dict[str, Any]:
    """router_harness.router_topology's layout (eu: eu-west, eu-central; us: us-east, us-west; tenants acme
    and the eu-only euonly), with WAREHOUSES and inventory policies."""
    zones: dict[str, Any] = {}
    port = 17400
    for zone, regions in ZONE_REGIONS.items():
        zones[zone] = {"database": eu_url if zone == "eu" else us_url, "regions": {}}
        for region in regions:
            port += 1
            zones[zone]["regions"][region] = {"endpoint": f"127.0.0.1:{port}"}
    return with_inventory(
        {
            "name": "router-inventory-test",
            "buckets_per_zone": 4,
            "zones": zones,
            "residency": {"countries": {"DE": "eu", "FR": "eu", "US": "us"}},
            "tenants": {
                "acme": {"zones": ["eu", "us"], "api_key_sha256": [hash_api_key(ACME_KEY)]},
                "euonly": {"zones": ["eu"], "api_key_sha256": [hash_api_key(EU_ONLY_KEY)]},
            },
        }
    )
