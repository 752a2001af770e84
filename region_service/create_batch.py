"""CreateOrder's batch write: the new orders of one shard in one fenced transaction (group commit)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ordermesh.audit import EventType, OrderEvent
from ordermesh.errors import OrdermeshError
from ordermesh.ids import new_order_id
from ordermesh.order import Order, OrderDraft
from ordermesh.shard import ShardKey
from region_service.ports import Fence, StoredResponse, UnitOfWork
from region_service.storage import pg_create
from region_service.storage.pg_async import run_retrying
from region_service.storage.transactions import raise_if_fenced

if TYPE_CHECKING:
    from region_service.orders import OrderBook, Principal, Reply
    from region_service.storage.pg_async import AsyncConnection, AsyncPg
    from region_service.storage.transactions import SqlTransactionRunner

Render = Callable[[Order], bytes]
Answers = list["Reply | Exception"]
Offload = Callable[[Callable[[], Answers]], Awaitable[Answers]]  # runs a function in the thread pool


@dataclass(frozen=True)
class NewOrder:
    """One validated CreateOrder waiting for its batch."""

    who: Principal
    request_id: str
    fingerprint: str
    draft: OrderDraft
    render: Render


def write_creates(book: OrderBook, key: Hashable, items: Sequence[NewOrder]) -> list[Reply | Exception]:
    """One fenced transaction for a batch of new orders of one shard (group commit).

    Keys are claimed first, in one statement that returns which were new; only those orders are
    written. A request_id twice in one batch, or already stored, takes the slow path after the
    commit: replay the stored answer, or IDEMPOTENCY_KEY_REUSED.
    """
    shard = _shard(key)
    unique = _first_of_each_key(items)
    refused: dict[int, OrdermeshError] = {}  # orders the inventory decision refused (last attempt)

    def work(uow: UnitOfWork) -> dict[int, bytes]:
        now = book.clock.now_us()
        built, entries, events = _build(book, shard, items, unique, now)
        if book.inventory.tracks(shard.tenant):  # stock decisions need the general path
            return _with_inventory(book, uow, shard, fence, items, built, entries, now, refused)
        # The fence is checked inside this transaction by the batch write itself (one statement on
        # PostgreSQL), before anything it writes can commit.
        claimed = uow.batch.write(
            fence, "CreateOrder", entries, [o for _, o, _ in built], events, now, now + book.retention_us
        )
        return {i: p for i, _, p in built if items[i].request_id in claimed}

    fence = book._fence(shard)
    try:
        stored = book.inventory.run_pools(shard.tenant, lambda: book.runner.run(work))
    except OrdermeshError as err:
        return [err] * len(items)
    return answers(book, items, stored, refused)


@dataclass(frozen=True)
class OnLoop:
    """What CreateOrder batches need to run on the event loop: the zone database's async pool, and
    the region's transaction runner, whose retry policy and counters they share."""

    pg: AsyncPg
    runner: SqlTransactionRunner
    rng: random.Random


async def write_creates_async(
    book: OrderBook, on_loop: OnLoop, key: Hashable, items: Sequence[NewOrder], offload: Offload
) -> list[Reply | Exception]:
    """write_creates on the event loop, for PostgreSQL and a tenant that tracks no stock: the same
    one statement (storage.pg_create), re-run whole on conflicts like SqlTransactionRunner does, and
    on a connection lost mid-statement too: a re-run after a commit finds its keys taken and replays.
    When some order found its key already taken (a retry, or a reused key), its stored answer is
    read by the synchronous `answers`, run through `offload` (the thread pool)."""
    from region_service.orders import Reply  # orders.py imports this module

    shard = _shard(key)
    unique = _first_of_each_key(items)

    async def attempt(conn: AsyncConnection) -> tuple[Won, set[str]]:
        now = book.clock.now_us()  # fresh ids and time per attempt, as write_creates' work
        built, entries, events = _build(book, shard, items, unique, now)
        keys = [(shard.tenant, "CreateOrder", rid, response) for rid, response in entries]
        batch = pg_create.NewOrders(
            str(shard), fence.epoch, keys, [o for _, o, _ in built], events, now, now + book.retention_us
        )
        epoch, claimed = await pg_create.create_batch_async(conn, batch)
        raise_if_fenced(fence, epoch)
        return built, claimed

    try:
        fence = book._fence(shard)
        built, claimed = await run_retrying(on_loop.pg, on_loop.runner, on_loop.rng, attempt)
    except OrdermeshError as err:
        return [err] * len(items)
    stored = {i: p for i, _, p in built if items[i].request_id in claimed}
    if len(stored) < len(items):
        return await offload(lambda: answers(book, items, stored, {}))
    return [Reply(stored[i], replayed=False) for i in range(len(items))]


def answers(
    book: OrderBook, items: Sequence[NewOrder], stored: dict[int, bytes], refused: dict[int, OrdermeshError]
) -> list[Reply | Exception]:
    """Each caller's answer: its new order, its refusal, or (key taken) the stored answer replayed."""
    from region_service.orders import Reply, purged  # orders.py imports this module

    out: list[Reply | Exception] = []
    for i, item in enumerate(items):
        if i in refused:
            out.append(refused[i])
            continue
        if i in stored:
            out.append(Reply(stored[i], replayed=False))
            continue
        try:
            answer = book._stored_answer(item.who, "CreateOrder", item.request_id, item.fingerprint)
            out.append(answer if answer is not None else purged(item.request_id))
        except OrdermeshError as err:
            out.append(err)
    return out


def _shard(key: Hashable) -> ShardKey:
    assert isinstance(key, ShardKey)
    return key


def _first_of_each_key(items: Sequence[NewOrder]) -> list[int]:
    """Positions of the first item of each request_id (a repeat in one batch is answered after)."""
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        first.setdefault(item.request_id, i)
    return sorted(set(first.values()))


def _build(
    book: OrderBook, shard: ShardKey, items: Sequence[NewOrder], unique: Sequence[int], now: int
) -> tuple[Won, list[tuple[str, StoredResponse]], list[OrderEvent]]:
    """The new orders of one attempt (fresh ids and time), their stored answers and CREATED events."""
    built: Won = []
    for i in unique:
        order_id = new_order_id(book.zone, shard.bucket, book.token_bytes)
        order = Order.create(order_id, shard.tenant, book.zone, shard.bucket, items[i].draft, now)
        built.append((i, order, items[i].render(order)))
    entries = [(items[i].request_id, StoredResponse(items[i].fingerprint, p)) for i, _, p in built]
    created = EventType.CREATED
    events = [book._event(shard, o, created, None, items[i].who, "", now) for i, o, _ in built]
    return built, entries, events


Won = list[tuple[int, Order, bytes]]


def _with_inventory(
    book: OrderBook,
    uow: UnitOfWork,
    shard: ShardKey,
    fence: Fence,
    items: Sequence[NewOrder],
    built: Won,
    entries: Sequence[tuple[str, StoredResponse]],
    now: int,
    refused: dict[int, OrdermeshError],
) -> dict[int, bytes]:
    """A stock-tracking tenant's batch: fence, claim the keys, then decide stock for the new orders in
    arrival order, in this transaction (the decision needs the claims and the stock rows). An allocated
    or backordered order is written in its new status (one audit event per step, its stored answer
    restated); a refused one is not written at all and its key is released, so a retry is decided
    afresh. `refused` is filled per attempt (a re-run transaction decides again)."""
    raise_if_fenced(fence, uow.epochs.current(fence.shard))
    claimed = uow.batch.claim_keys(shard.tenant, "CreateOrder", entries, now, now + book.retention_us)
    won = [(i, order, p) for i, order, p in built if items[i].request_id in claimed]
    refused.clear()
    keys = [items[i].request_id for i, _, _ in won]
    results = book.inventory.allocate_new(uow, shard.tenant, [o for _, o, _ in won], now, keys)
    kept: Won = []
    events: list[OrderEvent] = []
    restated: dict[str, bytes] = {}
    for (i, created, payload), result in zip(won, results, strict=True):
        if isinstance(result, OrdermeshError):
            refused[i] = result
            continue
        events.append(book._event(shard, created, EventType.CREATED, None, items[i].who, "", now))
        events += book._step_events(shard, result, items[i].who, "", now)
        if result.steps:
            payload = items[i].render(result.order)
            restated[items[i].request_id] = payload
        kept.append((i, result.order, payload))
    uow.batch.unclaim_keys(shard.tenant, "CreateOrder", [items[i].request_id for i in refused])
    uow.batch.restate_keys(shard.tenant, "CreateOrder", restated)
    uow.batch.add_orders([o for _, o, _ in kept], events)
    return {i: p for i, _, p in kept}
