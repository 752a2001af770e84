"""Alembic environment of the zone database, driven by region_service.storage.migrate (no alembic.ini).

Online: migrate.py passes an open Connection in `config.attributes["connection"]` and owns its
transaction. Offline (`--sql`): it passes `config.attributes["dialect_name"]` and the SQL is written
to the config's output buffer, which is how CockroachDB DDL is checked without a CockroachDB server.
"""

from __future__ import annotations

from alembic import context

from region_service.storage.schema import metadata

config = context.config


def run_offline() -> None:
    context.configure(
        dialect_name=config.attributes["dialect_name"],
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    context.configure(connection=config.attributes["connection"], target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
