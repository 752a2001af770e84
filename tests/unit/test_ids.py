"""Order ids: "{zone}-{bucket}-{token}", routable by the id alone, and revealing nothing else."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.errors import InvalidArgument
from ordermesh.ids import new_order_id, parse_order_id

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"  # lower-case Crockford base32: no i, l, o, u
TOKEN = CROCKFORD[::-1][:26]  # a well-formed token for malformed-id cases


def shared_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


zones = st.from_regex(r"[a-z][a-z0-9]{0,15}", fullmatch=True)
buckets = st.integers(0, 99_999)


@given(zones, buckets)
def test_a_new_id_parses_back_to_its_zone_and_bucket(zone: str, bucket: int) -> None:
    order_id = new_order_id(zone, bucket)
    parts = parse_order_id(order_id)
    assert (parts.zone, parts.bucket) == (zone, bucket)
    assert order_id == f"{zone}-{bucket}-{parts.token}"


def test_the_token_is_26_crockford_characters() -> None:
    for _ in range(200):
        token = parse_order_id(new_order_id("eu", 7)).token
        assert len(token) == 26
        assert set(token) <= set(CROCKFORD)
        assert not set(token) & set("ilou")


def test_the_token_is_the_value_in_base_32_most_significant_digit_first() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        raw = rng.randbytes(16)
        value = int.from_bytes(raw, "big")
        digits = "".join(CROCKFORD[(value >> (5 * k)) & 31] for k in reversed(range(26)))
        assert new_order_id("eu", 1, lambda n, raw=raw: raw) == f"eu-1-{digits}"


def test_an_injected_token_source_makes_ids_deterministic() -> None:
    asked: list[int] = []

    def fixed(n: int) -> bytes:
        asked.append(n)
        return bytes(range(n))

    assert new_order_id("eu", 3, fixed) == new_order_id("eu", 3, fixed)
    assert asked == [16, 16]  # 128 random bits per id
    # 0x000102...0f as 130 bits in 5-bit groups, computed once: the encoding must never change.
    assert new_order_id("eu", 3, fixed) == "eu-3-00041061050r3gg28a1c60t3gf"
    assert new_order_id("us", 0, lambda n: b"\x00" * n) == "us-0-" + "0" * 26
    assert new_order_id("us", 0, lambda n: b"\xff" * n) == "us-0-7" + "z" * 25


def test_ids_from_the_system_source_are_unique_over_100k() -> None:
    ids = {new_order_id("eu", 1) for _ in range(100_000)}
    assert len(ids) == 100_000


def test_consecutive_ids_reveal_no_sequence() -> None:
    # A counter or timestamp token would make consecutive ids share a long prefix. Random 128-bit
    # tokens share k leading characters with probability ~ 8 * 32**-k; 6 is ~4e-9 per pair.
    previous = parse_order_id(new_order_id("eu", 1)).token
    longest = 0
    for _ in range(1000):
        token = parse_order_id(new_order_id("eu", 1)).token
        longest = max(longest, shared_prefix(previous, token))
        previous = token
    assert longest < 6


def test_the_common_prefix_check_catches_a_counter() -> None:
    # Guards the test above: a sequential token source would be caught by it.
    counter = iter(range(10**6))
    a, b = (
        parse_order_id(new_order_id("eu", 1, lambda n: next(counter).to_bytes(n, "big"))).token
        for _ in range(2)
    )
    assert shared_prefix(a, b) >= 6


@pytest.mark.parametrize(
    "text",
    [
        f"EU-1-{TOKEN}",  # upper-case zone
        f"e_u-1-{TOKEN}",  # zone with a bad character
        f"1eu-1-{TOKEN}",  # zone starting with a digit
        f"{'a' * 17}-1-{TOKEN}",  # zone too long
        f"eu-01-{TOKEN}",  # leading zero in the bucket
        f"eu-100000-{TOKEN}",  # bucket >= 100000
        f"eu--1-{TOKEN}",
        f"eu-x-{TOKEN}",
        f"eu-1-{TOKEN[:-1]}i",
        f"eu-1-{TOKEN[:-1]}l",
        f"eu-1-{TOKEN[:-1]}o",
        f"eu-1-{TOKEN[:-1]}u",
        f"eu-1-{TOKEN[:-1]}A",  # upper case is not the canonical form
        f"eu-1-{TOKEN[:-1]}",  # 25 characters
        f"eu-1-{TOKEN}0",  # 27 characters
        f"eu-1-{TOKEN}\n",  # trailing newline
        f" eu-1-{TOKEN}",
        f"eu-1{TOKEN}",
        "eu-1",
        "x" * 1000,
    ],
)
def test_malformed_ids_are_invalid_argument_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse_order_id(text, "order.order_id")
    assert [v.field for v in exc.value.violations] == ["order.order_id"]
    assert exc.value.code == "INVALID_ARGUMENT"
    assert len(str(exc.value)) < 300  # a huge input is not echoed back whole


def test_an_empty_id_is_reported_as_required() -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse_order_id("")
    assert [(v.field, v.description) for v in exc.value.violations] == [("order_id", "required")]


@pytest.mark.parametrize(
    "text", [f"eu-0-{TOKEN}", f"eu-99999-{TOKEN}", f"{'a' * 16}-5-{TOKEN}", f"z9-1-{TOKEN}"]
)
def test_boundary_ids_parse(text: str) -> None:
    assert parse_order_id(text).token == TOKEN


@pytest.mark.parametrize(("zone", "bucket"), [("eu", -1), ("eu", 100_000), ("EU", 1), ("e-u", 1), ("", 1)])
def test_new_order_id_refuses_what_it_could_not_parse_back(zone: str, bucket: int) -> None:
    with pytest.raises(ValueError):
        new_order_id(zone, bucket)
