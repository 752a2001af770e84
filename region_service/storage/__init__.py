"""SQL storage of a region instance: engine, schema, migrations, transactions, repositories, audit chain.

Usage::

    engine = make_engine("sqlite:///orders_eu.db")
    upgrade(engine)
    runner = SqlTransactionRunner(engine)
    order = runner.run(lambda uow: uow.orders.get("acme", order_id), read_only=True)
"""

from region_service.storage.engine import UnsupportedDatabase, make_engine
from region_service.storage.migrate import SchemaNotCurrent, check_schema, upgrade
from region_service.storage.repositories import SqlUnitOfWork
from region_service.storage.transactions import SqlTransactionRunner, TransactionStats

__all__ = [
    "SchemaNotCurrent",
    "SqlTransactionRunner",
    "SqlUnitOfWork",
    "TransactionStats",
    "UnsupportedDatabase",
    "check_schema",
    "make_engine",
    "upgrade",
]
