"""Upstream calls from a router to region instances: the channel pool and one call's same-zone retries.

Failure semantics: channels never retry by themselves (no service-config retryPolicy): `Attempts`
decides. UNAVAILABLE moves the call to the least-failed healthy region of the same zone (home first);
an instance that answered without an ordermesh status (transport failure) or SHUTTING_DOWN is marked
unhealthy in the Directory until its next SERVING probe; any other answer is final (`Refusal`).
Backoff is jittered (injected rng) and never sleeps past the call's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from grpc import aio

from ordermesh.client import channel_options
from ordermesh.errors import OrdermeshError
from ordermesh.rpc_errors import from_rpc_error, to_rpc_status
from router import policy
from router.directory import Directory, Snapshot

log = logging.getLogger(__name__)

# Answers after which the instance is not worth another call until a probe says SERVING again.
_INSTANCE_DOWN = frozenset({None, "SHUTTING_DOWN"})

RouteOf = Callable[[Snapshot], policy.Route]


def forwarding_options() -> list[tuple[str, Any]]:
    """channel_options() without the channel-level retry policy: the router retries itself, per zone."""
    kept = [(k, v) for k, v in channel_options() if k not in ("grpc.enable_retries", "grpc.service_config")]
    return [*kept, ("grpc.enable_retries", 0)]


class ChannelPool:
    """One long-lived channel per region instance endpoint."""

    def __init__(self) -> None:
        self._channels: dict[str, aio.Channel] = {}

    def get(self, endpoint: str) -> aio.Channel:
        channel = self._channels.get(endpoint)
        if channel is None:
            channel = aio.insecure_channel(endpoint, options=forwarding_options())
            self._channels[endpoint] = channel
        return channel

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()


class Refusal(Exception):
    """An answer to pass back as it is: a region's error status, or the router's own."""

    def __init__(
        self, code: Any, details: str, trailers: Sequence[tuple[str, Any]], region: str = ""
    ) -> None:
        super().__init__(details)
        self.code, self.details, self.trailers, self.region = code, details, tuple(trailers), region

    @classmethod
    def of(cls, err: OrdermeshError) -> Refusal:
        status = to_rpc_status(err)
        return cls(status.code, status.details, status.trailing_metadata)


class Attempts:
    """The same-zone retry state of one call: which regions failed how often, and the backoff."""

    def __init__(
        self, directory: Directory, rng: random.Random, backoff: float = 0.02, max_backoff: float = 0.25
    ) -> None:
        self.directory = directory
        self.rng = rng
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.failures: dict[str, int] = {}
        self.count = 0
        self.last: aio.AioRpcError | None = None
        self.last_region = ""

    def next(self, route_of: RouteOf) -> tuple[policy.Route, str, str | None]:
        """The route with current health, the region to try (home first, least-failed first), its endpoint."""
        route = route_of(self.directory.snapshot())  # ZoneUnavailable when no region of the zone is healthy
        region = min(route.regions, key=lambda r: self.failures.get(r, 0))  # min() keeps the first of ties
        endpoint = self.directory.pick(region)
        if endpoint is None:
            self.failures[region] = self.failures.get(region, 0) + 1
        return route, region, endpoint

    def failed(self, region: str, endpoint: str, exc: aio.AioRpcError) -> None:
        """Records an UNAVAILABLE; any other answer is final and raised as a Refusal."""
        if exc.code() != grpc.StatusCode.UNAVAILABLE:
            raise refusal_of(exc, region)
        self.failures[region] = self.failures.get(region, 0) + 1
        self.last, self.last_region = exc, region
        domain = from_rpc_error(exc)
        if (domain.reason if domain is not None else None) in _INSTANCE_DOWN:
            self.directory.set_serving(endpoint, False)
        log.info("%s answered UNAVAILABLE (%s); trying the zone's next region", region, exc.details())

    async def pause(self, deadline: float | None) -> None:
        """Backs off before the next attempt; when the deadline has passed, raises the last answer."""
        self.count += 1
        loop = asyncio.get_running_loop()
        remaining = None if deadline is None else deadline - loop.time()
        if remaining is not None and remaining <= 0:
            if self.last is not None:
                raise refusal_of(self.last, self.last_region)
            raise Refusal(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded at the router", ())
        delay = min(self.max_backoff, self.backoff * 2 ** min(self.count - 1, 8))
        delay *= 0.5 + self.rng.random() / 2
        await asyncio.sleep(delay if remaining is None else min(delay, remaining))


def refusal_of(exc: aio.AioRpcError, region: str) -> Refusal:
    """A region's error answer, to pass through unchanged (code, details, trailing metadata)."""
    trailers = tuple((m[0], m[1]) for m in exc.trailing_metadata() or ())
    return Refusal(exc.code(), exc.details() or "", trailers, region)
