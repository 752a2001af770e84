"""The `backend` fixture of the storage tests (a migrated zone database: SQLite file or real PostgreSQL),
and builders for orders and events. Test modules bind it with `backend = storage_backends.backend`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from ordermesh.audit import EventType, OrderEvent
from ordermesh.money import Money
from ordermesh.order import Customer, Order, OrderDraft, OrderLine
from ordermesh.shard import ShardKey
from ordermesh.status import OrderStatus
from region_service.storage.engine import make_engine
from region_service.storage.migrate import upgrade
from region_service.storage.transactions import SqlTransactionRunner

BASE_US = 1_700_000_000_000_000
_ids = itertools.count(1)


@dataclass
class Backend:
    kind: str
    url: str
    engine: Engine

    def runner(self, **kwargs: Any) -> SqlTransactionRunner:
        return SqlTransactionRunner(self.engine, **kwargs)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), params)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A freshly migrated zone database; PostgreSQL is a real server in SERIALIZABLE isolation."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'zone.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    engine = make_engine(url)
    try:
        yield Backend(request.param, url, engine)
    finally:
        engine.dispose()


def new_order(
    tenant: str = "acme",
    zone: str = "eu",
    bucket: int = 3,
    create_time_us: int = BASE_US,
    lines: int = 2,
    order_id: str | None = None,
) -> Order:
    draft = OrderDraft(
        Customer(f"cust-{tenant}", "DE"),
        tuple(OrderLine(f"SKU-{i}", i + 1, Money(100 * (i + 1), "EUR")) for i in range(lines)),
    )
    oid = order_id or f"{zone}-{bucket}-{next(_ids):026d}"
    return Order.create(oid, tenant, zone, bucket, draft, create_time_us)


def new_event(
    shard: ShardKey, order_id: str, version: int = 1, occurred_us: int = BASE_US, reason: str = ""
) -> OrderEvent:
    created = version == 1
    return OrderEvent(
        event_id=f"ev-{next(_ids):08d}",
        shard=shard,
        order_id=order_id,
        order_version=version,
        type=EventType.CREATED if created else EventType.STATUS_CHANGED,
        from_status=None if created else OrderStatus.PENDING,
        to_status=OrderStatus.PENDING if created else OrderStatus.CONFIRMED,
        actor="tester",
        reason=reason,
        occurred_us=occurred_us,
    )
