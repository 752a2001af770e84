"""Retry policy: bounded attempts, capped exponential backoff with full jitter, reproducible by seed."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.retry import RetryPolicy


class Extremes(random.Random):
    """An rng whose uniform(a, b) always answers b (or a): exposes the ceiling of each delay."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


@given(
    attempt=st.integers(1, 5000),
    base=st.floats(1e-6, 10.0),
    cap=st.floats(1e-6, 60.0),
    seed=st.integers(0, 2**32),
)
def test_a_delay_is_between_zero_and_the_capped_exponential(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=base, max_delay_s=cap)
    ceiling = min(Fraction(cap), Fraction(base) * 2 ** (attempt - 1))  # exact: no float overflow
    delay = policy.delay(attempt, random.Random(seed))
    assert delay >= 0.0
    assert Fraction(delay) <= ceiling * (1 + Fraction(1, 10**12))


def test_the_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=8, base_delay_s=0.002, max_delay_s=0.25)
    ceilings = [policy.delay(n, Extremes(high=True)) for n in range(1, 10)]
    assert ceilings == pytest.approx([0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.25, 0.25])
    assert {policy.delay(n, Extremes(high=False)) for n in range(1, 10)} == {0.0}


def test_a_very_late_attempt_waits_at_most_the_cap() -> None:
    # 2**(attempt-1) for a large attempt does not fit a float; the delay must still be the cap.
    assert RetryPolicy().delay(5000, Extremes(high=True)) == 0.25


def test_the_same_seed_gives_the_same_delays() -> None:
    policy = RetryPolicy()
    a, b = random.Random(42), random.Random(42)
    first = [policy.delay(n, a) for n in range(1, 9)]
    assert first == [policy.delay(n, b) for n in range(1, 9)]
    other = random.Random(43)
    assert first != [policy.delay(n, other) for n in range(1, 9)]


def test_delays_are_fully_jittered_not_fixed() -> None:
    # Fixed delays make every contender retry in lock step and collide again.
    rng = random.Random(7)
    samples = [RetryPolicy().delay(5, rng) for _ in range(2000)]
    ceiling = 0.002 * 2**4
    assert min(samples) < 0.05 * ceiling
    assert max(samples) > 0.95 * ceiling
    assert 0.4 * ceiling < sum(samples) / len(samples) < 0.6 * ceiling


@pytest.mark.parametrize("max_attempts", [1, 2, 8])
def test_should_retry_allows_exactly_max_attempts_tries(max_attempts: int) -> None:
    policy = RetryPolicy(max_attempts=max_attempts)
    attempt = 1
    while policy.should_retry(attempt):  # the loop a caller writes after a failed attempt
        attempt += 1
    assert attempt == max_attempts
    assert not policy.should_retry(max_attempts + 1)


def test_default_policy_tries_eight_times() -> None:
    policy = RetryPolicy()
    assert [policy.should_retry(n) for n in range(1, 10)] == [True] * 7 + [False] * 2
