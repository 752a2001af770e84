"""Failover end to end: 2 zones x 2 regions, PostgreSQL per zone, ZooKeeper, router, controller: processes.

The tests share one cluster and run in file order: (a) kills eu's home region under load, (b) brings it
back, fails back, then pauses (SIGSTOP) it past a failover, (c) stops every eu region.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
import yaml

from deploy.cluster import ClusterOptions, LocalCluster
from ordermesh.client import StorefrontClient
from ordermesh.errors import OrdermeshError, ZoneUnavailable
from ordermesh.money import Money
from ordermesh.order import OrderLine
from ordermesh.topology import Topology, parse_topology
from router.admin import AdminClient
from router.residency_log import verify_residency

ACME_KEY, GLOBEX_KEY = "acme-demo-key", "globex-demo-key"
TOPOLOGY_YAML = """
name: e2e-failover
buckets_per_zone: 16
zones:
  eu:
    database: sqlite:///unused-eu.sqlite
    regions: {eu-west: {endpoint: "127.0.0.1:1"}, eu-central: {endpoint: "127.0.0.1:2"}}
  us:
    database: sqlite:///unused-us.sqlite
    regions: {us-east: {endpoint: "127.0.0.1:3"}, us-west: {endpoint: "127.0.0.1:4"}}
routers: [{name: router-1, endpoint: "127.0.0.1:5"}]
residency: {countries: {DE: eu, FR: eu, US: us}}
tenants:
  acme: {zones: [eu, us], api_key_sha256: [8676d15d94dabdd1283e6c407e2bb08a7b5c13b4e3667d4795c17172e080a3d4]}
  globex: {zones: [eu], api_key_sha256: [2e2764ef486a4aa498e60ef5ed6b88ce7dd8bfc8b3309c5c15950a5c3d1a8c20]}
"""
LINES = [OrderLine("SKU-1", 1, Money(1999, "EUR"))]


def e2e_topology() -> Topology:
    return parse_topology(yaml.safe_load(TOPOLOGY_YAML))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(e2e_topology(), tmp_path_factory.mktemp("cluster"), ClusterOptions()) as running:
        yield running


@pytest.fixture(scope="module")
def admin(cluster: LocalCluster) -> Iterator[AdminClient]:
    with AdminClient(cluster.admin_endpoint, cluster.options.admin_key) as client:
        yield client


def home_of(admin: AdminClient, shard: str) -> tuple[str, int]:
    for p in admin.list_placements().placements:
        if p.shard == shard:
            return p.home_region, p.epoch
    raise KeyError(shard)


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def retryable(exc: Exception) -> bool:
    """UNAVAILABLE (any reason) and deadlines: nothing written or outcome unknown; retry the same id."""
    if isinstance(exc, OrdermeshError):
        return exc.code == "UNAVAILABLE"
    return isinstance(exc, grpc.RpcError) and exc.code() in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    )


@dataclass
class Load:
    """Client threads creating orders through the router, each retrying with the SAME request_id."""

    endpoint: str
    country: str
    acked: list[tuple[str, str, float]] = field(default_factory=list)  # (order_id, request_id, when)
    failures: list[str] = field(default_factory=list)
    retries: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, threads: int) -> list[threading.Thread]:
        workers = [threading.Thread(target=self._worker, daemon=True) for _ in range(threads)]
        for w in workers:
            w.start()
        return workers

    def _worker(self) -> None:
        with StorefrontClient(self.endpoint, ACME_KEY, timeout=2.0) as client:
            while not self.stop.is_set():
                request_id = str(uuid.uuid4())
                deadline = time.monotonic() + 20.0
                while True:
                    try:
                        order = client.create_order("c-load", self.country, LINES, request_id=request_id)
                        self.acked.append((order.order_id, request_id, time.monotonic()))
                        break
                    except Exception as exc:
                        if not retryable(exc) or time.monotonic() > deadline:
                            self.failures.append(f"{request_id}: {type(exc).__name__}: {exc}")
                            break
                        self.retries += 1
                        time.sleep(0.05)


def order_ids(url: str, tenant: str | None = None) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT order_id FROM orders" + (" WHERE tenant = :t" if tenant else "")
            return [row[0] for row in conn.execute(sa.text(query), {"t": tenant})]
    finally:
        engine.dispose()


def test_a_killed_home_region_fails_over_within_its_zone_and_loses_no_acknowledged_order(
    cluster: LocalCluster, admin: AdminClient
) -> None:
    shard = str(cluster.topology.shard("acme", "eu"))
    home, epoch = home_of(admin, shard)
    other = next(r.name for r in cluster.topology.zones["eu"].regions if r.name != home)
    eu, us = Load(cluster.router_endpoint, "DE"), Load(cluster.router_endpoint, "US")
    workers = eu.run(3) + us.run(1)
    time.sleep(1.5)
    killed_at = time.monotonic()
    cluster.kill_region(home)
    wait_for(lambda: home_of(admin, shard)[0] == other, 15, f"{shard} to move to {other}")
    wait_for(lambda: any(t > killed_at + 0.5 for _, _, t in eu.acked), 15, "writes to resume")
    time.sleep(1.0)
    eu.stop.set()
    us.stop.set()
    for w in workers:
        w.join(30)

    assert not eu.failures and not us.failures, (eu.failures + us.failures)[:5]
    assert home_of(admin, shard) == (other, epoch + 1)
    eu_ids = [oid for oid, _, _ in eu.acked]
    stored = order_ids(cluster.database_url("eu"), "acme")
    assert len(eu_ids) > 10 and len(set(eu_ids)) == len(eu_ids)
    assert sorted(o for o in stored if o in set(eu_ids)) == sorted(eu_ids)  # every ack once, exactly
    assert len(stored) == len(set(stored))
    assert not set(eu_ids) & set(order_ids(cluster.database_url("us")))  # never outside the zone
    assert {oid for oid, _, _ in us.acked} <= set(order_ids(cluster.database_url("us")))
    after = [t for _, _, t in eu.acked if t > killed_at]
    assert after, "no eu write was acknowledged after the kill"
    log = cluster.residency_log_of("router-1")
    report = verify_residency(log, cluster.topology)
    assert report.ok and report.served >= len(eu.acked) + len(us.acked), report
    late = [r for r in _records(log) if r["zone"] == "eu" and r["decision"] == "served"][-5:]
    assert {r["region"] for r in late} == {other}  # writes resumed on the other eu region
    print(f"\n[e2e] kill {home}: {len(eu.acked)} eu acks, {eu.retries} retries, moved to {other}")


def _records(path: Path) -> list[dict[str, str]]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_b_a_paused_instance_that_resumes_after_failover_is_fenced(
    cluster: LocalCluster, admin: AdminClient
) -> None:
    shard = str(cluster.topology.shard("acme", "eu"))
    west = "eu-west"
    cluster.start_region(west)
    wait_for(
        lambda: any(r.region == west and r.live for r in admin.list_placements().regions), 15, "eu-west live"
    )
    moved = admin.failback(west).moves
    assert moved and all(m.applied and m.to_region == west for m in moved), moved
    home, epoch = home_of(admin, shard)
    assert home == west
    with StorefrontClient(cluster.router_endpoint, ACME_KEY, timeout=10) as via_router:
        wait_for(lambda: _try(via_router), 15, "a write through the router after failback")

    before = sorted(order_ids(cluster.database_url("eu"), "acme"))
    outcome: dict[str, object] = {}
    direct = StorefrontClient(cluster.region_endpoint(west), ACME_KEY, timeout=30)

    def zombie_write() -> None:  # sent while paused: the instance handles it only after SIGCONT
        try:
            outcome["order"] = direct.create_order("c-zombie", "DE", LINES)
        except Exception as exc:
            outcome["error"] = exc

    cluster.pause_region(west)
    try:
        writer = threading.Thread(target=zombie_write, daemon=True)
        writer.start()
        wait_for(lambda: home_of(admin, shard)[0] != west, 15, f"{shard} to move off the paused {west}")
        assert home_of(admin, shard)[1] == epoch + 1
    finally:
        cluster.resume_region(west)
    writer.join(30)
    assert "order" not in outcome, f"the resumed zombie accepted a write: {outcome}"
    error = outcome["error"]
    assert isinstance(error, OrdermeshError) and error.code == "UNAVAILABLE", error
    assert error.reason in ("FENCED", "SHUTTING_DOWN", "DATABASE_UNAVAILABLE"), error
    print(f"\n[e2e] the resumed zombie answered {error.reason}: {error}")
    for _ in range(3):  # and every later direct write for the shard is refused as well
        with pytest.raises(OrdermeshError) as refused:
            direct.create_order("c-zombie", "DE", LINES)
        assert refused.value.reason == "FENCED"
    direct.close()
    assert sorted(order_ids(cluster.database_url("eu"), "acme")) == before  # zero rows accepted by it


def _try(client: StorefrontClient) -> bool:
    try:
        client.create_order("c-check", "DE", LINES)
        return True
    except Exception as exc:
        if retryable(exc):
            return False
        raise


def test_c_a_residency_restricted_tenant_with_its_zone_down_gets_zone_unavailable(
    cluster: LocalCluster,
) -> None:
    us_before = sorted(order_ids(cluster.database_url("us")))
    for region in cluster.topology.zones["eu"].regions:
        cluster.stop_region(region.name)
    with StorefrontClient(cluster.router_endpoint, GLOBEX_KEY, timeout=10) as client:
        for _ in range(3):
            with pytest.raises(ZoneUnavailable) as refused:
                client.create_order("c-globex", "DE", LINES)
            assert refused.value.code == "UNAVAILABLE" and refused.value.reason == "ZONE_UNAVAILABLE"
    assert sorted(order_ids(cluster.database_url("us"))) == us_before  # the us zone is untouched
    assert order_ids(cluster.database_url("us"), "globex") == []
    assert verify_residency(cluster.residency_log_of("router-1"), cluster.topology).ok
