"""Ratings: 1-5 stars for a completed visit, one per booking, kept per mechanic too.

A second answer replaces the first (people tap 4, then think better of it and tap 5).
A low rating (1 or 2) is passed to the owners at once, so they can call the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import notices
from core.booking import NotYours
from core.i18n import N_
from core.lifecycle import BookingStatus
from core.messages import Msg, Reply
from core.models import Booking, Rating, Staff

LOW = 2


class NotRateable(ValueError):
    """The visit is not finished (or does not exist), so there is nothing to rate yet."""


@dataclass(frozen=True)
class Rated:
    booking_id: int
    code: str
    stars: int
    changed: bool  # True when this replaced an earlier answer


def rate(session: Session, booking_id: int, customer_id: int, stars: int, now: datetime) -> Rated:
    if not 1 <= int(stars) <= 5:
        raise ValueError(f"a rating is 1 to 5 stars, not {stars}")
    booking = session.get(Booking, booking_id)
    if booking is None:
        raise NotRateable(f"no booking {booking_id}")
    if booking.customer_id != customer_id:
        raise NotYours(f"booking {booking_id} is not this customer's")
    if booking.status != BookingStatus.COMPLETED:
        raise NotRateable(f"booking {booking.code} is {booking.status}")
    existing = session.scalar(select(Rating).where(Rating.booking_id == booking_id).with_for_update())
    if existing is None:
        try:
            with session.begin_nested():
                existing = Rating(shop_id=booking.shop_id, booking_id=booking.id, customer_id=customer_id,
                                  mechanic_id=booking.mechanic_id, stars=int(stars), created_at=now, updated_at=now)  # fmt: skip
                session.add(existing)
                session.flush()
            changed = False
        except IntegrityError:  # the same customer's other device, a moment ago
            existing = session.scalar(select(Rating).where(Rating.booking_id == booking_id).with_for_update())
            changed = True
    else:
        changed = True
    existing.stars, existing.updated_at = int(stars), now
    if stars <= LOW:
        mechanic = session.get(Staff, booking.mechanic_id) if booking.mechanic_id else None
        note = Reply((Msg(N_("Low rating: {stars} of 5 for {code} (mechanic {mechanic})."),
                          {"stars": int(stars), "code": booking.code, "mechanic": mechanic.name if mechanic else "-"}),))  # fmt: skip
        notices.tell_owners(session, booking.shop_id, note, f"low-rating:{booking.id}:{int(stars)}", now)
    return Rated(booking.id, booking.code, int(stars), changed)


def average(session: Session, *, shop_id: int | None = None, mechanic_id: int | None = None) -> tuple[float | None, int]:
    """The average stars and how many ratings, for a shop or a mechanic."""
    query = select(func.avg(Rating.stars), func.count(Rating.id))
    if shop_id is not None:
        query = query.where(Rating.shop_id == shop_id)
    if mechanic_id is not None:
        query = query.where(Rating.mechanic_id == mechanic_id)
    avg, n = session.execute(query).one()
    return (round(float(avg), 2) if avg is not None else None), int(n)
