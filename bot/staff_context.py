"""The staff engine's view of the shop, read inside the message's transaction
(implements bot.staff_model.StaffContext)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.staff_model import ExtraView, JobView, StaffInfo, VisitView
from core import availability as av
from core.availability import local_bounds
from core.customers import called, example_phone
from core.lifecycle import AT_THE_SHOP, BookingStatus
from core.models import Booking, Customer, Payment, Service, Staff, Vehicle

HIDDEN = ("expired", "cancelled")  # not jobs any more
HISTORY = 5


class DbStaffContext:
    def __init__(self, session: Session, staff: Staff, now: datetime):
        self.session, self.now, self._staff = session, now, staff
        self.view = av.shop_view(session, staff.shop_id)

    @property
    def staff(self) -> StaffInfo:
        s, spec = self._staff, self.view.spec
        language = s.language if s.language in spec.languages else spec.languages[0]
        return StaffInfo(s.id, s.name, s.role, language, s.on_shift, spec.name, spec.languages, spec.timezone,
                         spec.currency, self.view.code_prefix, example_phone(spec.country))  # fmt: skip

    def today(self) -> date:
        return self.view.local_day(self.now)

    def jobs(self) -> list[JobView]:
        day = self.today()
        lo, hi = local_bounds(self.view.spec.timezone, day, day)
        query = select(Booking).where(Booking.shop_id == self._staff.shop_id, Booking.starts_at < hi, or_(
            and_(Booking.starts_at >= lo, Booking.status.not_in(HIDDEN)),
            Booking.status.in_(AT_THE_SHOP)))  # a car kept overnight (waiting for a part) is still today's work  # fmt: skip
        if self._staff.role != "owner":
            query = query.where(Booking.mechanic_id == self._staff.id)
        rows = self.session.scalars(query.order_by(Booking.starts_at, Booking.id))
        return [self._view(b, history=False) for b in rows if not _lapsed(b, self.now)]

    def job(self, booking_id: int) -> JobView | None:
        b = self.session.get(Booking, booking_id)
        if b is None or b.shop_id != self._staff.shop_id:
            return None
        return self._view(b)

    def customer_name(self, customer_id: int) -> str | None:
        c = self.session.get(Customer, customer_id)
        if c is None or c.shop_id != self._staff.shop_id:
            return None
        return called(c)

    def find_job(self, number: str) -> JobView | None:
        code = f"{self.view.code_prefix}-{int(number)}" if number.isdigit() else number.upper()
        b = self.session.scalar(select(Booking).where(Booking.shop_id == self._staff.shop_id, Booking.code == code))
        return self._view(b) if b is not None else None

    def _view(self, b: Booking, history: bool = True) -> JobView:
        s = self.session
        customer = s.get(Customer, b.customer_id)
        vehicle = s.get(Vehicle, b.vehicle_id) if b.vehicle_id else None
        mechanic = s.get(Staff, b.mechanic_id) if b.mechanic_id else None
        paid = s.scalar(select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
            Payment.booking_id == b.id, Payment.status == "completed")) or 0  # fmt: skip
        visits: tuple[VisitView, ...] = ()
        if history and vehicle is not None:
            earlier = s.scalars(select(Booking).where(
                Booking.vehicle_id == vehicle.id, Booking.id != b.id, Booking.status == BookingStatus.COMPLETED,
                Booking.starts_at < b.starts_at).order_by(Booking.starts_at.desc()).limit(HISTORY))  # fmt: skip
            visits = tuple(VisitView(e.starts_at, e.code, self._names(e)) for e in earlier)
        plate = None
        if vehicle is not None:
            plate = " ".join(x for x in (vehicle.plate, vehicle.make, vehicle.model) if x)
        return JobView(
            id=b.id, code=b.code, start=b.starts_at, end=b.ends_at, status=b.status,
            customer=((customer.name or "").split() or ["-"])[0], vehicle=plate, service_names=self._names(b),
            notes=b.notes, mechanic=mechanic.name if mechanic else "-", mechanic_id=b.mechanic_id,
            price_minor=b.price_minor, paid_minor=int(paid),
            extras=tuple(ExtraView(i.description, i.price_minor, i.status) for i in b.items if i.kind == "extra"),
            history=visits,
        )  # fmt: skip

    def _names(self, b: Booking) -> tuple[dict, ...]:
        out = []
        for item in b.items:
            if item.kind == "service" and item.service_id:
                info = self.view.services.get(item.service_id)
                out.append(dict(info.names) if info else dict(self.session.get(Service, item.service_id).names))
        return tuple(out)


def _lapsed(b: Booking, now: datetime) -> bool:
    return b.status == "held" and b.hold_expires_at is not None and b.hold_expires_at <= now
