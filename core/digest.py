"""The owner's daily digest: the day's figures, tomorrow's schedule, and a 14-day chart.

Three layers, so the figures can be asserted exactly:
  `load_input` reads plain rows from the database, bookings as they stand at `now`
  (`lifecycle.status_now`, the one rule it applies);
  `compute` turns them into `Figures` — a pure function of plain values;
  `texts` and `write_chart` lay the figures out in the owner's language.
The cron job `send_due` sends each owner the digest once per shop per day, at the shop's
digest time (the outbox key "digest:<shop>:<day>:<owner>" is unique, so two cron
processes at once still send it once).

Definitions (the shop's local day):
- bookings by status: bookings starting that day, any status but an expired hold;
- revenue: payments completed that day, by method;
- deposits held: money paid in advance (deposits, prepayments) for bookings not yet
  completed or ended;
- no-shows: bookings of the day marked no-show; late cancellations: cancellations made
  that day that cost the customer a token;
- utilisation: minutes of work booked that day (confirmed up to completed) over the
  minutes the shop is open, per mechanic and per bay;
- unpaid balances: bookings ready or completed in the last 90 days with money owed;
- refunds due: payments marked refund_due, whenever they came;
- average rating: ratings given that day; low stock: parts below their minimum;
- the chart: for each of the last 14 days, its visits (bookings neither cancelled nor an
  expired hold, so fewer than "bookings by status" on a day with cancellations) and the
  money received.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal, get_currency_precision
from sqlalchemy import false, select
from sqlalchemy.orm import Session

from core import availability as av
from core import files, notices
from core import messages as m
from core.availability import local_bounds
from core.calendar import shop_calendar
from core.db import Database, session_of
from core.i18n import N_, NP_
from core.lifecycle import LIVE, status_now
from core.messages import Msg, Reply, render
from core.models import Bay, Booking, BookingEvent, Part, Payment, Rating, Service, Shop, Staff
from core.payments import METHOD_OF_PROVIDER, OWED_BACK

log = logging.getLogger(__name__)
CHART_DAYS = 14
UNPAID_DAYS = 90
WORKING = ("confirmed", "received", "in_progress", "awaiting_approval", "ready", "completed")
GONE = ("cancelled", "expired")  # never to happen (a past day's "tomorrow" keeps what went ahead since)
STATUS_ORDER = ("held", "confirmed", "received", "in_progress", "awaiting_approval", "ready", "completed",
                "needs_reschedule", "no_show", "cancelled")  # fmt: skip
METHOD_ORDER = ("mpesa", "kaspi", "cash")


# -- plain rows in ------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingRow:
    id: int
    code: str
    status: str
    starts_at: datetime
    ends_at: datetime
    mechanic_id: int | None
    bay_id: int | None
    price_minor: int
    service_names: tuple[dict, ...] = ()


@dataclass(frozen=True)
class PaymentRow:
    booking_id: int
    method: str
    purpose: str
    amount_minor: int
    status: str
    at: datetime | None  # completed_at (or created_at for a refund due)


@dataclass(frozen=True)
class EventRow:
    booking_id: int
    to_status: str
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class RatingRow:
    booking_id: int
    mechanic_id: int | None
    stars: int
    at: datetime


@dataclass(frozen=True)
class PartRow:
    code: str
    name: str
    stock: int
    min_level: int


@dataclass(frozen=True)
class DigestInput:
    shop: str
    timezone: str
    currency: str
    day: date
    open_minutes: int  # the day's opening time minus breaks; 0 when closed
    mechanics: tuple[tuple[int, str], ...]
    bays: tuple[tuple[int, str], ...]
    bookings: tuple[BookingRow, ...]
    payments: tuple[PaymentRow, ...]
    events: tuple[EventRow, ...]
    ratings: tuple[RatingRow, ...]
    parts: tuple[PartRow, ...]
    not_today: bool = False  # a day gone by, or one to come: "today" and "tomorrow" would be wrong


# -- figures out --------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    name: str
    minutes: int
    percent: int | None  # None on a closed day


@dataclass(frozen=True)
class Planned:
    starts_at: datetime
    code: str
    service_names: tuple[dict, ...]
    mechanic: str


@dataclass(frozen=True)
class ChartDay:
    day: date
    bookings: int
    revenue_minor: int


@dataclass(frozen=True)
class Figures:
    shop: str
    timezone: str
    currency: str
    day: date
    by_status: dict[str, int]
    revenue_by_method: dict[str, int]
    deposits_held_minor: int
    no_shows: int
    late_cancellations: int
    mechanics: tuple[Use, ...]
    bays: tuple[Use, ...]
    tomorrow: tuple[Planned, ...]
    unpaid: tuple[tuple[str, int], ...]  # (code, balance)
    refunds_due: tuple[int, int]  # (how many, amount)
    rating: tuple[float | None, int]  # (average, how many) of the day
    low_stock: tuple[PartRow, ...]
    chart: tuple[ChartDay, ...] = field(default=())
    not_today: bool = False

    @property
    def bookings(self) -> int:
        return sum(self.by_status.values())

    @property
    def revenue_minor(self) -> int:
        return sum(self.revenue_by_method.values())

    @property
    def unpaid_minor(self) -> int:
        return sum(b for _, b in self.unpaid)


def compute(data: DigestInput) -> Figures:
    """The digest's figures from plain rows. Pure: same rows, same figures."""
    tz = ZoneInfo(data.timezone)

    def local(at: datetime | None) -> date | None:
        return at.astimezone(tz).date() if at is not None else None

    day, tomorrow = data.day, data.day + timedelta(days=1)
    todays = [b for b in data.bookings if local(b.starts_at) == day and b.status != "expired"]
    by_status = Counter(b.status for b in todays)
    revenue: Counter = Counter()
    for p in data.payments:
        if p.status == "completed" and local(p.at) == day:
            revenue[METHOD_OF_PROVIDER.get(p.method, p.method)] += p.amount_minor  # to the owner, Kaspi is Kaspi
    status_of = {b.id: b.status for b in data.bookings}
    deposits = sum(p.amount_minor for p in data.payments if p.status == "completed" and p.purpose in ("deposit", "full")
                   and status_of.get(p.booking_id) in LIVE)  # fmt: skip
    late = {e.booking_id for e in data.events
            if e.to_status == "cancelled" and local(e.at) == day and (e.reason or "").startswith("late")}  # fmt: skip
    busy_m: Counter = Counter()
    busy_b: Counter = Counter()
    for b in todays:
        if b.status in WORKING:
            minutes = int((b.ends_at - b.starts_at).total_seconds() // 60)
            busy_m[b.mechanic_id] += minutes
            busy_b[b.bay_id] += minutes

    def use(name: str, minutes: int) -> Use:
        pct = round(100 * minutes / data.open_minutes) if data.open_minutes else None
        return Use(name, minutes, pct)

    names = dict(data.mechanics)
    planned = sorted((b for b in data.bookings if local(b.starts_at) == tomorrow and b.status not in GONE),
                     key=lambda b: (b.starts_at, b.code))  # fmt: skip
    paid: Counter = Counter()
    for p in data.payments:
        if p.status == "completed":
            paid[p.booking_id] += p.amount_minor
    unpaid = tuple((b.code, b.price_minor - paid[b.id]) for b in sorted(data.bookings, key=lambda b: (b.starts_at, b.code))
                   if b.status in ("ready", "completed") and local(b.starts_at) <= day and b.price_minor > paid[b.id])  # fmt: skip
    refunds = [p for p in data.payments if p.status in OWED_BACK]  # not yet known to be back
    stars = [r.stars for r in data.ratings if local(r.at) == day]
    chart_rev: Counter = Counter()
    chart_n: Counter = Counter()
    for p in data.payments:
        if p.status == "completed" and p.at is not None:
            chart_rev[local(p.at)] += p.amount_minor
    for b in data.bookings:
        if b.status not in GONE:
            chart_n[local(b.starts_at)] += 1
    first = day - timedelta(days=CHART_DAYS - 1)
    chart = tuple(ChartDay(first + timedelta(days=i), chart_n[first + timedelta(days=i)],
                           chart_rev[first + timedelta(days=i)]) for i in range(CHART_DAYS))  # fmt: skip
    return Figures(
        shop=data.shop, timezone=data.timezone, currency=data.currency, day=day,
        by_status={s: by_status[s] for s in [*STATUS_ORDER, *sorted(set(by_status) - set(STATUS_ORDER))] if by_status[s]},
        revenue_by_method={k: revenue[k] for k in sorted(revenue, key=lambda k: (METHOD_ORDER.index(k) if k in METHOD_ORDER else 99, k))},
        deposits_held_minor=deposits,
        no_shows=by_status["no_show"],
        late_cancellations=len(late),
        mechanics=tuple(use(name, busy_m[mid]) for mid, name in data.mechanics),
        bays=tuple(use(name, busy_b[bid]) for bid, name in data.bays),
        tomorrow=tuple(Planned(b.starts_at, b.code, b.service_names, names.get(b.mechanic_id, "-")) for b in planned),
        unpaid=unpaid,
        refunds_due=(len(refunds), sum(p.amount_minor for p in refunds)),
        rating=((round(sum(stars) / len(stars), 2) if stars else None), len(stars)),
        low_stock=tuple(p for p in data.parts if p.stock < p.min_level),
        chart=chart,
        not_today=data.not_today,
    )  # fmt: skip


# -- reading the rows ---------------------------------------------------------------------


def open_minutes(spec, closures: dict[date, bool], day: date) -> int:
    cal = shop_calendar(spec, closures, day, day)
    hours = cal.week.get(day.weekday())
    if hours is None or day in cal.closed_days:
        return 0
    def mins(t: time) -> int:  # noqa: E306
        return t.hour * 60 + t.minute
    return mins(hours.close) - mins(hours.open) - sum(mins(b) - mins(a) for a, b in hours.breaks)


def load_input(session: Session, shop_id: int, day: date, now: datetime) -> DigestInput:
    """Everything the digest of `day` needs, as plain rows, with bookings as they stand
    at `now` (a hold that ran out is expired, swept or not)."""
    view = av.shop_view(session, shop_id)
    spec = view.spec
    lo, hi = local_bounds(spec.timezone, day - timedelta(days=CHART_DAYS - 1), day + timedelta(days=1))
    unpaid_lo, _ = local_bounds(spec.timezone, day - timedelta(days=UNPAID_DAYS), day)
    services = {s.id: dict(s.names) for s in session.scalars(select(Service).where(Service.shop_id == shop_id))}
    # The chart's days, the unpaid of the last 90 days, and every live booking whenever
    # it starts (its deposit is held now).
    found = session.scalars(select(Booking).where(Booking.shop_id == shop_id, (
        (Booking.starts_at >= lo) & (Booking.starts_at < hi)) | (
        (Booking.starts_at >= unpaid_lo) & (Booking.starts_at < hi) & Booking.status.in_(("ready", "completed"))) | (
        Booking.status.in_(LIVE))).order_by(Booking.starts_at, Booking.id))  # fmt: skip
    rows = tuple(BookingRow(b.id, b.code, status_now(b.status, b.hold_expires_at, now), b.starts_at, b.ends_at,
                            b.mechanic_id, b.bay_id, b.price_minor,
                            tuple(services[i.service_id] for i in b.items if i.kind == "service" and i.service_id in services))
                 for b in found)  # fmt: skip
    ids = [b.id for b in rows]
    payments = session.scalars(select(Payment).where(Payment.shop_id == shop_id, (
        Payment.booking_id.in_(ids) if ids else false()) | Payment.status.in_(OWED_BACK) | (
        (Payment.status == "completed") & (Payment.completed_at >= lo) & (Payment.completed_at < hi))))  # fmt: skip
    day_lo, day_hi = local_bounds(spec.timezone, day, day)
    events = session.execute(select(BookingEvent.booking_id, BookingEvent.to_status, BookingEvent.reason, BookingEvent.at)
                             .join(Booking, Booking.id == BookingEvent.booking_id)
                             .where(Booking.shop_id == shop_id, BookingEvent.at >= day_lo, BookingEvent.at < day_hi))  # fmt: skip
    ratings = session.execute(select(Rating.booking_id, Rating.mechanic_id, Rating.stars, Rating.updated_at)
                              .where(Rating.shop_id == shop_id, Rating.updated_at >= day_lo, Rating.updated_at < day_hi))  # fmt: skip
    mechanics = session.execute(select(Staff.id, Staff.name).where(
        Staff.shop_id == shop_id, Staff.role == "mechanic", Staff.active.is_(True)).order_by(Staff.id))  # fmt: skip
    bays = session.execute(select(Bay.id, Bay.name).where(Bay.shop_id == shop_id, Bay.active.is_(True)).order_by(Bay.id))
    parts = session.scalars(select(Part).where(Part.shop_id == shop_id).order_by(Part.code))
    return DigestInput(
        shop=spec.name, timezone=spec.timezone, currency=spec.currency, day=day,
        open_minutes=open_minutes(spec, view.closures, day),
        mechanics=tuple((i, n) for i, n in mechanics), bays=tuple((i, n) for i, n in bays),
        bookings=rows,
        payments=tuple(PaymentRow(p.booking_id, p.provider, p.purpose, p.amount_minor, p.status,
                                  p.completed_at or (p.created_at if p.status in OWED_BACK else None))
                       for p in payments),
        events=tuple(EventRow(*e) for e in events),
        ratings=tuple(RatingRow(*r) for r in ratings),
        parts=tuple(PartRow(p.code, p.name, p.stock, p.min_level) for p in parts),
        not_today=day != view.local_day(now),
    )  # fmt: skip


def figures_for(session: Session, shop_id: int, day: date, now: datetime) -> Figures:
    """The digest of `day`, with bookings as they stand at `now`."""
    return compute(load_input(session, shop_id, day, now))


# -- laying it out ------------------------------------------------------------------------

METHOD_NAMES = {"mpesa": N_("M-Pesa"), "kaspi": N_("Kaspi"), "cash": N_("cash")}


def texts(f: Figures) -> list[Msg]:
    """The digest as chat sentences (the owner's language is applied when rendered)."""
    money = lambda minor: m.money(minor, f.currency)  # noqa: E731
    at_noon = datetime.combine(f.day, time(12), ZoneInfo(f.timezone))
    out = [Msg(N_("Daily digest of {shop} for {day}"), {"shop": f.shop, "day": m.day(at_noon, f.timezone)})]
    if f.bookings:
        parts = [m.message(Msg(N_("{status}: {n}"), {"status": m.message(Msg(notices.STAFF_STATUS_NAMES.get(s, s))), "n": n}))
                 for s, n in f.by_status.items()]  # fmt: skip
        counted = N_("Bookings that day: {n} ({detail})") if f.not_today else N_("Bookings today: {n} ({detail})")
        out.append(Msg(counted, {"n": f.bookings, "detail": m.join(parts)}))
    else:
        out.append(Msg(N_("Bookings that day: none") if f.not_today else N_("Bookings today: none")))
    methods = [m.message(Msg(N_("{method} {amount}"), {"method": m.message(Msg(METHOD_NAMES.get(k, k))), "amount": money(v)}))
               for k, v in f.revenue_by_method.items()]  # fmt: skip
    out.append(Msg(N_("Revenue: {total} ({detail})"), {"total": money(f.revenue_minor), "detail": m.join(methods)})
               if methods else Msg(N_("Revenue: {total}"), {"total": money(0)}))  # fmt: skip
    out.append(Msg(N_("Deposits held: {amount}"), {"amount": money(f.deposits_held_minor)}))
    out.append(Msg(N_("No-shows: {n}. Late cancellations: {late}."), {"n": f.no_shows, "late": f.late_cancellations}))
    for title, uses in ((N_("Mechanics busy: {detail}"), f.mechanics), (N_("Bays busy: {detail}"), f.bays)):
        shown = [m.join([u.name, m.percent(u.percent) if u.percent is not None else "-"], " ") for u in uses]
        out.append(Msg(title, {"detail": m.join(shown) if shown else "-"}))
    if f.tomorrow:
        one, many = NP_("The next day: {n} booking", "The next day: {n} bookings") if f.not_today else \
            NP_("Tomorrow: {n} booking", "Tomorrow: {n} bookings")  # fmt: skip
        out.append(Msg(one, {}, plural=many, n=len(f.tomorrow)))
        for p in f.tomorrow:
            out.append(Msg(N_("{time} {code} {services} ({mechanic})"), {
                "time": m.clock(p.starts_at, f.timezone), "code": p.code,
                "services": m.join([m.names(n) for n in p.service_names]), "mechanic": p.mechanic}))  # fmt: skip
    else:
        out.append(Msg(N_("The next day: no bookings") if f.not_today else N_("Tomorrow: no bookings yet")))
    if f.unpaid:
        detail = [m.message(Msg(N_("{code} {amount}"), {"code": c, "amount": money(v)})) for c, v in f.unpaid]
        out.append(Msg(N_("Unpaid balances: {total} ({detail})"), {"total": money(f.unpaid_minor), "detail": m.join(detail)}))
    else:
        out.append(Msg(N_("Unpaid balances: none")))
    if f.refunds_due[0]:
        out.append(Msg(N_("Refunds due: {n}, {amount}"), {"n": f.refunds_due[0], "amount": money(f.refunds_due[1])}))
    avg, n = f.rating
    one, many = NP_("Average rating that day: {avg} of 5 ({n} rating)", "Average rating that day: {avg} of 5 ({n} ratings)") \
        if f.not_today else NP_("Average rating today: {avg} of 5 ({n} rating)", "Average rating today: {avg} of 5 ({n} ratings)")  # fmt: skip
    none = N_("Average rating that day: no ratings") if f.not_today else N_("Average rating today: no ratings")
    out.append(Msg(one, {"avg": m.decimal(avg)}, plural=many, n=n) if n else Msg(none))
    if f.low_stock:
        low = [f"{p.name} {p.stock}/{p.min_level}" for p in f.low_stock]
        out.append(Msg(N_("Low stock: {parts}"), {"parts": ", ".join(low)}))
    else:
        out.append(Msg(N_("Stock: nothing below its minimum")))
    return out


def write_chart(f: Figures, lang: str, path: Path) -> Path:
    """A PNG of the last 14 days: bookings (bars) and revenue (line); written atomically."""
    fig = draw_chart(f, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return path


def draw_chart(f: Figures, lang: str):
    """The chart as a matplotlib Figure: both axes from 0, whole bookings, and money
    written out in full the reader's way (not "1e6")."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.add_subplot()
    days = [c.day for c in f.chart]
    labels = [d.strftime("%d.%m") for d in days]
    xs = list(range(len(labels)))
    ax.bar(xs, [c.bookings for c in f.chart], color="#4C78A8", label=render(Msg(N_("Bookings")), lang))
    ax.set_xticks(xs, labels)
    ax.set_ylabel(render(Msg(N_("Bookings")), lang))
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylim(0, max([c.bookings for c in f.chart] + [1]) * 1.15)  # a quiet fortnight: 0 to 1, not -0.04 to 0.04
    digits = get_currency_precision(f.currency)
    revenue = [c.revenue_minor / 10**digits for c in f.chart]
    rev = ax.twinx()
    rev.plot(xs, revenue, color="#F58518", marker="o", label=render(Msg(N_("Revenue")), lang))
    rev.set_ylabel(f"{render(Msg(N_('Revenue')), lang)}, {f.currency}")
    rev.set_ylim(0, max(revenue + [1]) * 1.15)
    rev.yaxis.set_major_formatter(FuncFormatter(lambda value, _: format_decimal(value, "#,##0", locale=lang)))
    ax.set_title(render(Msg(N_("{shop}: the last 14 days"), {"shop": f.shop}), lang))
    bars, lines = ax.get_legend_handles_labels(), rev.get_legend_handles_labels()
    ax.legend(bars[0] + lines[0], bars[1] + lines[1], loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


# -- sending ------------------------------------------------------------------------------


def chart_path(out_dir: Path, slug: str, day: date, lang: str) -> Path:
    return Path(out_dir) / "digests" / f"{slug}-{day.isoformat()}-{lang}.png"


def send(session: Session, shop_id: int, day: date, now: datetime, out_dir: Path, owner: Staff | None = None,
         key: str | None = None, owners_since: datetime | None = None) -> int:  # fmt: skip
    """Send the digest of `day` (text and chart) to `owner`, or to every verified owner
    (with `owners_since`, only those verified by then); with `key`, once per owner per
    key. Returns how many owners were sent it."""
    from core.models import OutboxMessage

    targets = [owner] if owner is not None else notices.owners(session, shop_id)
    targets = [o for o in targets if notices.staff_reach(o) is not None]
    if owners_since is not None:
        targets = [o for o in targets if o.verified_at is not None and o.verified_at <= owners_since]
    if key is not None:
        targets = [o for o in targets if session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.dedupe_key == f"{key}:owner{o.id}")) is None]  # fmt: skip
    if not targets:
        return 0
    figures = figures_for(session, shop_id, day, now)
    sent = 0
    for target in targets:
        channel, address = notices.staff_reach(target)
        if send_to(session, shop_id, figures, now, out_dir, channel, address, target.language,
                   f"{key}:owner{target.id}" if key else None, name=target.name):  # fmt: skip
            sent += 1
    return sent


def send_to(session: Session, shop_id: int, figures: Figures, now: datetime, out_dir: Path, channel: str,
            address: str, language: str, key: str | None = None, name: str = "") -> bool:  # fmt: skip
    """Write the digest (text, then the chart as a photo) to one chat; False if `key` was
    used before (someone else sent it already). On WhatsApp, outside its 24-hour window,
    the shop's staff template carries the first figures (the chart goes only inside it)."""
    from core import outbox

    sentences = texts(figures)
    first = "; ".join(render(t, language) for t in sentences[:3])
    extra = notices.staff_template(name, first) if channel == "whatsapp" else None
    row = outbox.send(session, shop_id=shop_id, channel=channel, address=address, language=language,
                      reply=Reply(tuple(sentences)), dedupe_key=key, now=now, extra=extra)  # fmt: skip
    if row is None:
        return False
    slug = session.scalar(select(Shop.slug).where(Shop.id == shop_id))
    path = write_chart(figures, language, chart_path(out_dir, slug, figures.day, language))
    caption = Reply((Msg(N_("{shop}: the last 14 days"), {"shop": figures.shop}),))
    outbox.send(session, shop_id=shop_id, channel=channel, address=address, language=language, reply=caption,
                dedupe_key=f"{key}:chart" if key else None, now=now, kind="photo",
                extra=files.keep(session, shop_id, path, now))  # fmt: skip
    return True


CATCH_UP_UNTIL = time(6)  # local: a missed digest is sent late only before the working day


def send_due(db: Database | Session, now: datetime, out_dir: Path) -> int:
    """The cron job: every shop whose digest time has come today gets its digest, once.
    A day's digest that no pass sent before midnight (a digest time just before it, or
    the cron down over it) still goes in the small hours, late rather than never."""
    sent = 0
    with session_of(db) as s:
        for shop_id in list(s.scalars(select(Shop.id).order_by(Shop.id))):
            spec = av.shop_view(s, shop_id).spec
            local = now.astimezone(ZoneInfo(spec.timezone))
            day, since = local.date(), None
            if local.time() < spec.digest_time:
                if local.time() >= CATCH_UP_UNTIL:
                    continue
                day -= timedelta(days=1)  # yesterday's, still owed to an owner who was there at its time
                since = datetime.combine(day, spec.digest_time, local.tzinfo)
            sent += send(s, shop_id, day, now, out_dir, key=f"digest:{shop_id}:{day.isoformat()}", owners_since=since)
    if sent:
        log.info("digests: sent to %d owner(s)", sent)
    return sent

