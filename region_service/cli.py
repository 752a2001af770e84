"""`ordermesh region serve` and `ordermesh db …`: the region instance's and the zone databases' commands.

Exit codes: 0 ok, 2 bad usage or configuration (the message names the bad field), 1 runtime failure
(database unreachable or not migrated, port taken, broken audit chain).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from ordermesh.clock import SystemClock
from ordermesh.shard import ShardKey
from ordermesh.topology import Topology, TopologyError, load_topology

SubParsers = Any  # argparse._SubParsersAction[argparse.ArgumentParser]
Command = Callable[[argparse.Namespace], int]
PEER_KEY_ENV = "ORDERMESH_PEER_KEY"
EVENT_LOOP_ENV = "ORDERMESH_EVENT_LOOP"


def _fail(message: str, code: int) -> int:
    print(f"ordermesh: {message}", file=sys.stderr)
    return code


def _guarded(command: Callable[[argparse.Namespace, Topology], int]) -> Command:
    """Loads the topology, then runs the command; known failures become a message and an exit code."""

    def run(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        from region_service.storage.migrate import SchemaNotCurrent

        try:
            topology = load_topology(args.topology)
        except TopologyError as exc:
            return _fail(f"bad topology: {exc}", 2)
        try:
            return command(args, topology)
        except KeyError as exc:
            return _fail(f"not in the topology: {exc.args[0]}", 2)
        except SchemaNotCurrent as exc:
            return _fail(f"refusing to start: {exc}", 1)
        except (SQLAlchemyError, OSError) as exc:
            return _fail(f"{type(exc).__name__}: {exc}", 1)

    return run


def register(sub: SubParsers) -> None:
    region = sub.add_parser("region", help="run a regional order-service instance")
    rsub = region.add_subparsers(dest="region_command", metavar="SUBCOMMAND", required=True)
    serve = rsub.add_parser("serve", help="serve ordermesh.v1 for one region until SIGTERM")
    serve.add_argument("--topology", required=True, help="topology YAML file")
    serve.add_argument("--region", required=True, help="region name from the topology")
    serve.add_argument("--port", type=int, help="port to listen on (default: the region's endpoint port)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--grace", type=float, default=10.0, help="seconds in-flight calls get on shutdown")
    serve.set_defaults(func=_guarded(_serve))


def _serve(args: argparse.Namespace, topology: Topology) -> int:
    from region_service.server import RegionConfig, serve

    if args.region not in {r.name for r in topology.regions}:
        return _fail(f"--region: no region {args.region!r} in the topology", 2)
    if args.port is not None and not 0 <= args.port <= 65535:
        return _fail("--port: must be 0..65535", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the plaintext of a topology peer_key_sha256: this region's key for calls to other zones' regions
    peer_key = os.environ.get(PEER_KEY_ENV) or None
    if peer_key is None and topology.peer_key_sha256:
        logging.warning("%s is not set: multi-zone pools cannot reach other zones", PEER_KEY_ENV)
    config = RegionConfig(
        topology, args.region, host=args.host, port=args.port, grace_s=args.grace, peer_key=peer_key
    )
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(serve(config))
    return 0


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (optional extra `fast`), else asyncio's default.

    The region's event loop runs every grpc.aio call (the group-committed CreateOrder is decided
    there); uvloop's cheaper callbacks, futures and wake-ups measured ~+20% orders/s
    (bench_create_order). ORDERMESH_EVENT_LOOP=asyncio forces the default loop."""
    if os.environ.get(EVENT_LOOP_ENV, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def register_db(sub: SubParsers) -> None:
    db = sub.add_parser("db", help="zone database administration")
    dsub = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)
    upgrade = dsub.add_parser("upgrade", help="migrate zone databases to this build's schema")
    current = dsub.add_parser("current", help="show each zone database's schema revision")
    purge = dsub.add_parser("purge-idempotency", help="delete expired idempotency keys")
    for p in (upgrade, current, purge):
        p.add_argument("--topology", required=True, help="topology YAML file")
        p.add_argument("--zone", help="only this zone (default: every zone)")
    upgrade.set_defaults(func=_guarded(_upgrade))
    current.set_defaults(func=_guarded(_current))
    purge.set_defaults(func=_guarded(_purge))
    verify = dsub.add_parser("verify-chain", help="verify the audit hash chain of one tenant's shard")
    verify.add_argument("--topology", required=True, help="topology YAML file")
    verify.add_argument("--tenant", required=True)
    verify.add_argument("--zone", required=True)
    verify.set_defaults(func=_guarded(_verify))


def _zones(args: argparse.Namespace, topology: Topology) -> list[str]:
    if args.zone is None:
        return list(topology.zones)
    if args.zone not in topology.zones:
        raise KeyError(f"zone {args.zone!r}")
    return [args.zone]


def _upgrade(args: argparse.Namespace, topology: Topology) -> int:
    from region_service.storage import migrate

    for zone in _zones(args, topology):
        migrate.upgrade(topology.zones[zone].database_url)
        print(f"{zone}: at {migrate.head_revision()}")
    return 0


def _current(args: argparse.Namespace, topology: Topology) -> int:
    from region_service.storage import migrate

    head = migrate.head_revision()
    behind = 0
    for zone in _zones(args, topology):
        revision = migrate.current_revision(topology.zones[zone].database_url)
        state = "current" if revision == head else f"needs upgrade to {head}"
        behind += revision != head
        print(f"{zone}: {revision or '(never migrated)'} ({state})")
    return 1 if behind else 0


def _purge(args: argparse.Namespace, topology: Topology) -> int:
    from region_service.storage import admin
    from region_service.storage.engine import make_engine
    from region_service.storage.transactions import SqlTransactionRunner

    now = SystemClock().now_us()
    for zone in _zones(args, topology):
        engine = make_engine(topology.zones[zone].database_url)
        try:
            purged = admin.purge_idempotency(SqlTransactionRunner(engine), now)
        finally:
            engine.dispose()
        print(f"{zone}: purged {purged} expired idempotency keys")
    return 0


def _verify(args: argparse.Namespace, topology: Topology) -> int:
    from region_service.storage import chain
    from region_service.storage.engine import make_engine
    from region_service.storage.transactions import SqlTransactionRunner

    if args.tenant not in topology.tenants:
        return _fail(f"--tenant: no tenant {args.tenant!r} in the topology", 2)
    if args.zone not in topology.zones:
        return _fail(f"--zone: no zone {args.zone!r} in the topology", 2)
    shard: ShardKey = topology.shard(args.tenant, args.zone)
    engine = make_engine(topology.zones[args.zone].database_url)
    try:
        report = chain.verify_shard(SqlTransactionRunner(engine), shard)
    finally:
        engine.dispose()
    if report.ok:
        print(f"{shard}: chain intact ({report.checked} events)")
        return 0
    print(f"{shard}: chain BROKEN at sequence {report.first_bad_sequence}: {report.problem}")
    return 1
