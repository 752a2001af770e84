"""The simulator's eventual-stock adapter, driven by hand: gossip timing decides what each zone knows."""

from __future__ import annotations

import simpy

from simulation.flash_sales import FlashSale
from simulation.inventory_eventual import EventualModel

ZONES = ("eu", "us", "apac")


def sale(stock: int, interval_s: float, delay_s: float) -> FlashSale:
    return FlashSale(
        "doorbuster", "SKU-1", 0.0, 60.0, 10.0, stock, 1, ("europe",), "eventual",
        gossip_interval_s=interval_s, gossip_delay_s=delay_s,
    )  # fmt: skip


def test_zones_oversell_what_they_have_not_heard_of_yet_within_the_bound() -> None:
    m = EventualModel(sale(stock=2, interval_s=0.0, delay_s=0.1), ZONES)
    assert m.background(simpy.Environment()) is None  # interval 0: gossip rides on every change
    assert m.reserve("eu", 1, 0.00)[0] and m.reserve("eu", 1, 0.01)[0]  # eu's view: sold out
    assert not m.reserve("eu", 1, 0.02)[0]
    assert m.reserve("us", 1, 0.05)[0] and m.reserve("apac", 1, 0.06)[0]  # eu's sales still in flight
    assert not m.reserve("us", 1, 0.20)[0]  # eu's gossip has landed: us now sees the oversell
    row = m.summary()
    assert row["oversold"] == 2 and row["granted"] == 4 and row["refused"] == 2
    assert row["oversell_bound"] == 3  # apac's grant at 0.06 could not know eu's 2 nor us's 1
    assert row["oversold"] <= row["oversell_bound"]


def test_no_delay_and_gossip_on_every_change_never_oversells() -> None:
    m = EventualModel(sale(stock=3, interval_s=0.0, delay_s=0.0), ZONES)
    grants = [m.reserve(zone, 1, t / 100)[0] for t, zone in enumerate(ZONES * 3)]
    assert grants == [True] * 3 + [False] * 6
    assert m.summary()["oversold"] == 0 and m.summary()["oversell_bound"] == 0


def test_gossip_rounds_run_as_a_process_and_a_release_is_heard_too() -> None:
    env = simpy.Environment()
    m = EventualModel(sale(stock=1, interval_s=1.0, delay_s=0.25), ZONES)
    background = m.background(env)
    assert background is not None
    env.process(background)
    assert m.reserve("eu", 1, 0.1)[0]
    env.run(until=1.2)  # eu's round at 1.0 sent its view; it lands at 1.25
    assert m.reserve("us", 1, 1.2)[0]  # not yet arrived: us sells the same unit
    assert m.messages == 2  # one round, eu to us and apac (zones with no change stay silent)
    assert not m.reserve("apac", 1, 1.3)[0]  # eu's view arrived: apac sees no stock
    m.release("eu", 1, 1.4)
    env.run(until=2.3)  # eu's and us's round at 2.0 lands at 2.25
    assert m.reserve("apac", 1, 2.3)[0] is False  # eu's release is heard, and so is us's sale
    assert m.summary()["oversold"] == 0  # eu released: one unit held in all (us's)
