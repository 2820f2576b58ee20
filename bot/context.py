"""The engine's view of the world, read from the database inside the message's
transaction (implements bot.model.Context)."""

from __future__ import annotations

from collections import namedtuple
from datetime import date, datetime
from functools import cached_property
from itertools import groupby

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.model import (
    BookingRef,
    BookingView,
    CustomerInfo,
    HistoryLine,
    ServiceView,
    ShopInfo,
    VehicleView,
)
from core import availability as av
from core import booking, customers, outbox, payments, policy
from core.lifecycle import BookingStatus, status_now
from core.models import Booking, BookingItem, Customer, OutboxMessage, Service, Vehicle
from core.precompiled import Precompiled


class DbContext:
    def __init__(self, session: Session, shop_id: int, customer: Customer, now: datetime,
                 language_hint: str | None = None, numbered: bool = True):  # fmt: skip
        self.session, self.now, self.language_hint, self.numbered = session, now, language_hint, numbered
        self.view = av.shop_view(session, shop_id)
        self._customer = customer
        self.shop = shop_info(self.view)
        self._free_times: dict[tuple, list[datetime]] = {}

    @cached_property
    def customer(self) -> CustomerInfo:
        c = self._customer
        language = c.language if c.language in self.shop.languages else None
        tokens = booking.tokens_now(c, self.now, self.view).count  # as of today: a new month refills them
        return CustomerInfo(c.id, c.name, c.phone, language, tokens)

    @cached_property
    def vehicles(self) -> tuple[VehicleView, ...]:
        """Read apart from the customer, by the steps that show or check cars: most steps
        ask only the customer's language or tokens (a statement fewer for them)."""
        return tuple(VehicleView(vehicle_id, plate, " ".join(x for x in (make, model) if x) or None)
                     for vehicle_id, plate, make, model in _VEHICLES.rows(self.session, {"customer": self._customer.id}))  # fmt: skip

    def refresh(self) -> None:
        """Forget what was read of the customer, their cars and bookings and the free times (a
        command may have changed them)."""
        self.__dict__.pop("customer", None)
        self.__dict__.pop("vehicles", None)
        self.__dict__.pop("_upcoming", None)
        self._free_times.clear()

    def today(self) -> date:
        return self.view.local_day(self.now)

    def free_days(self, service_ids, first: date, last: date, moving: int | None = None) -> list[date]:
        if not service_ids:
            return []
        return av.free_days(self.session, self.view.shop_id, list(service_ids), first, last, self.now,
                            self._own(moving))  # fmt: skip

    def free_times(self, service_ids, day: date, moving: int | None = None) -> list[datetime]:
        """Read once a step per question: a typed day is checked, then its times listed."""
        if not service_ids:
            return []
        key = (tuple(service_ids), day, moving)
        if key not in self._free_times:
            self._free_times[key] = [s.start for s in av.free_slots(
                self.session, self.view.shop_id, list(service_ids), day, day, self.now, self._own(moving))]  # fmt: skip
        return list(self._free_times[key])

    def _own(self, booking_id: int | None) -> int | None:
        """A booking of this customer's (one being moved), else None: another's time is never set aside."""
        row = self.session.get(Booking, booking_id) if booking_id is not None else None
        return booking_id if row is not None and row.customer_id == self._customer.id else None

    def is_open(self, day: date) -> bool:
        return av.is_open(self.session, self.view, day)

    def bookings(self) -> list[BookingView]:
        return list(self._upcoming)  # read once a step: several questions of a step ask it

    @cached_property
    def _upcoming(self) -> tuple[BookingView, ...]:
        """With their cars and lines, in one statement: several steps of a visit ask it."""
        rows = [_Line(*row) for row in _UPCOMING.rows(self.session, {"customer": self._customer.id, "now": self.now})]
        views = []
        for _, lines in groupby(rows, key=lambda row: row.id):
            lines = list(lines)
            b = lines[0]
            if status_now(b.status, b.hold_expires_at, self.now) == BookingStatus.EXPIRED:
                continue
            items = [line for line in lines if line.kind is not None]
            views.append(BookingView(b.id, b.code, b.starts_at, b.status,
                                     self._shown([(i.kind, i.item_status, i.service_id, i.description) for i in items]),
                                     b.price_minor,
                                     b.plate, tuple(i.service_id for i in items if i.kind == "service"),
                                     b.deposit_minor))  # fmt: skip
        return tuple(views)

    def _shown(self, lines: list[tuple]) -> tuple[dict[str, str], ...]:
        """The names of a booking's lines the customer is shown, from (kind, status,
        service id, description): its services, and extra work they approved."""
        return tuple(self._names(service_id, description) for kind, status, service_id, description in lines
                     if kind == "service" or status == "approved")  # fmt: skip

    def _names(self, service_id: int | None, description: str) -> dict[str, str]:
        """A line's name in every language: its service's (one no longer offered is read
        from its row), or, for extra work, the mechanic's words."""
        service = self.view.services.get(service_id) if service_id else None
        if service is None and service_id:
            return dict(self.session.get(Service, service_id).names)
        return dict(service.names) if service else {"en": description}

    def paid(self, booking_id: int) -> int:
        return payments.paid_total(self.session, booking_id)

    def notice_holds(self, outbox_id: int | None) -> bool:
        row = self.session.get(OutboxMessage, outbox_id) if outbox_id is not None else None
        return row is None or outbox.outdated(self.session, row, self.now, again=True) is None  # one from before: kept

    def history(self, vehicle_id: int) -> list[HistoryLine]:
        rows = self.session.scalars(select(Booking).where(
            Booking.vehicle_id == vehicle_id, Booking.customer_id == self._customer.id,
            Booking.status == BookingStatus.COMPLETED).order_by(Booking.starts_at.desc()).limit(10))  # fmt: skip
        return [HistoryLine(b.starts_at, b.code,
                            self._shown([(i.kind, i.status, i.service_id, i.description) for i in b.items]))
                for b in rows]  # fmt: skip

    def booking_keeping(self, vehicle_id: int) -> BookingRef | None:
        row = customers.booking_keeping(self.session, vehicle_id, self.now)
        return BookingRef(row.id, row.code, row.starts_at) if row is not None else None


# The cars on a customer's list (not those they removed), read on most steps of a visit:
# compiled once, run on the driver (core.precompiled).
_VEHICLES = Precompiled(select(Vehicle.id, Vehicle.plate, Vehicle.make, Vehicle.model).where(
    Vehicle.customer_id == bindparam("customer"), Vehicle.removed_at.is_(None)).order_by(Vehicle.id))  # fmt: skip


# A customer's bookings still to come (or their car still at the shop), each with its car's
# plate and its lines: a booking has a row per line (one with no lines, a row of its own).
_UPCOMING = Precompiled(
    select(Booking.id, Booking.code, Booking.starts_at, Booking.status, Booking.hold_expires_at,
           Booking.price_minor, Booking.deposit_minor, Vehicle.plate, BookingItem.service_id, BookingItem.kind,
           BookingItem.status.label("item_status"), BookingItem.description)
    .outerjoin(Vehicle, Vehicle.id == Booking.vehicle_id).outerjoin(BookingItem, BookingItem.booking_id == Booking.id)
    .where(Booking.customer_id == bindparam("customer"), *customers.STANDING)
    .order_by(Booking.starts_at, Booking.id, BookingItem.id)
)  # fmt: skip
_Line = namedtuple("_Line", [c.key for c in _UPCOMING.statement.selected_columns])


def shop_info(view: av.ShopView) -> ShopInfo:
    """What the dialogue knows of the shop: built once per view of it (a view is the
    shop as of its last change), not on every message."""
    known = _INFOS.get(id(view))
    if known is None or known[0] is not view:
        if len(_INFOS) > 256:
            _INFOS.clear()
        known = _INFOS[id(view)] = (view, _shop_info(view))
    return known[1]


_INFOS: dict[int, tuple[av.ShopView, ShopInfo]] = {}  # by id(view), the view kept so that its id is not reused


def _shop_info(view: av.ShopView) -> ShopInfo:
    spec = view.spec
    services = tuple(
        ServiceView(s.id, s.names, s.duration_minutes, s.price_minor,
                    policy.deposit_due([policy.PricedService(s.price_minor, s.deposit_minor, s.deposit_percent)], 1,
                                      policy.major_unit(spec.currency)))
        for s in sorted(view.services.values(), key=lambda s: s.id)
    )  # fmt: skip
    return ShopInfo(spec.name, spec.languages, spec.timezone, spec.currency, spec.country,
                    spec.payment_methods, int(spec.cancellation.late_window.total_seconds() // 3600),
                    spec.cancellation.tokens, spec.booking.horizon_days, spec.booking.hold_minutes,
                    services)  # fmt: skip
