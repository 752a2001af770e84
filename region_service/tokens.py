"""Opaque page tokens and event cursors: base64url JSON that callers pass back but must not build.

A page token remembers the last row of its page and a hash of the filters it was made for, so a
token replayed with other filters is refused instead of silently skipping or repeating rows. Tokens
are not secrets: the tenant always comes from the credentials, so a forged token reads nothing new.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ordermesh.errors import InvalidArgument
from ordermesh.shard import ShardKey
from ordermesh.status import OrderStatus

MAX_TOKEN = 512
MAX_INT64 = 2**63 - 1


def _encode(body: dict[str, Any]) -> str:
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str, field_path: str) -> dict[str, Any]:
    bad = InvalidArgument.single(field_path, "not a token this server issued; start again without it")
    if len(text) > MAX_TOKEN:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise bad from exc
    if not isinstance(body, dict):
        raise bad
    return body


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT64:
        return value
    return None


def filter_hash(
    tenant: str,
    zone: str,
    statuses: frozenset[OrderStatus],
    created_after_us: int | None,
    created_before_us: int | None,
) -> str:
    body = [tenant, zone, sorted(s.value for s in statuses), created_after_us, created_before_us]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PageToken:
    after: tuple[int, str]  # (create_time_us, order_id) of the last row returned
    filters: str

    def encode(self) -> str:
        return _encode({"t": self.after[0], "id": self.after[1], "f": self.filters})

    @classmethod
    def decode(cls, text: str, filters: str) -> PageToken:
        body = _decode(text, "page_token")
        created, order_id = _int(body.get("t")), body.get("id")
        if created is None or not isinstance(order_id, str) or len(order_id) > 64:
            raise InvalidArgument.single("page_token", "not a token this server issued")
        if body.get("f") != filters:
            raise InvalidArgument.single(
                "page_token", "was issued for other filters; repeat the first request's filters"
            )
        return cls((created, order_id), filters)


@dataclass(frozen=True)
class EventCursor:
    zone: str
    bucket: int
    sequence: int

    def encode(self) -> str:
        return _encode({"z": self.zone, "b": self.bucket, "s": self.sequence})

    @classmethod
    def decode(cls, text: str, shard: ShardKey) -> EventCursor:
        """Parses a cursor that must point into `shard` (the caller's shard of the watched zone)."""
        body = _decode(text, "cursor")
        bucket, sequence = _int(body.get("b")), _int(body.get("s"))
        if bucket is None or sequence is None or body.get("z") != shard.zone or bucket != shard.bucket:
            raise InvalidArgument.single("cursor", "not a cursor of this zone's events")
        return cls(shard.zone, bucket, sequence)
