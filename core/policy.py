"""The shop's money-and-manners rules: deposits, prepayment, cancellation tokens.

Pure functions over plain values, so each rule is stated once and tested directly.
Each customer starts a month with the shop's tokens (2 by default). A cancellation
inside the late window, or a no-show, costs one. At zero a customer can still book but
must prepay the whole visit. Tokens come back on the first booking action of a new month
(or when the owner resets them). Money paid in advance goes back on a cancellation that
costs no token, and is the shop's on one that does (as it is on a no-show).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from babel.numbers import get_currency_precision


@dataclass(frozen=True)
class PricedService:
    price_minor: int
    deposit_minor: int | None = None
    deposit_percent: int | None = None


def visit_price(services: list[PricedService]) -> int:
    return sum(s.price_minor for s in services)


def deposit_due(services: list[PricedService], tokens: int, unit: int = 1) -> int:
    """What the customer pays up front: the services' deposits, or everything at 0 tokens.

    Rounded up to a whole `unit` (the minor units in one of the currency's major units:
    see `major_unit`): a shop asks 30 % of Ksh4,999 as Ksh1,500, not Ksh1,499.70, which
    M-Pesa could not ask for anyway; a visit priced Ksh3,499.50 paid in advance is
    Ksh3,500. Never more than the visit but for that rounding.
    """
    if tokens <= 0:
        return _whole(visit_price(services), unit)
    total = 0
    for s in services:
        if s.deposit_minor is not None:
            total += s.deposit_minor
        elif s.deposit_percent is not None:
            total += _whole(-(-s.price_minor * s.deposit_percent // 100), unit)
    return _whole(min(total, visit_price(services)), unit)


def _whole(amount_minor: int, unit: int) -> int:
    """Rounded up to a whole `unit`: what M-Pesa (whole shillings) can ask for."""
    return -(-amount_minor // unit) * unit


def major_unit(currency: str) -> int:
    """Minor units in one major unit of the currency (100 cents to the shilling)."""
    return 10 ** get_currency_precision(currency)


def ways_to_pay(methods: list[str] | tuple[str, ...], due_in_advance: bool) -> list[str]:
    """The shop's payment methods a customer may choose for a visit: paying at the shop
    is not one of them when money is due in advance (a deposit, or everything at 0
    tokens), unless it is the shop's only way."""
    allowed = list(methods)
    if due_in_advance and "cash" in allowed and len(allowed) > 1:
        allowed.remove("cash")
    return allowed


def way_to_take_offer(methods: list[str] | tuple[str, ...], deposit_due: bool) -> str:
    """How a waitlist offer the customer takes is paid: at the shop where the visit
    allows it, else the shop's first way of paying in advance (the offered hold's
    deposit already counts a customer with no tokens left)."""
    allowed = ways_to_pay(methods, deposit_due)
    return "cash" if "cash" in allowed else allowed[0]


def must_prepay(tokens: int) -> bool:
    """A customer who spent every token books only with payment in advance."""
    return tokens <= 0


def is_late_cancellation(now: datetime, starts_at: datetime, late_window: timedelta) -> bool:
    return starts_at - now < late_window


def cancellation_cost(now: datetime, starts_at: datetime, late_window: timedelta, status: str,
                      day_open: bool = True) -> int:  # fmt: skip
    """Tokens a cancellation costs: one when it is late and the slot was really promised
    (not an unpaid hold, never a promise; not a visit the shop itself could not keep: a
    mechanic gone, or its day closed since)."""
    if status in ("held", "needs_reschedule") or not day_open:
        return 0
    return 1 if is_late_cancellation(now, starts_at, late_window) else 0


def refund_on_cancel(token_cost: int) -> bool:
    """Is the money paid for a visit given back when it is cancelled? Yes when the
    cancellation is free: in time, an unpaid hold, or a visit the shop could not keep."""
    return token_cost == 0


@dataclass(frozen=True)
class Tokens:
    count: int
    reset_on: date | None


def tokens_this_month(current: Tokens, today: date, monthly: int) -> Tokens:
    """A customer's tokens as of `today`: refilled once per calendar month."""
    month_start = today.replace(day=1)
    if current.reset_on is None or current.reset_on < month_start:
        return Tokens(monthly, month_start)
    return current


def spend_token(current: Tokens) -> Tokens:
    return Tokens(max(current.count - 1, 0), current.reset_on)
