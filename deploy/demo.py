"""`ordermesh demo`: a whole multi-region deployment in one process, exercised as a storefront would."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from deploy.embedded import EmbeddedCluster, embedded_topology
from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.client import StorefrontClient
from ordermesh.errors import OrdermeshError
from ordermesh.money import Money
from ordermesh.order import OrderLine
from ordermesh.shard import ShardKey
from ordermesh.status import OrderStatus
from ordermesh.topology import Topology, load_topology
from region_service.storage.chain import seal_shard, verify_shard
from region_service.storage.engine import make_engine
from router.policy import route_new_order, route_order_id

DEFAULT_TOPOLOGY = Path(__file__).resolve().parent / "topologies" / "three-zones.yaml"
T = TypeVar("T")


class Storefront:
    """One tenant's storefront, routing each call with the real pure routing policy."""

    def __init__(self, cluster: EmbeddedCluster, tenant: str, api_key: str) -> None:
        self.cluster, self.tenant = cluster, tenant
        self.clients = {r: StorefrontClient(e, api_key) for r, e in cluster.endpoints.items()}

    def _healthy(self) -> set[str]:
        return set(self.cluster.servers)

    def for_country(self, country: str) -> StorefrontClient:
        route = route_new_order(self.cluster.topology, {}, self._healthy(), self.tenant, country)
        return self.clients[route.regions[0]]

    def for_order(self, order_id: str) -> StorefrontClient:
        route = route_order_id(self.cluster.topology, {}, self._healthy(), self.tenant, order_id)
        return self.clients[route.regions[0]]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def _say(text: str) -> None:
    print(text, flush=True)


def _expect_error(what: str, call: Callable[[], T]) -> OrdermeshError:
    try:
        call()
    except OrdermeshError as err:
        violations = getattr(err, "violations", ())
        fields = "".join(f"\n      - {v.field}: {v.description}" for v in violations)
        _say(f"  {what}: refused with {err.code} / {err.reason}: {err}{fields}")
        return err
    raise AssertionError(f"{what}: expected a refusal, got success")


def run_demo(topology: Topology, workdir: Path) -> int:
    topo = embedded_topology(topology, workdir)
    with EmbeddedCluster(topo) as cluster:
        _say(
            f"ordermesh demo: topology {topology.name!r}, "
            f"{len(topo.zones)} zones, {len(cluster.servers)} regions"
        )
        for name, zone in topo.zones.items():
            regions = ", ".join(f"{r.name}@{cluster.endpoint(r.name)}" for r in zone.regions)
            _say(f"  zone {name}: {regions}  (database {zone.database_url})")
        acme = Storefront(cluster, "acme", "acme-demo-key")
        globex = Storefront(cluster, "globex", "globex-demo-key")
        try:
            _steps(acme, globex)
        finally:
            acme.close()
            globex.close()
        _say("\n7. Audit: every change is an event in a per-shard hash chain")
        for zone_name in ("eu", "us"):
            shard = topo.shard("acme", zone_name)
            report = _verify(topo, shard)
            _say(f"  chain {shard}: {report}")
    _say("\ndemo finished: every step behaved as expected")
    return 0


def _verify(topo: Topology, shard: ShardKey) -> str:
    engine = make_engine(topo.zones[shard.zone].database_url)
    try:
        seal_shard(engine, shard)  # the region's sealer does this every 200 ms; don't wait for it
        report = verify_shard(engine, shard)
    finally:
        engine.dispose()
    verdict = "intact" if report.ok else f"BROKEN at #{report.first_bad_sequence}: {report.problem}"
    return f"{report.checked} events, chain {verdict}, {report.unsealed} unsealed"


def _st(value: int) -> str:
    return pb.OrderStatus.Name(value).lower()


def _steps(acme: Storefront, globex: Storefront) -> None:
    lines = [OrderLine("SKU-RED-SHOE", 2, Money(4999, "EUR")), OrderLine("SKU-SOCKS", 3, Money(599, "EUR"))]
    _say("\n1. Orders land in the zone of the customer's country (residency)")
    de = acme.for_country("DE").create_order("cust-berlin-1", "DE", lines, request_id="demo-de-1")
    us = acme.for_country("US").create_order(
        "cust-nyc-1", "US", [OrderLine("SKU-RED-SHOE", 1, Money(5499, "USD"))], request_id="demo-us-1"
    )
    jp = acme.for_country("JP").create_order(
        "cust-tokyo-1", "JP", [OrderLine("SKU-RED-SHOE", 1, Money(7000, "JPY"))], request_id="demo-jp-1"
    )
    for order in (de, us, jp):
        total = f"{order.total.amount_minor} {order.total.currency} (minor units)"
        _say(f"  {order.order_id}  zone={order.zone}  status={_st(order.status)}  total={total}")

    _say("\n2. A retry with the same request_id replays the first answer; nothing is applied twice")
    again = acme.for_country("DE").create_order("cust-berlin-1", "DE", lines, request_id="demo-de-1")
    _say(f"  same request_id -> same order: {again.order_id == de.order_id} ({again.order_id})")
    _expect_error(
        "same request_id, different order",
        lambda: acme.for_country("DE").create_order("cust-berlin-1", "DE", lines[:1], request_id="demo-de-1"),
    )

    _say("\n3. Bad input gets a clear error with field violations, before any write")
    _expect_error(
        "bad order",
        lambda: acme.for_country("DE").create_order(
            "cust-x",
            "DE",
            [OrderLine("SKU 1", 0, Money(-5, "EUR")), OrderLine("SKU-2", 1, Money(100, "XXX"))],
        ),
    )
    _expect_error("malformed order id", lambda: acme.for_order(de.order_id).get_order("not-an-id"))

    _say("\n4. Residency is deny by default: globex may only store orders in zone eu")
    _expect_error("globex, US customer", lambda: globex.for_country("DE").create_order("c-1", "US", lines))
    _expect_error(
        "acme's order read with globex's key", lambda: globex.for_country("DE").get_order(de.order_id)
    )

    _say("\n5. The order lifecycle, with optimistic concurrency (etag)")
    client = acme.for_order(de.order_id)
    confirmed = client.update_order_status(de.order_id, OrderStatus.CONFIRMED, etag=de.etag, reason="paid")
    _say(f"  {de.order_id}: {_st(de.status)} -> {_st(confirmed.status)} (version {confirmed.version})")
    _expect_error(
        "update with the old etag",
        lambda: client.update_order_status(de.order_id, OrderStatus.ALLOCATED, etag=de.etag),
    )
    allocated = client.update_order_status(de.order_id, OrderStatus.ALLOCATED, etag=confirmed.etag)
    shipped = client.update_order_status(de.order_id, OrderStatus.SHIPPED, etag=allocated.etag)
    _say(f"  -> {_st(allocated.status)} -> {_st(shipped.status)} (version {shipped.version})")
    _expect_error("cancel a shipped order", lambda: client.cancel_order(de.order_id, reason="changed mind"))
    cancelled = acme.for_order(us.order_id).cancel_order(us.order_id, reason="customer request")
    _say(f"  {us.order_id}: {_st(us.status)} -> {_st(cancelled.status)}")

    _say("\n6. Listing (newest first, paged) and the event stream, resumable from a cursor")
    for zone in ("eu", "us", "apac"):
        page = acme.clients[_home(acme, zone)].list_orders(zone=zone, page_size=10)
        _say(f"  zone {zone}: {[f'{o.order_id}:{_st(o.status)}' for o in page.orders]}")
    eu_client = acme.clients[_home(acme, "eu")]
    events = list(eu_client.watch_order_events(zone="eu", stop_at_end=True, timeout=10))
    for event in events:
        kind = pb.OrderEventType.Name(event.type).lower()
        before = _st(event.from_status) if event.from_status else "(new)"
        change = f"{before}->{_st(event.to_status)}"
        _say(
            f"  #{event.sequence} {kind} {event.order_id} {change} "
            f"by {event.actor} hash={event.chain_hash[:12]}"
        )
    if events:
        later = list(
            eu_client.watch_order_events(zone="eu", cursor=events[1].cursor, stop_at_end=True, timeout=10)
        )
        _say(f"  resumed after #{events[1].sequence}: {len(later)} more events")


def _home(store: Storefront, zone: str) -> str:
    return store.cluster.topology.zones[zone].regions[0].name


def main(topology_path: str | None = None, workdir: str | None = None) -> int:
    topology = load_topology(topology_path or DEFAULT_TOPOLOGY)
    if workdir:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        return run_demo(topology, Path(workdir))
    with tempfile.TemporaryDirectory(prefix="ordermesh-demo-") as tmp:
        return run_demo(topology, Path(tmp))
