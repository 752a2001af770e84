"""`ordermesh region serve` as a real process: refuses an unmigrated database, serves after
`ordermesh db upgrade`, and drains gracefully on SIGTERM (in-flight calls finish, exit 0)."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.client import StorefrontClient, channel_options
from ordermesh.money import Money
from ordermesh.order import OrderLine
from tests.integration.region_harness import ACME_KEY, REGION, row_counts, topology_data, write_topology

GRACE = 8.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ordermesh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ordermesh.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def _wait_serving(target: str, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    channel = grpc.insecure_channel(target, options=channel_options())
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "region server exited early"
            try:
                reply = stub.Check(
                    health_pb2.HealthCheckRequest(service="ordermesh.v1.OrderService"), timeout=1
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.1)
        raise AssertionError("region server did not become SERVING")
    finally:
        channel.close()


@pytest.fixture
def topology_file(tmp_path: Path) -> tuple[Path, str, int]:
    port = _free_port()
    db = tmp_path / "eu.db"
    data = topology_data(f"sqlite:///{db}", f"sqlite:///{tmp_path / 'us.db'}", eu_port=port)
    return write_topology(tmp_path / "topology.yaml", data), f"sqlite:///{db}", port


def test_bad_topology_is_a_usage_error_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("zones: {eu: {database: 'mysql://x', regions: {eu-west: {endpoint: 'h:1'}}}}\n")
    result = ordermesh("region", "serve", "--topology", str(bad), "--region", REGION)
    assert result.returncode == 2 and "zones.eu.database" in result.stderr


def test_refuses_unmigrated_database_then_serves_and_drains_on_sigterm(
    topology_file: tuple[Path, str, int],
) -> None:
    path, url, port = topology_file
    refused = ordermesh("region", "serve", "--topology", str(path), "--region", REGION)
    assert refused.returncode == 1
    assert "never migrated" in refused.stderr and "ordermesh db upgrade" in refused.stderr

    upgraded = ordermesh("db", "upgrade", "--topology", str(path), "--zone", "eu")
    assert upgraded.returncode == 0, upgraded.stderr
    assert ordermesh("db", "current", "--topology", str(path), "--zone", "eu").returncode == 0

    log = path.parent / "region.log"
    serve = ["region", "serve", "--topology", str(path), "--region", REGION, "--grace", str(GRACE)]
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ordermesh.cli", *serve], stdout=sink, stderr=sink, text=True
        )
    target = f"127.0.0.1:{port}"
    try:
        _wait_serving(target, proc)
        client = StorefrontClient(target, ACME_KEY, timeout=GRACE + 5)
        first = client.create_order("c-1", "DE", [OrderLine("SKU-1", 1, Money(100, "EUR"))])

        # An honestly slow call: the test holds the SQLite write lock, so CreateOrder waits for it
        # inside the server (busy timeout) while SIGTERM arrives; the lock is released mid-drain.
        results: dict[str, object] = {}
        events: list[pb.OrderEvent] = []
        watch = client.watch_order_events(timeout=GRACE + 5)

        def follow() -> None:
            try:
                events.extend(watch)
                results["watch"] = "ended"
            except Exception as exc:
                results["watch"] = exc

        def create() -> None:
            try:
                results["create"] = client.create_order("c-2", "DE", [OrderLine("SKU-2", 1, Money(5, "EUR"))])
            except Exception as exc:
                results["create"] = exc

        follower = threading.Thread(target=follow)
        follower.start()
        lock = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        creator = threading.Thread(target=create)
        creator.start()
        time.sleep(1.0)  # the CreateOrder is now waiting for the lock inside the server
        assert "create" not in results
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(1.0)
        lock.execute("ROLLBACK")
        lock.close()
        creator.join(GRACE + 5)
        follower.join(GRACE + 5)
        code = proc.wait(timeout=GRACE + 5)
        drained_in = time.monotonic() - signalled
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, log.read_text()
    assert drained_in < GRACE, drained_in  # it waited for the call, not for the whole grace period
    assert isinstance(results["create"], pb.Order), results["create"]
    assert results["watch"] == "ended"  # the follower's stream ended cleanly (OK), not with an error
    assert events and events[0].order_id == first.order_id
    assert row_counts(url)["orders"] == 2
