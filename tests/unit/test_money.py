"""Money: integer minor units of one ISO 4217 currency; never mixed, never a float."""

from __future__ import annotations

import dataclasses

import pytest

from ordermesh.money import CURRENCY_EXPONENTS, MAX_AMOUNT_MINOR, Money, is_currency
from ordermesh.order import MAX_QUANTITY


def test_adding_same_currency_sums_minor_units() -> None:
    assert Money(1999, "EUR") + Money(1, "EUR") == Money(2000, "EUR")


def test_adding_different_currencies_is_refused() -> None:
    with pytest.raises(ValueError, match=r"USD.*EUR"):
        _ = Money(100, "EUR") + Money(100, "USD")


def test_times_multiplies_minor_units_exactly() -> None:
    # 0.1 + 0.2 style float drift is impossible: amounts are ints all the way.
    assert Money(10, "EUR").times(3) == Money(30, "EUR")
    assert Money(MAX_AMOUNT_MINOR, "EUR").times(MAX_QUANTITY).amount_minor == 10**19
    assert isinstance(Money(7, "JPY").times(3).amount_minor, int)


def test_zero_is_the_additive_identity_of_its_currency() -> None:
    assert Money.zero("JPY") + Money(5, "JPY") == Money(5, "JPY")
    with pytest.raises(ValueError):
        _ = Money.zero("EUR") + Money(5, "JPY")


def test_money_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Money(1, "EUR").amount_minor = 2  # type: ignore[misc]


@pytest.mark.parametrize("code", ["EUR", "USD", "JPY", "GBP", "CHF", "BHD", "KWD", "INR"])
def test_iso_4217_codes_are_currencies(code: str) -> None:
    assert is_currency(code)


@pytest.mark.parametrize("code", ["", "eur", "Eur", "EURO", "EU", "XXX", "BTC", " EUR", "EUR\n"])
def test_other_strings_are_not_currencies(code: str) -> None:
    assert not is_currency(code)


@pytest.mark.parametrize(
    ("code", "digits"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("KWD", 3)]
)
def test_minor_unit_digits(code: str, digits: int) -> None:
    assert CURRENCY_EXPONENTS[code] == digits


def test_every_currency_code_is_three_upper_case_letters() -> None:
    assert all(len(c) == 3 and c.isascii() and c.isupper() for c in CURRENCY_EXPONENTS)


def test_an_order_total_at_its_bound_fits_int64() -> None:
    # validate_draft caps an order's total at MAX_AMOUNT_MINOR * 1000; storage columns are BIGINT.
    assert MAX_AMOUNT_MINOR * 1000 < 2**63
