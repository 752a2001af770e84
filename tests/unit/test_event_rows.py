"""Stored event columns back to OrderEvents (storage.repositories.event_of): values and refusals."""

from __future__ import annotations

import pytest

from ordermesh.audit import EventType, OrderEvent
from ordermesh.shard import ShardKey
from ordermesh.status import OrderStatus
from region_service.storage.repositories import event_of

ROW = ("e-1", "acme/eu/1", "eu-1-x", 2, "status_changed", "pending", "confirmed", "tenant:acme", "ok", 1_700)


def test_a_stored_row_reads_back_as_its_event() -> None:
    assert event_of(*ROW) == OrderEvent(
        "e-1", ShardKey("acme", "eu", 1), "eu-1-x", 2, EventType.STATUS_CHANGED, OrderStatus.PENDING,
        OrderStatus.CONFIRMED, "tenant:acme", "ok", 1_700,
    )  # fmt: skip


def test_a_created_event_has_no_from_status() -> None:
    created = event_of("e-2", "acme/eu/1", "eu-1-x", 1, "created", None, "pending", "tenant:acme", "", 5)
    assert created.type is EventType.CREATED and created.from_status is None


@pytest.mark.parametrize("column", [4, 5, 6])
def test_an_unknown_stored_value_is_refused(column: int) -> None:
    row = list(ROW)
    row[column] = "teleported"
    with pytest.raises(ValueError):
        event_of(*row)  # type: ignore[arg-type]
