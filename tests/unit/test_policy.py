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


def test_a_late_cancellation_costs_a_token_only_for_a_promise_the_shop_could_keep():
    from datetime import UTC, datetime, timedelta

    from core.policy import cancellation_cost

    now, window = datetime(2026, 11, 24, 9, 0, tzinfo=UTC), timedelta(hours=24)
    tomorrow, next_week = now + timedelta(hours=5), now + timedelta(days=7)
    assert cancellation_cost(now, tomorrow, window, "confirmed") == 1
    assert cancellation_cost(now, next_week, window, "confirmed") == 0
    assert cancellation_cost(now, tomorrow, window, "held") == 0  # never a promise
    assert cancellation_cost(now, tomorrow, window, "needs_reschedule") == 0  # the shop could not keep it


def test_a_deposit_in_percent_is_asked_in_whole_shillings_or_tenge():
    """30 % of Ksh4,999 is asked as Ksh1,500: the summary said Ksh1,499.70 while M-Pesa,
    which takes whole shillings, asked for Ksh1,500."""
    from core.policy import major_unit

    odd = PricedService(499900, deposit_percent=30)
    assert deposit_due([odd], tokens=2, unit=major_unit("KES")) == 150000
    assert deposit_due([odd], tokens=2) == 149970  # to the cent, where the currency's unit is not given
    assert deposit_due([ALIGNMENT], tokens=2, unit=major_unit("KES")) == 75000  # already whole: unchanged
    assert deposit_due([PricedService(99, deposit_percent=50)], tokens=2, unit=100) == 100  # the least M-Pesa can ask
    assert deposit_due([PricedService(349950)], tokens=0, unit=100) == 350000  # the whole visit, as M-Pesa takes it
    assert deposit_due([PricedService(100050, deposit_percent=100), PricedService(350000, deposit_percent=30)],
                       tokens=2, unit=100) == 100100 + 105000
    assert major_unit("KZT") == 100 and major_unit("JPY") == 1
