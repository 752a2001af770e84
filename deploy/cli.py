"""Subcommands of the deploy room: `ordermesh demo` (embedded, one process)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ordermesh.topology import TopologyError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo", help="run a whole multi-region deployment in one process (SQLite) and use it"
    )
    demo.add_argument("--topology", help="topology YAML (default: deploy/topologies/three-zones.yaml)")
    demo.add_argument("--workdir", help="keep the zone databases here instead of a temp dir")
    demo.set_defaults(func=_demo)


def _demo(args: Any) -> int:
    from deploy.demo import main

    try:
        return main(args.topology, args.workdir)
    except TopologyError as exc:
        print(f"ordermesh demo: bad topology: {exc}", file=sys.stderr)
        return 2
