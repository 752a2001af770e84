"""The floor under CreateOrder's cost: a grpc.aio server whose CreateOrder does no work at all.

Same server options, event loop (region_service.cli.event_loop_factory: uvloop when installed) and
load generator as the real region, one process: what it sustains is the most any single-process
grpc.aio CreateOrder could, before validation, SQL or commits.
Run: python -m tests.benchmarks.grpc_floor_server PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc
from grpc import aio

from ordermesh.api.v1 import orders_pb2 as pb

ANSWER = pb.Order(order_id="eu-1-" + "0" * 26, zone="eu").SerializeToString()


async def _create(_request: bytes, _context: Any) -> bytes:
    return ANSWER


async def main(port: int) -> None:
    server = aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.unary_unary_rpc_method_handler(_create, lambda b: b, lambda b: b)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("ordermesh.v1.OrderService", {"CreateOrder": handler})]
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("serving", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    from region_service.cli import event_loop_factory

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main(int(sys.argv[1])))
