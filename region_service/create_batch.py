"""CreateOrder's batch write: the new orders of one shard in one fenced transaction (group commit)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ordermesh.audit import EventType
from ordermesh.errors import OrdermeshError
from ordermesh.ids import new_order_id
from ordermesh.order import Order, OrderDraft
from ordermesh.shard import ShardKey
from region_service.ports import StoredResponse, UnitOfWork

if TYPE_CHECKING:
    from region_service.orders import OrderBook, Principal, Reply

Render = Callable[[Order], bytes]


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
    from region_service.orders import Reply, purged  # orders.py imports this module

    shard = key
    assert isinstance(shard, ShardKey)
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        first.setdefault(item.request_id, i)
    unique = sorted(set(first.values()))

    def work(uow: UnitOfWork) -> dict[int, bytes]:
        now = book.clock.now_us()
        built = []
        for i in unique:
            order_id = new_order_id(book.zone, shard.bucket, book.token_bytes)
            order = Order.create(order_id, shard.tenant, book.zone, shard.bucket, items[i].draft, now)
            built.append((i, order, items[i].render(order)))
        entries = [(items[i].request_id, StoredResponse(items[i].fingerprint, p)) for i, _, p in built]
        created = EventType.CREATED
        events = [book._event(shard, o, created, None, items[i].who, "", now) for i, o, _ in built]
        # The fence is checked inside this transaction by the batch write itself (one statement on
        # PostgreSQL), before anything it writes can commit.
        claimed = uow.batch.write(
            fence, "CreateOrder", entries, [o for _, o, _ in built], events, now, now + book.retention_us
        )
        return {i: p for i, _, p in built if items[i].request_id in claimed}

    fence = book._fence(shard)
    try:
        stored = book.runner.run(work)
    except OrdermeshError as err:
        return [err] * len(items)
    answers: list[Reply | Exception] = []
    for i, item in enumerate(items):
        if i in stored:
            answers.append(Reply(stored[i], replayed=False))
            continue
        try:
            answer = book._stored_answer(item.who, "CreateOrder", item.request_id, item.fingerprint)
            answers.append(answer if answer is not None else purged(item.request_id))
        except OrdermeshError as err:
            answers.append(err)
    return answers
