"""Test-suite wide fixtures: real PostgreSQL and ZooKeeper servers are started by plugins below."""

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.zookeeper"]
