"""`ordermesh demo`: the whole architecture in one process — regions, router, coordinator, failover
controller — used as a storefront would, including a region outage and a residency proof."""

from __future__ import annotations

import json
import tempfile
import time
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
from router.residency_log import verify_residency

DEFAULT_TOPOLOGY = Path(__file__).resolve().parent / "topologies" / "three-zones.yaml"
T = TypeVar("T")
LINES = [OrderLine("SKU-RED-SHOE", 2, Money(4999, "EUR")), OrderLine("SKU-SOCKS", 3, Money(599, "EUR"))]


def _say(text: str) -> None:
    print(text, flush=True)


def _st(value: int) -> str:
    return pb.OrderStatus.Name(value).lower()


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
    log = workdir / "residency.jsonl"
    with EmbeddedCluster(topo, log) as cluster:
        counts = f"{len(topo.zones)} zones, {len(cluster.servers)} regions"
        _say(f"ordermesh demo: topology {topology.name!r}: {counts}")
        for name, zone in topo.zones.items():
            regions = ", ".join(f"{r.name}@127.0.0.1:{cluster.servers[r.name].port}" for r in zone.regions)
            _say(f"  zone {name}: {regions}  (database {zone.database_url})")
        _say(f"  router-1@{cluster.router_endpoint}, failover controller, in-memory coordinator")
        with (
            StorefrontClient(cluster.router_endpoint, "acme-demo-key") as acme,
            StorefrontClient(cluster.router_endpoint, "globex-demo-key") as globex,
            StorefrontClient(cluster.router_endpoint, "initech-demo-key") as initech,
        ):
            _steps(acme, globex)
            _stock(initech)
            _failover(cluster, acme)
        _say("\n9. Residency proof: every routed write, from the router's residency log")
        report = verify_residency(log, topo)
        _say(f"  {report.served} writes served; decisions: {dict(sorted(report.by_decision.items()))}")
        _say(f"  served outside their zone: {len(report.violations)}  -> {'OK' if report.ok else 'VIOLATED'}")
        _say("\n10. Audit: every change is an event in a per-shard hash chain")
        for zone_name in ("eu", "us"):
            _say(f"  chain {topo.shard('acme', zone_name)}: {_verify(topo, topo.shard('acme', zone_name))}")
    _say("\ndemo finished: every step behaved as expected")
    return 0 if report.ok else 1


def _verify(topo: Topology, shard: ShardKey) -> str:
    engine = make_engine(topo.zones[shard.zone].database_url)
    try:
        seal_shard(engine, shard)  # the regions' sealers do this every second; don't wait for them
        report = verify_shard(engine, shard)
    finally:
        engine.dispose()
    verdict = "intact" if report.ok else f"BROKEN at #{report.first_bad_sequence}: {report.problem}"
    return f"{report.checked} events, chain {verdict}, {report.unsealed} unsealed"


def _steps(acme: StorefrontClient, globex: StorefrontClient) -> None:
    _say("\n1. Every call goes to the router; orders land in the zone of the customer's country")
    de = acme.create_order("cust-berlin-1", "DE", LINES, request_id="demo-de-1")
    us = acme.create_order(
        "cust-nyc-1", "US", [OrderLine("SKU-RED-SHOE", 1, Money(5499, "USD"))], request_id="demo-us-1"
    )
    jp = acme.create_order(
        "cust-tokyo-1", "JP", [OrderLine("SKU-RED-SHOE", 1, Money(7000, "JPY"))], request_id="demo-jp-1"
    )
    for order in (de, us, jp):
        total = f"{order.total.amount_minor} {order.total.currency} (minor units)"
        _say(f"  {order.order_id}  zone={order.zone}  status={_st(order.status)}  total={total}")

    _say("\n2. A retry with the same request_id replays the first answer; nothing is applied twice")
    again = acme.create_order("cust-berlin-1", "DE", LINES, request_id="demo-de-1")
    _say(f"  same request_id -> same order: {again.order_id == de.order_id} ({again.order_id})")
    _expect_error(
        "same request_id, different order",
        lambda: acme.create_order("cust-berlin-1", "DE", LINES[:1], request_id="demo-de-1"),
    )

    _say("\n3. Bad input gets a clear error with field violations, before any write")
    bad = [OrderLine("SKU 1", 0, Money(-5, "EUR")), OrderLine("SKU-2", 1, Money(100, "XXX"))]
    _expect_error("bad order", lambda: acme.create_order("cust-x", "FR", bad))
    _expect_error("malformed order id", lambda: acme.get_order("not-an-id"))

    _say("\n4. Residency is deny by default: globex may only store orders in zone eu")
    _expect_error("globex, US customer", lambda: globex.create_order("c-1", "US", LINES))
    _expect_error("acme's order read with globex's key", lambda: globex.get_order(de.order_id))

    _say("\n5. The order lifecycle, with optimistic concurrency (etag)")
    confirmed = acme.update_order_status(de.order_id, OrderStatus.CONFIRMED, etag=de.etag, reason="paid")
    _say(f"  {de.order_id}: {_st(de.status)} -> {_st(confirmed.status)} (version {confirmed.version})")
    _expect_error(
        "update with the old etag",
        lambda: acme.update_order_status(de.order_id, OrderStatus.ALLOCATED, etag=de.etag),
    )
    allocated = acme.update_order_status(de.order_id, OrderStatus.ALLOCATED, etag=confirmed.etag)
    shipped = acme.update_order_status(de.order_id, OrderStatus.SHIPPED, etag=allocated.etag)
    _say(f"  -> {_st(allocated.status)} -> {_st(shipped.status)} (version {shipped.version})")
    _expect_error("cancel a shipped order", lambda: acme.cancel_order(de.order_id, reason="changed mind"))
    cancelled = acme.cancel_order(us.order_id, reason="customer request")
    _say(f"  {us.order_id}: {_st(us.status)} -> {_st(cancelled.status)}")

    _say("\n6. Listing per zone (newest first, paged) and the event stream, resumable from a cursor")
    for zone in ("eu", "us", "apac"):
        page = acme.list_orders(zone=zone, page_size=10)
        _say(f"  zone {zone}: {[f'{o.order_id}:{_st(o.status)}' for o in page.orders]}")
    events = list(acme.watch_order_events(zone="eu", stop_at_end=True, timeout=10))
    for event in events:
        kind = pb.OrderEventType.Name(event.type).lower()
        before = _st(event.from_status) if event.from_status else "(new)"
        _say(f"  #{event.sequence} {kind} {before}->{_st(event.to_status)} by {event.actor}")
    later = list(acme.watch_order_events(zone="eu", cursor=events[1].cursor, stop_at_end=True, timeout=10))
    _say(f"  resumed after #{events[1].sequence}: {len(later)} more events")


def _stock(initech: StorefrontClient) -> None:
    _say("\n7. Stock: initech tracks inventory (ship_partial >= 50%, tier priority holding 10% back)")
    initech.set_stock("eu", "dub-1", "SKU-LAMP", 6)
    initech.set_stock("eu", "fra-1", "SKU-LAMP", 4, safety_stock=1)
    for tier, name in ((pb.CustomerTier.STANDARD, "standard"), (pb.CustomerTier.GOLD, "gold")):
        atp = initech.availability("eu", "SKU-LAMP", tier=tier).available_to_promise
        _say(f"  SKU-LAMP in zone eu: {atp} available to promise to a {name} customer")
    lamp = [OrderLine("SKU-LAMP", 7, Money(2500, "EUR"))]
    first = initech.create_order("cust-dublin-1", "IE", lamp, request_id="demo-lamp-1")
    holds = ", ".join(f"{r.quantity} in {r.warehouse}" for r in initech.reservations(first.order_id))
    _say(f"  {first.order_id}: 7 lamps -> {_st(first.status)}, held in the same transaction: {holds}")
    two = [OrderLine("SKU-LAMP", 2, Money(2500, "EUR"))]
    second = initech.create_order("cust-berlin-2", "DE", two, request_id="demo-lamp-2")
    held = sum(r.quantity for r in initech.reservations(second.order_id))
    _say(f"  {second.order_id}: 2 lamps, {held} promisable to standard -> {_st(second.status)}, partially")
    one = [OrderLine("SKU-LAMP", 1, Money(2500, "EUR"))]
    gold = initech.create_order("cust-vip-1", "DE", one, request_id="demo-lamp-3", tier=pb.CustomerTier.GOLD)
    held = sum(r.quantity for r in initech.reservations(gold.order_id))
    _say(f"  {gold.order_id}: a gold customer gets the held-back lamp ({held}) -> {_st(gold.status)}")
    shipped = initech.update_order_status(first.order_id, OrderStatus.SHIPPED)
    after = initech.availability("eu", "SKU-LAMP", tier=pb.CustomerTier.GOLD)
    units = ", ".join(f"{w.warehouse} {w.on_hand} on hand/{w.reserved} held" for w in after.warehouses)
    _say(f"  {first.order_id} -> {_st(shipped.status)}: its holds left the warehouses ({units})")
    _say("  a flash sale sold in eu and us: 100 sneakers, one count kept in us (strategy strong)")
    for zone in ("eu", "us"):
        initech.configure_pool(zone, "DROP-SNEAKER", "strong", ["eu", "us"], 100, owner="us")
    drop = [OrderLine("DROP-SNEAKER", 2, Money(19900, "EUR"))]
    sale = initech.create_order("cust-paris-2", "FR", drop, request_id="demo-drop-1")
    pool = initech.pool("eu", "DROP-SNEAKER")
    _say(
        f"  {sale.order_id} (zone eu) -> {_st(sale.status)}: the us count says "
        f"{pool.free} free, {pool.held} held, oversold {pool.oversold}"
    )


def _failover(cluster: EmbeddedCluster, acme: StorefrontClient) -> None:
    shard = cluster.topology.shard("acme", "eu")
    home = cluster.topology.zones["eu"].regions[0].name
    _say(f"\n8. Region outage: {home}, home of shard {shard}, goes down")
    cluster.stop_region(home)
    started = time.monotonic()
    # The client's declared retry policy and the router's same-zone retries carry the call across
    # the failover; the request_id makes the retries safe.
    order = acme.create_order("cust-paris-1", "FR", LINES, request_id="demo-fr-after-outage", timeout=15)
    took = time.monotonic() - started
    served_by = _served_by(cluster.residency_log, "demo-fr-after-outage")
    placement = cluster.sessions["router-1"].placement(shard)
    assert placement is not None and placement.home_region != home
    _say(f"  controller moved {shard} to {placement.home_region} at epoch {placement.epoch}")
    _say(f"  next order {order.order_id} served by {served_by} after {took:.1f} s, still in zone eu")


def _served_by(log: Path, request_id: str) -> str:
    for line in reversed(log.read_text().splitlines()):
        record = json.loads(line)
        if record.get("request_id") == request_id and record.get("decision") == "served":
            return str(record.get("region"))
    return "?"


def main(topology_path: str | None = None, workdir: str | None = None) -> int:
    topology = load_topology(topology_path or DEFAULT_TOPOLOGY)
    if workdir:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        return run_demo(topology, Path(workdir))
    with tempfile.TemporaryDirectory(prefix="ordermesh-demo-") as tmp:
        return run_demo(topology, Path(tmp))
