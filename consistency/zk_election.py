"""Leader election on ZooKeeper: ephemeral sequential candidates, the lowest sequence number leads.

Failure semantics: leadership is only claimed while the session is CONNECTED (`is_leader()` is False while
SUSPENDED); a LOST session ends the candidacy for good — call `campaign()` again on the new session.
Each candidate watches only its predecessor, so a resignation wakes one client, not the herd.

Usage::

    election = coordinator.election("failover", "router-eu-1")
    if election.wait_until_leader(timeout=5.0):
        ...  # act while election.is_leader()
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TypeVar

from kazoo.exceptions import NoNodeError

from consistency.coordinator import CoordinatorUnavailable, ElectionTimeout, SessionState

if TYPE_CHECKING:
    from consistency.zk_coordinator import ZkCoordinator

T = TypeVar("T")


def _seq(node: str) -> int:
    return int(node[-10:])


class ZkElection:
    """One candidate in a ZooKeeper election (see the module docstring)."""

    def __init__(
        self, coordinator: ZkCoordinator, client: Any, folder: str, name: str, identifier: str
    ) -> None:
        self.name = name
        self.identifier = identifier
        self._coordinator = coordinator
        self._client = client
        self._folder = folder
        self._node: str | None = None
        self._leading = threading.Event()
        self._lock = threading.Lock()

    @staticmethod
    def leader_of(coordinator: ZkCoordinator, client: Any, folder: str, deadline: float) -> str | None:
        """The identifier of the lowest live candidate in `folder`, or None."""
        while True:
            try:
                nodes = coordinator.call(
                    client.get_children_async, folder, timeout=deadline - time.monotonic()
                )
            except NoNodeError:
                return None
            if not nodes:
                return None
            try:
                data, _ = coordinator.call(
                    client.get_async, f"{folder}/{min(nodes, key=_seq)}", timeout=deadline - time.monotonic()
                )
                return str(data.decode())
            except NoNodeError:
                continue  # the leader left between the two reads: ask again

    def campaign(self) -> None:
        with self._lock:
            if self._node is not None:
                return
            # A unique prefix lets us find our own node if the create's reply is lost with the
            # connection (the same trick as kazoo's Lock recipe).
            prefix = f"{uuid.uuid4().hex}-n_"
            try:
                path = self._coordinator.call(
                    self._client.create_async,
                    f"{self._folder}/{prefix}",
                    self.identifier.encode(),
                    ephemeral=True,
                    sequence=True,
                    makepath=True,
                )
            except CoordinatorUnavailable:
                mine = [n for n in self._children() if n.startswith(prefix)]
                if not mine:
                    raise
                path = f"{self._folder}/{mine[0]}"
            self._node = path.rsplit("/", 1)[1]
        self._check()

    def _children(self) -> list[str]:
        try:
            return sorted(self._coordinator.call(self._client.get_children_async, self._folder), key=_seq)
        except NoNodeError:
            return []

    def _check(self) -> None:
        """Lead if our node is the lowest; otherwise watch the node just before ours."""
        while True:
            node = self._node
            if node is None:
                self._leading.clear()
                return
            nodes = self._children()
            if node not in nodes:  # our session lost it, or someone deleted it
                self._node = None
                self._leading.clear()
                return
            index = nodes.index(node)
            if index == 0:
                self._leading.set()
                return
            self._leading.clear()
            before = f"{self._folder}/{nodes[index - 1]}"
            if self._coordinator.call(self._client.exists_async, before, self._on_event) is not None:
                return
            # The predecessor vanished between the two reads: look again.

    def _on_event(self, event: Any) -> None:
        # kazoo watch thread: never block it; re-check on the coordinator's callback thread.
        self._coordinator._runner.submit(self._check_quietly)

    def _check_quietly(self) -> None:
        with suppress(CoordinatorUnavailable):  # the next CONNECTED checks again
            self._check()

    def session_changed(self, state: SessionState) -> None:
        """Called on kazoo's connection thread by the coordinator; must not block."""
        if state is SessionState.LOST:
            self._node = None
            self._leading.clear()
        elif state is SessionState.CONNECTED and self._node is not None:
            self._coordinator._runner.submit(self._check_quietly)

    def is_leader(self) -> bool:
        return self._coordinator.is_writable() and self._node is not None and self._leading.is_set()

    def wait_until_leader(self, timeout: float) -> bool:
        self.campaign()
        self._leading.wait(timeout)
        return self.is_leader()

    def resign(self) -> None:
        with self._lock:
            node, self._node = self._node, None
            self._leading.clear()
        if node is not None:
            # Already gone, or it goes when the session expires.
            with suppress(NoNodeError, CoordinatorUnavailable):
                self._coordinator.call(self._client.delete_async, f"{self._folder}/{node}")

    def run(self, func: Callable[[], T], timeout: float) -> T:
        if not self.wait_until_leader(timeout):
            self.resign()
            raise ElectionTimeout(f"{self.identifier} did not win {self.name!r} within {timeout}s")
        try:
            return func()
        finally:
            self.resign()
