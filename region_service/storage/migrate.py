"""Schema migrations of the zone database, driven programmatically (Alembic; no alembic.ini at runtime).

Failure semantics: `upgrade` runs all pending revisions in one transaction on PostgreSQL and SQLite
(a failure leaves the database at its old revision). On CockroachDB (no transactional DDL in
Alembic's sense) each revision commits on its own, together with its alembic_version row, so a
failed upgrade stops after the last good revision and is simply run again once the cause is fixed.
`check_schema` never changes anything: it raises `SchemaNotCurrent` with what to do.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from region_service.storage.engine import make_engine

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
UPGRADE_HINT = "run `ordermesh db upgrade --topology <topology.yaml>`"
# Offline rendering names a driver whose module imports without that driver installed.
_OFFLINE_DIALECTS = {
    "postgresql": "postgresql+psycopg",
    "cockroachdb": "cockroachdb+psycopg",
    "sqlite": "sqlite",
}


class SchemaNotCurrent(RuntimeError):
    """The database schema is missing, behind, or ahead of what this build of ordermesh expects."""


def _config(output: io.StringIO | None = None) -> Config:
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


def head_revision() -> str:
    """The newest revision this build knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {SCRIPT_LOCATION}")
    return head


@contextmanager
def _engine(target: str | URL | Engine) -> Iterator[Engine]:
    if isinstance(target, Engine):
        yield target
        return
    engine = make_engine(target, pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade(target: str | URL | Engine, revision: str = "head") -> None:
    """Brings the database up to `revision` (default: the newest this build knows)."""
    config = _config()
    with _engine(target) as engine, engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(target: str | URL | Engine, revision: str) -> None:
    """Takes the database back to `revision` ("base" drops every ordermesh table: data is lost)."""
    config = _config()
    with _engine(target) as engine, engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(target: str | URL | Engine) -> str | None:
    """The database's revision, or None when it was never migrated."""
    with _engine(target) as engine, engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(target: str | URL | Engine) -> str:
    """Returns the database's revision if it is this build's head; raises SchemaNotCurrent otherwise."""
    with _engine(target) as engine:
        where = engine.url.render_as_string(hide_password=True)
        current = current_revision(engine)
    script = ScriptDirectory.from_config(_config())
    head = head_revision()
    if current == head:
        return head
    if current is None:
        raise SchemaNotCurrent(f"database {where} has no ordermesh schema (never migrated); {UPGRADE_HINT}")
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaNotCurrent(
            f"database {where} is newer than this build: this build knows revisions up to {head}, "
            f"the database is at {current}; run a newer ordermesh release against it"
        )
    raise SchemaNotCurrent(
        f"database {where} is at revision {current}, this build needs {head}; {UPGRADE_HINT}"
    )


def render_sql(dialect_name: str, revision: str = "head") -> str:
    """The upgrade as SQL text for `dialect_name` ("postgresql", "cockroachdb", "sqlite"), like
    `alembic upgrade --sql`; nothing connects to a database."""
    if dialect_name not in _OFFLINE_DIALECTS:
        known = ", ".join(sorted(_OFFLINE_DIALECTS))
        raise ValueError(f"cannot render migrations for {dialect_name!r}: use one of {known}")
    output = io.StringIO()
    config = _config(output)
    config.attributes["dialect_name"] = _OFFLINE_DIALECTS[dialect_name]
    command.upgrade(config, revision, sql=True)
    return output.getvalue()
