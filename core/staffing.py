"""Mechanics going off shift: their future jobs move to a colleague, or to the owner.

A job keeps its promised time. It goes to another qualified mechanic who is free for
that whole time (same bay if possible); if nobody is, it is marked needs_reschedule (an
unpaid hold is cancelled instead) and the owner and the customer are told by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import availability as av
from core import slots as engine
from core.booking import move
from core.db import Database, session_of
from core.lifecycle import BookingStatus
from core.models import Booking, BookingEvent, Staff

S = BookingStatus
MOVABLE = (S.HELD, S.CONFIRMED)


@dataclass(frozen=True)
class Reassigned:
    booking_id: int
    code: str
    customer_id: int
    starts_at: datetime
    from_mechanic_id: int
    to_mechanic_id: int


@dataclass(frozen=True)
class Unassigned:
    """Nobody can take the job at its time: it needs a new time (owner decides)."""

    booking_id: int
    code: str
    customer_id: int
    starts_at: datetime


def go_off_shift(db: Database | Session, staff_id: int, actor: str, now: datetime) -> list[Reassigned | Unassigned]:
    """Take the mechanic off shift and hand each of their jobs still to come on.

    A job counts until its end: a car due at 10:00 that has not come by 10:05 is still
    to be taken by someone. Every day a job of theirs can be on is locked before their
    jobs are read, so a hold being written meanwhile was either written before (and is
    read here) or finds the shop changed once we commit, and looks again without them.
    """
    with session_of(db) as s:
        mechanic = s.get(Staff, staff_id)
        if mechanic is None:
            raise LookupError(f"no staff member with id {staff_id}")
        view = av.shop_view(s, mechanic.shop_id)
        av.lock_days(s, mechanic.shop_id, _days_to_lock(s, view, staff_id, now))
        mechanic.on_shift = False
        av.touch_shop(s, mechanic.shop_id)
        s.flush()
        view = av.shop_view(s, mechanic.shop_id)  # without the mechanic now off shift
        jobs = s.scalars(select(Booking).where(
            Booking.mechanic_id == staff_id, Booking.status.in_(MOVABLE), Booking.ends_at > now,
        ).order_by(Booking.starts_at).with_for_update().execution_options(populate_existing=True))  # fmt: skip
        return [_hand_on(s, view, job, mechanic, actor, now) for job in list(jobs)]


def _days_to_lock(s: Session, view: av.ShopView, staff_id: int, now: datetime) -> set:
    """Every day a new hold can be written on (today to the booking horizon), and the
    days of the mechanic's jobs already further out."""
    first, last = view.local_day(now), view.local_day(now + timedelta(days=view.spec.booking.horizon_days))
    days = {first + timedelta(days=n) for n in range((last - first).days + 1)}
    starts = s.scalars(select(Booking.starts_at).where(
        Booking.mechanic_id == staff_id, Booking.status.in_(MOVABLE), Booking.ends_at > now))  # fmt: skip
    return days | {view.local_day(at) for at in starts}


def go_on_shift(db: Database | Session, staff_id: int) -> None:
    with session_of(db) as s:
        mechanic = s.get(Staff, staff_id)
        mechanic.on_shift = True
        av.touch_shop(s, mechanic.shop_id)


def place_again(s: Session, job: Booking, now: datetime, prefer: int | None = None,
                view: av.ShopView | None = None) -> engine.Slot | None:  # fmt: skip
    """A mechanic and a bay free for the job's own time (the mechanic `prefer`red if they
    can, else anyone qualified; the job's bay if it can stay there), for a job that loses
    its mechanic or has none; the caller holds the job's day lock. None when nobody
    qualified is free then."""
    view = view or av.shop_view(s, job.shop_id)
    visit = av.visit(s, job.shop_id, [i.service_id for i in job.items if i.kind == "service"], view, booked=True)
    day = view.local_day(job.starts_at)
    lo, hi = av.window(view, day, day)
    cal = av.calendar(s, view, day, day)
    busy = av.occupied(s, job.shop_id, lo, hi, now, exclude_booking=job.id)
    for mechanic_id in dict.fromkeys((prefer, None)):
        for bay in (job.bay_id, None):  # keep the car where it is if we can
            slot = engine.fits(cal, view.mechanics, view.bay_ids, busy, job.starts_at, visit.duration,
                               visit.skills, now, mechanic_id, bay_id=bay, reassigning=True)  # fmt: skip
            if slot is not None:
                return slot
    return None


def _hand_on(s, view: av.ShopView, job: Booking, mechanic: Staff, actor: str, now: datetime):
    slot = place_again(s, job, now, view=view)
    if slot is None:
        # A confirmed job waits for a new time; an unpaid hold was never a promise: it is let go.
        to = S.CANCELLED if job.status == S.HELD else S.NEEDS_RESCHEDULE
        move(s, job, to, actor, now, f"{mechanic.name} went off shift; nobody free")
        return Unassigned(job.id, job.code, job.customer_id, job.starts_at)
    job.mechanic_id, job.bay_id = slot.mechanic_id, slot.bay_id
    s.add(BookingEvent(booking_id=job.id, from_status=job.status, to_status=job.status, actor=actor,
                       reason=f"reassigned from {mechanic.name}: went off shift", at=now))  # fmt: skip
    s.flush()
    return Reassigned(job.id, job.code, job.customer_id, job.starts_at, mechanic.id, slot.mechanic_id)
