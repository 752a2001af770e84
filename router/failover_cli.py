"""`ordermesh failover …`: run the failover controller (with its AdminService), and call that service.

    ordermesh failover controller --topology FILE [--admin-port 7050] [--admin-key-sha256 HEX]
    ordermesh failover list|drain|failback|failover [--region R] --admin HOST:PORT  ($ORDERMESH_ADMIN_KEY)

The controller needs a shared coordinator (the topology's `coordinator` must be a ZooKeeper connect
string). It is also runnable without the entry point: `python -m router.failover_cli controller …`.
Exit codes: 0 ok, 2 bad usage or configuration, 1 runtime failure (coordinator unreachable, RPC error).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import uuid
from typing import Any

SubParsers = Any  # argparse._SubParsersAction[argparse.ArgumentParser]
KEY_ENV = "ORDERMESH_ADMIN_KEY"
KEY_SHA_ENV = "ORDERMESH_ADMIN_KEY_SHA256"


def _fail(message: str, code: int) -> int:
    print(f"ordermesh failover: {message}", file=sys.stderr)
    return code


def register(sub: SubParsers) -> None:
    failover = sub.add_parser("failover", help="failover controller and admin actions (drain, failback)")
    fsub = failover.add_subparsers(dest="failover_command", metavar="SUBCOMMAND", required=True)
    ctl = fsub.add_parser("controller", help="run the leader-elected failover controller until SIGTERM")
    ctl.add_argument("--topology", required=True, help="topology YAML (coordinator: a ZooKeeper string)")
    ctl.add_argument("--id", help="this controller's identifier in the election (default: random)")
    ctl.add_argument("--admin-host", default="127.0.0.1")
    ctl.add_argument("--admin-port", type=int, default=0, help="AdminService port (0: any free port)")
    ctl.add_argument("--admin-key-sha256", help=f"SHA-256 of the admin key (default: ${KEY_SHA_ENV})")
    ctl.add_argument("--detection", type=float, default=1.5, help="seconds a region is down before moving")
    ctl.add_argument("--interval", type=float, default=0.2, help="seconds between control rounds")
    ctl.add_argument("--no-probe", action="store_true", help="trust registrations only (no gRPC health)")
    ctl.add_argument("--session-timeout", type=float, default=10.0, help="ZooKeeper session timeout (s)")
    ctl.add_argument("--port-file", help="write the bound admin port here once serving")
    ctl.set_defaults(func=_controller)
    for name, needs_region in (("list", False), ("drain", True), ("failback", False), ("failover", True)):
        cmd = fsub.add_parser(name, help=f"AdminService {name}")
        cmd.add_argument("--admin", required=True, help="controller AdminService HOST:PORT")
        cmd.add_argument("--region", required=needs_region, default="")
        cmd.set_defaults(func=_admin_call, action=name)


def _controller(args: argparse.Namespace) -> int:
    from consistency.coordinator import CoordinatorError
    from consistency.zk_coordinator import ZkCoordinator
    from ordermesh.topology import TopologyError, load_topology
    from router.admin import build_admin_server
    from router.failover import FailoverController, GrpcHealthProbe

    try:
        topology = load_topology(args.topology)
    except TopologyError as exc:
        return _fail(f"bad topology: {exc}", 2)
    if topology.coordinator == "memory":
        return _fail("the controller needs a ZooKeeper coordinator in the topology, not 'memory'", 2)
    key_sha = (args.admin_key_sha256 or os.environ.get(KEY_SHA_ENV, "")).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", key_sha):
        return _fail(f"--admin-key-sha256 (or ${KEY_SHA_ENV}): a hex SHA-256 digest is required", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    identifier = args.id or f"controller-{uuid.uuid4().hex[:8]}"
    try:
        coordinator = ZkCoordinator(topology.coordinator, session_timeout=args.session_timeout).start()
    except CoordinatorError as exc:
        return _fail(str(exc), 1)
    probe = None if args.no_probe else GrpcHealthProbe()
    controller = FailoverController(
        coordinator, topology, identifier, detection_s=args.detection, interval_s=args.interval, probe=probe
    )
    try:
        server, port = build_admin_server(controller, key_sha, args.admin_host, args.admin_port)
    except OSError as exc:
        coordinator.close()
        return _fail(str(exc), 1)
    controller.start()
    server.start()
    if args.port_file:
        with open(args.port_file, "w") as handle:
            handle.write(str(port))
    logging.getLogger(__name__).info(
        "controller %s: AdminService on %s:%d", identifier, args.admin_host, port
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(2.0).wait(5.0)
    controller.stop()
    if probe is not None:
        probe.close()
    coordinator.close()
    return 0


def _admin_call(args: argparse.Namespace) -> int:
    import grpc

    from router.admin import AdminClient

    key = os.environ.get(KEY_ENV)
    if not key:
        return _fail(f"set ${KEY_ENV} to the admin key", 2)
    with AdminClient(args.admin, key) as client:
        try:
            if args.action == "list":
                listing = client.list_placements()
                print(f"leader: {listing.leader or '(none)'}")
                for r in listing.regions:
                    flags = [
                        f for f, on in (("live", r.live), ("DEAD", r.dead), ("drained", r.drained)) if on
                    ]
                    print(
                        f"region {r.region:<16} zone {r.zone:<8} instances {r.instances}  {' '.join(flags)}"
                    )
                for p in listing.placements:
                    print(f"shard {p.shard:<32} home {p.home_region:<16} epoch {p.epoch}")
                return 0
            call = {"drain": client.drain, "failover": client.failover, "failback": client.failback}
            answer = call[args.action](args.region)
        except grpc.RpcError as exc:
            return _fail(f"{exc.code().name}: {exc.details()}", 1)
    for m in getattr(answer, "moves", ()):
        outcome = f"epoch {m.epoch}" if m.applied else f"NOT applied: {m.error}"
        print(f"{m.shard}: {m.from_region} -> {m.to_region} ({outcome})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ordermesh")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main(["failover", *sys.argv[1:]]))
