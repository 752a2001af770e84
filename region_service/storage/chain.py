"""The audit-chain sealer and verifier: gives committed events their per-shard (sequence, hashes).

Failure semantics: each `seal_shard` call is one SERIALIZABLE transaction (chain head + a batch of
unsealed events + the new head), run by SqlTransactionRunner, so a crash mid-way seals nothing and
the next run starts from the same head. Two sealers of one shard (two regions of a zone share its
database) conflict on the head and the events: one commits, the other re-runs from the new head;
the UNIQUE (shard_key, sequence) constraint is the backstop against duplicate sequences.
The statements and the chain computation (SealPlan) are shared with the sealer that runs on the
event loop on PostgreSQL (storage.pg_seal): both make the same transactions.
Why sealing is separate from writing: see the docstring of schema.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Select,
    TextClause,
    Update,
    bindparam,
    distinct,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url

from ordermesh.audit import GENESIS_HASH, ChainReport, SealedEvent, seal, verify_chain
from ordermesh.shard import ShardKey
from region_service.storage.pg_create import json_rows
from region_service.storage.repositories import EVENT_FIELDS, SqlUnitOfWork, event_of
from region_service.storage.schema import order_events, shard_chains
from region_service.storage.transactions import SqlTransactionRunner, as_runner

VERIFY_PAGE = 5000
_PG = make_url("postgresql+psycopg://").get_dialect()()  # what the statements are rendered for
Core = Select[Any] | Insert | Update | TextClause


@dataclass(frozen=True)
class Statement:
    """One sealer statement, defined once: SQLAlchemy Core for the synchronous sealer, and its
    rendering for psycopg (`%(name)s` parameters) for the sealer on the event loop (pg_seal)."""

    core: Core
    pg: str

    @classmethod
    def of(cls, core: Core) -> Statement:
        return cls(core, str(core.compile(dialect=_PG)))


HEAD = Statement.of(
    select(shard_chains.c.last_sequence, shard_chains.c.last_hash)
    .where(shard_chains.c.shard_key == bindparam("b_key"))
)
UNSEALED = Statement.of(
    select(*EVENT_FIELDS)
    .where(order_events.c.shard_key == bindparam("b_key"), order_events.c.sequence.is_(None))
    .order_by(order_events.c.occurred_us, order_events.c.event_id)
    .limit(bindparam("b_limit"))
)
SHARDS_UNSEALED = Statement.of(
    select(distinct(order_events.c.shard_key))
    .where(order_events.c.sequence.is_(None))
    .order_by(order_events.c.shard_key)
    .limit(bindparam("b_limit"))
)
# Rows as one JSON document: psycopg dumps list parameters element by element in Python.
SEAL_PG = Statement.of(text(
    "UPDATE order_events AS e SET sequence = CAST(r->>1 AS INT8), prev_hash = r->>2, chain_hash = r->>3"
    " FROM jsonb_array_elements(CAST(:rows AS JSONB)) AS r WHERE e.event_id = r->>0"
))  # fmt: skip
INSERT_HEAD = Statement.of(
    insert(shard_chains).values(
        shard_key=bindparam("b_key"), last_sequence=bindparam("b_seq"), last_hash=bindparam("b_hash")
    )
)
UPDATE_HEAD = Statement.of(
    update(shard_chains)
    .where(shard_chains.c.shard_key == bindparam("b_key"))
    .values(last_sequence=bindparam("b_seq"), last_hash=bindparam("b_hash"))
)
_SEAL_EACH = (
    update(order_events)
    .where(order_events.c.event_id == bindparam("b_id"))
    .values(sequence=bindparam("b_seq"), prev_hash=bindparam("b_prev"), chain_hash=bindparam("b_hash"))
)


@dataclass(frozen=True)
class SealPlan:
    """What one seal transaction writes: the events' places in the chain, and the shard's new head
    (`head_statement`: INSERT_HEAD on the shard's first seal, else UPDATE_HEAD)."""

    key: str
    sealed: list[SealedEvent]
    head_statement: Statement

    @classmethod
    def of(cls, key: str, head: Sequence[Any] | None, rows: Sequence[Sequence[Any]]) -> SealPlan | None:
        """From HEAD's row (None: no head yet) and UNSEALED's rows; None when there is nothing to seal."""
        if not rows:
            return None
        last_sequence, last_hash = (head[0], head[1]) if head is not None else (0, GENESIS_HASH)
        sealed = seal([event_of(*row) for row in rows], last_sequence, last_hash)
        return cls(key, sealed, UPDATE_HEAD if head is not None else INSERT_HEAD)

    def marks(self) -> dict[str, str]:
        """SEAL_PG's parameters."""
        rows = [(e.event.event_id, e.sequence, e.prev_hash, e.chain_hash) for e in self.sealed]
        return {"rows": json_rows(rows)}

    def head(self) -> dict[str, Any]:
        """The head statement's parameters."""
        return {"b_key": self.key, "b_seq": self.sealed[-1].sequence, "b_hash": self.sealed[-1].chain_hash}


def seal_shard(target: SqlTransactionRunner | Engine, shard: ShardKey, batch: int = 1000) -> int:
    """Seals up to `batch` of the shard's unsealed events after its chain head; returns how many."""
    return as_runner(target).run(lambda uow: _seal(uow.connection, shard, batch))


def _seal(conn: Connection, shard: ShardKey, batch: int) -> int:
    key = str(shard)
    head = conn.execute(HEAD.core, {"b_key": key}).first()
    plan = SealPlan.of(key, head, conn.execute(UNSEALED.core, {"b_key": key, "b_limit": batch}).all())
    if plan is None:
        return 0
    if conn.dialect.name == "postgresql":  # one statement, not one pipelined UPDATE per event
        conn.execute(SEAL_PG.core, plan.marks())
    else:
        conn.execute(_SEAL_EACH, [
            {"b_id": e.event.event_id, "b_seq": e.sequence, "b_prev": e.prev_hash, "b_hash": e.chain_hash}
            for e in plan.sealed
        ])  # fmt: skip
    conn.execute(plan.head_statement.core, plan.head())
    return len(plan.sealed)


def shards_with_unsealed(conn: Connection, limit: int = 1000) -> list[ShardKey]:
    """Shards that have events waiting for the sealer (read from the partial index)."""
    keys = conn.execute(SHARDS_UNSEALED.core, {"b_limit": limit}).scalars()
    return [ShardKey.parse(key) for key in keys]


def seal_pending(target: SqlTransactionRunner | Engine, batch: int = 1000, max_shards: int = 1000) -> int:
    """Seals everything unsealed at the time of the call, shard by shard; returns how many events."""
    runner = as_runner(target)
    shards = runner.run(lambda uow: shards_with_unsealed(uow.connection, max_shards), read_only=True)
    total = 0
    for shard in shards:
        while True:
            sealed = seal_shard(runner, shard, batch)
            total += sealed
            if sealed < batch:
                break
    return total


def verify_shard(target: SqlTransactionRunner | Engine, shard: ShardKey) -> ChainReport:
    """Recomputes the shard's chain from genesis (one read-only snapshot) and checks it ends at the
    chain head, so a removed tail is caught too; also counts the still-unsealed events."""
    return as_runner(target).run(lambda uow: _verify(uow, shard), read_only=True)


def _verify(uow: SqlUnitOfWork, shard: ShardKey) -> ChainReport:
    conn, key = uow.connection, str(shard)
    head = conn.execute(HEAD.core, {"b_key": key}).first()
    unsealed = conn.execute(
        select(func.count()).select_from(order_events)
        .where(order_events.c.shard_key == key, order_events.c.sequence.is_(None))
    ).scalar_one()
    last: list[SealedEvent] = []

    def sealed() -> Iterator[SealedEvent]:
        # Paged by sequence so a long chain is never held in memory at once.
        after = 0
        while True:
            page = uow.events.read(shard, after, VERIFY_PAGE)
            for event in page:
                last[:] = [event]
                yield event
            if len(page) < VERIFY_PAGE:
                return
            after = page[-1].sequence

    report = verify_chain(shard, sealed())
    fields: dict[str, Any] = {
        "shard": report.shard, "checked": report.checked, "ok": report.ok,
        "first_bad_sequence": report.first_bad_sequence, "problem": report.problem,
    }
    head_sequence, head_hash = (head.last_sequence, head.last_hash) if head else (0, GENESIS_HASH)
    log_hash = last[0].chain_hash if last else GENESIS_HASH
    if report.ok and report.checked != head_sequence:
        bad = min(report.checked, head_sequence) + 1
        fields.update(ok=False, first_bad_sequence=bad, problem=(
            f"the chain head is at sequence {head_sequence} but the sealed events end at {report.checked}"
        ))
    elif report.ok and log_hash != head_hash:
        fields.update(ok=False, first_bad_sequence=head_sequence,
                      problem="the last sealed event's hash does not match the chain head")
    return ChainReport(**fields, unsealed=int(unsealed))

