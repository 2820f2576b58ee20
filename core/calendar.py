"""A shop's booking calendar: its file's hours and rules, closures and public holidays."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

from core.shopfile import ShopSpec
from core.slots import Calendar, OpeningHours


def public_holidays(country: str, first: date, last: date) -> set[date]:
    """Public holidays of the shop's country (Kenya, Kazakhstan, ...) in first..last."""
    days = set().union(*(_holidays_of(country, y) for y in range(first.year, last.year + 1)))
    return {d for d in days if first <= d <= last}


@lru_cache(maxsize=64)
def _holidays_of(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year))


def holidays_kept(spec: ShopSpec, first: date, last: date) -> set[date]:
    """The public holidays in first..last the shop closes on (none with `public_holidays = false`)."""
    return set(public_holidays(spec.country, first, last)) if spec.public_holidays else set()


def shop_calendar(spec: ShopSpec, closures: dict[date, bool], first: date, last: date) -> Calendar:
    """The slot engine's view of a shop for first..last.

    `closures` maps a day to closed (True) or open-anyway (False): an owner can open a
    public holiday or close any day; the file's `public_holidays = false` keeps
    holidays as ordinary days.
    """
    closed = holidays_kept(spec, first, last)
    for day, is_closed in closures.items():
        (closed.add if is_closed else closed.discard)(day)
    week = {
        weekday: OpeningHours(h.open, h.close, tuple((b.open, b.close) for b in h.breaks))
        for weekday, h in spec.hours.items()
    }
    rules = spec.booking
    return Calendar(
        timezone=spec.timezone, week=week, closed_days=frozenset(closed),
        slot_step=rules.slot_step, buffer=rules.buffer, min_notice=rules.min_notice,
        horizon=timedelta(days=rules.horizon_days),
    )  # fmt: skip
