"""`ordermesh up` / `ordermesh down`: a local multi-process cluster (ZooKeeper, PostgreSQL per zone, …).

`up` runs in the foreground as the cluster's supervisor: it starts everything (deploy.cluster), writes
DIR/cluster.json (pids, endpoints, database URLs, admin endpoint) and DIR/admin.key, then waits; SIGTERM
or Ctrl-C stops the cluster gracefully. `down --workdir DIR` sends SIGTERM to that supervisor and waits;
if the supervisor is gone it stops the processes listed in the state file itself (SIGTERM, then SIGKILL).
Also runnable without the entry point: `python -m deploy.cluster_cli up|down …`.
Exit codes: 0 ok, 2 bad usage or configuration, 1 a process did not come up or would not stop.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from deploy.processes import alive

SubParsers = Any  # argparse._SubParsersAction[argparse.ArgumentParser]


def _fail(message: str, code: int) -> int:
    print(f"ordermesh: {message}", file=sys.stderr)
    return code


def register(sub: SubParsers) -> None:
    register_up(sub)
    register_down(sub)


def register_up(sub: SubParsers) -> None:
    up = sub.add_parser("up", help="start a local multi-process cluster and supervise it (foreground)")
    up.add_argument("--topology", required=True, help="topology YAML (databases/endpoints are rewritten)")
    up.add_argument("--workdir", required=True, help="directory for data, logs and the state file")
    up.add_argument("--detection", type=float, default=1.5, help="seconds a region is down before failover")
    up.add_argument("--no-controller", action="store_true", help="do not run the failover controller")
    up.set_defaults(func=_up)


def register_down(sub: SubParsers) -> None:
    down = sub.add_parser("down", help="stop the cluster started by `ordermesh up` in this workdir")
    down.add_argument("--workdir", required=True)
    down.add_argument("--timeout", type=float, default=30.0, help="seconds to wait before SIGKILL")
    down.set_defaults(func=_down)


def _up(args: argparse.Namespace) -> int:
    from deploy.cluster import ClusterError, ClusterOptions, LocalCluster
    from ordermesh.topology import TopologyError, load_topology

    try:
        topology = load_topology(args.topology)
    except TopologyError as exc:
        return _fail(f"bad topology: {exc}", 2)
    workdir = Path(args.workdir)
    options = ClusterOptions(detection_s=args.detection, with_controller=not args.no_controller)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    cluster = LocalCluster(topology, workdir, options)
    try:
        cluster.start()
    except (ClusterError, OSError, RuntimeError) as exc:
        return _fail(f"cluster did not start: {exc}", 1)
    try:
        key_path = workdir / "admin.key"
        key_path.write_text(options.admin_key + "\n")
        key_path.chmod(0o600)
        print(f"cluster up; topology {cluster.topology_path}")
        for name, proc in cluster.procs.items():
            print(f"  {name:<16} {proc.endpoint:<22} pid {proc.pid}  log {proc.log_path}")
        for zone in cluster.topology.zones:
            print(f"  database {zone:<8} {cluster.database_url(zone)}")
        print(f"  admin key in {key_path}; stop with: ordermesh down --workdir {workdir}", flush=True)
        stop.wait()
    finally:
        cluster.stop()
    return 0


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(p) for p in pids)


def _down(args: argparse.Namespace) -> int:
    from deploy.cluster import STATE_FILE

    path = Path(args.workdir) / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return _fail(f"no running cluster in {args.workdir} (no readable {STATE_FILE})", 2)
    supervisor = int(state["supervisor_pid"])
    if alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)
        if _wait_gone([supervisor], args.timeout):
            print("cluster stopped")
            return 0
    # The supervisor is gone (or stuck): stop what it left behind ourselves.
    pids = [int(p["pid"]) for p in state["processes"].values() if p.get("pid")]
    pids += [int(p) for p in state.get("postgres_pids", {}).values() if p]
    zk = state.get("zookeeper", {}).get("pid")
    pids += [int(zk)] if zk else []
    for pid in [supervisor, *pids]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pids, args.timeout):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if not _wait_gone(pids, 10):
            return _fail("some processes would not stop: " + ", ".join(map(str, pids)), 1)
    path.unlink(missing_ok=True)
    print("cluster stopped (supervisor was gone: stopped its processes directly)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ordermesh")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
