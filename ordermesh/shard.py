"""Shards and placements: the unit of routing, placement and fencing (DESIGN.md vocabulary)."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

from ordermesh.record import Record

_NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_TENANT = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
_BUCKET = re.compile(r"0|[1-9][0-9]*")  # ASCII only: str.isdigit() also takes "²"


def is_zone_name(value: str) -> bool:
    """Zone and region-free names: lowercase letters and digits, starting with a letter, <= 16 chars."""
    return bool(_NAME.fullmatch(value))


def is_tenant_name(value: str) -> bool:
    """Tenant names: lowercase letters, digits and '-', starting with a letter, 2..40 chars."""
    return bool(_TENANT.fullmatch(value))


def stable_bucket(tenant: str, buckets_per_zone: int) -> int:
    """The bucket of a tenant: a hash that is the same in every process, language and release."""
    if buckets_per_zone < 1:
        raise ValueError("buckets_per_zone must be >= 1")
    digest = hashlib.blake2b(tenant.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets_per_zone


@dataclass(frozen=True, order=True)
class ShardKey(Record):
    """(tenant, zone, bucket): one tenant's orders in one zone."""

    tenant: str
    zone: str
    bucket: int

    def __str__(self) -> str:
        return f"{self.tenant}/{self.zone}/{self.bucket}"

    @classmethod
    def parse(cls, text: str) -> ShardKey:
        return _parse(text)

    @classmethod
    def for_tenant(cls, tenant: str, zone: str, buckets_per_zone: int) -> ShardKey:
        return _for_tenant(tenant, zone, buckets_per_zone)


# A region sees few shards and asks for each of them on every call or event (the key is immutable):
# parsed and hashed once each, not one regex, split or hash per order.
@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> ShardKey:
    parts = text.split("/")
    if (
        len(parts) != 3
        or not is_tenant_name(parts[0])
        or not is_zone_name(parts[1])
        or not _BUCKET.fullmatch(parts[2])
    ):
        raise ValueError(f"not a shard key: {text!r} (want tenant/zone/bucket)")
    return ShardKey(parts[0], parts[1], int(parts[2]))


@functools.lru_cache(maxsize=4096)
def _for_tenant(tenant: str, zone: str, buckets_per_zone: int) -> ShardKey:
    return ShardKey(tenant, zone, stable_bucket(tenant, buckets_per_zone))


@dataclass(frozen=True)
class Placement(Record):
    """Where a shard's writes are served, and the fencing epoch of that assignment."""

    shard: ShardKey
    home_region: str
    epoch: int
