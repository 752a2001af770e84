"""Multi-zone SKU pools in the real service: one zone's `PoolBook` over that zone's database.

Failure semantics: every decision is the pure strategy's (`consistency.reservations`) on this zone's
slice, stored in a SERIALIZABLE transaction (the caller's for `*_in`; for the others, one that this
instance's concurrent calls of the pool share, see pool_batches.py), so a conflict re-runs it whole
and nothing is applied twice. A call that reaches another zone (strong's forward to the owner, a
rebalance, gossip, a summary) goes through `peers` and can fail on its own: a failed forward changed
nothing here; a rebalance that dies after the donor's write leaves a `sent` transfer that
`recover_transfers` (or the next rebalance) completes exactly once. Escrow rebalances are fenced twice
(see pool_rebalance.py).

    books = DirectPeers()
    eu = PoolBook("eu", eu_runner, books, coordinator, SystemClock(), holder="eu-west-1")
    books.add(eu); books.add(us)
    for book in (eu, us):
        book.configure("acme", "SKU-1", "escrow", ["eu", "us"], stock=100, low_watermark=5)
    outcome = eu.reserve("acme", "SKU-1", 2)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from consistency import eventual_stock, reservations
from consistency.coordinator import Coordinator, CoordinatorUnavailable, LockTimeout
from consistency.eventual_stock import Gossip
from consistency.pool_slices import (
    PoolSlice,
    check_pool,
    check_zone_name,
    configured,
    conserved,
    join,
    slice_of,
)
from consistency.reservations import MultiZoneState, StrategyName
from consistency.zone_stock import Outcome, RebalanceRequest, Verdict, check_quantity, check_zone
from ordermesh.clock import Clock
from ordermesh.errors import Contention, Fenced, InvalidArgument
from region_service.pool_batches import Call, Decide, PoolQueue, Step
from region_service.pool_peers import DirectPeers, PeerBook, PoolPeers, PoolReport
from region_service.pool_rebalance import Escrow
from region_service.storage.pools import SqlPoolStore, StoredSlice, Transfer, TransferState
from region_service.storage.repositories import SqlUnitOfWork
from region_service.storage.transactions import SqlTransactionRunner

__all__ = ["DirectPeers", "PoolBook", "PoolPeers", "PoolReport"]

log = logging.getLogger(__name__)

R = TypeVar("R")


class PoolBook:
    """One zone's side of every multi-zone SKU pool (a shell: the decisions are consistency's)."""

    def __init__(
        self,
        zone: str,
        runner: SqlTransactionRunner,
        peers: PoolPeers,
        coordinator: Coordinator,
        clock: Clock,
        holder: str,
        *,
        lease_ttl_s: float = 10.0,
        rebalance_wait_s: float = 0.2,
        after_send: Callable[[Transfer], None] | None = None,
    ) -> None:
        self.zone = check_zone_name(zone, "zone")
        self.runner = runner
        self.peers = peers
        self.coordinator = coordinator
        self.clock = clock
        self.holder = holder
        self.rebalance_wait_s = rebalance_wait_s
        self.escrow = Escrow(self, int(lease_ttl_s * 1_000_000), after_send)
        self._configs: dict[tuple[str, str], PoolSlice] = {}  # configuration never changes once stored
        self._queues: dict[tuple[str, str], PoolQueue] = {}
        self._queues_lock = threading.Lock()

    # -- configuration and reads
    def configure(
        self,
        tenant: str,
        sku: str,
        strategy: StrategyName | str,
        zones: Sequence[str],
        owner: str | None = None,
        stock: int = 0,
        low_watermark: int = 0,
        quotas: Sequence[int] | None = None,
    ) -> PoolSlice:
        """Stores this zone's first slice; the same configuration again is a no-op (returns the stored
        slice), a different one is INVALID_ARGUMENT. The caller configures every zone of the pool."""
        check_pool(tenant, sku)
        now = self.clock.now_us()
        slices = configured(
            strategy, stock, zones, owner=owner, quotas=quotas, low_watermark=low_watermark, now_us=now
        )
        check_zone(tuple(slices), self.zone)  # this zone must sell the sku
        mine = slices[self.zone]

        def work(uow: SqlUnitOfWork) -> PoolSlice:
            store = SqlPoolStore(uow.connection)
            if store.add(tenant, sku, mine, now):
                return mine
            stored = self._load(store, tenant, sku)
            if not stored.slice.same_configuration(mine):
                raise InvalidArgument.single("sku", f"{sku} is already configured differently in {self.zone}")
            return stored.slice

        piece = self.runner.run(work)
        self._configs[(tenant, sku)] = piece
        return piece

    def slice(self, tenant: str, sku: str) -> PoolSlice:
        """This zone's stored slice (a read-only transaction)."""
        check_pool(tenant, sku)
        return self.runner.run(
            lambda uow: self._load(SqlPoolStore(uow.connection), tenant, sku).slice, read_only=True
        )

    def transfers(self, tenant: str, sku: str, state: TransferState | None = None) -> list[Transfer]:
        """This zone database's side of the pool's quota transfers (optionally only those in `state`)."""
        check_pool(tenant, sku)
        return self.runner.run(
            lambda uow: SqlPoolStore(uow.connection).transfers(tenant, sku, self.zone, state), read_only=True
        )

    def configuration(self, tenant: str, sku: str) -> PoolSlice:
        """The pool's configuration as this zone stored it (cached, as it never changes: read only its
        configuration fields, the counters in it are not current)."""
        cached = self._configs.get((tenant, sku))
        if cached is None:
            cached = self._configs[(tenant, sku)] = self.slice(tenant, sku)
        return cached

    # -- inside the caller's transaction (CreateOrder)
    def reserve_in(self, uow: SqlUnitOfWork, tenant: str, sku: str, quantity: int, now_us: int) -> Outcome:
        """Decides on this zone's slice in `uow`'s transaction. Strong away from the owner: FORWARD,
        nothing written (the caller sends the call to `outcome.forward_to`)."""
        return self._decide(uow, tenant, sku, quantity, now_us, reservations.reserve)

    def release_in(self, uow: SqlUnitOfWork, tenant: str, sku: str, quantity: int, now_us: int) -> Outcome:
        return self._decide(uow, tenant, sku, quantity, now_us, reservations.release)

    def commit_in(self, uow: SqlUnitOfWork, tenant: str, sku: str, quantity: int, now_us: int) -> Outcome:
        return self._decide(uow, tenant, sku, quantity, now_us, reservations.commit)

    # -- own transaction, with the cross-zone calls
    def reserve(self, tenant: str, sku: str, quantity: int) -> Outcome:
        """Reserve here (strong: at the owner); escrow asks for a rebalance when it runs low, and retries
        once after one that moved quota to it."""
        outcome = self._call(tenant, sku, quantity, reservations.reserve, lambda peer: peer.reserve)
        if outcome.rebalance is None or outcome.rebalance.quantity < 1:
            return outcome
        moved = self._try_rebalance(tenant, sku, outcome.rebalance)
        if moved and not outcome.granted:
            return self._call(tenant, sku, quantity, reservations.reserve, lambda peer: peer.reserve)
        return outcome

    def release(self, tenant: str, sku: str, quantity: int) -> Outcome:
        return self._call(tenant, sku, quantity, reservations.release, lambda peer: peer.release)

    def commit(self, tenant: str, sku: str, quantity: int) -> Outcome:
        return self._call(tenant, sku, quantity, reservations.commit, lambda peer: peer.commit)

    # -- escrow
    def rebalance(self, tenant: str, sku: str, request: RebalanceRequest, wait_s: float = 5.0) -> int:
        """Moves quota to `request.zone` under the pool's lock; returns the units moved (0: none to move)."""
        check_pool(tenant, sku)
        return self.escrow.rebalance(tenant, sku, self._escrow_zones(tenant, sku), request, wait_s)

    def recover_transfers(self, tenant: str, sku: str, wait_s: float = 5.0) -> int:
        """Completes every transfer a donor sent but its recipient never applied; returns how many."""
        check_pool(tenant, sku)
        return self.escrow.recover(tenant, sku, self._escrow_zones(tenant, sku), wait_s)

    # -- eventual
    def gossip_message(self, tenant: str, sku: str) -> Gossip:
        """This zone's view of the pool, to send to the other zones."""
        state = join([self._strategy_slice(tenant, sku, StrategyName.EVENTUAL)])
        assert isinstance(state, eventual_stock.EventualState)
        return eventual_stock.gossip(state, self.zone)

    def merge_gossip(self, tenant: str, sku: str, message: Gossip) -> None:
        """Merges another zone's view (element-wise max: late or repeated messages are harmless). It
        joins the pool's next batch like a reserve, so gossip never races this instance's own writes."""
        check_pool(tenant, sku)

        zone = self.zone

        def merge(uow: SqlUnitOfWork, state: MultiZoneState, now_us: int) -> tuple[MultiZoneState, None]:
            if not isinstance(state, eventual_stock.EventualState):
                raise InvalidArgument.single("sku", f"{sku} is not an eventual pool")
            after = eventual_stock.merge(state, zone, message, now_us)
            if (after.taken, after.returned) == (state.taken, state.returned):
                return state, None  # nothing new: nothing to write
            return after, None

        self.queue_decision(tenant, sku, merge)

    def gossip_once(self, tenant: str, sku: str) -> int:
        """One anti-entropy round with every other zone (both directions); returns the peers reached."""
        mine = self.gossip_message(tenant, sku)
        reached = 0
        for zone in self.configuration(tenant, sku).zones:
            if zone == self.zone:
                continue
            peer = self.peers.book(zone)
            self.merge_gossip(tenant, sku, peer.gossip_message(tenant, sku))
            peer.merge_gossip(tenant, sku, mine)
            reached += 1
        return reached

    # -- across zones
    def global_summary(self, tenant: str, sku: str) -> PoolReport:
        """Every zone's slice (through peers), summed by the strategy; escrow adds quota in transit."""
        zones = self.configuration(tenant, sku).zones
        books = [self.peers.book(z) for z in zones]
        rows = [t for b in books for t in b.transfers(tenant, sku)]
        slices = tuple(b.slice(tenant, sku) for b in books)
        landed = {t.transfer_id for t in rows if t.state is TransferState.RECEIVED}
        in_transit = sum(
            t.quantity for t in rows if t.state is TransferState.SENT and t.transfer_id not in landed
        )
        state = join(slices)
        return PoolReport(reservations.summary(state), in_transit, conserved(slices, in_transit), slices)

    def queue_decision(self, tenant: str, sku: str, decide: Decide[R]) -> R:
        """Runs `decide` on this zone's slice in the pool's next batch transaction (pool_batches.py);
        it must raise its own refusal (INVALID_ARGUMENT, FENCED) before it writes anything."""
        check_pool(tenant, sku)
        with self._queues_lock:
            queue = self._queues.setdefault((tenant, sku), PoolQueue())
        return queue.submit(Call(decide), lambda calls: self._run_batch(tenant, sku, calls))

    # -- internals
    def _load(self, store: SqlPoolStore, tenant: str, sku: str) -> StoredSlice:
        stored = store.get(tenant, sku, self.zone)
        if stored is None:
            raise InvalidArgument.single(
                "sku", f"unknown sku {sku!r} for tenant {tenant} in zone {self.zone}"
            )
        return stored

    def _strategy_slice(self, tenant: str, sku: str, strategy: StrategyName) -> PoolSlice:
        piece = self.slice(tenant, sku)
        if piece.strategy is not strategy:
            raise InvalidArgument.single("sku", f"{sku} is a {piece.strategy} pool, not {strategy}")
        return piece

    def _escrow_zones(self, tenant: str, sku: str) -> tuple[str, ...]:
        config = self.configuration(tenant, sku)
        if config.strategy is not StrategyName.ESCROW:
            raise InvalidArgument.single("sku", f"{sku} is a {config.strategy} pool; only escrow rebalances")
        return config.zones

    def _decide(
        self, uow: SqlUnitOfWork, tenant: str, sku: str, quantity: int, now_us: int, step: Step
    ) -> Outcome:
        check_pool(tenant, sku)
        store = SqlPoolStore(uow.connection)
        stored = self._load(store, tenant, sku)
        state = join([stored.slice])
        after, outcome = step(state, self.zone, quantity, now_us)
        if after is not state:  # the strategies return the very same state when nothing changed
            store.save(tenant, sku, slice_of(after, self.zone), stored.version, now_us)
        return outcome

    def _call(
        self,
        tenant: str,
        sku: str,
        quantity: int,
        step: Step,
        at_owner: Callable[[PeerBook], Callable[[str, str, int], Outcome]],
    ) -> Outcome:
        check_pool(tenant, sku)
        config = self._configs.get((tenant, sku))
        if config is not None and config.strategy is StrategyName.STRONG and config.owner != self.zone:
            check_quantity(quantity)
            return at_owner(self.peers.book(config.owner))(tenant, sku, quantity)  # skip the local read
        zone = self.zone

        def decide(uow: SqlUnitOfWork, state: MultiZoneState, now_us: int) -> tuple[MultiZoneState, Outcome]:
            return step(state, zone, quantity, now_us)

        outcome = self.queue_decision(tenant, sku, decide)
        if outcome.verdict is Verdict.FORWARD:
            return at_owner(self.peers.book(outcome.forward_to))(tenant, sku, quantity)
        return outcome

    def _run_batch(self, tenant: str, sku: str, calls: list[Call[Any]]) -> list[object]:
        """One transaction for a batch of calls (pool_batches.py): decided in order, stored once."""

        def work(uow: SqlUnitOfWork) -> list[object]:
            store = SqlPoolStore(uow.connection)
            stored = self._load(store, tenant, sku)
            self._configs.setdefault((tenant, sku), stored.slice)  # lets strong forward without a read
            state = first = join([stored.slice])
            now = self.clock.now_us()
            answers: list[object] = []
            for call in calls:
                try:
                    state, value = call.decide(uow, state, now)
                except (InvalidArgument, Fenced) as exc:  # this call's own refusal: the others go ahead
                    answers.append(exc)
                    continue
                answers.append(value)
            if state is not first:
                store.save(tenant, sku, slice_of(state, self.zone), stored.version, now)
            return answers

        return self.runner.run(work)

    def _try_rebalance(self, tenant: str, sku: str, request: RebalanceRequest) -> int:
        """Best effort on the order's path: a busy lock, a live lease of another holder or a coordinator
        outage skip the rebalance (the next low reserve asks again); they never fail the reserve."""
        try:
            return self.rebalance(tenant, sku, request, self.rebalance_wait_s)
        except (LockTimeout, CoordinatorUnavailable, Fenced, Contention) as exc:
            log.debug("rebalance of %s/%s for %s skipped: %s", tenant, sku, request.zone, exc)
            return 0
