"""The shop's money-and-manners rules, stated once in core/policy.py."""

from core.policy import PricedService, deposit_due, ways_to_pay

OIL = PricedService(350000)
BRAKES = PricedService(450000, deposit_minor=100000)
ALIGNMENT = PricedService(250000, deposit_percent=30)


def test_a_deposit_is_the_services_deposits_and_everything_at_zero_tokens():
    assert deposit_due([OIL], tokens=2) == 0
    assert deposit_due([OIL, BRAKES, ALIGNMENT], tokens=2) == 100000 + 75000
    assert deposit_due([OIL, BRAKES], tokens=0) == 800000


def test_paying_at_the_shop_is_not_offered_when_money_is_due_in_advance():
    assert ways_to_pay(["mpesa", "cash"], due_in_advance=False) == ["mpesa", "cash"]
    assert ways_to_pay(["mpesa", "cash"], due_in_advance=True) == ["mpesa"]


def test_unless_paying_at_the_shop_is_the_only_way():
    assert ways_to_pay(["cash"], due_in_advance=True) == ["cash"]
