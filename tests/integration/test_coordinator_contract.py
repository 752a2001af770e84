"""One contract, two backends: the ZooKeeper coordinator (real server) and its in-memory twin."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from consistency.coordinator import (
    Coordinator,
    CoordinatorUnavailable,
    Election,
    Instance,
    LockTimeout,
    PlacementConflict,
    SessionState,
)
from consistency.memory_coordinator import MemoryCoordinator, MemoryEnsemble
from consistency.zk_coordinator import ZkCoordinator
from deploy.zookeeper_server import ZooKeeperServer
from ordermesh.shard import Placement, ShardKey

SHARD = ShardKey("acme", "eu", 3)


def eventually(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.02)


@dataclass
class Backend:
    """Makes clients of one shared ensemble/server, and injects a connection outage."""

    name: str
    make: Callable[[], Coordinator]
    suspend: Callable[[Coordinator], None]
    resume: Callable[[Coordinator], None]
    clients: list[Coordinator] = field(default_factory=list)

    def client(self) -> Coordinator:
        coordinator = self.make()
        self.clients.append(coordinator)
        return coordinator


@pytest.fixture(params=["memory", "zookeeper"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        ensemble = MemoryEnsemble()
        b = Backend(
            "memory",
            make=lambda: MemoryCoordinator(ensemble),
            suspend=lambda c: c.suspend_session(),  # type: ignore[attr-defined]
            resume=lambda c: c.resume_session(),  # type: ignore[attr-defined]
        )
    else:
        hosts: str = request.getfixturevalue("zk_hosts")
        server: ZooKeeperServer = request.getfixturevalue("zookeeper_server")
        b = Backend(
            "zookeeper",
            make=lambda: ZkCoordinator(hosts, session_timeout=3.0, op_timeout=3.0).start(timeout=10.0),
            suspend=lambda c: server.pause(),
            resume=lambda c: server.resume(),
        )
    yield b
    for coordinator in b.clients:
        coordinator.close()


# -- instance registry


def test_registration_is_visible_to_another_client_and_gone_after_close(backend: Backend) -> None:
    a, b = backend.client(), backend.client()
    seen: list[list[Instance]] = []
    b.watch_instances(seen.append)

    a.register_instance("eu-west", "i-1", "10.0.0.1:7001")
    a.register_instance("us-east", "i-2", "10.0.1.1:7001")

    expected = Instance("eu-west", "i-1", "10.0.0.1:7001")
    assert b.instances(region="eu-west") == [expected]
    assert len(b.instances()) == 2
    eventually(lambda: seen and len(seen[-1]) == 2, what="watch sees both instances")

    a.close()
    assert b.instances() == []
    eventually(lambda: seen[-1] == [], what="watch sees the instances vanish")


def test_registration_is_gone_after_session_expiry(backend: Backend) -> None:
    a, b = backend.client(), backend.client()
    a.register_instance("eu-west", "i-1", "10.0.0.1:7001")
    assert [i.instance_id for i in b.instances()] == ["i-1"]

    a.expire_session()

    eventually(lambda: b.instances() == [], what="expired instance vanishes")
    eventually(a.is_writable, what="a new session")  # kazoo opens one by itself; so does the twin
    a.register_instance("eu-west", "i-1", "10.0.0.9:7001")  # re-register on the new session
    assert b.instances() == [Instance("eu-west", "i-1", "10.0.0.9:7001")]


# -- placement directory


def test_placement_compare_and_set_raises_epoch_by_one_per_move(backend: Backend) -> None:
    a, b = backend.client(), backend.client()
    assert a.placement(SHARD) is None

    assert a.set_placement(SHARD, "eu-west", expected_epoch=None) == Placement(SHARD, "eu-west", 1)
    with pytest.raises(PlacementConflict) as conflict:
        b.set_placement(SHARD, "eu-central", expected_epoch=None)  # b thinks it is still unplaced
    assert conflict.value.actual == Placement(SHARD, "eu-west", 1)

    assert b.set_placement(SHARD, "eu-central", expected_epoch=1) == Placement(SHARD, "eu-central", 2)
    with pytest.raises(PlacementConflict) as stale:
        a.set_placement(SHARD, "eu-west", expected_epoch=1)  # a lost the race: no move happens
    assert stale.value.actual == Placement(SHARD, "eu-central", 2)
    assert b.set_placement(SHARD, "eu-west", expected_epoch=2).epoch == 3

    with pytest.raises(PlacementConflict):
        a.set_placement(ShardKey("acme", "us", 0), "us-east", expected_epoch=4)
    other = ShardKey("globex", "us", 0)
    a.set_placement(other, "us-east", expected_epoch=None)
    assert b.placements() == {SHARD: Placement(SHARD, "eu-west", 3), other: Placement(other, "us-east", 1)}
    assert a.placement(SHARD) == Placement(SHARD, "eu-west", 3)


def test_drained_regions_are_shared_and_outlive_the_client_that_set_them(backend: Backend) -> None:
    a, b = backend.client(), backend.client()
    assert a.drained_regions() == frozenset()
    a.set_drained("eu-west", True)
    a.set_drained("eu-west", True)  # idempotent
    b.set_drained("us-east", True)
    assert b.drained_regions() == frozenset({"eu-west", "us-east"})
    a.close()  # an operator's intent, not a session's: it stays when the controller that set it goes
    c = backend.client()
    assert c.drained_regions() == frozenset({"eu-west", "us-east"})
    c.set_drained("eu-west", False)
    c.set_drained("eu-west", False)
    assert b.drained_regions() == frozenset({"us-east"})
    with pytest.raises(ValueError):
        c.set_drained("bad/region", True)


def test_placement_watch_fires_on_every_change(backend: Backend) -> None:
    a, b = backend.client(), backend.client()
    seen: list[dict[ShardKey, Placement]] = []
    b.watch_placements(seen.append)
    eventually(lambda: seen == [{}], what="initial empty snapshot")

    a.set_placement(SHARD, "eu-west", None)
    eventually(lambda: seen[-1] == {SHARD: Placement(SHARD, "eu-west", 1)}, what="first placement")
    a.set_placement(SHARD, "eu-central", 1)
    eventually(lambda: seen[-1].get(SHARD) == Placement(SHARD, "eu-central", 2), what="a move")
    other = ShardKey("globex", "apac", 1)  # a new tenant: a new folder in ZooKeeper
    a.set_placement(other, "apac-south", None)
    eventually(lambda: other in seen[-1], what="a new tenant's placement")
    assert all(len(s) <= 2 for s in seen)


# -- leader election


def _leaders(elections: list[Election]) -> list[str]:
    return [e.identifier for e in elections if e.is_leader()]


def test_exactly_one_leader_and_a_new_one_after_resign_or_session_loss(backend: Backend) -> None:
    clients = [backend.client() for _ in range(3)]
    elections = [c.election("failover", f"ctl-{i}") for i, c in enumerate(clients)]
    for election in elections:
        election.campaign()
    eventually(lambda: len(_leaders(elections)) == 1, what="one leader")
    time.sleep(0.2)
    (first,) = _leaders(elections)
    assert all(c.leader("failover") == first for c in clients)

    elections[int(first[-1])].resign()
    eventually(lambda: len(_leaders(elections)) == 1 and first not in _leaders(elections), what="successor")
    (second,) = _leaders(elections)
    assert clients[0].leader("failover") == second

    clients[int(second[-1])].expire_session()
    (third,) = [e.identifier for e in elections if e.identifier not in (first, second)]
    assert elections[int(third[-1])].wait_until_leader(timeout=5.0)
    assert _leaders(elections) == [third]
    assert clients[0].leader("failover") == third


def test_run_gives_up_with_election_timeout(backend: Backend) -> None:
    a, b = backend.client(), backend.client()
    assert a.election("rebalance", "a").wait_until_leader(timeout=5.0)
    started = time.monotonic()
    with pytest.raises(Exception, match="did not win") as err:
        b.election("rebalance", "b").run(lambda: None, timeout=0.3)
    assert type(err.value).__name__ == "ElectionTimeout"
    assert time.monotonic() - started < 2.0
    assert a.leader("rebalance") == "a"  # b's candidacy was withdrawn


# -- locks with fencing tokens


def test_lock_is_mutually_exclusive_and_tokens_strictly_increase(backend: Backend) -> None:
    clients = [backend.client(), backend.client()]
    inside = 0
    overlaps = 0
    tokens: list[int] = []
    guard = threading.Lock()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        nonlocal inside, overlaps
        try:
            for _ in range(4):
                with clients[n % 2].lock("inventory", holder=f"w{n}", timeout=10.0) as token:
                    with guard:
                        inside += 1
                        overlaps += inside > 1
                        tokens.append(token)
                    time.sleep(0.003)
                    with guard:
                        inside -= 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert overlaps == 0
    assert len(tokens) == 32
    assert all(x < y for x, y in itertools.pairwise(tokens)), tokens
    assert clients[0].current_token("inventory") == tokens[-1]


def test_lock_timeout_raises_quickly_and_a_later_holder_gets_a_larger_token(backend: Backend) -> None:
    a, b = backend.client(), backend.client()
    assert b.current_token("shard-acme") == 0
    with a.lock("shard-acme", holder="a", timeout=5.0) as held:
        started = time.monotonic()
        with pytest.raises(LockTimeout), b.lock("shard-acme", holder="b", timeout=0.3):
            pytest.fail("acquired a held lock")
        assert time.monotonic() - started < 2.0
    with b.lock("shard-acme", holder="b", timeout=5.0) as later:
        assert later > held
        assert a.current_token("shard-acme") == later


# -- session state


def test_lost_session_is_not_writable_and_drops_leadership_and_locks(backend: Backend) -> None:
    a, b = backend.client(), backend.client()
    observed: list[tuple[SessionState, bool]] = []
    a.add_state_listener(lambda state: observed.append((state, a.is_writable())))
    election = a.election("failover", "a")
    assert election.wait_until_leader(timeout=5.0)
    assert a.is_writable()

    with a.lock("shard-acme", holder="zombie", timeout=5.0) as zombie_token:
        a.expire_session()
        assert (SessionState.LOST, False) in observed
        assert not election.is_leader()
        # The lock went with the session: another holder gets it, and the zombie's token is fenced.
        with b.lock("shard-acme", holder="b", timeout=5.0) as token:
            assert token > zombie_token
            assert b.current_token("shard-acme") > zombie_token
    assert b.election("failover", "b").wait_until_leader(timeout=5.0)
    eventually(lambda: a.state() is SessionState.CONNECTED and a.is_writable(), what="a new session")
    assert observed[-1] == (SessionState.CONNECTED, True)


def test_suspended_session_is_not_writable_until_the_connection_returns(backend: Backend) -> None:
    """ZooKeeper: the server is frozen with SIGSTOP; the twin: an injected connection loss."""
    a = backend.client()
    observed: list[SessionState] = []
    a.add_state_listener(observed.append)
    backend.suspend(a)
    try:
        eventually(lambda: a.state() is SessionState.SUSPENDED, timeout=8.0, what="SUSPENDED")
        assert not a.is_writable()
        started = time.monotonic()
        with pytest.raises(CoordinatorUnavailable):
            a.set_placement(SHARD, "eu-west", None)
        assert time.monotonic() - started < 1.0  # fails fast instead of hanging
    finally:
        backend.resume(a)
    eventually(lambda: a.state() is SessionState.CONNECTED, timeout=10.0, what="CONNECTED again")
    assert a.is_writable()
    assert SessionState.SUSPENDED in observed
    a.set_placement(SHARD, "eu-west", None)
    assert a.placement(SHARD) == Placement(SHARD, "eu-west", 1)
