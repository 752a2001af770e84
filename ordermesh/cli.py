"""The `ordermesh` command: a thin dispatcher; each room registers its subcommands via entry points."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

# A room's register function adds its subcommands to the parser and sets `func` on them;
# `func(args) -> int` is the exit code. The kernel never imports the rooms above it (DESIGN.md).
Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command` naming an entry point, only that room is imported (fast start)."""
    parser = argparse.ArgumentParser(
        prog="ordermesh",
        description="Multi-region, geography-sharded order service: serve, simulate, drill.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Entry point names are the top-level command names, so `ordermesh region serve` imports only
    # the region room; help and unknown commands load them all.
    eps = sorted(entry_points(group="ordermesh.commands"), key=lambda e: e.name)
    if command is not None and any(ep.name == command for ep in eps):
        eps = [ep for ep in eps if ep.name == command]
    for ep in eps:
        try:
            register: Register = ep.load()
        except (ImportError, AttributeError) as exc:  # a room not built yet must not break the others
            broken = sub.add_parser(ep.name, help=f"(unavailable: {exc})")
            broken.set_defaults(func=lambda _a, _e=exc: _unavailable(_e))
            continue
        register(sub)
    return parser


def _unavailable(exc: Exception) -> int:
    print(f"ordermesh: this command is unavailable: {exc}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    result: int = func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
