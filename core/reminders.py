"""Reminders before a visit: by default 24 hours and 2 hours ahead (per shop), with
buttons to change the time or cancel; only for confirmed bookings.

Never twice: each reminder's outbox row has the key "reminder:<booking>:<visit's time>:
<hours>h" (a booking moved to a new time is reminded of it), and the key is unique in the
database, so a cron job that runs twice, or two cron processes
running at once, write it once. Only the nearest reminder due is sent (a cron that was
down does not send yesterday's 24-hour reminder next to today's 2-hour one), and none
for a window the booking was made or moved inside (booked an hour ago for tomorrow
morning: the confirmation was the reminder).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from core import availability as av
from core import i18n, notices, outbox
from core import messages as m
from core.booking import RESCHEDULED
from core.db import Database, session_of
from core.i18n import N_
from core.lifecycle import BookingStatus
from core.messages import Choice, Msg, Reply
from core.models import Booking, BookingEvent, OutboxMessage, Service
from core.shopfile import MAX_REMINDER_HOURS

log = logging.getLogger(__name__)


def due_reminder(starts_at: datetime, created_at: datetime, now: datetime, hours: tuple[int, ...]) -> int | None:
    """The reminder (hours before the visit) to send now, or None. Pure."""
    if now >= starts_at:
        return None
    due = [h for h in hours if starts_at - timedelta(hours=h) <= now and created_at <= starts_at - timedelta(hours=h)]
    return min(due) if due else None


def send_due(db: Database | Session, now: datetime) -> int:
    """Write every reminder that is due now, for every shop; returns how many were new."""
    written = 0
    with session_of(db) as s:
        horizon = now + timedelta(hours=MAX_REMINDER_HOURS)
        rows = list(s.scalars(select(Booking).where(
            Booking.status == BookingStatus.CONFIRMED, Booking.starts_at > now, Booking.starts_at <= horizon,
        ).order_by(Booking.shop_id, Booking.starts_at)))  # fmt: skip
        promised = _last_promised(s, [b.id for b in rows])
        for booking in rows:
            view = av.shop_view(s, booking.shop_id)
            made = max(booking.created_at, promised.get(booking.id, booking.created_at))  # a move is a new booking here
            hours = due_reminder(booking.starts_at, made, now, view.spec.reminder_hours)
            if hours is None or not av.is_open(s, view, view.local_day(booking.starts_at)):
                continue  # not due; or the owner closed the day since (they contact those customers)
            if _remind(s, booking, hours, now, made) is not None:
                written += 1
    if written:
        log.info("reminders: %d written", written)
    return written


def _last_promised(s: Session, booking_ids: list[int]) -> dict[int, datetime]:
    """When each booking was last confirmed or moved to a new time: a hold paid 23 h 58 min
    before the visit is not reminded 24 h before it two minutes later."""
    if not booking_ids:
        return {}
    last = func.max(BookingEvent.at, type_=BookingEvent.at.type)
    return dict(s.execute(select(BookingEvent.booking_id, last).where(
        BookingEvent.booking_id.in_(booking_ids),
        or_(BookingEvent.reason.startswith(RESCHEDULED),  # a handing on (confirmed to confirmed) is no promise
            and_(BookingEvent.to_status == BookingStatus.CONFIRMED, BookingEvent.from_status != BookingStatus.CONFIRMED)))
        .group_by(BookingEvent.booking_id)).all())  # fmt: skip


def _remind(s: Session, booking: Booking, hours: int, now: datetime, made: datetime):
    spec = av.shop_view(s, booking.shop_id).spec
    customer = notices.customer_of(s, booking)
    names = [dict(s.get(Service, i.service_id).names) for i in booking.items if i.kind == "service" and i.service_id]
    reply = Reply((
        Msg(N_("Reminder: your visit to {shop} is {when}. Booking {code}."),
            {"shop": spec.name, "when": m.when(booking.starts_at, spec.timezone), "code": booking.code}),
        Msg(N_("Services: {services}"), {"services": m.join([m.names(n) for n in names])}),
        Msg(N_("See you then! If your plans changed, you can change the time or cancel here.")),
    ), (Choice(f"rm:move:{booking.id}", Msg(N_("Change the time"))),
        Choice(f"rm:cancel:{booking.id}", Msg(N_("Cancel the booking")))))  # fmt: skip
    lang = customer.language
    variables = {
        "name": notices.greeting_name(customer, lang),
        "service": ", ".join(n.get(lang) or n.get("en") or next(iter(n.values()), "") for n in names),
        "time": i18n.when(booking.starts_at, spec.timezone, lang),
        "code": booking.code,
    }
    legacy = s.scalar(select(OutboxMessage.created_at).where(OutboxMessage.dedupe_key == f"reminder:{booking.id}:{hours}h"))
    if legacy is not None and legacy >= made:
        return None  # sent for this time before the key named it (until 6 December 2026); a move since is new
    return notices.notify_customer(s, booking, reply, reminder_key(booking.id, booking.starts_at, hours), now,
                                   template="reminder", variables=variables, whole=True)  # its choices, once seen  # fmt: skip


def reminder_key(booking_id: int, starts_at: datetime, hours: int) -> str:
    """Once per booking, time and mark: a booking moved to a new time is reminded of it."""
    return outbox.reminder_key(booking_id, starts_at, hours)
