"""Order lines of multi-zone SKUs (flash-sale pools): decided by the SKU's strategy inside the order's
transaction — escrow and eventual on this zone's slice, strong at its owner zone — and settled the same
way on shipment, cancel and expiry.

A strong pool owned by another zone is a cross-region call, which must not run inside a transaction
that may be re-run: the transaction raises NeedsForward, `pool_scope` makes the calls at the owner
(PoolBook.reserve, its own transaction there) and runs the transaction again with the grants; grants
the committed transaction did not keep are released at the owner afterwards, and so are the releases
and commits of shipped, cancelled and expired strong holds (after the local commit, never inside it).
A crash between the two leaves units held at the owner — never oversold — which
`PoolBook.release` frees by hand.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from consistency.inventory import HoldState, Reservation, reservation_id
from consistency.reservations import StrategyName
from consistency.zone_stock import RebalanceRequest
from ordermesh.errors import OrdermeshError, ZoneUnavailable

if TYPE_CHECKING:
    from region_service.pools import PoolBook
    from region_service.ports import UnitOfWork

log = logging.getLogger(__name__)
T = TypeVar("T")
POOL = "@pool"  # the `warehouse` of a reservation held in a multi-zone pool rather than a warehouse
MAX_FORWARD_ROUNDS = 3


@dataclass(frozen=True)
class Forward:
    key: str  # the request_id (CreateOrder) or order id the line belongs to
    line_no: int
    owner: str
    sku: str
    quantity: int


class NeedsForward(Exception):
    """Raised inside a transaction: these lines need a call to their pool's owner zone first."""

    def __init__(self, needs: Sequence[Forward]) -> None:
        super().__init__(f"{len(needs)} pool line(s) need their owner zone")
        self.needs = tuple(needs)


@dataclass
class PoolContext:
    """What one operation's pool calls carry across its transaction attempts."""

    # forwarded grants by (key, line_no): units granted at the owner (0: refused), and the call
    granted: dict[tuple[str, int], tuple[int, Forward]] = field(default_factory=dict)
    kept: set[tuple[str, int]] = field(default_factory=set)  # grants the last attempt holds
    deferred: list[tuple[str, str, str, int]] = field(default_factory=list)  # (op, owner, sku, qty)
    rebalance: list[tuple[str, RebalanceRequest]] = field(default_factory=list)
    transaction: object = None  # the unit of work whose decisions kept/deferred/rebalance describe

    def new_attempt(self) -> None:
        self.kept.clear()
        self.deferred.clear()
        self.rebalance.clear()
        self.transaction = None

    def of(self, uow: object) -> PoolContext:
        """The context, reset when `uow` is a new transaction attempt (the runner re-runs the work
        on a conflict, and only the attempt that commits may keep grants or defer owner calls)."""
        if uow is not self.transaction:
            self.new_attempt()
            self.transaction = uow
        return self


_local = threading.local()


def current() -> PoolContext:
    """The context of the operation running on this thread (a throwaway one outside any scope)."""
    ctx: PoolContext | None = getattr(_local, "ctx", None)
    return ctx if ctx is not None else PoolContext()


class PoolLines:
    """The pool side of InventoryBook for one zone."""

    def __init__(self, pools: PoolBook, zone: str) -> None:
        self.pools = pools
        self.zone = zone
        self._rebalancer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{zone}-rebalance")

    # -- inside the transaction -----------------------------------------------------------------------

    def decide(
        self,
        uow: UnitOfWork,
        tenant: str,
        key: str,
        lines: Sequence[tuple[str, int]],
        configs: dict[str, tuple[str, str]],
        now_us: int,
    ) -> tuple[dict[int, int], list[tuple[int, str, int]]]:
        """Availability of the pool lines ({line_no: units}) and the local grants made for them."""
        ctx = current().of(uow)
        fixed: dict[int, int] = {}
        local: list[tuple[int, str, int]] = []
        for line_no, (sku, quantity) in enumerate(lines):
            if sku not in configs:
                continue
            strategy, owner = configs[sku]
            if strategy == StrategyName.STRONG and owner != self.zone:
                fixed[line_no] = ctx.granted[(key, line_no)][0]
                continue
            outcome = self.pools.reserve_in(uow, tenant, sku, quantity, now_us)  # type: ignore[arg-type]
            fixed[line_no] = quantity if outcome.granted else 0
            if outcome.granted:
                local.append((line_no, sku, quantity))
            if outcome.rebalance is not None and outcome.rebalance.quantity > 0:
                ctx.rebalance.append((sku, outcome.rebalance))
        return fixed, local

    def needs(
        self, keyed: Sequence[tuple[str, Sequence[tuple[str, int]]]], configs: dict[str, tuple[str, str]]
    ) -> list[Forward]:
        """Lines of strong pools owned elsewhere that have no forwarded grant yet."""
        ctx = current()
        out = []
        for key, lines in keyed:
            for line_no, (sku, quantity) in enumerate(lines):
                strategy, owner = configs.get(sku, ("", ""))
                if (
                    strategy == StrategyName.STRONG
                    and owner != self.zone
                    and (key, line_no) not in ctx.granted
                ):
                    out.append(Forward(key, line_no, owner, sku, quantity))
        return out

    def settle(
        self,
        uow: UnitOfWork,
        tenant: str,
        key: str,
        local: Sequence[tuple[int, str, int]],
        fixed: dict[int, int],
        held: Sequence[int],
        configs: dict[str, tuple[str, str]],
        now_us: int,
    ) -> None:
        """After the verdict: local grants it does not hold are released (same transaction); forwarded
        grants it holds are kept, the others released at the owner after the commit."""
        ctx = current().of(uow)
        for line_no, sku, quantity in local:
            if not held[line_no]:
                self.pools.release_in(uow, tenant, sku, quantity, now_us)  # type: ignore[arg-type]
        for line_no, units in fixed.items():
            if (key, line_no) in ctx.granted and units and held[line_no]:
                ctx.kept.add((key, line_no))

    def holds(
        self,
        order_id: str,
        lines: Sequence[tuple[str, int]],
        fixed: dict[int, int],
        held: Sequence[int],
        expires_us: int,
    ) -> list[Reservation]:
        return [
            Reservation(
                reservation_id(order_id, n, POOL),
                order_id,
                n,
                lines[n][0],
                POOL,
                lines[n][1],
                HoldState.HELD,
                expires_us,
            )
            for n in fixed
            if held[n]
        ]

    def finish(
        self,
        uow: UnitOfWork,
        tenant: str,
        hold: Reservation,
        op: str,
        configs: dict[str, tuple[str, str]],
        now_us: int,
    ) -> None:
        """Ships (op "commit") or frees ("release"; expiry too) a pool hold."""
        strategy, owner = configs.get(hold.sku, ("", ""))
        if strategy == StrategyName.STRONG and owner != self.zone:
            current().of(uow).deferred.append((op, owner, hold.sku, hold.quantity))
            return
        step = self.pools.commit_in if op == "commit" else self.pools.release_in
        step(uow, tenant, hold.sku, hold.quantity, now_us)  # type: ignore[arg-type]

    # -- around the transaction -----------------------------------------------------------------------

    @contextmanager
    def scope(self, tenant: str) -> Iterator[PoolContext]:
        """Makes this thread's pool context; afterwards releases unkept forwarded grants, runs the
        deferred owner calls and the rebalances the reserves asked for."""
        ctx = PoolContext()
        _local.ctx = ctx
        try:
            yield ctx
        finally:
            _local.ctx = None
            self._after(tenant, ctx)

    def run(self, tenant: str, attempt: Callable[[], T]) -> T:
        """Runs `attempt` (one transaction) until no pool line needs its owner zone any more."""
        with self.scope(tenant) as ctx:
            try:
                for _ in range(MAX_FORWARD_ROUNDS):
                    ctx.new_attempt()
                    try:
                        return attempt()
                    except NeedsForward as need:
                        self._forward(tenant, ctx, need.needs)
                ctx.new_attempt()
                return attempt()
            except BaseException:
                ctx.new_attempt()  # nothing committed: every grant goes back, no owner call is due
                raise

    def _forward(self, tenant: str, ctx: PoolContext, needs: Collection[Forward]) -> None:
        for need in needs:
            try:
                outcome = self.pools.peers.book(need.owner).reserve(tenant, need.sku, need.quantity)
            except OrdermeshError:
                raise
            except Exception as exc:
                raise ZoneUnavailable(
                    f"{need.sku} is sold from zone {need.owner}'s count, which cannot be reached: {exc}",
                    {"zone": need.owner, "sku": need.sku},
                ) from exc
            ctx.granted[(need.key, need.line_no)] = (need.quantity if outcome.granted else 0, need)

    def _after(self, tenant: str, ctx: PoolContext) -> None:
        calls = [("release", f.owner, f.sku, units) for f, units in self._unkept(ctx)] + ctx.deferred
        for op, owner, sku, quantity in calls:
            try:
                book = self.pools.peers.book(owner)
                (book.commit if op == "commit" else book.release)(tenant, sku, quantity)
            except Exception as exc:  # units stay held at the owner: never oversold; logged for release
                log.error("pool %s/%s: %s of %d at %s failed: %s", tenant, sku, op, quantity, owner, exc)
        for sku, request in {(sku, r.zone): (sku, r) for sku, r in ctx.rebalance}.values():
            self._rebalancer.submit(self._rebalance, tenant, sku, request)

    def _rebalance(self, tenant: str, sku: str, request: RebalanceRequest) -> None:
        """Off the order's path: its callers do not wait for quota to move between zones."""
        try:
            self.pools.rebalance(tenant, sku, request, wait_s=0.5)
        except Exception as exc:  # a later reserve asks again
            log.warning("pool %s/%s: rebalance failed: %s", tenant, sku, exc)

    @staticmethod
    def _unkept(ctx: PoolContext) -> list[tuple[Forward, int]]:
        """Grants made at an owner that no committed order holds (refused, retried, or not won)."""
        return [(f, units) for k, (units, f) in ctx.granted.items() if units and k not in ctx.kept]
