"""The waitlist: when a day is full, customers queue for it; a freed slot goes to the
first in line, held for them for the shop's short claim time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import availability as av
from core import messages, notices, outbox
from core.availability import local_bounds
from core.booking import Held, expire_overdue_holds, hold_in_session
from core.db import Database, session_of
from core.i18n import N_
from core.lifecycle import OCCUPYING, status_now
from core.messages import Choice, Msg, Reply
from core.models import Booking, BookingItem, Customer, WaitlistEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Offer:
    """A freed slot held for a waiting customer until `held.hold_expires_at`."""

    entry_id: int
    customer_id: int
    held: Held


def join(db: Database | Session, *, shop_id: int, customer_id: int, day: date, service_ids: tuple[int, ...],
         now: datetime, vehicle_id: int | None = None, channel: str | None = None) -> int:  # fmt: skip
    """Put the customer in line for `day` with this car (once: joining again for the same
    car keeps their place and takes the services now asked for; another car is another
    wish), in the caller's transaction when given a session (a chat message's)."""
    with session_of(db) as s:
        existing = s.scalar(select(WaitlistEntry).where(
            WaitlistEntry.shop_id == shop_id, WaitlistEntry.customer_id == customer_id,
            WaitlistEntry.day == day, WaitlistEntry.status == "waiting",
            WaitlistEntry.vehicle_id.is_(None) if vehicle_id is None else WaitlistEntry.vehicle_id == vehicle_id))  # fmt: skip
        if existing is not None:
            existing.service_ids = list(service_ids)
            return existing.id
        entry = WaitlistEntry(shop_id=shop_id, customer_id=customer_id, day=day,
                              service_ids=list(service_ids), vehicle_id=vehicle_id,
                              channel=channel, status="waiting", created_at=now)  # fmt: skip
        s.add(entry)
        s.flush()
        return entry.id


def offer_freed(db: Database, shop_id: int, day: date, now: datetime) -> Offer | None:
    """Offer a free slot on `day` to the first waiting customer whose visit fits one."""
    with db.uow() as uow:
        s = uow.session
        view = av.shop_view(s, shop_id)
        av.lock_days(s, shop_id, [day])
        waiting = s.scalars(select(WaitlistEntry).where(
            WaitlistEntry.shop_id == shop_id, WaitlistEntry.day == day,
            WaitlistEntry.status == "waiting").order_by(WaitlistEntry.created_at, WaitlistEntry.id))  # fmt: skip
        for entry in waiting:
            if not set(entry.service_ids) <= view.services.keys():  # the shop file dropped a service since
                entry.status = "cancelled"
                log.info("waitlist entry %s closed: a service it waits for is no longer offered", entry.id)
                _tell_wait_ended(s, view, entry, SERVICE_GONE, now)
                continue
            if _booked_that_day(s, view, entry, now):  # they found a time themselves: the next in line gets this one
                entry.status = "done"
                continue
            slots = av.free_slots(s, shop_id, entry.service_ids, day, day, now)
            if not slots:
                continue
            held = hold_in_session(
                s, shop_id, entry.customer_id, tuple(entry.service_ids), slots[0].start, now,
                entry.vehicle_id, entry.channel, None, "offered from the waitlist",
                view.spec.booking.claim_hold_minutes,
            )  # fmt: skip
            if not isinstance(held, Held):
                continue
            entry.status, entry.booking_id, entry.offered_at = "offered", held.booking_id, now
            _tell(s, view, held, now)
            return Offer(entry.id, entry.customer_id, held)
        return None


SERVICE_GONE = N_("Sorry: a service you were waiting for on {day} is no longer offered, so your place on the "
                  "waiting list has ended.")  # fmt: skip
DAY_CLOSED = N_("Sorry: the shop will be closed on {day}, so your place on the waiting list for it has ended. "
                "Please choose another day.")  # fmt: skip


def end_waits_on(session: Session, shop_id: int, day: date, now: datetime) -> int:
    """The shop has closed `day`: no time will free up on it, so every wait for it ends
    now and its customer is told (the caller holds the day's lock, as offers take it)."""
    view = av.shop_view(session, shop_id)
    entries = list(session.scalars(select(WaitlistEntry).where(
        WaitlistEntry.shop_id == shop_id, WaitlistEntry.day == day, WaitlistEntry.status == "waiting")))  # fmt: skip
    for entry in entries:
        entry.status = "cancelled"
        _tell_wait_ended(session, view, entry, DAY_CLOSED, now)
    return len(entries)


def end_waits_on_closed_days(session: Session, shop_id: int, now: datetime) -> int:
    """The shop's file changed its hours (a weekday it no longer opens, public holidays
    kept now): the waits for a day it no longer opens end, as after /close. The days'
    locks are taken first, in their one order, as every writer of a day does."""
    view = av.shop_view(session, shop_id)
    days = set(session.scalars(select(WaitlistEntry.day).where(
        WaitlistEntry.shop_id == shop_id, WaitlistEntry.status == "waiting",
        WaitlistEntry.day >= view.local_day(now))))  # fmt: skip
    closed = {day for day in days if not av.is_open(session, view, day)}
    av.lock_days(session, shop_id, closed)
    return sum(end_waits_on(session, shop_id, day, now) for day in sorted(closed))


def _tell_wait_ended(session: Session, view: av.ShopView, entry: WaitlistEntry, said: str, now: datetime) -> None:
    """Tell the customer their wait has ended, and why (`said`, of the day), once."""
    customer = session.get(Customer, entry.customer_id)
    reach = outbox.reach(session, customer, entry.channel)
    if reach is None:
        return
    noon = datetime.combine(entry.day, time(12), view.tz)
    outbox.send(session, shop_id=entry.shop_id, channel=reach.channel, address=reach.address,
                language=customer.language, reply=Reply((Msg(said, {"day": messages.day(noon, view.spec.timezone)}),)),
                dedupe_key=f"waitlist-ended:{entry.id}", now=now)  # fmt: skip


def _booked_that_day(session, view: av.ShopView, entry: WaitlistEntry, now: datetime) -> bool:
    """Has the customer booked what they wait for, that day, themselves: the same services
    (for the same car, when they named one)? A visit for another car, or the same car's
    oil change while it waits for an alignment, is another wish."""
    lo, hi = local_bounds(view.spec.timezone, entry.day, entry.day)
    query = select(Booking.id, Booking.status, Booking.hold_expires_at).where(
        Booking.shop_id == entry.shop_id, Booking.customer_id == entry.customer_id,
        Booking.starts_at >= lo, Booking.starts_at < hi)  # fmt: skip
    if entry.vehicle_id is not None:
        query = query.where(Booking.vehicle_id == entry.vehicle_id)
    live = [b for b, status, expires in session.execute(query) if status_now(status, expires, now) in OCCUPYING]
    if not live:
        return False
    services: dict[int, set[int]] = {b: set() for b in live}
    for b, service in session.execute(select(BookingItem.booking_id, BookingItem.service_id)
                                      .where(BookingItem.booking_id.in_(live))):  # fmt: skip
        services[b].add(service)
    return any(set(entry.service_ids) <= got for got in services.values())


def _tell(session, view: av.ShopView, held: Held, now: datetime) -> None:
    tz = view.spec.timezone
    minutes = int((held.hold_expires_at - now).total_seconds() // 60)
    reply = Reply((
        Msg(N_("Good news: a time has freed up on the day you wanted: {when}."), {"when": messages.when(held.starts_at, tz)}),
        Msg(N_("I am holding it for you for {minutes} minutes. Do you want it?"), {"minutes": minutes}),
    ), (Choice(f"offer:yes:{held.booking_id}", Msg(N_("Yes, I'll take it"))),
        Choice(f"offer:no:{held.booking_id}", Msg(N_("No, thanks")))))  # fmt: skip
    yes, no = (c.id for c in reply.choices)
    notices.status_notice(session, session.get(Booking, held.booking_id), reply, outbox.offer_key(held.booking_id),
                          now, aliases={yes: notices.YES_ALIASES, no: notices.NO_ALIASES})  # fmt: skip


def offer_everywhere(db: Database, now: datetime) -> list[Offer]:
    """The cron job: any day with people waiting and a slot free gets its offer made
    (covers cancellations whose offer was never made, and offers that ran out). Every
    day waited for counts, however far ahead: a customer joins only within the shop's
    booking horizon."""
    with db.uow() as uow:
        s = uow.session
        expire_overdue_holds(s, None, now)
        # an offer whose claim hold ran out lapses: the next in line gets the slot
        for entry in s.scalars(select(WaitlistEntry).where(WaitlistEntry.status == "offered")):
            booking = s.get(Booking, entry.booking_id)
            if booking is not None and booking.status in ("expired", "cancelled"):
                entry.status = "done" if booking.status == "cancelled" else "lapsed"
        pairs = s.execute(select(WaitlistEntry.shop_id, WaitlistEntry.day).where(
            WaitlistEntry.status == "waiting", WaitlistEntry.day >= (now - timedelta(days=1)).date()).distinct()).all()
    offers = []
    for shop_id, day in sorted(pairs):
        try:
            offer = offer_freed(db, shop_id, day, now)
        except Exception:  # one day's trouble must not keep every other day's people waiting
            log.exception("waitlist offers for shop %s on %s failed", shop_id, day)
            continue
        if offer is not None:
            offers.append(offer)
    return offers
