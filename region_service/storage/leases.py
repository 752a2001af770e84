"""Database lease locks (`inventory_leases`): a lock that lives in the zone database it protects.

Failure semantics: a lease is held by (holder, fencing token) until `expires_us`; only an expired or
released lease can be taken over, and only with a token >= the stored one, so tokens never go back.
The coordinator lock alone cannot stop a holder that paused past its expiry (its writes still reach
the database); `check_lease`, run INSIDE the write transaction, can: under SERIALIZABLE the write
commits only if the lease was still this holder's when it committed. Times come from the caller's
clock; leases are compared against it, so keep TTLs well above clock skew between instances.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select, text, update

from ordermesh.errors import Fenced
from region_service.storage.pool_schema import inventory_leases

_GET = select(inventory_leases.c.holder, inventory_leases.c.token, inventory_leases.c.expires_us).where(
    inventory_leases.c.name == bindparam("b_name")
)
# ON CONFLICT DO NOTHING: PostgreSQL, CockroachDB and SQLite alike; a twin that inserted first wins.
_CLAIM = text(
    "INSERT INTO inventory_leases (name, holder, token, expires_us)"
    " VALUES (:name, :holder, :token, :expires_us) ON CONFLICT (name) DO NOTHING"
)
_TAKE = (
    update(inventory_leases)
    .where(
        inventory_leases.c.name == bindparam("b_name"),
        inventory_leases.c.holder == bindparam("b_old_holder"),
        inventory_leases.c.token == bindparam("b_old_token"),
        inventory_leases.c.expires_us == bindparam("b_old_expires"),
    )
    .values(holder=bindparam("b_holder"), token=bindparam("b_token"), expires_us=bindparam("b_expires"))
)


def acquire(connection: Connection, name: str, holder: str, token: int, ttl_us: int, now_us: int) -> bool:
    """Takes the lease `name` until now + ttl: True if it is now (holder, token)'s. A lease held by the
    same (holder, token) is renewed; another one only if it has expired and `token` >= its token."""
    if ttl_us < 1 or token < 0:
        raise ValueError(f"lease {name!r}: ttl_us must be >= 1 and token >= 0")
    row = connection.execute(_GET, {"b_name": name}).first()
    if row is None:
        claim = {"name": name, "holder": holder, "token": token, "expires_us": now_us + ttl_us}
        return bool(connection.execute(_CLAIM, claim).rowcount == 1)
    mine = (row.holder, row.token) == (holder, token)
    if not mine and (row.expires_us > now_us or token < row.token):
        return False
    taken = connection.execute(
        _TAKE,
        {
            "b_name": name, "b_old_holder": row.holder, "b_old_token": row.token,
            "b_old_expires": row.expires_us, "b_holder": holder, "b_token": token,
            "b_expires": now_us + ttl_us,
        },
    )  # fmt: skip
    return bool(taken.rowcount == 1)


def renew(connection: Connection, name: str, holder: str, token: int, ttl_us: int, now_us: int) -> bool:
    """Extends a lease this (holder, token) still holds (not expired); False otherwise."""
    row = connection.execute(_GET, {"b_name": name}).first()
    if row is None or (row.holder, row.token) != (holder, token) or row.expires_us <= now_us:
        return False
    return acquire(connection, name, holder, token, ttl_us, now_us)


def release(connection: Connection, name: str, holder: str, token: int) -> bool:
    """Ends the lease of (holder, token); True if this call ended it. The row stays (expired at 0), so
    its token still fences older holders."""
    done = connection.execute(
        update(inventory_leases)
        .where(
            inventory_leases.c.name == name,
            inventory_leases.c.holder == holder,
            inventory_leases.c.token == token,
            inventory_leases.c.expires_us > 0,
        )
        .values(expires_us=0)
    )
    return bool(done.rowcount == 1)


def check_lease(connection: Connection, name: str, holder: str, token: int, now_us: int) -> None:
    """Raises Fenced unless (holder, token) holds the unexpired lease `name`: call it inside the write
    transaction, so the write and the check commit together or not at all."""
    row = connection.execute(_GET, {"b_name": name}).first()
    if row is not None and (row.holder, row.token) == (holder, token) and row.expires_us > now_us:
        return
    held = "nobody" if row is None else f"{row.holder} (token {row.token}, expires_us {row.expires_us})"
    raise Fenced(
        f"lease {name}: not held by {holder} with token {token} at {now_us}; held by {held}",
        {"lease": name, "holder": holder, "token": str(token)},
    )
