"""A ZooKeeper lock that hands out fencing tokens (kazoo's Lock recipe plus a token znode).

Failure semantics: acquiring waits at most `timeout` and then raises LockTimeout. The lock is held only
while the session lives: on LOST another client may take it, so a holder must present its token to
the storage it writes, which refuses any token below `current_token(name)`. Release is best effort —
a lock of a dead session is removed by the server when the session expires.

Usage::

    with ZkFencedLock(coordinator, client, "/ordermesh/locks/inventory", "inventory", "eu-1", 2.0) as token:
        storage.write(..., fencing_token=token)
"""

from __future__ import annotations

import logging
from contextlib import suppress
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.exceptions import LockTimeout as KazooLockTimeout

from consistency.coordinator import CoordinatorUnavailable, FencingToken, LockTimeout, SessionState

if TYPE_CHECKING:
    from consistency.zk_coordinator import ZkCoordinator

log = logging.getLogger(__name__)


class ZkFencedLock:
    """Hold a named lock for a with-block and get a token larger than every earlier holder's."""

    def __init__(
        self, coordinator: ZkCoordinator, client: Any, folder: str, name: str, holder: str, timeout: float
    ) -> None:
        self.name = name
        self.holder = holder
        self.timeout = timeout
        self._coordinator = coordinator
        self._client = client
        self._token_path = f"{folder}/token"
        self._lock = client.Lock(f"{folder}/holders", identifier=holder)

    @staticmethod
    def current_token(
        coordinator: ZkCoordinator, client: Any, folder: str, timeout: float | None
    ) -> FencingToken:
        stat = coordinator.call(client.exists_async, f"{folder}/token", timeout=timeout)
        return FencingToken(stat.mzxid if stat else 0)

    def acquire(self) -> FencingToken:
        if self._coordinator.state() is not SessionState.CONNECTED:
            raise CoordinatorUnavailable(f"coordinator session is {self._coordinator.state().value}")
        try:
            if not self._lock.acquire(timeout=self.timeout):
                raise LockTimeout(self.name, self.timeout)
        except KazooLockTimeout:
            raise LockTimeout(self.name, self.timeout) from None
        except KazooException as exc:
            raise CoordinatorUnavailable(f"lock {self.name!r}: {type(exc).__name__}") from exc
        try:
            return self._bump_token()
        except BaseException:
            self.release()
            raise

    def _bump_token(self) -> FencingToken:
        # Writing the token node while holding the lock gives it a larger zxid than any earlier
        # holder's write: a fencing token no clock skew or counter race can reorder.
        call, client = self._coordinator.call, self._client
        try:
            stat = call(client.set_async, self._token_path, self.holder.encode())
        except NoNodeError:
            with suppress(NodeExistsError):
                call(client.create_async, self._token_path, b"", makepath=True)
            stat = call(client.set_async, self._token_path, self.holder.encode())
        return FencingToken(stat.mzxid)

    def release(self) -> None:
        try:
            self._lock.release()
        except KazooException as exc:  # the session is gone, and the lock node with it
            log.warning(
                "release of lock %r failed (%s); the server drops it with the session", self.name, exc
            )

    def __enter__(self) -> FencingToken:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
