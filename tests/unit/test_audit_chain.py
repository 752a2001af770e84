"""The per-shard audit chain: sealing order, and detection of every kind of tampering."""

from __future__ import annotations

import dataclasses

from ordermesh.audit import GENESIS_HASH, EventType, OrderEvent, SealedEvent, link, seal, verify_chain
from ordermesh.shard import ShardKey
from ordermesh.status import OrderStatus

SHARD = ShardKey("acme", "eu", 1)
S = OrderStatus


def event(n: int, order_id: str = "eu-1-a", version: int = 1, at: int | None = None) -> OrderEvent:
    if version == 1:
        kind, before, after = EventType.CREATED, None, S.PENDING
    else:
        kind, before, after = EventType.STATUS_CHANGED, S.PENDING, S.CONFIRMED
    return OrderEvent(
        f"ev-{n:03d}",
        SHARD,
        order_id,
        version,
        kind,
        before,
        after,
        "acme",
        "",
        1_000 * n if at is None else at,
    )


def chain(n: int = 6) -> list[SealedEvent]:
    # n events of n different orders, one per millisecond
    return seal([event(i, f"eu-1-{i}") for i in range(1, n + 1)], 0, GENESIS_HASH)


def test_an_untouched_chain_verifies() -> None:
    report = verify_chain(SHARD, chain())
    assert (report.ok, report.checked, report.first_bad_sequence) == (True, 6, None)


def test_an_empty_chain_verifies() -> None:
    assert verify_chain(SHARD, []).ok
    assert seal([], 5, GENESIS_HASH) == []


def test_sealing_continues_contiguously_from_the_head() -> None:
    first = chain(3)
    more = seal([event(i, f"eu-1-{i}") for i in (4, 5)], first[-1].sequence, first[-1].chain_hash)
    assert [s.sequence for s in first + more] == [1, 2, 3, 4, 5]
    assert more[0].prev_hash == first[-1].chain_hash
    assert all(b.prev_hash == a.chain_hash for a, b in zip(first + more, (first + more)[1:], strict=False))
    assert verify_chain(SHARD, first + more).ok


def test_each_hash_covers_the_previous_hash_and_the_event() -> None:
    sealed = chain(2)
    assert sealed[0].prev_hash == GENESIS_HASH
    assert sealed[0].chain_hash == link(GENESIS_HASH, sealed[0].event)
    assert sealed[1].chain_hash == link(sealed[0].chain_hash, sealed[1].event)
    assert len({s.chain_hash for s in sealed}) == 2


def test_events_are_sealed_in_time_order_whatever_order_they_arrive_in() -> None:
    events = [event(3, "eu-1-c"), event(1, "eu-1-a"), event(2, "eu-1-b")]
    assert [s.event.order_id for s in seal(events, 0, GENESIS_HASH)] == ["eu-1-a", "eu-1-b", "eu-1-c"]


def test_an_orders_versions_keep_their_order_even_when_clocks_disagree() -> None:
    # Version 2 was written by a region whose clock runs behind: its timestamp is the earlier one.
    v2 = event(1, "eu-1-a", version=2, at=100)
    other = event(2, "eu-1-b", at=150)
    v1 = event(3, "eu-1-a", version=1, at=200)
    sealed = seal([v1, other, v2], 0, GENESIS_HASH)
    assert [(s.event.order_id, s.event.order_version) for s in sealed] == [
        ("eu-1-a", 1),
        ("eu-1-b", 1),
        ("eu-1-a", 2),
    ]
    assert verify_chain(SHARD, sealed).ok


def test_an_edited_field_is_detected_at_that_event() -> None:
    sealed = chain()
    forged = dataclasses.replace(sealed[2].event, reason="nothing to see")
    sealed[2] = dataclasses.replace(sealed[2], event=forged)
    report = verify_chain(SHARD, sealed)
    assert (report.ok, report.first_bad_sequence, report.checked) == (False, 3, 2)


def test_an_edit_with_a_recomputed_hash_is_detected_at_the_next_event() -> None:
    sealed = chain()
    forged = dataclasses.replace(sealed[2].event, to_status=S.CANCELLED)
    sealed[2] = dataclasses.replace(sealed[2], event=forged, chain_hash=link(sealed[2].prev_hash, forged))
    report = verify_chain(SHARD, sealed)
    assert (report.ok, report.first_bad_sequence) == (False, 4)


def test_a_deleted_event_is_detected() -> None:
    sealed = chain()
    del sealed[3]
    report = verify_chain(SHARD, sealed)
    assert (report.ok, report.first_bad_sequence) == (False, 4)


def test_a_deleted_event_is_detected_even_if_sequences_are_renumbered() -> None:
    sealed = chain()
    del sealed[3]
    sealed = [dataclasses.replace(s, sequence=i) for i, s in enumerate(sealed, 1)]
    report = verify_chain(SHARD, sealed)
    assert (report.ok, report.first_bad_sequence) == (False, 4)


def test_a_swapped_pair_is_detected() -> None:
    sealed = chain()
    sealed[1], sealed[2] = sealed[2], sealed[1]
    assert not verify_chain(SHARD, sealed).ok
    # and swapping the events but keeping the sequence numbers in place
    sealed = chain()
    a, b = sealed[1], sealed[2]
    sealed[1], sealed[2] = dataclasses.replace(b, sequence=2), dataclasses.replace(a, sequence=3)
    report = verify_chain(SHARD, sealed)
    assert (report.ok, report.first_bad_sequence) == (False, 2)


def test_an_inserted_event_is_detected() -> None:
    sealed = chain()
    extra = event(99, "eu-1-forged")
    inserted = SealedEvent(extra, 4, sealed[2].chain_hash, link(sealed[2].chain_hash, extra))
    tail = [dataclasses.replace(s, sequence=s.sequence + 1) for s in sealed[3:]]
    report = verify_chain(SHARD, [*sealed[:3], inserted, *tail])
    # the forger could make the inserted event itself consistent, but not the one after it
    assert (report.ok, report.first_bad_sequence) == (False, 5)


def test_a_chain_that_does_not_start_at_genesis_is_detected() -> None:
    sealed = seal([event(1), event(2, "eu-1-b")], 0, "f" * 64)
    report = verify_chain(SHARD, sealed)
    assert (report.ok, report.first_bad_sequence) == (False, 1)


def test_a_truncated_head_is_detected() -> None:
    report = verify_chain(SHARD, chain()[2:])
    assert (report.ok, report.first_bad_sequence) == (False, 1)


def test_another_shards_chain_does_not_verify_as_this_one() -> None:
    report = verify_chain(ShardKey("globex", "eu", 10), chain())
    assert (report.ok, report.first_bad_sequence) == (False, 1)
