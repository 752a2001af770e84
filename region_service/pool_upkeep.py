"""The pools' background work in a region: eventual pools gossip with the other zones (the asynchronous
reconciliation), and escrow transfers this zone sent but did not finish (an instance died half-way)
are completed under the pool's lock. Each pool's failure is logged and left for the next round."""

from __future__ import annotations

import logging
from collections import Counter

from region_service.pools import PoolBook
from region_service.storage.pools import SqlPoolStore

log = logging.getLogger(__name__)


def upkeep(book: PoolBook) -> Counter[str]:
    """One round over this zone's pools; counts what it did ("gossip", "recovered", "failed")."""
    done: Counter[str] = Counter()
    work = book.runner.run(lambda uow: SqlPoolStore(uow.connection).upkeep_work(book.zone), read_only=True)
    for tenant, sku, strategy in work:
        try:
            if strategy == "eventual":
                done["gossip"] += book.gossip_once(tenant, sku)
            else:
                done["recovered"] += book.recover_transfers(tenant, sku, wait_s=1.0)
        except Exception as exc:  # another zone down, the lock busy: the next round tries again
            done["failed"] += 1
            log.warning("pool %s/%s (%s) upkeep failed: %s", tenant, sku, strategy, exc)
    return done
