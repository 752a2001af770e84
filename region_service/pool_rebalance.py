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
from consistency.pool_slices import credit, debit, join, slice_of
from consistency.reservations import MultiZoneState
from consistency.zone_stock import MAX_GLOBAL_STOCK, RebalanceRequest, check_quantity, check_zone
from ordermesh.errors import Fenced
from region_service.storage import leases
from region_service.storage.pools import SqlPoolStore, Transfer, TransferState, VersionConflict
from region_service.storage.repositories import SqlUnitOfWork

if TYPE_CHECKING:
    from region_service.pool_peers import PeerBook
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
            log.debug("rebalance %s for %s: quotas %s, plan %s", name, request, state.quota, move)
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
            log.debug("rebalance %s moved %d units: %s", name, transfer.quantity, move)
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
        zone, transfer_id = self._book.zone, f"t{token}-{move.from_zone}-{move.to_zone}"  # one per token

        def decide(
            uow: SqlUnitOfWork, state: MultiZoneState, now: int
        ) -> tuple[MultiZoneState, Transfer | None]:
            leases.check_lease(uow.connection, lock_name(tenant, sku), holder, token, now)
            store = SqlPoolStore(uow.connection)
            existing = store.transfer(tenant, sku, zone, transfer_id)
            if existing is not None:
                return state, existing
            piece, moved = debit(slice_of(state, zone), move, token, now)  # FENCED before any write
            if moved == 0:
                return state, None
            transfer = Transfer(tenant, sku, transfer_id, move.from_zone, move.to_zone, moved, token)
            store.add_transfer(transfer, zone, now)
            return join([piece]), transfer

        return self._book.queue_decision(tenant, sku, decide)

    def receive(self, transfer: Transfer, holder: str, token: int) -> bool:
        """Recipient: credits the quota once per transfer id; False when it had already arrived."""
        zone, name = self._book.zone, lock_name(transfer.tenant, transfer.sku)
        move = Rebalance(transfer.from_zone, transfer.to_zone, transfer.quantity)

        def decide(uow: SqlUnitOfWork, state: MultiZoneState, now: int) -> tuple[MultiZoneState, bool]:
            leases.check_lease(uow.connection, name, holder, token, now)
            store = SqlPoolStore(uow.connection)
            if store.transfer(transfer.tenant, transfer.sku, zone, transfer.transfer_id):
                return state, False
            piece = credit(slice_of(state, zone), move, transfer.quantity, token, now)  # FENCED first
            if not store.add_transfer(replace(transfer, state=TransferState.RECEIVED), zone, now):
                raise VersionConflict(f"transfer {transfer.transfer_id} arrived concurrently")
            return join([piece]), True

        return self._book.queue_decision(transfer.tenant, transfer.sku, decide)

    def finish(self, transfer: Transfer, holder: str, token: int) -> bool:
        """Donor: marks its `sent` row `done` once the recipient has the quota."""
        zone, name = self._book.zone, lock_name(transfer.tenant, transfer.sku)

        def decide(uow: SqlUnitOfWork, state: MultiZoneState, now: int) -> tuple[MultiZoneState, bool]:
            leases.check_lease(uow.connection, name, holder, token, now)
            fence = slice_of(state, zone).fence
            if token < fence:
                raise Fenced(
                    f"token {token} is older than the last applied token {fence}",
                    {"token": str(token), "current": str(fence)},
                )
            store = SqlPoolStore(uow.connection)
            return state, store.set_transfer_state(
                transfer, zone, TransferState.SENT, TransferState.DONE, now
            )

        return self._book.queue_decision(transfer.tenant, transfer.sku, decide)


class _Leases:
    """The leases one lock holding took, released (best effort) when it ends, whatever happened."""

    def __init__(self, book: PoolBook, name: str, token: int) -> None:
        self._book, self._name, self._token = book, name, token
        self._held: dict[str, PeerBook] = {}

    def __enter__(self) -> _Leases:
        return self

    def take(self, zone_book: PeerBook) -> None:
        if zone_book.zone not in self._held:
            zone_book.escrow.acquire_lease(self._name, self._book.holder, self._token)
            self._held[zone_book.zone] = zone_book

    def __exit__(self, *exc: object) -> None:
        for zone_book in self._held.values():
            try:
                zone_book.escrow.release_lease(self._name, self._book.holder, self._token)
            except Exception as error:  # it expires on its own; never mask the rebalance's own error
                log.warning("lease %s in zone %s not released: %s", self._name, zone_book.zone, error)
