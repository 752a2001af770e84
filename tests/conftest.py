"""Test-suite wide fixtures: real PostgreSQL and ZooKeeper servers are started by plugins below."""

import pytest

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.zookeeper"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """A compiled module older than its source would run old code under the new tests: refuse."""
    from deploy.compile import stale

    old = stale()
    if old:
        raise pytest.UsageError(
            f"compiled modules are stale: {', '.join(old)}; rebuild them with `python -m deploy.compile`"
            " (or remove them with `python -m deploy.compile --clean`)"
        )
