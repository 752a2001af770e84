"""What every gRPC servicer of a region shares: the thread-pool hop to the synchronous service layer,
and one place where a call's failure becomes a deliberate status (never an unhandled exception)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from grpc import aio

from ordermesh.errors import OrdermeshError, ShuttingDown
from ordermesh.rpc_errors import to_rpc_status

T = TypeVar("T")


class ServicerShell:
    """Base of the region's servicers; `draining` may be shared so one drain stops every service."""

    def __init__(self, executor: ThreadPoolExecutor, draining: asyncio.Event | None = None) -> None:
        self.executor = executor
        self.draining = draining or asyncio.Event()

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def _answer(self, context: aio.ServicerContext, call: Callable[[], Awaitable[T]]) -> T:
        """Runs one call; every failure ends as a deliberate status (abort raises)."""
        try:
            if self.draining.is_set():
                raise ShuttingDown("this region instance is shutting down; retry")
            return await call()
        except OrdermeshError as err:
            status = to_rpc_status(err)
        except Exception as exc:
            # Imported here, on failures only: servicer.py builds on this module (and an import
            # statement costs on every call that runs it).
            from region_service.servicer import unexpected

            status = unexpected(exc)
        await context.abort_with_status(status)
        raise AssertionError("unreachable: abort raises")  # pragma: no cover
