"""Health probing of registered region instances with the standard grpc.health.v1 Check.

Failure semantics: every probe has a short deadline; a probe that fails in any way (refused, timed
out, NOT_SERVING, UNKNOWN) marks the instance unhealthy in the Directory, and the next SERVING answer
marks it healthy again. Probes run every `interval` seconds and at once when the set of registered
instances changes, so a new instance is routable within one probe round trip.

Usage::

    prober = HealthProber(directory)
    await prober.start()   # one full round first, then in the background
    await prober.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ordermesh.client import RECONNECT_OPTIONS
from router.directory import Directory

log = logging.getLogger(__name__)

PROBE_OPTIONS = [("grpc.so_reuseport", 0), ("grpc.enable_retries", 0), *RECONNECT_OPTIONS]


class HealthProber:
    def __init__(self, directory: Directory, *, interval: float = 0.5, timeout: float = 0.3) -> None:
        self.directory = directory
        self.interval = interval
        self.timeout = timeout
        self._channels: dict[str, aio.Channel] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.directory.add_listener(self._instances_changed)
        await self.probe_once()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    def _instances_changed(self) -> None:
        # Called from the coordinator's thread: hand the wake-up to our loop.
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                loop.call_soon_threadsafe(wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.probe_once()
            except Exception:  # a probing bug must not stop probing
                log.exception("health probe round failed")

    async def probe_once(self) -> None:
        """Probes every registered instance once, concurrently, and records the answers."""
        endpoints = sorted({i.endpoint for i in self.directory.instances()})
        for gone in set(self._channels) - set(endpoints):
            await self._channels.pop(gone).close()
        answers = await asyncio.gather(*(self._probe(e) for e in endpoints))
        for endpoint, serving in zip(endpoints, answers, strict=True):
            self.directory.set_serving(endpoint, serving)

    async def _probe(self, endpoint: str) -> bool:
        channel = self._channels.get(endpoint)
        if channel is None:
            channel = aio.insecure_channel(endpoint, options=PROBE_OPTIONS)
            self._channels[endpoint] = channel
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=self.timeout)
        except grpc.RpcError:
            return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
