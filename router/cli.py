"""`ordermesh router serve`: run a router (forwarding, residency log) in front of a topology's regions.

Exit codes: 0 ok, 2 bad usage or configuration (the message names the bad field), 1 runtime failure
(coordinator unreachable, port taken, residency log not writable).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from ordermesh.topology import TopologyError, load_topology

SubParsers = Any  # argparse._SubParsersAction[argparse.ArgumentParser]


def _fail(message: str, code: int) -> int:
    print(f"ordermesh: {message}", file=sys.stderr)
    return code


def register(sub: SubParsers) -> None:
    router = sub.add_parser("router", help="run a router (the front door: routing, residency, failover)")
    rsub = router.add_subparsers(dest="router_command", metavar="SUBCOMMAND", required=True)
    serve = rsub.add_parser("serve", help="serve ordermesh.v1 by forwarding to regions until SIGTERM")
    serve.add_argument("--topology", required=True, help="topology YAML file")
    serve.add_argument("--name", default="router", help="router name (its endpoint under routers:)")
    serve.add_argument("--port", type=int, help="port to listen on (default: this router's endpoint port)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--residency-log", help="JSON-lines residency log (default var/residency/NAME.jsonl)")
    serve.add_argument("--grace", type=float, default=5.0, help="seconds in-flight calls get on shutdown")
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from consistency.coordinator import CoordinatorError
    from router.server import RouterConfig, router_port, serve

    try:
        topology = load_topology(args.topology)
    except TopologyError as exc:
        return _fail(f"bad topology: {exc}", 2)
    if args.port is not None and not 0 <= args.port <= 65535:
        return _fail("--port: must be 0..65535", 2)
    if topology.coordinator == "memory":
        return _fail("topology.coordinator: a router process needs a ZooKeeper connect string", 2)
    config = RouterConfig(
        topology,
        name=args.name,
        host=args.host,
        port=args.port,
        residency_log=args.residency_log,
        grace_s=args.grace,
    )
    try:
        router_port(config)
    except KeyError as exc:
        return _fail(f"--name: no {exc.args[0]}", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(config))
    except (CoordinatorError, OSError) as exc:
        return _fail(f"{type(exc).__name__}: {exc}", 1)
    return 0
