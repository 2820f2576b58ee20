"""What a shop can offer right now: the database side of the slot engine.

Reads a shop's rules, its mechanics and bays and what already occupies them, and hands
plain values to core.slots. Also owns the lock every booking writer takes first — one
transaction-level advisory lock per (shop, local day), always in ascending day order —
so concurrent holds on PostgreSQL queue up briefly instead of deadlocking, while the
exclusion constraints stay the guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, column, or_, select, text, update
from sqlalchemy.orm import Session

from core import slots
from core.calendar import shop_calendar
from core.db import per_transaction
from core.lifecycle import OCCUPYING, BookingStatus
from core.models import Bay, Booking, Closure, Service, Shop, Staff, utcnow
from core.precompiled import Precompiled, one_of
from core.shopfile import ShopSpec, parse_shop


class UnknownService(LookupError):
    """A service id that is not (or no longer) offered by this shop."""


@dataclass(frozen=True)
class ServiceInfo:
    """A service as a booking needs it (a plain value, safe to share between threads)."""

    id: int
    code: str
    names: dict
    category: str
    duration_minutes: int
    price_minor: int
    deposit_minor: int | None
    deposit_percent: int | None

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("en") or next(iter(self.names.values()))


@dataclass(frozen=True)
class Visit:
    """The services of one visit, with what the slot engine needs to know about them."""

    services: tuple[ServiceInfo, ...]

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=sum(s.duration_minutes for s in self.services))

    @property
    def skills(self) -> frozenset[str]:
        return frozenset(s.category for s in self.services)

    @property
    def price_minor(self) -> int:
        return sum(s.price_minor for s in self.services)


@dataclass(frozen=True)
class ShopView:
    """A shop as the slot engine sees it: rules, mechanics on shift, bays, services and
    closures. Immutable, and cached per process until the shop row's `updated_at` moves
    (every change to staff, bays, services or closures touches it: see `touch_shop`)."""

    shop_id: int
    code_prefix: str
    spec: ShopSpec
    mechanics: tuple[slots.Mechanic, ...]
    bay_ids: tuple[int, ...]
    services: dict[int, ServiceInfo]
    closures: dict[date, bool]
    # Telegram users verified as this shop's staff: a customer's message needs no lookup.
    staff_telegram_ids: frozenset[int] = frozenset()
    stamp: datetime | None = None  # the shop row's updated_at this view was built at

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.spec.timezone)

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()


_VIEWS: dict[tuple[int, datetime], ShopView] = {}


def shop_view(session: Session, shop_id: int) -> ShopView:
    """The shop's current view: one small query per transaction when nothing changed."""
    in_this_transaction = per_transaction(session, "shop_views")
    if shop_id in in_this_transaction:
        return in_this_transaction[shop_id]
    stamp = _STAMP.scalar(session, {"shop": shop_id})
    if stamp is None:
        raise LookupError(f"no shop with id {shop_id}")
    return _current(session, shop_id, stamp)


_SHOPS = Shop.__table__.c
# compiled once, run on the driver (core.precompiled): every message asks one of them
_STAMP = Precompiled(select(_SHOPS.updated_at).where(_SHOPS.id == bindparam("shop")))
_BY_SLUG = Precompiled(select(_SHOPS.id, _SHOPS.updated_at).where(_SHOPS.slug == bindparam("slug")))


def shop_view_by_slug(session: Session, slug: str) -> ShopView | None:
    """The view of the shop a webhook path names (None for an unknown slug), found with
    the same one small query."""
    found = _BY_SLUG.first(session, {"slug": slug})
    if found is None:
        return None
    shop_id, stamp = found
    view = per_transaction(session, "shop_views").get(shop_id) or _current(session, shop_id, stamp)
    _BY_SLUG_LAST.setdefault(session.get_bind(), {})[slug] = view
    return view


class ShopChanged(Exception):
    """The shop's view a message was begun with (`recent_view`) is out of date: undo the
    transaction and begin the message again with the view read afresh."""


def recent_view(session: Session, slug: str) -> ShopView | None:
    """The view of the shop a webhook path names as this process last found it, taken
    for this transaction without a query, unconfirmed; None when there is none. The
    message's first call (core/chats.take_message) confirms it, or raises ShopChanged
    when the shop changed since (PostgreSQL)."""
    view = _BY_SLUG_LAST.get(session.get_bind(), {}).get(slug)
    if view is not None:
        per_transaction(session, "shop_views")[view.shop_id] = view
        per_transaction(session, _UNCONFIRMED)[view.shop_id] = view.stamp
    return view


def unconfirmed_stamp(session: Session, shop_id: int) -> datetime | None:
    """The stamp of the shop's view this transaction took unconfirmed (`recent_view`), to
    be confirmed once, by the caller; None when there is none."""
    return per_transaction(session, _UNCONFIRMED).pop(shop_id, None)


_UNCONFIRMED = "unconfirmed_shop_views"
# by engine (hashed as itself: a URL is hashed by its text, made again each time), then slug
_BY_SLUG_LAST: WeakKeyDictionary[object, dict[str, ShopView]] = WeakKeyDictionary()


def _current(session: Session, shop_id: int, stamp: datetime) -> ShopView:
    view = _VIEWS.get((shop_id, stamp))
    if view is None:
        if len(_VIEWS) > 256:
            _VIEWS.clear()
        view = _VIEWS[(shop_id, stamp)] = _build_view(session, shop_id, stamp)
    per_transaction(session, "shop_views")[shop_id] = view
    return view


def _build_view(session: Session, shop_id: int, stamp: datetime) -> ShopView:
    shop = session.get(Shop, shop_id)
    staff = session.scalars(
        select(Staff).where(Staff.shop_id == shop_id, Staff.role == "mechanic",
                            Staff.active.is_(True), Staff.on_shift.is_(True)).order_by(Staff.id)
    )  # fmt: skip
    bays = session.scalars(
        select(Bay.id).where(Bay.shop_id == shop_id, Bay.active.is_(True)).order_by(Bay.id)
    )
    services = session.scalars(select(Service).where(Service.shop_id == shop_id, Service.active.is_(True)))
    closures = session.execute(select(Closure.day, Closure.closed).where(Closure.shop_id == shop_id))
    return ShopView(
        shop_id=shop_id, code_prefix=shop.code_prefix, spec=parse_shop(shop.config, stored=True),
        mechanics=tuple(slots.Mechanic(m.id, frozenset(m.skills)) for m in staff),
        bay_ids=tuple(bays),
        services={s.id: service_info(s) for s in services},
        closures=dict(closures.all()),
        staff_telegram_ids=frozenset(session.scalars(select(Staff.telegram_user_id).where(
            Staff.shop_id == shop_id, Staff.active.is_(True), Staff.verified_at.is_not(None),
            Staff.telegram_user_id.is_not(None)))),
        stamp=stamp,
    )  # fmt: skip


def forget_view(session: Session, shop_id: int) -> None:
    """Read the shop's view afresh the next time this transaction asks for it."""
    per_transaction(session, "shop_views").pop(shop_id, None)


def touch_shop(session: Session, shop_id: int) -> None:
    """Mark the shop changed, so every process rebuilds its view on next use.

    The stamp is a version as much as a time: it always moves forward, even for two
    changes within the same microsecond.
    """
    session.flush()
    forget_view(session, shop_id)
    current = session.scalar(select(Shop.updated_at).where(Shop.id == shop_id).with_for_update())
    stamp = max(utcnow(), current + timedelta(microseconds=1))
    session.execute(update(Shop).where(Shop.id == shop_id).values(updated_at=stamp))


def visit(session: Session, shop_id: int, service_ids, view: ShopView | None = None, *,
          booked: bool = False) -> Visit:  # fmt: skip
    """The visit made of these services, in the order the customer chose them. `booked`:
    the services of a booking already made, which it keeps (to be moved, or handed to
    another mechanic) even once the shop no longer offers them to new bookings."""
    if not service_ids:
        raise UnknownService("a visit needs at least one service")
    view = view or shop_view(session, shop_id)
    known = view.services
    if booked and not set(service_ids) <= known.keys():
        known = known | {s.id: service_info(s) for s in session.scalars(select(Service).where(
            Service.shop_id == shop_id, Service.id.in_(set(service_ids) - known.keys())))}  # fmt: skip
    missing = [i for i in service_ids if i not in known]
    if missing:
        raise UnknownService(f"service {missing[0]} is not offered by shop {shop_id}")
    return Visit(tuple(known[i] for i in service_ids))


def service_info(row: Service) -> ServiceInfo:
    return ServiceInfo(row.id, row.code, dict(row.names), row.category, row.duration_minutes, row.price_minor,
                       row.deposit_minor, row.deposit_percent)  # fmt: skip


def is_open(session: Session, view: ShopView, day: date) -> bool:
    """Does the shop take visits on `day` (its hours, its closures, public holidays)?"""
    return slots.is_open(calendar(session, view, day, day), day)


def calendar(session: Session, view: ShopView, first: date, last: date) -> slots.Calendar:
    """The calendar for first..last, from the evening before: a shop open past midnight
    serves 01:00 on the 2nd as part of the 1st, whose closures must be known too."""
    first = first - timedelta(days=1)
    closures = {d: c for d, c in view.closures.items() if first <= d <= last}
    return shop_calendar(view.spec, closures, first, last)


def occupied(session: Session, shop_id: int, start: datetime, end: datetime, now: datetime,
             exclude_booking: int | None = None) -> list[slots.Occupied]:  # fmt: skip
    """Everything that holds a mechanic or bay of the shop between start and end."""
    rows = _OCCUPIED.rows(session, {"shop": shop_id, "start": start, "end": end, "now": now,
                                    "exclude": exclude_booking or 0})  # no booking has id 0  # fmt: skip
    return [slots.Occupied(*row) for row in rows]


# Run on the driver (it runs on every look at a day); a plain table query, no ORM entities. A
# booking occupies its mechanic and bay by its status; a hold only until it expires.
# The function of migration 0005 applies the same rule: change the two together.
_B = Booking.__table__.c
_OCCUPIED = Precompiled(select(_B.starts_at, _B.ends_at, _B.mechanic_id, _B.bay_id).where(
    _B.shop_id == bindparam("shop"), _B.starts_at < bindparam("end"), _B.blocks_until > bindparam("start"),
    or_(one_of(_B.status, [s for s in OCCUPYING if s != BookingStatus.HELD]),
        and_(_B.status == BookingStatus.HELD, _B.hold_expires_at > bindparam("now"))),
    _B.id != bindparam("exclude"),
))  # fmt: skip


def local_bounds(timezone: str, first: date, last: date) -> tuple[datetime, datetime]:
    """The instants the local days first..last begin and end at (exactly)."""
    tz = ZoneInfo(timezone)
    return datetime.combine(first, time.min, tz), datetime.combine(last + timedelta(days=1), time.min, tz)


def window(view: ShopView, first: date, last: date) -> tuple[datetime, datetime]:
    """UTC instants covering the local days first..last, with a day of margin each side
    (a shop open past midnight, a long job, the buffer)."""
    tz = view.tz
    start = datetime.combine(first - timedelta(days=1), datetime.min.time(), tz)
    end = datetime.combine(last + timedelta(days=2), datetime.min.time(), tz)
    return start, end


def free_slots(session: Session, shop_id: int, service_ids, first: date, last: date,
               now: datetime, moving: int | None = None) -> list[slots.Slot]:  # fmt: skip
    """Start times the customer can choose for this visit on the local days first..last
    (`moving`: a booking being moved, whose own time does not stand in its way)."""
    view = shop_view(session, shop_id)
    v = visit(session, shop_id, service_ids, view, booked=moving is not None)
    start, end = window(view, first, last)
    return slots.free_slots(
        calendar(session, view, first, last), view.mechanics, view.bay_ids,
        occupied(session, shop_id, start, end, now, moving), v.duration, v.skills, first, last, now,
    )  # fmt: skip


def free_days(session: Session, shop_id: int, service_ids, first: date, last: date,
              now: datetime, moving: int | None = None) -> list[date]:  # fmt: skip
    """The local days in first..last that still have a slot for this visit (`moving` as
    for free_slots)."""
    view = shop_view(session, shop_id)
    v = visit(session, shop_id, service_ids, view, booked=moving is not None)
    start, end = window(view, first, last)
    return slots.free_days(
        calendar(session, view, first, last), view.mechanics, view.bay_ids,
        occupied(session, shop_id, start, end, now, moving), v.duration, v.skills, first, last, now,
    )  # fmt: skip


def lock_days(session: Session, shop_id: int, days: list[date] | set[date]) -> None:
    """Serialise booking writers per (shop, local day), in one global order.

    PostgreSQL: transaction-level advisory locks, released at commit or rollback.
    SQLite: every write transaction is BEGIN IMMEDIATE, so writers are already serial.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for day in sorted(set(days)):
        if _holds_day(session, shop_id, day):  # a hold confirmed in the transaction that made it
            continue
        session.execute(_LOCK_DAY, {"shop": shop_id, "day": day.toordinal()})
        _took_day(session, shop_id, day)


_LOCK_DAY = text("SELECT pg_advisory_xact_lock(:shop, :day)")


def _took_day(session: Session, shop_id: int, day: date) -> None:
    """Remember that this transaction (or the savepoint it is in) holds the day's lock."""
    per_transaction(session, "day_locks")[(shop_id, day)] = _innermost(session)


def _holds_day(session: Session, shop_id: int, day: date) -> bool:
    """Whether the day's lock was taken in this transaction, in a part of it still going
    on: a savepoint rolled back lets go of the locks taken in it (one released hands them
    on, but is not followed here: the lock is then asked for again, which is harmless)."""
    taken_in = per_transaction(session, "day_locks").get((shop_id, day))
    current = _innermost(session)
    while current is not None:
        if current is taken_in:
            return True
        current = current.parent
    return False


def _innermost(session: Session):
    return session.get_nested_transaction() or session.get_transaction()


@dataclass(frozen=True)
class DayLook:
    """What a writer saw of a day: whether it holds the day's lock, what occupies the
    day, and whether holds that ran out still sit there unswept (they block nothing,
    but the exclusion constraints still count them until they are marked expired)."""

    ours: bool
    busy: list[slots.Occupied]
    overdue_holds: bool


def take_day_and_look(session: Session, shop_id: int, day: date, start: datetime, end: datetime,
                      now: datetime) -> DayLook:  # fmt: skip
    """Take the day's lock (as `lock_days`) if it is free, else wait until its holder
    finishes without taking it; then look at start..end as it is then.

    When fifty writers race for a day, the losers wake together and each looks at what
    was taken, instead of queueing for the lock one by one. On PostgreSQL this is one
    round trip (the function of migration 0005: a VOLATILE function, so under READ
    COMMITTED its look is a statement with a fresh snapshot, which sees what the holder
    committed). SQLite: writers are serial already, so the day is always ours, and
    overdue holds are not counted (assumed present)."""
    if session.get_bind().dialect.name != "postgresql":
        return lock_day_and_look(session, shop_id, day, start, end, now)
    connection = session.connection()  # the one the statement runs on, to close if cut short
    try:
        row = _TAKE_DAY_AND_LOOK.first(session, {
            "shop": shop_id, "day": day.toordinal(), "start": start, "end": end, "now": now,
            "occupying": _OCCUPYING_NAMES, "held": BookingStatus.HELD.value,
        })  # fmt: skip
    except BaseException as exc:
        # Cancelled (a statement timeout, a job's timeout, an interrupt) between taking the
        # shared lock and letting go of it, the lock would stay with the connection, which
        # a rollback does not release: closing the connection does.
        connection.invalidate(exc)
        raise
    ours, starts, ends, mechanics, bays, overdue = row
    if ours:
        _took_day(session, shop_id, day)
    busy = [slots.Occupied(*taken) for taken in zip(starts or (), ends or (), mechanics or (), bays or (), strict=True)]
    return DayLook(ours, busy, overdue_holds=overdue > 0)


def lock_day_and_look(session: Session, shop_id: int, day: date, start: datetime, end: datetime,
                      now: datetime) -> DayLook:  # fmt: skip
    """Queue for the day's lock like any writer, then look: the day is ours. Overdue
    holds are not counted here (assumed present)."""
    lock_days(session, shop_id, [day])
    return DayLook(True, occupied(session, shop_id, start, end, now), overdue_holds=True)


_OCCUPYING_NAMES = sorted(s.value for s in OCCUPYING)
# Run on the driver (core.precompiled): every hold looks so. Its values go to psycopg and
# come back as it makes them (the function's own types), as through Session.execute.
_TAKE_DAY_AND_LOOK = Precompiled(text(
    "SELECT * FROM pitstop_take_day_and_look(:shop, :day, :start, :end, :now, :occupying, :held)"
).columns(*(column(name) for name in ("ours", "starts", "ends", "mechanic_ids", "bay_ids", "overdue_holds"))))
