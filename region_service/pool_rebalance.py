"""Escrow rebalancing between zone databases: fenced quota transfers, completed exactly once.

Failure semantics: a rebalance holds the coordinator lock `pool-{tenant}-{sku}` (fencing token t) AND a
lease with the same token in every zone database it writes; each write transaction checks, inside
itself, both the lease (`check_lease`) and the slice's `fence` (a token older than the last applied
one is FENCED), so a holder that paused past its lock's expiry cannot move quota even if its
coordinator session has not noticed yet. A transfer is written in three transactions: the donor's
debit plus a `sent` row, the recipient's credit plus a `received` row (keyed by transfer id, so it
applies once), then the donor's row marked `done`. Dying in between leaves a `sent` row: the next
rebalance, or `recover`, re-applies it idempotently under its own (newer) token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

from consistency import escrow_stock
from consistency.escrow_stock import Rebalance
from consistency.pool_slices import credit, debit, join
from consistency.zone_stock import MAX_GLOBAL_STOCK, RebalanceRequest, check_quantity, check_zone
from ordermesh.errors import Fenced
from region_service.storage import leases
from region_service.storage.pools import SqlPoolStore, StoredSlice, Transfer, TransferState, VersionConflict
from region_service.storage.repositories import SqlUnitOfWork

if TYPE_CHECKING:
    from region_service.pools import PoolBook

__all__ = ["Escrow", "Rebalance", "lock_name"]

T = TypeVar("T")

log = logging.getLogger(__name__)


def lock_name(tenant: str, sku: str) -> str:
    """The coordinator lock and lease name of a pool; a SKU may contain '/', which a znode name may not."""
    return f"pool-{tenant}-{quote(sku, safe='')}"


class Escrow:
    """A zone's fenced escrow writes (called through peers by whichever zone holds the lock), and the
    rebalance and recovery this zone runs as lock holder."""

    def __init__(
        self, book: PoolBook, lease_ttl_us: int, after_send: Callable[[Transfer], None] | None
    ) -> None:
        self._book = book
        self._ttl_us = lease_ttl_us
        self._after_send = after_send  # tests: runs between the donor's and the recipient's writes

    # -- as lock holder
    def rebalance(
        self, tenant: str, sku: str, zones: Sequence[str], request: RebalanceRequest, wait_s: float
    ) -> int:
        check_zone(tuple(zones), request.zone)
        check_quantity(request.quantity, MAX_GLOBAL_STOCK)
        book, name = self._book, lock_name(tenant, sku)
        with book.coordinator.lock(name, book.holder, wait_s) as token, _Leases(book, name, token) as held:
            self._complete_pending(tenant, sku, zones, token, held)
            slices = [book.peers.book(z).slice(tenant, sku) for z in zones]
            state = join(slices)
            assert isinstance(state, escrow_stock.EscrowState)
            move = escrow_stock.plan_rebalance(state, request)
            if move is None:
                return 0
            donor, recipient = book.peers.book(move.from_zone), book.peers.book(move.to_zone)
            held.take(donor)
            held.take(recipient)
            transfer = donor.escrow.send(tenant, sku, move, book.holder, token)
            if transfer is None:
                return 0  # the donor spent its quota since the plan
            if self._after_send is not None:
                self._after_send(transfer)
            recipient.escrow.receive(transfer, book.holder, token)
            donor.escrow.finish(transfer, book.holder, token)
            return transfer.quantity

    def recover(self, tenant: str, sku: str, zones: Sequence[str], wait_s: float) -> int:
        book, name = self._book, lock_name(tenant, sku)
        with book.coordinator.lock(name, book.holder, wait_s) as token, _Leases(book, name, token) as held:
            return self._complete_pending(tenant, sku, zones, token, held)

    def _complete_pending(
        self, tenant: str, sku: str, zones: Sequence[str], token: int, held: _Leases
    ) -> int:
        book, done = self._book, 0
        for zone in zones:
            donor = book.peers.book(zone)
            for transfer in donor.transfers(tenant, sku, TransferState.SENT):
                recipient = book.peers.book(transfer.to_zone)
                held.take(donor)
                held.take(recipient)
                recipient.escrow.receive(transfer, book.holder, token)
                donor.escrow.finish(transfer, book.holder, token)
                done += 1
        return done

    # -- fenced writes in this zone's database
    def acquire_lease(self, name: str, holder: str, token: int) -> None:
        book = self._book

        def work(uow: SqlUnitOfWork) -> bool:
            return leases.acquire(uow.connection, name, holder, token, self._ttl_us, book.clock.now_us())

        if not book.runner.run(work):
            raise Fenced(
                f"lease {name} in zone {book.zone} is held by another holder or a newer token",
                {"lease": name, "holder": holder, "token": str(token)},
            )

    def release_lease(self, name: str, holder: str, token: int) -> None:
        self._book.runner.run(lambda uow: leases.release(uow.connection, name, holder, token))

    def send(self, tenant: str, sku: str, move: Rebalance, holder: str, token: int) -> Transfer | None:
        """Donor: debits its quota and records a `sent` transfer, in one fenced transaction (None when
        there was nothing left to move)."""
        transfer_id = f"t{token}-{move.from_zone}-{move.to_zone}"  # one move per token and direction

        def work(uow: SqlUnitOfWork, store: SqlPoolStore, stored: StoredSlice, now: int) -> Transfer | None:
            existing = store.transfer(tenant, sku, self._book.zone, transfer_id)
            if existing is not None:
                return existing
            piece, moved = debit(stored.slice, move, token, now)
            if moved == 0:
                return None
            store.save(tenant, sku, piece, stored.version, now)
            transfer = Transfer(tenant, sku, transfer_id, move.from_zone, move.to_zone, moved, token)
            store.add_transfer(transfer, self._book.zone, now)
            return transfer

        return self._fenced(tenant, sku, holder, token, work)

    def receive(self, transfer: Transfer, holder: str, token: int) -> bool:
        """Recipient: credits the quota once per transfer id; False when it had already arrived."""

        def work(uow: SqlUnitOfWork, store: SqlPoolStore, stored: StoredSlice, now: int) -> bool:
            if store.transfer(transfer.tenant, transfer.sku, self._book.zone, transfer.transfer_id):
                return False
            move = Rebalance(transfer.from_zone, transfer.to_zone, transfer.quantity)
            piece = credit(stored.slice, move, transfer.quantity, token, now)
            store.save(transfer.tenant, transfer.sku, piece, stored.version, now)
            if not store.add_transfer(replace(transfer, state=TransferState.RECEIVED), self._book.zone, now):
                raise VersionConflict(f"transfer {transfer.transfer_id} arrived concurrently")
            return True

        return self._fenced(transfer.tenant, transfer.sku, holder, token, work)

    def finish(self, transfer: Transfer, holder: str, token: int) -> bool:
        """Donor: marks its `sent` row `done` once the recipient has the quota."""

        def work(uow: SqlUnitOfWork, store: SqlPoolStore, stored: StoredSlice, now: int) -> bool:
            _check_fence(stored, token)
            return store.set_transfer_state(
                transfer, self._book.zone, TransferState.SENT, TransferState.DONE, now
            )

        return self._fenced(transfer.tenant, transfer.sku, holder, token, work)

    def _fenced(
        self,
        tenant: str,
        sku: str,
        holder: str,
        token: int,
        work: Callable[[SqlUnitOfWork, SqlPoolStore, StoredSlice, int], T],
    ) -> T:
        book = self._book

        def run(uow: SqlUnitOfWork) -> T:
            now = book.clock.now_us()
            leases.check_lease(uow.connection, lock_name(tenant, sku), holder, token, now)
            store = SqlPoolStore(uow.connection)
            stored = store.get(tenant, sku, book.zone)
            if stored is None:
                raise VersionConflict(f"pool {tenant}/{sku} has no slice in zone {book.zone}")
            return work(uow, store, stored, now)

        return book.runner.run(run)


def _check_fence(stored: StoredSlice, token: int) -> None:
    if token < stored.slice.fence:
        raise Fenced(
            f"token {token} is older than the last applied token {stored.slice.fence}",
            {"token": str(token), "current": str(stored.slice.fence)},
        )


class _Leases:
    """The leases one lock holding took, released (best effort) when it ends, whatever happened."""

    def __init__(self, book: PoolBook, name: str, token: int) -> None:
        self._book, self._name, self._token = book, name, token
        self._held: dict[str, PoolBook] = {}

    def __enter__(self) -> _Leases:
        return self

    def take(self, zone_book: PoolBook) -> None:
        if zone_book.zone not in self._held:
            zone_book.escrow.acquire_lease(self._name, self._book.holder, self._token)
            self._held[zone_book.zone] = zone_book

    def __exit__(self, *exc: object) -> None:
        for zone_book in self._held.values():
            try:
                zone_book.escrow.release_lease(self._name, self._book.holder, self._token)
            except Exception as error:  # it expires on its own; never mask the rebalance's own error
                log.warning("lease %s in zone %s not released: %s", self._name, zone_book.zone, error)
