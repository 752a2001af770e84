"""The region's pool upkeep round: eventual pools reconcile by gossip, an escrow transfer left half-way
by a dead instance is completed, and nothing else is touched (SQLite and real PostgreSQL)."""

from __future__ import annotations

import pytest

from consistency.zone_stock import RebalanceRequest
from region_service.pool_upkeep import upkeep
from region_service.storage import admin
from region_service.storage.pools import Transfer, TransferState
from tests.integration.pool_cluster import (  # noqa: F401  (fixture)
    TENANT,
    ZoneDatabases,
    build_cluster,
    configure_everywhere,
    zone_databases,
)


def test_eventual_pools_converge_and_half_done_transfers_complete(zone_databases: ZoneDatabases) -> None:  # noqa: F811
    def crash(transfer: Transfer) -> None:
        raise RuntimeError("instance died after the donor's write")

    cluster = build_cluster(zone_databases.urls, after_send={"eu": crash})
    eu, us = cluster.books["eu"], cluster.books["us"]
    try:
        configure_everywhere(cluster, "FLASH-V", "eventual", 50)
        configure_everywhere(cluster, "FLASH-E", "escrow", 100, quotas=[10, 90])
        configure_everywhere(cluster, "FLASH-S", "strong", 10, owner="us")
        assert sum(upkeep(eu).values()) == 1  # gossip only: nothing else has work
        eu.reserve(TENANT, "FLASH-V", 7)
        assert us.slice(TENANT, "FLASH-V").taken == (0, 0)  # us does not know yet
        assert upkeep(us)["gossip"] == 1
        assert us.slice(TENANT, "FLASH-V").taken == (7, 0)
        with pytest.raises(RuntimeError, match="instance died"):
            eu.rebalance(TENANT, "FLASH-E", RebalanceRequest("eu", 20))
        (sent,) = us.transfers(TENANT, "FLASH-E", TransferState.SENT)
        done = upkeep(us)  # us was the donor: its round completes the transfer
        assert done["recovered"] == 1 and done["failed"] == 0
        assert [t.state for t in us.transfers(TENANT, "FLASH-E")] == [TransferState.DONE]
        summary = eu.global_summary(TENANT, "FLASH-E")
        assert summary.conserved and summary.in_transit == 0
        assert eu.slice(TENANT, "FLASH-E").free == 10 + sent.quantity
        assert upkeep(us)["recovered"] == 0  # nothing left
    finally:
        cluster.close()


def test_finished_transfers_are_purged_after_their_retention_and_sent_ones_never(
    zone_databases: ZoneDatabases,  # noqa: F811
) -> None:
    def crash(transfer: Transfer) -> None:
        raise RuntimeError("instance died after the donor's write")

    cluster = build_cluster(zone_databases.urls, after_send={"eu": crash})
    eu, us = cluster.books["eu"], cluster.books["us"]
    try:
        configure_everywhere(cluster, "FLASH-E", "escrow", 100, quotas=[10, 90])
        with pytest.raises(RuntimeError):
            eu.rebalance(TENANT, "FLASH-E", RebalanceRequest("eu", 20))
        later = us.clock.now_us() + admin.TRANSFER_RETENTION_US + 1
        assert admin.purge_transfers(cluster.runners["us"], later) == 0  # sent: quota in transit
        upkeep(us)
        later = us.clock.now_us() + admin.TRANSFER_RETENTION_US + 1
        assert admin.purge_transfers(cluster.runners["us"], us.clock.now_us()) == 0  # too young
        assert admin.purge_transfers(cluster.runners["us"], later) == 1  # the donor's done row
        assert admin.purge_transfers(cluster.runners["eu"], later) == 1  # the recipient's received row
        assert eu.global_summary(TENANT, "FLASH-E").conserved
    finally:
        cluster.close()
