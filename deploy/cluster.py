"""A local multi-process cluster: ZooKeeper, one PostgreSQL per zone, region, router and controller processes.

Failure semantics: `start()` returns only when every process answers its gRPC health check SERVING;
otherwise it stops everything it started and raises `ClusterError` with the failing process' log tail.
`stop()` is idempotent and best effort: SIGTERM (graceful drain), then SIGKILL after `stop_timeout`.
Fault injection (`kill_region` = SIGKILL, `pause_region`/`resume_region` = SIGSTOP/SIGCONT) acts on
the real processes, so what the tests see is what an operator would see.

Usage::

    with LocalCluster(load_topology("topo.yaml"), Path("/tmp/c1")) as cluster:
        client = StorefrontClient(cluster.router_endpoint, api_key)
        cluster.kill_region("eu-west")
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.postgres_server import PostgresServer
from deploy.processes import free_port
from deploy.zookeeper_server import ZooKeeperServer
from ordermesh.topology import Router, Topology, Zone, hash_api_key
from ordermesh.topology_inventory import policy_document, warehouses_document
from region_service.cli import PEER_KEY_ENV
from region_service.storage.migrate import upgrade

STATE_FILE = "cluster.json"


class ClusterError(RuntimeError):
    """A cluster process did not come up; the message carries its log tail."""


@dataclass
class Proc:
    """One child process of the cluster, restartable with the same command."""

    name: str
    command: list[str]
    endpoint: str
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to the cluster's environment

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self, env: dict[str, str]) -> None:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**env, **self.env},
                start_new_session=True,  # a Ctrl-C of the test run must not reach it first
            )

    def signal(self, sig: signal.Signals) -> None:
        if self.running():
            assert self.popen is not None
            self.popen.send_signal(sig)

    def stop(self, timeout: float) -> None:
        if self.popen is None:
            return
        self.signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(10)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class ClusterOptions:
    detection_s: float = 1.5  # controller: seconds a region is down before its shards move
    session_timeout_s: float = 2.0  # controller's ZooKeeper session
    start_timeout_s: float = 60.0
    stop_timeout_s: float = 10.0
    admin_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # regions authenticate to each other with it (PoolPeerService); its digest goes in the topology
    peer_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    with_controller: bool = True
    router_args: tuple[str, ...] = ()  # extra flags for `ordermesh router serve`


def topology_document(topology: Topology) -> dict[str, Any]:
    """The YAML document of a Topology (what load_topology reads back into an equal Topology)."""
    return {
        "name": topology.name,
        "buckets_per_zone": topology.buckets_per_zone,
        "coordinator": topology.coordinator,
        "zones": {
            z.name: {
                "database": z.database_url,
                "regions": {
                    r.name: {"endpoint": r.endpoint, "warehouses": warehouses_document(r.warehouses)}
                    for r in z.regions
                },
            }
            for z in topology.zones.values()
        },
        "routers": [{"name": r.name, "endpoint": r.endpoint} for r in topology.routers],
        "peer_key_sha256": sorted(topology.peer_key_sha256),
        "residency": {"countries": dict(topology.countries)},
        "tenants": {
            t.name: {
                "zones": sorted(t.zones),
                "api_key_sha256": sorted(t.api_key_sha256),
                "country_overrides": dict(t.country_overrides),
                **({"inventory": policy_document(t.inventory)} if t.inventory else {}),
            }
            for t in topology.tenants.values()
        },
    }


class LocalCluster:
    """Every part of a topology as a real process on this machine; see the module docstring."""

    def __init__(self, topology: Topology, workdir: Path, options: ClusterOptions | None = None) -> None:
        self.source = topology
        self.workdir = Path(workdir).resolve()
        self.options = options or ClusterOptions()
        self.zookeeper: ZooKeeperServer | None = None
        self.postgres: dict[str, PostgresServer] = {}
        self.procs: dict[str, Proc] = {}
        self.topology = topology
        self.topology_path = self.workdir / "topology.yaml"
        self.admin_endpoint = ""
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> LocalCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        (self.workdir / "residency").mkdir(exist_ok=True)
        try:
            self._start_backends()
            self._write_topology()
            peer_env = {PEER_KEY_ENV: self.options.peer_key}  # only region processes get it
            for region in self.topology.regions:
                args = ["region", "serve", "--region", region.name]
                self._spawn(region.name, args, region.endpoint, peer_env)
            self._wait_serving([r.name for r in self.topology.regions])
            if self.options.with_controller:
                self._spawn_controller()
            for router in self.topology.routers:
                log_path = str(self.residency_log_of(router.name))
                args = ["router", "serve", "--name", router.name, "--residency-log", log_path]
                self._spawn(router.name, [*args, *self.options.router_args], router.endpoint)
            regions = {r.name for r in self.topology.regions}
            self._wait_serving([name for name in self.procs if name not in regions])
            self.write_state()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_backends(self) -> None:
        self.zookeeper = ZooKeeperServer(base_dir=str(self.workdir / "zookeeper"), tick_ms=500)
        self.zookeeper.start()
        zones: dict[str, Zone] = {}
        for name, zone in self.source.zones.items():
            # As root, PostgreSQL runs as the postgres user, who may not traverse a private workdir (pytest's
            # tmp dirs are 0700): its data dir then goes to the system temp dir instead.
            pg = PostgresServer(durable=True, base_dir=None if os.geteuid() == 0 else self.workdir)
            pg.start()
            self.postgres[name] = pg
            pg.create_database(f"orders_{name}")
            regions = tuple(replace(r, endpoint=f"127.0.0.1:{free_port()}") for r in zone.regions)
            zones[name] = Zone(name, pg.url(f"orders_{name}"), regions)
        routers = self.source.routers or (Router("router-1", ""),)
        self.topology = replace(
            self.source,
            zones=zones,
            routers=tuple(Router(r.name, f"127.0.0.1:{free_port()}") for r in routers),
            coordinator=self.zookeeper.hosts,
            peer_key_sha256=frozenset({hash_api_key(self.options.peer_key)}),
        )
        for zone in zones.values():
            upgrade(zone.database_url)

    def _write_topology(self) -> None:
        self.topology_path.write_text(yaml.safe_dump(topology_document(self.topology), sort_keys=False))

    def _spawn(self, name: str, args: list[str], endpoint: str, env: dict[str, str] | None = None) -> Proc:
        command = [sys.executable, "-m", "ordermesh.cli", *args[:2], "--topology", str(self.topology_path)]
        log_path = self.workdir / "logs" / f"{name}.log"
        proc = Proc(name, [*command, *args[2:]], endpoint, log_path, env=env or {})
        self.procs[name] = proc
        proc.start(self._env)
        return proc

    def _spawn_controller(self) -> None:
        port = free_port()
        self.admin_endpoint = f"127.0.0.1:{port}"
        key_sha = hashlib.sha256(self.options.admin_key.encode()).hexdigest()
        command = [sys.executable, "-m", "router.failover_cli", "controller"]
        command += ["--topology", str(self.topology_path), "--id", "controller-1", "--admin-port", str(port)]
        command += ["--admin-key-sha256", key_sha, "--detection", str(self.options.detection_s)]
        command += ["--session-timeout", str(self.options.session_timeout_s)]
        proc = Proc("controller", command, self.admin_endpoint, self.workdir / "logs" / "controller.log")
        self.procs["controller"] = proc
        proc.start(self._env)

    def stop(self) -> None:
        """Routers, controller, regions (SIGTERM, then SIGKILL), then databases and ZooKeeper. Idempotent."""
        for proc in reversed(list(self.procs.values())):
            proc.stop(self.options.stop_timeout_s)
        for pg in self.postgres.values():
            pg.stop()
        self.postgres.clear()
        if self.zookeeper is not None:
            self.zookeeper.stop()
            self.zookeeper = None
        (self.workdir / STATE_FILE).unlink(missing_ok=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- health ------------------------------------------------------------------------------------

    def _wait_serving(self, names: list[str], timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.options.start_timeout_s)
        for name in names:
            proc = self.procs[name]
            while not serving(proc.endpoint):
                if not proc.running():
                    raise ClusterError(f"{name} exited ({proc.log_path}):\n{proc.tail()}")
                if time.monotonic() > deadline:
                    raise ClusterError(f"{name} not SERVING on {proc.endpoint} in time:\n{proc.tail()}")
                time.sleep(0.1)

    # -- fault injection ---------------------------------------------------------------------------

    def kill_region(self, name: str) -> None:
        """SIGKILL: a crash; its registration vanishes when its coordinator session expires."""
        proc = self.procs[name]
        proc.signal(signal.SIGKILL)
        if proc.popen is not None:
            proc.popen.wait(10)

    def pause_region(self, name: str) -> None:
        self.procs[name].signal(signal.SIGSTOP)

    def resume_region(self, name: str) -> None:
        self.procs[name].signal(signal.SIGCONT)

    def stop_region(self, name: str) -> None:
        """SIGTERM: a graceful drain (deregisters first)."""
        self.procs[name].stop(self.options.stop_timeout_s)

    def start_region(self, name: str) -> None:
        """(Re)start a region process on its endpoint and wait until it is SERVING."""
        proc = self.procs[name]
        if proc.running():
            return
        proc.start(self._env)
        self._wait_serving([name])
        self.write_state()

    # -- what clients need -------------------------------------------------------------------------

    def residency_log_of(self, router: str) -> Path:
        """The JSON-lines residency log the router `router` writes (router.residency_log format)."""
        return self.workdir / "residency" / f"{router}.jsonl"

    @property
    def router_endpoint(self) -> str:
        return self.topology.routers[0].endpoint

    def region_endpoint(self, name: str) -> str:
        return self.topology.region(name).endpoint

    def database_url(self, zone: str) -> str:
        return self.topology.zones[zone].database_url

    def state(self) -> dict[str, Any]:
        return {
            "supervisor_pid": os.getpid(),
            "topology": str(self.topology_path),
            "zookeeper": {
                "hosts": self.zookeeper.hosts if self.zookeeper else "",
                "pid": self.zookeeper.pid if self.zookeeper else None,
            },
            "databases": {z: self.database_url(z) for z in self.topology.zones},
            "postgres_pids": {z: _postmaster_pid(pg) for z, pg in self.postgres.items()},
            "admin": self.admin_endpoint,
            "residency_logs": {r.name: str(self.residency_log_of(r.name)) for r in self.topology.routers},
            "processes": {
                n: {"pid": p.pid, "endpoint": p.endpoint, "log": str(p.log_path)}
                for n, p in self.procs.items()
            },
        }

    def write_state(self) -> None:
        (self.workdir / STATE_FILE).write_text(json.dumps(self.state(), indent=2))


def _postmaster_pid(pg: PostgresServer) -> int | None:
    try:
        return int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def serving(endpoint: str, timeout: float = 1.0) -> bool:
    """True when `endpoint` answers the standard gRPC health check SERVING."""
    with grpc.insecure_channel(endpoint, options=[("grpc.so_reuseport", 0)]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
