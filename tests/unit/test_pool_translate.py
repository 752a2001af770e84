"""Pool translations (region_service.pool_translate, the pool calls of inventory_translate) and the peer key
of the topology and the auth interceptor: round trips of every strategy's slice, outcomes, transfers and
gossip; malformed messages are INVALID_ARGUMENT naming the field, never another exception."""

from __future__ import annotations

from typing import Any

import pytest

from consistency.eventual_stock import Gossip
from consistency.pool_slices import configured
from consistency.reservations import StrategyName
from consistency.zone_stock import Outcome, RebalanceRequest, Summary, Verdict
from ordermesh.api.v1 import inventory_pb2 as ipb
from ordermesh.api.v1 import pool_peers_pb2 as pb
from ordermesh.errors import InvalidArgument, Unauthenticated
from ordermesh.topology import TopologyError, hash_api_key, parse_topology
from region_service import inventory_translate as itr
from region_service import pool_translate as tr
from region_service.auth import authenticate_peer
from region_service.pool_peers import PoolReport
from region_service.storage.pools import Transfer, TransferState

ZONES = ["eu", "us", "apac"]


@pytest.mark.parametrize(
    "strategy, options",
    [
        ("strong", {"owner": "us"}),
        ("escrow", {"quotas": [3, 3, 4], "low_watermark": 1}),
        ("eventual", {}),
    ],
)
def test_every_strategys_slice_survives_the_wire(strategy: str, options: dict[str, Any]) -> None:
    for piece in configured(strategy, 10, ZONES, now_us=1_700_000_000_123_456, **options).values():
        message = tr.slice_to_pb(piece, "SKU-1")
        assert message.sku == "SKU-1"
        assert tr.slice_from_pb(ipb.PoolSlice.FromString(message.SerializeToString())) == piece


def test_a_slice_with_an_unknown_strategy_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as bad:
        tr.slice_from_pb(ipb.PoolSlice(strategy=99, zones=["eu"], zone="eu"))  # type: ignore[arg-type]
    assert [v.field for v in bad.value.violations] == ["strategy"]


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome(Verdict.GRANTED, "eu", 2, 5),
        Outcome(Verdict.REFUSED, "eu", 2, -3),  # eventual after an oversell
        Outcome(Verdict.FORWARD, "eu", 2, -1, forward_to="us"),
        Outcome(Verdict.GRANTED, "eu", 2, 1, rebalance=RebalanceRequest("eu", 4)),
    ],
)
def test_outcomes_survive_the_wire(outcome: Outcome) -> None:
    wire = pb.PoolOutcome.FromString(tr.outcome_to_pb(outcome).SerializeToString())
    assert tr.outcome_from_pb(wire) == outcome


def test_an_outcome_without_a_verdict_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        tr.outcome_from_pb(pb.PoolOutcome(zone="eu"))


@pytest.mark.parametrize("state", list(TransferState))
def test_transfers_survive_the_wire(state: TransferState) -> None:
    transfer = Transfer("acme", "SKU/1", "t7-us-eu", "us", "eu", 3, 7, state)
    wire = pb.Transfer.FromString(tr.transfer_to_pb(transfer).SerializeToString())
    assert tr.transfer_from_pb(wire) == transfer
    assert tr.transfer_state_from_pb(tr.transfer_state_to_pb(state)) is state
    assert tr.transfer_state_from_pb(tr.transfer_state_to_pb(None)) is None


def test_malformed_transfers_and_fences_name_their_field() -> None:
    with pytest.raises(InvalidArgument) as bad:
        tr.transfer_from_pb(pb.Transfer(tenant="acme", sku="S", state=pb.TRANSFER_STATE_SENT))
    assert bad.value.violations[0].field == "transfer.transfer_id"
    with pytest.raises(InvalidArgument) as bad:
        tr.transfer_from_pb(pb.Transfer(transfer_id="t1-us-eu"))
    assert bad.value.violations[0].field == "transfer.state"
    assert tr.fence_from_pb(tr.fence_pb("eu-west/1", 4)) == ("eu-west/1", 4)
    for fence, field in ((pb.Fence(token=4), "fence.holder"), (pb.Fence(holder="h"), "fence.token")):
        with pytest.raises(InvalidArgument) as bad:
            tr.fence_from_pb(fence)
        assert bad.value.violations[0].field == field


def test_gossip_survives_the_wire_and_ragged_rows_are_refused() -> None:
    message = Gossip("us", (1, 4, 0), (0, 1, 0))
    assert (
        tr.gossip_from_pb(pb.PoolGossip.FromString(tr.gossip_to_pb(message).SerializeToString())) == message
    )
    with pytest.raises(InvalidArgument):
        tr.gossip_from_pb(pb.PoolGossip(zone="us", taken=[1, 2], returned=[0]))
    with pytest.raises(InvalidArgument):
        tr.gossip_from_pb(pb.PoolGossip(taken=[1], returned=[0]))


# -- the public pool calls -----------------------------------------------------------------------------


def test_a_good_configure_pool_request_becomes_its_config() -> None:
    request = ipb.ConfigurePoolRequest(
        zone="eu", sku="DROP-1", strategy=ipb.POOL_STRATEGY_ESCROW, zones=["eu", "us"], stock=10,
        low_watermark=2, quotas=[4, 6],
    )  # fmt: skip
    config = itr.pool_config_from_pb(request, "eu", {"eu", "us"})
    assert config == itr.PoolConfig("DROP-1", StrategyName.ESCROW, ("eu", "us"), None, 10, 2, (4, 6))
    strong = ipb.ConfigurePoolRequest(
        zone="us", sku="DROP-1", strategy=ipb.POOL_STRATEGY_STRONG, zones=["eu", "us"], owner="eu"
    )
    assert itr.pool_config_from_pb(strong, "us", {"eu", "us"}).owner == "eu"


def test_a_bad_configure_pool_request_lists_every_problem() -> None:
    request = ipb.ConfigurePoolRequest(
        zone="us", sku="bad sku", zones=["eu", "eu", "mars"], owner="eu", stock=-1, low_watermark=5,
        quotas=[1],
    )  # fmt: skip
    with pytest.raises(InvalidArgument) as bad:
        itr.pool_config_from_pb(request, "eu", {"eu", "us"})
    assert {v.field for v in bad.value.violations} == {
        "zone", "sku", "strategy", "zones", "zones[2]", "owner", "stock", "low_watermark", "quotas",
    }  # fmt: skip
    strong_without_owner = ipb.ConfigurePoolRequest(
        zone="eu", sku="S", strategy=ipb.POOL_STRATEGY_STRONG, zones=["eu", "us"]
    )
    with pytest.raises(InvalidArgument) as bad:
        itr.pool_config_from_pb(strong_without_owner, "eu", {"eu", "us"})
    assert [v.field for v in bad.value.violations] == ["owner"]
    outside = ipb.ConfigurePoolRequest(zone="eu", sku="S", strategy=ipb.POOL_STRATEGY_EVENTUAL, zones=["us"])
    with pytest.raises(InvalidArgument) as bad:
        itr.pool_config_from_pb(outside, "eu", {"eu", "us"})
    assert [v.field for v in bad.value.violations] == ["zone"]


def test_get_pool_requests_and_reports() -> None:
    assert itr.pool_key_from_pb(ipb.GetPoolRequest(zone="eu", sku="S-1"), "eu") == "S-1"
    with pytest.raises(InvalidArgument) as bad:
        itr.pool_key_from_pb(ipb.GetPoolRequest(zone="us"), "eu")
    assert {v.field for v in bad.value.violations} == {"zone", "sku"}
    slices = tuple(configured("escrow", 10, ["eu", "us"]).values())
    report = PoolReport(Summary("escrow", 10, 7, 2, 1, 0), 3, True, slices)
    pool = itr.pool_to_pb(report, "S-1")
    assert (pool.strategy, pool.free, pool.held, pool.committed, pool.in_transit, pool.conserved) == (
        ipb.POOL_STRATEGY_ESCROW, 7, 2, 1, 3, True,
    )  # fmt: skip
    assert [tr.slice_from_pb(s) for s in pool.slices] == list(slices)


# -- the peer key ---------------------------------------------------------------------------------------


def _topology(**extra: Any) -> Any:
    return parse_topology(
        {
            "zones": {"eu": {"database": "sqlite:///eu.db", "regions": {"eu-west": {"endpoint": "h:1"}}}},
            "tenants": {"acme": {"api_key_sha256": [hash_api_key("tenant-key")]}},
            **extra,
        }
    )


def test_the_topology_reads_peer_key_digests_and_refuses_bad_ones() -> None:
    assert _topology().peer_key_sha256 == frozenset()
    topo = _topology(peer_key_sha256=[hash_api_key("peer-key")])
    assert topo.is_peer_key("peer-key") and not topo.is_peer_key("tenant-key")
    with pytest.raises(TopologyError) as bad:
        _topology(peer_key_sha256=["not-hex"])
    assert bad.value.path == "peer_key_sha256"
    with pytest.raises(TopologyError) as bad:  # a tenant's key can never be a peer key
        _topology(peer_key_sha256=[hash_api_key("tenant-key")])
    assert "acme" in bad.value.problem


def test_only_a_known_peer_key_authenticates_a_peer_call() -> None:
    topo = _topology(peer_key_sha256=[hash_api_key("peer-key")])
    authenticate_peer(topo, (("x-peer-key", "peer-key"),))
    for metadata in (
        (),
        (("x-peer-key", "other"),),
        (("x-api-key", "tenant-key"),),
        (("x-peer-key", "k" * 300),),
    ):
        with pytest.raises(Unauthenticated):
            authenticate_peer(topo, metadata)
