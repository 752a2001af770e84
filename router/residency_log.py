"""The residency log: one JSON line per routed write, and the check that proves no write left its zone.

Failure semantics: each record is written and flushed before the router answers the call, so a
crash loses at most the line being written; a log that cannot be written is a startup error (the
file is opened in `open()`), and a later write failure is logged and counted (`write_errors`) rather
than failing the caller's already-executed write. `verify_residency` is pure over the file's lines.

Line format (keys are stable; drills parse them)::

    {"time_us": 1700000000000000, "tenant": "acme", "method": "CreateOrder", "request_id": "r-1",
     "zone": "eu", "region": "eu-west", "decision": "served", "code": "OK"}

decision: "served" (a region answered OK), "refused" (the router or a region answered an error),
"zone_unavailable" (no healthy region of the zone). `region` is the region that answered, "" if none.
Stock writes (SetStock, AddInbound, ReceiveInbound) are logged too; their `request_id` is the
inbound_id, "" for SetStock (it sets absolute values and carries no key).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ordermesh.clock import Clock, SystemClock
from ordermesh.topology import Topology

log = logging.getLogger(__name__)

SERVED = "served"
REFUSED = "refused"
ZONE_UNAVAILABLE = "zone_unavailable"
DECISIONS = (SERVED, REFUSED, ZONE_UNAVAILABLE)
WRITE_METHODS = frozenset(
    {
        "CreateOrder",
        "UpdateOrderStatus",
        "CancelOrder",
        "SetStock",
        "AddInbound",
        "ReceiveInbound",
        "ConfigurePool",
    }
)


@dataclass(frozen=True)
class ResidencyRecord:
    time_us: int
    tenant: str
    method: str
    request_id: str
    zone: str
    region: str
    decision: str
    code: str

    def as_dict(self) -> dict[str, Any]:
        """Field by field: dataclasses.asdict deep-copies, too slow for a line on every routed write."""
        return {
            "time_us": self.time_us, "tenant": self.tenant, "method": self.method,
            "request_id": self.request_id, "zone": self.zone, "region": self.region,
            "decision": self.decision, "code": self.code,
        }  # fmt: skip


class ResidencyLog:
    """Appends ResidencyRecords to a JSON-lines file (None: memory only) and counts them; thread-safe."""

    def __init__(self, path: str | Path | None, clock: Clock | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.clock = clock or SystemClock()
        self.counts: Counter[tuple[str, str, str]] = Counter()  # (zone, region, decision) -> writes
        self.write_errors = 0
        self._lock = threading.Lock()
        self._file: IO[str] | None = None

    def open(self) -> ResidencyLog:
        if self.path is not None and self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        return self

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def record(
        self, *, tenant: str, method: str, request_id: str, zone: str, region: str, decision: str, code: str
    ) -> ResidencyRecord:
        entry = ResidencyRecord(
            self.clock.now_us(), tenant, method, request_id[:128], zone, region, decision, code
        )
        line = json.dumps(entry.as_dict(), separators=(",", ":")) + "\n"
        with self._lock:
            self.counts[(zone, region, decision)] += 1
            if self._file is not None:
                try:
                    self._file.write(line)
                    self._file.flush()
                except OSError as exc:
                    self.write_errors += 1
                    log.error("residency log write failed: %s", exc)
        return entry

    def served(self, zone: str | None = None) -> int:
        """How many writes were served (in `zone`, or in all zones)."""
        with self._lock:
            return sum(n for (z, _, d), n in self.counts.items() if d == SERVED and zone in (None, z))


@dataclass
class ResidencyReport:
    """What verify_residency found: ok is True when every served write stayed in its zone."""

    records: int = 0
    served: int = 0
    by_decision: dict[str, int] = field(default_factory=dict)
    violations: list[dict[str, Any]] = field(default_factory=list)  # served outside the write's zone
    malformed: list[int] = field(default_factory=list)  # 1-based line numbers that are not records

    @property
    def ok(self) -> bool:
        return not self.violations and not self.malformed


def verify_residency(log_path: str | Path, topology: Topology) -> ResidencyReport:
    """Proves that the region of every served write belongs to the write's zone (a drill's invariant).

    A served write naming an unknown zone or region is a violation too; unreadable lines are listed
    as malformed (a log that cannot be read proves nothing)."""
    return check_lines(Path(log_path).read_text(encoding="utf-8").splitlines(), topology)


def check_lines(lines: list[str], topology: Topology) -> ResidencyReport:
    report = ResidencyReport()
    region_zone = {r.name: r.zone for r in topology.regions}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            decision, zone, region = entry["decision"], entry["zone"], entry["region"]
        except (ValueError, KeyError, TypeError):
            report.malformed.append(number)
            continue
        report.records += 1
        report.by_decision[decision] = report.by_decision.get(decision, 0) + 1
        if decision != SERVED:
            continue
        report.served += 1
        if zone not in topology.zones or region_zone.get(region) != zone:
            report.violations.append({"line": number, **entry})
    return report
