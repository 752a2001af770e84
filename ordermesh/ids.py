"""Order ids: globally unique, carry their shard's zone and bucket, reveal nothing else."""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ordermesh.errors import InvalidArgument
from ordermesh.record import Record

# Crockford base32, lower case: no i, l, o, u, so ids survive being read aloud or retyped.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
TOKEN_LENGTH = 26  # 130 bits of room, 128 random bits used
MAX_BUCKETS = 100_000
ORDER_ID = re.compile(r"^([a-z][a-z0-9]{0,15})-(0|[1-9][0-9]{0,4})-([0-9a-hjkmnp-tv-z]{26})$")

TokenSource = Callable[[int], bytes]


@dataclass(frozen=True)
class OrderIdParts(Record):
    zone: str
    bucket: int
    token: str


def new_order_id(zone: str, bucket: int, token_bytes: TokenSource = secrets.token_bytes) -> str:
    """A fresh id "{zone}-{bucket}-{token}"; the token is 128 random bits, so ids leak no counts."""
    return f"{_prefix(zone, bucket)}{_token(token_bytes(16))}"


@functools.lru_cache(maxsize=4096)
def _prefix(zone: str, bucket: int) -> str:
    """"{zone}-{bucket}-", checked once per shard (CreateOrder makes one id per order)."""
    if not 0 <= bucket < MAX_BUCKETS:
        raise ValueError(f"bucket out of range: {bucket}")
    if not ORDER_ID.fullmatch(f"{zone}-{bucket}-{'0' * TOKEN_LENGTH}"):
        raise ValueError(f"zone name cannot be used in an order id: {zone!r}")
    return f"{zone}-{bucket}-"


# Every 10-bit value as its two digits: a token is 13 table lookups (base64.b32encode is Python code).
_PAIRS = tuple(_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024))
_PAIR_SHIFTS = tuple(range(120, -1, -10))


def _token(raw: bytes) -> str:
    """The 128-bit value as 26 base-32 digits, most significant first (the top digit is 0-3)."""
    value = int.from_bytes(raw, "big")
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def parse_order_id(text: str, field_path: str = "order_id") -> OrderIdParts:
    """Splits an id into its parts; a malformed id is INVALID_ARGUMENT naming the field."""
    if not text:
        raise InvalidArgument.single(field_path, "required")
    match = ORDER_ID.fullmatch(text)
    if match is None:
        shown = text if len(text) <= 64 else text[:61] + "..."
        raise InvalidArgument.single(field_path, f"not an order id: {shown!r} (want zone-bucket-token)")
    return OrderIdParts(match.group(1), int(match.group(2)), match.group(3))
