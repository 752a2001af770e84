"""Domain errors, and the one table that maps each to a gRPC status code and ErrorInfo reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ERROR_DOMAIN = "ordermesh.dev"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path (e.g. "lines[2].quantity") and what is wrong."""

    field: str
    description: str


@dataclass
class OrdermeshError(Exception):
    """Base of every error a caller can be told about; subclasses are the rows of ERROR_TABLE."""

    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    @property
    def code(self) -> str:
        return ERROR_TABLE[type(self)][0]

    @property
    def reason(self) -> str:
        return ERROR_TABLE[type(self)][1]


@dataclass
class InvalidArgument(OrdermeshError):
    violations: Sequence[FieldViolation] = ()

    @classmethod
    def of(cls, violations: Sequence[FieldViolation]) -> InvalidArgument:
        listed = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
        more = f" (+{len(violations) - 5} more)" if len(violations) > 5 else ""
        return cls(f"invalid request: {listed}{more}", violations=tuple(violations))

    @classmethod
    def single(cls, field_path: str, description: str) -> InvalidArgument:
        return cls.of([FieldViolation(field_path, description)])


class Unauthenticated(OrdermeshError):
    """Missing or unknown API key."""


class NotFound(OrdermeshError):
    """Unknown order, unknown tenant, or another tenant's order (indistinguishable on purpose)."""


class ResidencyViolation(OrdermeshError):
    """The call would store or serve a zone's data outside that zone, or in a zone the tenant may not use."""


class InvalidTransition(OrdermeshError):
    """The order's status state machine has no such edge."""


class StaleVersion(OrdermeshError):
    """expected_version / etag is not the order's current version."""


class IdempotencyKeyReused(OrdermeshError):
    """The request_id was used before with a different request."""


class Fenced(OrdermeshError):
    """This instance's epoch for the shard is stale: another region owns it now."""


class ZoneUnavailable(OrdermeshError):
    """No healthy region of the zone can serve the call; it is never sent to another zone."""


class Contention(OrdermeshError):
    """The transaction kept meeting serialization conflicts; safe to retry with the same request_id."""


class InsufficientInventory(OrdermeshError):
    """Not enough available-to-promise stock for a line, under the tenant's backorder policy."""


class ShuttingDown(OrdermeshError):
    """The instance is draining and takes no new calls."""


class DatabaseUnavailable(OrdermeshError):
    """The zone database could not be reached; retry with the same request_id (replays if it did commit)."""


class NotLeader(OrdermeshError):
    """An admin call reached a failover controller that is not the elected leader; ask the leader."""


# The one table: error type -> (gRPC status code name, ErrorInfo.reason).
ERROR_TABLE: dict[type[OrdermeshError], tuple[str, str]] = {
    InvalidArgument: ("INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    Unauthenticated: ("UNAUTHENTICATED", "UNAUTHENTICATED"),
    NotFound: ("NOT_FOUND", "NOT_FOUND"),
    ResidencyViolation: ("FAILED_PRECONDITION", "RESIDENCY_VIOLATION"),
    InvalidTransition: ("FAILED_PRECONDITION", "INVALID_TRANSITION"),
    StaleVersion: ("ABORTED", "STALE_VERSION"),
    IdempotencyKeyReused: ("FAILED_PRECONDITION", "IDEMPOTENCY_KEY_REUSED"),
    Fenced: ("UNAVAILABLE", "FENCED"),
    ZoneUnavailable: ("UNAVAILABLE", "ZONE_UNAVAILABLE"),
    Contention: ("ABORTED", "CONTENTION"),
    InsufficientInventory: ("FAILED_PRECONDITION", "INSUFFICIENT_INVENTORY"),
    ShuttingDown: ("UNAVAILABLE", "SHUTTING_DOWN"),
    DatabaseUnavailable: ("UNAVAILABLE", "DATABASE_UNAVAILABLE"),
    NotLeader: ("FAILED_PRECONDITION", "NOT_LEADER"),
}

ERROR_BY_REASON: dict[str, type[OrdermeshError]] = {reason: cls for cls, (_, reason) in ERROR_TABLE.items()}
