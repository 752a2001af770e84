"""Order ids: globally unique, carry their shard's zone and bucket, reveal nothing else."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ordermesh.errors import InvalidArgument

# Crockford base32, lower case: no i, l, o, u, so ids survive being read aloud or retyped.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
TOKEN_LENGTH = 26  # 130 bits of room, 128 random bits used
MAX_BUCKETS = 100_000
ORDER_ID = re.compile(r"^([a-z][a-z0-9]{0,15})-(0|[1-9][0-9]{0,4})-([0-9a-hjkmnp-tv-z]{26})$")

TokenSource = Callable[[int], bytes]


@dataclass(frozen=True)
class OrderIdParts:
    zone: str
    bucket: int
    token: str


def new_order_id(zone: str, bucket: int, token_bytes: TokenSource = secrets.token_bytes) -> str:
    """A fresh id "{zone}-{bucket}-{token}"; the token is 128 random bits, so ids leak no counts."""
    if not 0 <= bucket < MAX_BUCKETS:
        raise ValueError(f"bucket out of range: {bucket}")
    value = int.from_bytes(token_bytes(16), "big")
    chars = []
    for _ in range(TOKEN_LENGTH):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    order_id = f"{zone}-{bucket}-{''.join(reversed(chars))}"
    if not ORDER_ID.fullmatch(order_id):
        raise ValueError(f"zone name cannot be used in an order id: {zone!r}")
    return order_id


def parse_order_id(text: str, field_path: str = "order_id") -> OrderIdParts:
    """Splits an id into its parts; a malformed id is INVALID_ARGUMENT naming the field."""
    if not text:
        raise InvalidArgument.single(field_path, "required")
    match = ORDER_ID.fullmatch(text)
    if match is None:
        shown = text if len(text) <= 64 else text[:61] + "..."
        raise InvalidArgument.single(field_path, f"not an order id: {shown!r} (want zone-bucket-token)")
    return OrderIdParts(match.group(1), int(match.group(2)), match.group(3))
