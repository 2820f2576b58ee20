"""What an owner runs the shop with from the chat: closing and opening days, the week's
hours, forgiving a customer's tokens, today's and the week's figures, a CSV export.

Each function works in the caller's transaction and returns plain values or message
lists; `touch_shop` is called after every change to closures, so every process
rebuilds its view of the shop before it offers another slot.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import get_currency_precision
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import availability as av
from core import booking as bookings
from core import digest, i18n, notices, payments, waitlist
from core import messages as m
from core.calendar import holidays_kept
from core.customers import mask_phone, normalise_phone
from core.i18n import N_, NP_
from core.lifecycle import LIVE, BookingStatus, status_now
from core.messages import Msg, Reply
from core.models import (
    Bay,
    Booking,
    ChannelIdentity,
    Closure,
    Customer,
    Payment,
    Service,
    Staff,
    Vehicle,
)
from core.shopfile import WEEKDAYS

MAX_EXPORT_DAYS = 366


@dataclass(frozen=True)
class DayChange:
    day: date
    closed: bool
    codes: tuple[str, ...]  # bookings already on that day (the owner decides what to do)


HOURS_LET_GO = N_("Sorry: the shop has changed its opening hours, so the time we were holding for you on "
                  "{when} is no longer available. Please choose another time.")  # fmt: skip
OUTSIDE_NEW_HOURS = N_("The new opening hours leave out visits already booked: {codes}. Please contact those "
                       "customers.")  # fmt: skip
LET_GO = N_("Sorry: the shop will be closed on {day}, so the time we were holding for you is no longer "
           "available. Please choose another day.")  # fmt: skip


class NoHoursThatDay(ValueError):
    """The shop file gives the day's weekday no hours: opening it would open nothing."""


def set_day(session: Session, shop_id: int, day: date, closed: bool, reason: str | None, now: datetime) -> DayChange:
    """Close a day (or open one, even a public holiday, on a weekday the shop works).
    Closing lets go of the times only held on it; the bookings left are the owner's to
    settle with their customers."""
    if not closed and day.weekday() not in av.shop_view(session, shop_id).spec.hours:
        raise NoHoursThatDay(day)
    av.lock_days(session, shop_id, {day})  # first, as every writer of a day: a hold takes it, then the shop row
    row = session.scalar(select(Closure).where(Closure.shop_id == shop_id, Closure.day == day).with_for_update())
    if row is None:
        row = Closure(shop_id=shop_id, day=day)
        session.add(row)
    row.closed, row.reason = closed, (reason or None) if closed else None
    av.touch_shop(session, shop_id)
    spec = av.shop_view(session, shop_id).spec
    lo, hi = av.local_bounds(spec.timezone, day, day)
    if closed:  # (a shop file's closed days: shops.load_shop, after the load)
        let_go_holds_on(session, shop_id, day, now)
        waitlist.end_waits_on(session, shop_id, day, now)
    codes = tuple(session.scalars(select(Booking.code).where(
        Booking.shop_id == shop_id, Booking.starts_at >= lo, Booking.starts_at < hi,
        Booking.status.in_(LIVE)).order_by(Booking.starts_at)))  # fmt: skip
    return DayChange(day, closed, codes)


def let_go_holds_on(session: Session, shop_id: int, day: date, now: datetime) -> None:
    """The times only held on a day the shop has closed are let go, and whoever held one
    is told (`booking.release_holds_on`)."""
    tz = av.shop_view(session, shop_id).spec.timezone
    _tell_let_go(session, bookings.release_holds_on(session, shop_id, day, now),
                 lambda b: Msg(LET_GO, {"day": m.day(b.starts_at, tz)}), "closed", now)


def after_new_hours(session: Session, shop_id: int, now: datetime, closed_now=()) -> list[str]:
    """The shop's file changed its hours: the times only held that they no longer cover
    are let go (whoever held one is told), and the owners are asked to talk over the
    visits already booked outside them (but on a day closed before this load, about
    which /close asked already), which are returned for the operator. `closed_now`: the
    days this load closed."""
    view = av.shop_view(session, shop_id)
    tz = view.spec.timezone
    _tell_let_go(session, bookings.release_holds_outside_hours(session, shop_id, now),
                 lambda b: Msg(HOURS_LET_GO, {"when": m.when(b.starts_at, tz)}), "hours", now)

    def asked_before(b: Booking) -> bool:  # on a day the owner closed, when /close asked about it
        day = view.local_day(b.starts_at)
        return bool(view.closures.get(day)) and day not in closed_now

    outside = [b for b in bookings.booked_outside_hours(session, shop_id, now) if not asked_before(b)]
    if outside:
        codes = ", ".join(b.code for b in outside)
        notices.tell_owners(session, shop_id, Reply((Msg(OUTSIDE_NEW_HOURS, {"codes": codes}),)),
                            f"outside-hours:{shop_id}:{_digest_of(b.id for b in outside)}", now)  # fmt: skip
    return [f"{b.code} on {b.starts_at.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M}" for b in outside]


def _tell_let_go(session: Session, booking_ids: list[int], said, why: str, now: datetime) -> None:
    """Tell whoever held each time let go why (`said` of the booking), once each."""
    for booking_id in booking_ids:
        let_go = session.get(Booking, booking_id)
        notices.status_notice(session, let_go, Reply((said(let_go),)), f"{why}:{booking_id}", now)


def _digest_of(ids) -> str:
    """A short key for a set of rows (the owners are asked once about the same visits)."""
    return hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:16]


def hours_texts(session: Session, shop_id: int, today: date) -> list[Msg]:
    """The week's opening hours and the days of the coming 60 it is closed (or opened
    despite a public holiday): the owner sees which days customers are told are closed."""
    view = av.shop_view(session, shop_id)
    spec = view.spec
    tz = spec.timezone
    monday = today - timedelta(days=today.weekday())
    out = [Msg(N_("Opening hours:"))]
    for index, _name in enumerate(WEEKDAYS):
        noon = datetime.combine(monday + timedelta(days=index), time(12), ZoneInfo(tz))
        h = spec.hours.get(index)
        if h is None:
            out.append(Msg(N_("{day}: closed"), {"day": _weekday(noon)}))
            continue
        breaks = ", ".join(f"{b.open:%H:%M}-{b.close:%H:%M}" for b in h.breaks)
        said = N_("{day}: {open}-{close}, break {breaks}") if breaks else N_("{day}: {open}-{close}")
        out.append(Msg(said, {"day": _weekday(noon), "open": f"{h.open:%H:%M}", "close": f"{h.close:%H:%M}",
                              "breaks": breaks}))  # fmt: skip
    last = today + timedelta(days=60)
    holidays = holidays_kept(spec, today, last)
    ahead = sorted((d, closed) for d, closed in view.closures.items()
                   if today <= d <= last and (closed or d in holidays))  # an ordinary day opened again is just open
    ahead = sorted(ahead + [(d, None) for d in holidays if d not in view.closures])  # None: a holiday kept as such
    reasons = dict(session.execute(select(Closure.day, Closure.reason).where(Closure.shop_id == shop_id)).all())
    for d, closed in ahead:
        noon = datetime.combine(d, time(12), ZoneInfo(tz))
        if closed is None:
            out.append(Msg(N_("Closed on {day}: public holiday"), {"day": m.day(noon, tz)}))
        elif closed:
            out.append(Msg(N_("Closed on {day}: {reason}"), {"day": m.day(noon, tz), "reason": reasons.get(d) or "-"}))
        else:
            out.append(Msg(N_("Open on {day} (despite a public holiday)"), {"day": m.day(noon, tz)}))
    return out


def _weekday(noon: datetime) -> dict:
    """The weekday's name in every language (the reader's is shown)."""
    return m.names({lang: format_date(noon.date(), "EEEE", locale=i18n.babel_locale(lang)) for lang in i18n.LANGUAGES})


class NoSuchCustomer(LookupError):
    pass


def reset_tokens(session: Session, shop_id: int, who: str, now: datetime) -> tuple[str, int]:
    """Give a customer their monthly tokens back; they are told. `who` is one of their
    booking codes (all an owner sees of a Telegram customer who pays at the shop) or
    their phone. Returns whom, as the owner may be told it (the code, or the phone
    masked), and the tokens."""
    spec = av.shop_view(session, shop_id).spec
    customer, label = _customer_by_code(session, shop_id, who), who.strip().upper()
    if customer is None:
        phone = normalise_phone(who, spec.country)
        if phone is None:
            raise NoSuchCustomer(label if booking_code_like(who) else who)
        customer, label = _customer_by_phone(session, shop_id, phone), mask_phone(phone)
        if customer is None:
            raise NoSuchCustomer(phone)
    tokens = bookings.reset_tokens(session, customer.id, now)
    latest = session.scalars(select(Booking).where(Booking.customer_id == customer.id)
                             .order_by(Booking.created_at.desc())).first()  # fmt: skip
    reply = Reply((Msg(N_("Good news: {shop} has restored your booking tokens. You have {n} this month."),
                       {"shop": spec.name, "n": tokens}),))  # fmt: skip
    if latest is not None:  # no template carries it: on WhatsApp it may wait for their next message
        notices.notify_customer(session, latest, reply, None, now, extra={"show_later": True})
    return label, tokens


def booking_code_like(text: str) -> bool:
    """Does it look like a booking code ("MM-1001") rather than a phone?"""
    return bool(re.fullmatch(r"[A-Za-z]{1,4}-\d{3,7}", text.strip()))


def _customer_by_code(session: Session, shop_id: int, code: str) -> Customer | None:
    return session.scalar(select(Customer).join(Booking, Booking.customer_id == Customer.id).where(
        Booking.shop_id == shop_id, Booking.code == code.strip().upper()))  # fmt: skip


def _customer_by_phone(session: Session, shop_id: int, phone: str) -> Customer | None:
    """The customer whose WhatsApp number it is (the number proves itself), else the
    first who gave it (a phone typed for M-Pesa may be someone else's who pays)."""
    whatsapp = session.scalar(select(Customer).join(ChannelIdentity).where(
        Customer.shop_id == shop_id, ChannelIdentity.address == f"whatsapp:{phone}"))  # fmt: skip
    return whatsapp or session.scalar(select(Customer).where(Customer.shop_id == shop_id, Customer.phone == phone)
                                      .order_by(Customer.id))  # fmt: skip


# -- reports ------------------------------------------------------------------------------


def today_texts(session: Session, shop_id: int, now: datetime) -> list[Msg]:
    """Today's bookings, in time order, with status and mechanic."""
    spec = av.shop_view(session, shop_id).spec
    tz = spec.timezone
    day = now.astimezone(ZoneInfo(tz)).date()
    lo, hi = av.local_bounds(tz, day, day)
    rows = list(session.scalars(select(Booking).where(
        Booking.shop_id == shop_id, Booking.starts_at >= lo, Booking.starts_at < hi,
        Booking.status != BookingStatus.EXPIRED).order_by(Booking.starts_at, Booking.id)))  # fmt: skip
    rows = [b for b in rows if status_now(b.status, b.hold_expires_at, now) != BookingStatus.EXPIRED]
    names = dict(session.execute(select(Staff.id, Staff.name).where(Staff.shop_id == shop_id)).all())
    one, many = NP_("Today, {day}: {n} booking", "Today, {day}: {n} bookings")
    out = [Msg(one, {"day": m.day(now, tz)}, plural=many, n=len(rows))]
    for b in rows:
        out.append(Msg(N_("{time} {code} {services}: {status} ({mechanic})"), {
            "time": m.clock(b.starts_at, tz), "code": b.code, "services": m.join(_service_names(session, b)),
            "status": m.message(Msg(notices.STAFF_STATUS_NAMES.get(b.status, b.status))),
            "mechanic": names.get(b.mechanic_id, "-").split()[0]}))  # fmt: skip
    return out


def week_texts(session: Session, shop_id: int, now: datetime) -> list[Msg]:
    """The last seven days in figures, and the next seven days' bookings per day."""
    spec = av.shop_view(session, shop_id).spec
    tz = spec.timezone
    today = now.astimezone(ZoneInfo(tz)).date()
    past = [digest.figures_for(session, shop_id, today - timedelta(days=i), now) for i in range(6, -1, -1)]
    done = sum(f.by_status.get("completed", 0) for f in past)
    one, many = NP_("Last 7 days: {n} booking, {done} completed, {noshow} no-shows, revenue {revenue}.",
                    "Last 7 days: {n} bookings, {done} completed, {noshow} no-shows, revenue {revenue}.")
    out = [Msg(one, {"done": done, "noshow": sum(f.no_shows for f in past),
                     "revenue": m.money(sum(f.revenue_minor for f in past), spec.currency)},
               plural=many, n=sum(f.bookings for f in past))]  # fmt: skip
    lo, hi = av.local_bounds(tz, today + timedelta(days=1), today + timedelta(days=7))
    coming: dict[date, int] = {}
    for b in session.scalars(select(Booking).where(Booking.shop_id == shop_id, Booking.starts_at >= lo,
                                                   Booking.starts_at < hi, Booking.status.in_(LIVE))):  # fmt: skip
        d = b.starts_at.astimezone(ZoneInfo(tz)).date()
        coming[d] = coming.get(d, 0) + 1
    out.append(Msg(N_("Next 7 days:")))
    for i in range(1, 8):
        d = today + timedelta(days=i)
        noon = datetime.combine(d, time(12), ZoneInfo(tz))
        one, many = NP_("{day}: {n} booking", "{day}: {n} bookings")
        out.append(Msg(one, {"day": m.day(noon, tz)}, plural=many, n=coming.get(d, 0)))
    return out


def _service_names(session: Session, b: Booking) -> list:
    out = []
    for item in b.items:
        if item.kind == "service" and item.service_id:
            out.append(m.names(dict(session.get(Service, item.service_id).names)))
        elif item.kind == "extra" and item.status == "approved":
            out.append(item.description)
    return out


# -- export -------------------------------------------------------------------------------

# The headings, in the owner's language; their order is kept, for the sheets owners build on it.
CSV_COLUMNS = [N_("Booking"), N_("Date"), N_("Start"), N_("End"), N_("Status"), N_("Customer"), N_("Phone"),
               N_("Plate"), N_("Services"), N_("Mechanic"), N_("Bay"), N_("Price"), N_("Paid"), N_("Balance"),
               N_("Currency"), N_("Payment method"), N_("Booked via")]  # fmt: skip
CHANNEL_NAMES = {"telegram": N_("Telegram"), "whatsapp": N_("WhatsApp"), "console": N_("console")}


def _text_cell(text: str) -> str:
    """Words people typed (a name from a Telegram profile, a plate), made safe for a
    spreadsheet: one starting like a formula is run by Excel when the owner opens it."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _word(names: dict[str, str], code: str | None, lang: str) -> str:
    """A status, payment method or channel as the owner says it; a code we have no word
    for (a newer one, say) stays as it is rather than leaving the cell empty."""
    return m.render(Msg(names[code]), lang) if code in names else code or ""


def export_csv(session: Session, shop_id: int, first: date, last: date, path: Path, lang: str = "en") -> tuple[Path, int]:
    """The bookings starting first..last (local days) as CSV; returns the path and row count.
    Headings and words are in `lang`; numbers, ISO dates, times and amounts stay plain,
    so a spreadsheet sums and sorts them in any language."""
    spec = av.shop_view(session, shop_id).spec
    tz = ZoneInfo(spec.timezone)
    lo, hi = av.local_bounds(spec.timezone, first, last)
    digits = get_currency_precision(spec.currency)
    staff = dict(session.execute(select(Staff.id, Staff.name).where(Staff.shop_id == shop_id)).all())
    bays = dict(session.execute(select(Bay.id, Bay.name).where(Bay.shop_id == shop_id)).all())
    rows = list(session.scalars(select(Booking).where(Booking.shop_id == shop_id, Booking.starts_at >= lo,
                                                      Booking.starts_at < hi).order_by(Booking.starts_at, Booking.id)))  # fmt: skip
    paid: dict[int, int] = {}
    if rows:
        for p in session.scalars(select(Payment).where(Payment.booking_id.in_([b.id for b in rows]),
                                                       Payment.status == "completed")):  # fmt: skip
            paid[p.booking_id] = paid.get(p.booking_id, 0) + p.amount_minor

    def amount(minor: int) -> str:
        return f"{minor / 10**digits:.{digits}f}" if digits else str(minor)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    with tmp.open("w", newline="", encoding="utf-8-sig") as f:  # the mark tells Excel it is UTF-8 (Cyrillic names)
        out = csv.writer(f)
        out.writerow([m.render(Msg(heading), lang) for heading in CSV_COLUMNS])
        for b in rows:
            customer = session.get(Customer, b.customer_id)
            vehicle = session.get(Vehicle, b.vehicle_id) if b.vehicle_id else None
            names = [m.render_param(n, lang) for n in _service_names(session, b)]
            start, end = b.starts_at.astimezone(tz), b.ends_at.astimezone(tz)
            got = paid.get(b.id, 0)
            owed = max(b.price_minor - got, 0) if b.status in payments.ACTIVE else 0  # a cancelled visit owes nothing
            out.writerow([b.code, start.date().isoformat(), f"{start:%H:%M}", f"{end:%H:%M}",
                          _word(notices.STAFF_STATUS_NAMES, b.status, lang),
                          _text_cell(customer.name or ""), customer.phone or "",
                          _text_cell(vehicle.plate if vehicle else ""), _text_cell("; ".join(names)),
                          staff.get(b.mechanic_id, ""), bays.get(b.bay_id, ""), amount(b.price_minor), amount(got),
                          amount(owed), b.currency, _word(digest.METHOD_NAMES, b.payment_method, lang),
                          _word(CHANNEL_NAMES, b.channel, lang)])  # fmt: skip
    tmp.replace(path)
    return path, len(rows)
