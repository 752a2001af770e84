"""The order aggregate: creation, totals, status changes, optimistic concurrency and validation."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.errors import FieldViolation, InvalidArgument, InvalidTransition, StaleVersion
from ordermesh.money import MAX_AMOUNT_MINOR, Money
from ordermesh.order import (
    Customer,
    Order,
    OrderDraft,
    OrderLine,
    validate_draft,
    validate_reason,
    validate_request_id,
)
from ordermesh.status import OrderStatus

T0 = 1_700_000_000_000_000
S = OrderStatus


def line(sku: str = "SKU-1", quantity: int = 1, amount: int = 1000, currency: str = "EUR") -> OrderLine:
    return OrderLine(sku, quantity, Money(amount, currency))


def draft(*lines: OrderLine, customer_id: str = "c-1", country: str = "DE") -> OrderDraft:
    return OrderDraft(Customer(customer_id, country), lines or (line(),))


def order(*lines: OrderLine, status: OrderStatus = S.PENDING, version: int = 1) -> Order:
    created = Order.create("eu-3-" + "0" * 26, "acme", "eu", 3, draft(*lines), T0)
    return dataclasses.replace(created, status=status, version=version)


def violations(d: OrderDraft) -> list[FieldViolation]:
    with pytest.raises(InvalidArgument) as exc:
        validate_draft(d)
    assert exc.value.violations, "InvalidArgument without violations tells the caller nothing"
    return list(exc.value.violations)


def fields(d: OrderDraft) -> list[str]:
    return [v.field for v in violations(d)]


# --- create, total ---------------------------------------------------------------------------


def test_create_starts_pending_at_version_1_with_both_times_now() -> None:
    o = Order.create("eu-3-" + "0" * 26, "acme", "eu", 3, draft(), T0)
    assert (o.status, o.version, o.create_time_us, o.update_time_us) == (S.PENDING, 1, T0, T0)
    assert (o.order_id, o.tenant, o.zone, o.bucket) == ("eu-3-" + "0" * 26, "acme", "eu", 3)
    assert o.etag == '"1"'


def test_total_sums_quantity_times_unit_price_over_all_lines() -> None:
    o = order(line("A", 2, 1999), line("B", 3, 500), line("C", 1, 0))
    assert o.total == Money(2 * 1999 + 3 * 500, "EUR")


def test_total_keeps_the_orders_currency() -> None:
    assert order(line("A", 7, 120, "JPY"), line("B", 1, 5, "JPY")).total == Money(845, "JPY")


# --- status changes ----------------------------------------------------------------------------


def test_change_status_bumps_version_and_update_time_only() -> None:
    before = order()
    after = before.change_status(S.CONFIRMED, T0 + 5)
    assert (after.status, after.version, after.update_time_us) == (S.CONFIRMED, 2, T0 + 5)
    assert after.create_time_us == T0
    assert after.etag == '"2"'
    assert (before.status, before.version) == (S.PENDING, 1)  # the aggregate is immutable


def test_change_status_along_an_unlisted_edge_is_refused_with_from_and_to() -> None:
    with pytest.raises(InvalidTransition) as exc:
        order().change_status(S.SHIPPED, T0 + 1)
    assert dict(exc.value.metadata) == {"from": "pending", "to": "shipped"}
    assert (exc.value.code, exc.value.reason) == ("FAILED_PRECONDITION", "INVALID_TRANSITION")


def test_cancel_from_shipped_is_refused_with_from_and_to() -> None:
    shipped = order(status=S.SHIPPED, version=5)
    with pytest.raises(InvalidTransition) as exc:
        shipped.cancel(T0 + 1)
    assert dict(exc.value.metadata) == {"from": "shipped", "to": "cancelled"}
    assert "shipped" in str(exc.value)


@pytest.mark.parametrize("status", ["pending", "confirmed", "backordered", "allocated", "on_hold"])
def test_cancel_before_shipping_cancels_and_bumps_version(status: str) -> None:
    cancelled = order(status=S(status), version=4).cancel(T0 + 9)
    assert (cancelled.status, cancelled.version, cancelled.update_time_us) == (S.CANCELLED, 5, T0 + 9)


@pytest.mark.parametrize("status", ["partially_shipped", "shipped", "delivered", "cancelled", "returned"])
def test_cancel_after_shipping_or_at_the_end_is_refused(status: str) -> None:
    with pytest.raises(InvalidTransition) as exc:
        order(status=S(status)).cancel(T0)
    assert exc.value.metadata["from"] == status


# --- optimistic concurrency --------------------------------------------------------------------


@pytest.mark.parametrize(("expected_version", "etag"), [(3, ""), (0, '"3"'), (3, '"3"'), (0, "")])
def test_check_version_accepts_the_current_version_or_no_precondition(
    expected_version: int, etag: str
) -> None:
    order(version=3).check_version(expected_version=expected_version, etag=etag)


@pytest.mark.parametrize(
    ("expected_version", "etag"),
    [(2, ""), (4, ""), (-1, ""), (0, '"2"'), (0, "3"), (0, '"03"'), (2, '"3"'), (3, '"2"')],
)
def test_check_version_refuses_a_stale_view_and_tells_the_current_version(
    expected_version: int, etag: str
) -> None:
    with pytest.raises(StaleVersion) as exc:
        order(version=3).check_version(expected_version=expected_version, etag=etag)
    assert dict(exc.value.metadata) == {"current_version": "3"}
    assert (exc.value.code, exc.value.reason) == ("ABORTED", "STALE_VERSION")


# --- validate_draft ------------------------------------------------------------------------------


def test_a_good_draft_is_returned_unchanged() -> None:
    d = draft(line("A", 1, 0), line("B", 1_000_000, 1), customer_id="Zoë 42", country="NO")
    assert validate_draft(d) is d


def test_all_violations_are_reported_at_once_with_exact_paths() -> None:
    d = draft(
        line("A"),
        line("B", currency="USD"),
        line("C", quantity=0),
        line("A", quantity=2),
        country="XX",
    )
    assert fields(d) == [
        "customer.country",
        "lines[1].unit_price.currency",
        "lines[2].quantity",
        "lines[3].sku",
    ]
    dupe = violations(d)[-1]
    assert "lines[0]" in dupe.description


def test_the_error_message_lists_the_bad_fields() -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_draft(draft(line(quantity=0), customer_id=""))
    assert "customer.customer_id" in str(exc.value)
    assert "lines[0].quantity" in str(exc.value)


@pytest.mark.parametrize(
    ("quantity", "ok"), [(-1, False), (0, False), (1, True), (1_000_000, True), (1_000_001, False)]
)
def test_quantity_bounds(quantity: int, ok: bool) -> None:
    d = draft(line(quantity=quantity, amount=1))
    if ok:
        validate_draft(d)
    else:
        assert fields(d) == ["lines[0].quantity"]


@pytest.mark.parametrize(
    ("amount", "ok"), [(-1, False), (0, True), (MAX_AMOUNT_MINOR, True), (MAX_AMOUNT_MINOR + 1, False)]
)
def test_unit_price_bounds(amount: int, ok: bool) -> None:
    d = draft(line(amount=amount))
    if ok:
        validate_draft(d)
    else:
        assert fields(d) == ["lines[0].unit_price.amount_minor"]


def test_order_total_is_bounded_so_sums_stay_inside_int64() -> None:
    validate_draft(draft(line(quantity=1000, amount=MAX_AMOUNT_MINOR)))
    assert fields(draft(line(quantity=1001, amount=MAX_AMOUNT_MINOR))) == ["lines"]
    # one line at both maxima would be 10**19 minor units: more than int64 holds
    assert fields(draft(line(quantity=1_000_000, amount=MAX_AMOUNT_MINOR))) == ["lines"]


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (200, True), (201, False)])
def test_line_count_bounds(count: int, ok: bool) -> None:
    d = OrderDraft(Customer("c-1", "DE"), tuple(line(f"SKU-{i}") for i in range(count)))
    if ok:
        validate_draft(d)
    else:
        assert fields(d) == ["lines"]


@pytest.mark.parametrize(
    "customer_id",
    ["", "a" * 129, "a\x00b", "tab\there", "new\nline", "trailing\n", "del\x7f", "c1\x85control", "\x1b[31m"],
)
def test_customer_id_must_be_1_to_128_characters_without_control_characters(customer_id: str) -> None:
    assert fields(draft(customer_id=customer_id)) == ["customer.customer_id"]


@pytest.mark.parametrize("customer_id", ["a", "a" * 128, "Zoë-42 ünïcode 東京", "user@example.com"])
def test_customer_id_accepts_printable_text(customer_id: str) -> None:
    validate_draft(draft(customer_id=customer_id))


@pytest.mark.parametrize("country", ["", "de", "XX", "DEU", "D", "DE\n", "EU"])
def test_country_must_be_an_iso_alpha2_code(country: str) -> None:
    assert fields(draft(country=country)) == ["customer.country"]


@pytest.mark.parametrize("sku", ["", "-starts-with-dash", "a b", "a" * 65, "SKU\n", "ä"])
def test_bad_skus_are_refused(sku: str) -> None:
    assert fields(draft(line(sku))) == ["lines[0].sku"]


@pytest.mark.parametrize("sku", ["A", "a" * 64, "A.b_c:d/e-f", "0sku"])
def test_good_skus_are_accepted(sku: str) -> None:
    validate_draft(draft(line(sku)))


def test_mixed_currencies_flag_only_the_lines_that_differ_from_the_first() -> None:
    d = draft(line("A", currency="EUR"), line("B", currency="USD"), line("C", currency="EUR"))
    assert fields(d) == ["lines[1].unit_price.currency"]
    assert "EUR" in violations(d)[0].description


def test_an_invalid_currency_is_reported_once_at_its_own_line() -> None:
    d = draft(line("A", currency="eur"), line("B", currency="EUR"), line("C", currency="EUR"))
    assert fields(d) == ["lines[0].unit_price.currency"]


# --- request_id and reason ------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["r", "req-0001", "a" * 128, "~!@#$%^&*()"])
def test_request_id_accepts_printable_ascii(request_id: str) -> None:
    validate_request_id(request_id)


@pytest.mark.parametrize("request_id", ["", "a" * 129, "has space", "tab\t", "abc\n", "é", "\x00"])
def test_request_id_refusal_names_the_field(request_id: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_request_id(request_id, "requests[2].request_id")
    assert [v.field for v in exc.value.violations] == ["requests[2].request_id"]


@pytest.mark.parametrize("reason", ["", "customer asked", "r" * 500, "Kunde möchte stornieren"])
def test_reason_accepts_up_to_500_printable_characters(reason: str) -> None:
    validate_reason(reason)


@pytest.mark.parametrize("reason", ["r" * 501, "two\nlines", "trailing\n", "bell\x07"])
def test_reason_refusal_names_the_field(reason: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_reason(reason)
    assert [v.field for v in exc.value.violations] == ["reason"]


# --- any input: a clear answer, never a crash ---------------------------------------------------

_PATH = re.compile(
    r"customer\.(customer_id|country)|lines|lines\[(\d+)\]\.(sku|quantity|unit_price\.(currency|amount_minor))"
)
# Each field is either well-formed or arbitrary, so both answers (valid / refused) are explored.
_lines = st.lists(
    st.builds(
        OrderLine,
        st.one_of(st.from_regex(r"[A-Z]{1,3}-[0-9]{1,6}", fullmatch=True), st.text(max_size=70)),
        st.one_of(st.integers(1, 1_000_000), st.integers()),
        st.builds(
            Money,
            st.one_of(st.integers(0, 10**9), st.integers()),
            st.one_of(st.just("EUR"), st.sampled_from(["USD", "JPY"]), st.text(max_size=4)),
        ),
    ),
    max_size=5,
)
_drafts = st.builds(
    OrderDraft,
    st.builds(
        Customer,
        st.one_of(st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True), st.text(max_size=140)),
        st.one_of(st.sampled_from(["DE", "US", "JP"]), st.text(max_size=3)),
    ),
    _lines.map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(_drafts)
def test_any_draft_validates_or_raises_invalid_argument_naming_real_fields(d: OrderDraft) -> None:
    try:
        validate_draft(d)
    except InvalidArgument as exc:
        assert exc.violations
        for v in exc.violations:
            m = _PATH.fullmatch(v.field)
            assert m, v.field
            if m.group(2) is not None:
                assert int(m.group(2)) < len(d.lines)
    else:
        total = Order.create("eu-0-" + "0" * 26, "acme", "eu", 0, d, T0).total
        assert 0 <= total.amount_minor <= MAX_AMOUNT_MINOR * 1000
