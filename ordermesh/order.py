"""The order aggregate: customer, lines, total, status and version, with its rules and validation."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

from ordermesh.countries import is_country
from ordermesh.errors import FieldViolation, InvalidArgument, InvalidTransition, StaleVersion
from ordermesh.money import MAX_AMOUNT_MINOR, Money, is_currency
from ordermesh.record import Record
from ordermesh.status import CANCELLABLE, INITIAL, OrderStatus, can_transition

MAX_LINES = 200
MAX_QUANTITY = 1_000_000
MAX_REASON = 500
MAX_TIER = 3
SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f-\x9f]*")  # no C0/C1 control characters, DEL


@dataclass(frozen=True)
class Customer(Record):
    customer_id: str
    country: str
    tier: int = 0  # customer tier for allocation, 0..MAX_TIER (consistency.allocation.Tier); stored


@dataclass(frozen=True)
class OrderLine(Record):
    sku: str
    quantity: int
    unit_price: Money

    @property
    def subtotal(self) -> Money:
        return self.unit_price.times(self.quantity)


@dataclass(frozen=True)
class OrderDraft(Record):
    """What a storefront asks for, before it has an id, a zone or a status."""

    customer: Customer
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True)
class Order(Record):
    order_id: str
    tenant: str
    zone: str
    bucket: int
    customer: Customer
    lines: tuple[OrderLine, ...]
    status: OrderStatus
    version: int
    create_time_us: int
    update_time_us: int

    @functools.cached_property
    def total(self) -> Money:
        """The sum of the lines' subtotals (computed once: a CreateOrder reads it for its reply and
        for its row; lines never change, a changed order is a new instance)."""
        currency = self.lines[0].unit_price.currency
        if any(line.unit_price.currency != currency for line in self.lines):
            raise ValueError(f"an order's lines must share one currency, not {currency} and others")
        return Money(sum(line.unit_price.amount_minor * line.quantity for line in self.lines), currency)

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    @classmethod
    def create(
        cls, order_id: str, tenant: str, zone: str, bucket: int, draft: OrderDraft, now_us: int
    ) -> Order:
        return cls(order_id, tenant, zone, bucket, draft.customer, draft.lines, INITIAL, 1, now_us, now_us)

    def check_version(self, expected_version: int = 0, etag: str = "") -> None:
        """Optimistic concurrency: refuse when the caller's view is stale (0 / "" means no check).

        When both are given both must match: a precondition the caller sent is never ignored.
        """
        if etag and etag != self.etag:
            raise StaleVersion(
                f"etag {etag} is stale: order {self.order_id} is at {self.etag}",
                {"current_version": str(self.version)},
            )
        if expected_version and expected_version != self.version:
            raise StaleVersion(
                f"expected version {expected_version}, order {self.order_id} is at version {self.version}",
                {"current_version": str(self.version)},
            )

    def change_status(self, target: OrderStatus, now_us: int) -> Order:
        if not can_transition(self.status, target):
            raise InvalidTransition(
                f"order {self.order_id} cannot go from {self.status.value} to {target.value}",
                {"from": self.status.value, "to": target.value},
            )
        return replace(self, status=target, version=self.version + 1, update_time_us=now_us)

    def cancel(self, now_us: int) -> Order:
        if self.status not in CANCELLABLE:
            raise InvalidTransition(
                f"order {self.order_id} is {self.status.value} and can no longer be cancelled",
                {"from": self.status.value, "to": OrderStatus.CANCELLED.value},
            )
        return self.change_status(OrderStatus.CANCELLED, now_us)


def validate_draft(draft: OrderDraft) -> OrderDraft:
    """Checks every field of a new order and raises one InvalidArgument listing all violations."""
    bad: list[FieldViolation] = []
    cust = draft.customer
    if not cust.customer_id:
        bad.append(FieldViolation("customer.customer_id", "required"))
    elif len(cust.customer_id) > 128 or not _PRINTABLE.fullmatch(cust.customer_id):
        bad.append(FieldViolation("customer.customer_id", "1..128 characters, no control characters"))
    if not cust.country:
        bad.append(FieldViolation("customer.country", "required"))
    elif not is_country(cust.country):
        bad.append(FieldViolation("customer.country", "not an ISO 3166-1 alpha-2 code (e.g. DE, US)"))
    if not isinstance(cust.tier, int) or isinstance(cust.tier, bool) or not 0 <= cust.tier <= MAX_TIER:
        bad.append(FieldViolation("customer.tier", "must be 0..3: standard, silver, gold, platinum"))
    if not draft.lines:
        bad.append(FieldViolation("lines", "an order needs at least one line"))
    elif len(draft.lines) > MAX_LINES:
        bad.append(FieldViolation("lines", f"at most {MAX_LINES} lines"))
    else:
        bad.extend(_line_violations(draft.lines))
    if bad:
        raise InvalidArgument.of(bad)
    return draft


def _line_violations(lines: tuple[OrderLine, ...]) -> list[FieldViolation]:
    bad: list[FieldViolation] = []
    seen: dict[str, int] = {}
    # Lines are compared with the first line whose currency is valid, so one bad code is reported
    # once, at its own line, rather than as a mismatch on every good line after it.
    currency = next((ln.unit_price.currency for ln in lines if is_currency(ln.unit_price.currency)), "")
    total = 0
    for i, line in enumerate(lines):
        at = f"lines[{i}]"
        if not SKU.fullmatch(line.sku):
            bad.append(FieldViolation(f"{at}.sku", "1..64 of A-Z a-z 0-9 . _ : / -, starting alphanumeric"))
        elif line.sku in seen:
            bad.append(FieldViolation(f"{at}.sku", f"same sku as lines[{seen[line.sku]}]; merge them"))
        else:
            seen[line.sku] = i
        if not 1 <= line.quantity <= MAX_QUANTITY:
            bad.append(FieldViolation(f"{at}.quantity", f"must be 1..{MAX_QUANTITY}"))
        price = line.unit_price
        if not is_currency(price.currency):
            bad.append(FieldViolation(f"{at}.unit_price.currency", "not an ISO 4217 code (e.g. EUR)"))
        elif price.currency != currency:
            bad.append(FieldViolation(f"{at}.unit_price.currency", f"all lines must be in {currency}"))
        if not 0 <= price.amount_minor <= MAX_AMOUNT_MINOR:
            bad.append(FieldViolation(f"{at}.unit_price.amount_minor", f"must be 0..{MAX_AMOUNT_MINOR}"))
        elif 1 <= line.quantity <= MAX_QUANTITY:
            total += price.amount_minor * line.quantity
    if total > MAX_AMOUNT_MINOR * 1000:
        bad.append(FieldViolation("lines", "order total is too large"))
    return bad


def validate_request_id(request_id: str, field_path: str = "request_id") -> None:
    if not REQUEST_ID.fullmatch(request_id):
        raise InvalidArgument.single(field_path, "required: 1..128 printable ASCII characters, no spaces")


def validate_reason(reason: str, field_path: str = "reason") -> None:
    if len(reason) > MAX_REASON or not _PRINTABLE.fullmatch(reason):
        raise InvalidArgument.single(field_path, f"at most {MAX_REASON} characters, no control characters")
