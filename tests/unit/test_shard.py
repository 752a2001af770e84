"""Shards: the tenant's bucket must be the same in every process and every release."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.shard import ShardKey, stable_bucket

# Computed once (blake2b-64 of the tenant name, big-endian, modulo the bucket count) and written
# here. If one of these changes, every stored order id points at the wrong shard: never "fix" the
# expected value to make this test pass.
PINNED = [
    ("acme", 16, 1),
    ("globex", 16, 10),
    ("initech", 16, 0),
    ("tenant-0", 16, 2),
    ("acme", 4096, 641),
    ("globex", 4096, 1690),
    ("initech", 4096, 176),
    ("acme", 2**64, 3469556990258029185),
    ("globex", 2**64, 16771262354913998490),
]


@pytest.mark.parametrize(("tenant", "buckets", "bucket"), PINNED)
def test_known_tenants_keep_their_bucket_forever(tenant: str, buckets: int, bucket: int) -> None:
    assert stable_bucket(tenant, buckets) == bucket


@given(st.text(min_size=1, max_size=40), st.integers(1, 100_000))
def test_a_bucket_is_within_range_and_stable(tenant: str, buckets: int) -> None:
    bucket = stable_bucket(tenant, buckets)
    assert 0 <= bucket < buckets
    assert stable_bucket(tenant, buckets) == bucket


def test_one_bucket_means_bucket_zero() -> None:
    assert {stable_bucket(f"t{i}", 1) for i in range(100)} == {0}


@pytest.mark.parametrize("buckets", [0, -1])
def test_fewer_than_one_bucket_is_refused(buckets: int) -> None:
    with pytest.raises(ValueError):
        stable_bucket("acme", buckets)


def test_tenants_spread_evenly_over_16_buckets() -> None:
    counts = Counter(stable_bucket(f"tenant-{i}", 16) for i in range(10_000))
    assert set(counts) == set(range(16))
    expected = 10_000 / 16
    chi2 = sum((counts[b] - expected) ** 2 / expected for b in range(16))
    assert chi2 < 37.7  # chi-square, 15 degrees of freedom, p = 0.001


def test_the_spread_check_would_catch_a_skewed_hash() -> None:
    # Guards the bound above: a hash that puts even a little extra weight on one bucket fails it.
    counts = Counter(i % 16 for i in range(10_000))
    counts[0] += 150
    counts[1] -= 150
    expected = 10_000 / 16
    assert sum((counts[b] - expected) ** 2 / expected for b in range(16)) > 37.7


@given(
    st.from_regex(r"[a-z][a-z0-9-]{1,39}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9]{0,15}", fullmatch=True),
    st.integers(0, 10**6),
)
def test_shard_key_text_round_trips(tenant: str, zone: str, bucket: int) -> None:
    key = ShardKey(tenant, zone, bucket)
    assert str(key) == f"{tenant}/{zone}/{bucket}"
    assert ShardKey.parse(str(key)) == key


def test_for_tenant_uses_the_stable_bucket() -> None:
    assert ShardKey.for_tenant("globex", "eu", 16) == ShardKey("globex", "eu", 10)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "acme",
        "acme/eu",
        "acme/eu/1/2",
        "acme/eu/",
        "acme/eu/x",
        "acme/eu/-1",
        "acme/eu/+1",
        "acme/eu/ 1",
        "acme/eu/01",
        "acme/eu/\u00b2",  # superscript two: str.isdigit() says yes, int() says no
        "acme/eu/\u0661",  # Arabic-Indic one: would parse as 1 and not round trip
        "/eu/1",
        "acme//1",
        "Acme/eu/1",
        "acme/EU/1",
        "acme/eu-1/1",
        "acme/eu/1\n",
    ],
)
def test_malformed_shard_keys_are_refused(text: str) -> None:
    for _ in range(2):  # parsing is cached: a refusal must not be, the second ask is refused again
        with pytest.raises(ValueError, match="not a shard key"):
            ShardKey.parse(text)


def test_a_parsed_key_is_the_same_key_every_time() -> None:
    first = ShardKey.parse("acme/eu/7")
    assert first == ShardKey("acme", "eu", 7)
    assert ShardKey.parse("acme/eu/7") is first
