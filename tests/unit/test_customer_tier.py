"""Customer.tier on CreateOrder: the API's CustomerTier numbers map onto the domain tiers, an unknown
number is a field violation reported with the rest, and the idempotency fingerprint covers the tier."""

from __future__ import annotations

import pytest

from consistency.allocation import Tier
from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.errors import InvalidArgument
from ordermesh.money import Money
from ordermesh.order import Customer, Order, OrderDraft, OrderLine
from region_service import translate as tr


def _request(tier: int, country: str = "DE") -> pb.CreateOrderRequest:
    req = pb.CreateOrderRequest(
        request_id="r-1",
        customer=pb.Customer(customer_id="c-1", country=country),
        lines=[pb.OrderLine(sku="SKU-1", quantity=1, unit_price=pb.Money(amount_minor=100, currency="EUR"))],
    )
    req.customer.tier = tier  # type: ignore[assignment]  # open enum: any number may arrive
    return req


def test_every_domain_tier_has_the_api_value_of_its_name() -> None:
    assert set(pb.CustomerTier.keys()) == {t.name for t in Tier} | {"CUSTOMER_TIER_UNSPECIFIED"}
    for tier in Tier:
        assert pb.CustomerTier.Name(tr.tier_to_pb(tier)) == tier.name
        assert tr.tier_from_pb(tr.tier_to_pb(tier)) is tier


@pytest.mark.parametrize(
    ("number", "tier"),
    [(pb.CUSTOMER_TIER_UNSPECIFIED, 0), (pb.STANDARD, 0), (pb.SILVER, 1), (pb.GOLD, 2), (pb.PLATINUM, 3)],
)
def test_draft_carries_the_domain_tier(number: int, tier: int) -> None:
    customer = tr.draft_from_pb(_request(number)).customer
    assert customer == Customer("c-1", "DE", tier)
    assert type(customer.tier) is int  # stored as a plain integer


@pytest.mark.parametrize("number", [5, -1, 2**31 - 1])
def test_unknown_tier_is_refused_with_the_other_violations(number: int) -> None:
    with pytest.raises(InvalidArgument) as info:
        tr.draft_from_pb(_request(number, country=""))
    fields = [v.field for v in info.value.violations]
    assert fields == ["customer.country", "customer.tier"]


def test_fingerprint_covers_the_tier() -> None:
    prints = {tr.fingerprint(_request(n)) for n in (pb.STANDARD, pb.SILVER, pb.GOLD, pb.PLATINUM)}
    assert len(prints) == 4
    assert tr.fingerprint(_request(pb.GOLD)) == tr.fingerprint(_request(pb.GOLD))


def test_order_answers_its_tier_explicitly() -> None:
    draft = OrderDraft(Customer("c-1", "DE", 2), (OrderLine("SKU-1", 1, Money(100, "EUR")),))
    order = Order.create("eu-3-0123456789abcdefghjkmnpqrs", "acme", "eu", 3, draft, 0)
    assert tr.order_to_pb(order).customer.tier == pb.GOLD
    standard = Order.create(order.order_id, "acme", "eu", 3, OrderDraft(Customer("c", "DE"), draft.lines), 0)
    assert tr.order_to_pb(standard).customer.tier == pb.STANDARD
