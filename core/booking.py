"""Booking services: hold a slot, confirm, cancel, no-show, expire, reschedule.

Each public function is one unit of work: it takes the per-day lock(s) first (see
core.availability.lock_days), re-checks the slot inside the transaction, writes, and
commits. PostgreSQL's exclusion constraints back every write: if two writers still
collide, the loser gets SlotTaken, never a double booking. Every status change goes
through `move()`, which checks the rule book (core.lifecycle) and writes a BookingEvent
(or `move_at_once`, the same written by statements, on a customer's chat's way).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Integer, String, bindparam, column, insert, or_, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import availability as av
from core import policy
from core import slots as engine
from core.db import Database, session_of
from core.lifecycle import CANCELLABLE, BookingStatus, check_move, status_now
from core.models import Booking, BookingEvent, BookingItem, Customer, Shop, Vehicle
from core.precompiled import Precompiled, loaded_afresh, write_columns, written

S = BookingStatus
ALTERNATIVES = 6
MAX_LOOKS = 5  # looks at a busy day before a hold queues for its lock like any writer


class CodeClash(RuntimeError):
    """A new booking's code is already another booking's: two shops share a
    `code_prefix`, now or once (loading refuses both, but not for shops loaded before it
    did). Reported as the operator's mistake it is, never passed off to the customer as
    "slot just taken"."""


class NotYours(PermissionError):
    """A customer tried to see or change a booking that belongs to someone else."""


@dataclass(frozen=True)
class Held:
    """A slot held for the customer while they pay (or confirmed at once, pay at shop)."""

    booking_id: int
    code: str
    starts_at: datetime
    ends_at: datetime
    mechanic_id: int
    bay_id: int
    hold_expires_at: datetime
    price_minor: int
    deposit_minor: int
    currency: str


RESCHEDULED = "rescheduled from"  # a moved booking's event reason starts so (reminders read it)


@dataclass(frozen=True)
class SlotTaken:
    """The wanted start is gone; here are the nearest ones still free that day."""

    wanted: datetime
    alternatives: tuple[datetime, ...]
    too_soon: bool = False  # not taken by anyone: it is now closer than the shop's notice allows


@dataclass(frozen=True)
class Cancelled:
    code: str
    token_cost: int
    tokens_left: int
    refund_minor: int = 0  # what was paid and goes back (a cancellation in time)
    currency: str = ""


# -- the one way a status changes --------------------------------------------------------


def move(session: Session, booking: Booking, to: BookingStatus, actor: str, now: datetime,
         reason: str | None = None) -> BookingEvent:  # fmt: skip
    """Change a booking's status by the rule book, recording who did it and why."""
    check_move(booking.status, to)
    event = BookingEvent(**_event(booking, to, actor, now, reason))
    booking.status = to
    booking.updated_at = now
    session.add(event)
    return event


def _event(booking: Booking, to: BookingStatus, actor: str, now: datetime, reason: str | None) -> dict:
    """The event a move records, for both ways of writing it."""
    return dict(booking_id=booking.id, from_status=booking.status, to_status=to, actor=actor, reason=reason, at=now)


def move_at_once(session: Session, booking: Booking, to: BookingStatus, actor: str, now: datetime,
                 reason: str | None = None, **columns) -> None:  # fmt: skip
    """`move`, written at once by two statements (with the `columns` of the booking that
    change with its status) instead of by the session's flush, whose unit of work cost
    more than the statements: a customer's confirmation and cancellation, on their chat's
    way. The booking's object holds what is stored and its event is in the database, for
    whatever the transaction reads next (the event is no object of the session: nothing
    asks for one)."""
    check_move(booking.status, to)
    event = _event(booking, to, actor, now, reason)  # from the status it leaves
    write_columns(session, booking, {"status": to, "updated_at": now, **columns})
    _NEW_EVENT.rows(session, event)


_NEW_EVENT = Precompiled(insert(BookingEvent.__table__),
                         column_keys=["booking_id", "from_status", "to_status", "actor", "reason", "at"])


def locked_booking(session: Session, booking_id: int, customer_id: int | None = None,
                   also_days: tuple = ()) -> Booking:  # fmt: skip
    """The booking with its day lock(s) and then its row lock taken, in that order (the
    order every writer uses); refused if it is not this customer's."""
    found = _WHERE_AND_WHOSE.first(session, {"booking": booking_id})
    if found is None:
        raise LookupError(f"no booking with id {booking_id}")
    shop_id, starts_at, owner = found
    if customer_id is not None and owner != customer_id:
        raise NotYours(f"booking {booking_id} is not this customer's")
    view = av.shop_view(session, shop_id)
    av.lock_days(session, shop_id, {view.local_day(starts_at), *also_days})
    return loaded_afresh(session, Booking, _LOCK_BOOKING.first(session, {"booking": booking_id}))


_WHERE_AND_WHOSE = Precompiled(select(Booking.shop_id, Booking.starts_at, Booking.customer_id).where(
    Booking.id == bindparam("booking")))  # fmt: skip
# As the lock finds it (loaded_afresh): a booking already read in this transaction is
# overwritten with what another transaction committed meanwhile. On the driver: every
# confirmation and cancellation of a customer's chat locks its booking.
_LOCK_BOOKING = Precompiled(select(Booking.__table__).where(Booking.id == bindparam("booking")).with_for_update())


# -- holding a slot ----------------------------------------------------------------------


def hold(db: Database | Session, *, shop_id: int, customer_id: int, service_ids: tuple[int, ...],
         start: datetime, now: datetime, vehicle_id: int | None = None,
         channel: str | None = None, payment_method: str | None = None,
         notes: str | None = None, hold_minutes: int | None = None) -> Held | SlotTaken:  # fmt: skip
    """Hold `start` for this visit: the slot is the customer's until the hold expires.
    When it is gone, the nearest free starts of that day come back instead."""
    with session_of(db) as s:
        return hold_in_session(s, shop_id, customer_id, tuple(service_ids), start, now,
                               vehicle_id, channel, payment_method, notes, hold_minutes)  # fmt: skip


def hold_in_session(session, shop_id, customer_id, service_ids, start, now, vehicle_id, channel,
                    payment_method, notes, hold_minutes, *, tries: int = 3) -> Held | SlotTaken:  # fmt: skip
    """Hold inside the caller's transaction; SlotTaken when the slot cannot be had.

    Everything that does not change under contention (the shop, the visit, the
    calendar) is read before the day's lock, so the locked part is short: read what
    occupies the day, check the slot, write. Should the shop change meanwhile (the owner
    closing that day), the write finds out, and it all starts again (PostgreSQL; SQLite's
    writers take turns whole). If another writer holds the day, we wait
    for them to finish and look at what they took, with every other waiter at once,
    instead of queueing; the constraint stays the guarantee.
    """
    view = av.shop_view(session, shop_id)
    visit = av.visit(session, shop_id, service_ids, view)
    day = view.local_day(start)
    cal = av.calendar(session, view, day, day)
    lo, hi = av.window(view, day, day)

    def fit(busy: list) -> engine.Slot | None:
        return engine.fits(cal, view.mechanics, view.bay_ids, busy, start, visit.duration, visit.skills, now)

    look = av.take_day_and_look(session, shop_id, day, lo, hi, now)
    slot = fit(look.busy)
    looks = 1
    while not look.ours and slot is not None:
        # whoever held the day did not take our time (or gave up): try for it again,
        # and after a few rounds queue for the lock like any other writer
        if looks < MAX_LOOKS:
            look = av.take_day_and_look(session, shop_id, day, lo, hi, now)
        else:
            look = av.lock_day_and_look(session, shop_id, day, lo, hi, now)
        slot = fit(look.busy)
        looks += 1
    if slot is None:  # what we read answers "which times then?" without asking again
        return _nearest(start, engine.free_slots(cal, view.mechanics, view.bay_ids, look.busy, visit.duration,
                                                 visit.skills, day, day, now), too_soon=start < now + cal.min_notice)  # fmt: skip
    if look.overdue_holds:  # so an ended hold cannot trip the constraint
        expire_overdue_holds(session, shop_id, now)
    customer = session.get(Customer, customer_id)
    if customer is None or customer.shop_id != shop_id:
        raise NotYours("the customer does not belong to this shop")
    if vehicle_id is not None and _VEHICLE_OWNER.scalar(session, {"vehicle": vehicle_id}) != customer_id:
        raise NotYours("the vehicle is not the customer's")
    spec = view.spec
    tokens = _store_tokens(session, customer, now, view)
    priced = [policy.PricedService(s.price_minor, s.deposit_minor, s.deposit_percent) for s in visit.services]
    row = dict(
        shop_id=shop_id, customer_id=customer_id,
        vehicle_id=vehicle_id, mechanic_id=slot.mechanic_id, bay_id=slot.bay_id,
        starts_at=slot.start, ends_at=slot.end, blocks_until=slot.end + spec.booking.buffer,
        status=S.HELD, hold_expires_at=now + timedelta(minutes=hold_minutes or spec.booking.hold_minutes),
        price_minor=visit.price_minor, deposit_minor=policy.deposit_due(priced, tokens, policy.major_unit(spec.currency)),
        currency=spec.currency, payment_method=payment_method, channel=channel, notes=notes,
        created_at=now, updated_at=now,
    )  # fmt: skip
    booking_id, row["code"] = _WRITE_HOLD[session.get_bind().dialect.name](session, view, row, visit.services)
    if row["code"] is None and tries > 1:  # the shop changed while we waited for the day: look again
        av.forget_view(session, shop_id)
        return hold_in_session(session, shop_id, customer_id, service_ids, start, now, vehicle_id, channel,
                               payment_method, notes, hold_minutes, tries=tries - 1)  # fmt: skip
    if booking_id is None:
        if session.execute(_CODE_USED, {"code": row["code"]}).first():
            raise CodeClash(f"booking code {row['code']} is taken: give each shop its own code_prefix")
        return alternatives(session, shop_id, service_ids, start, now)  # an overlap the look could not see
    return Held(booking_id, row["code"], slot.start, slot.end, slot.mechanic_id, slot.bay_id,
                row["hold_expires_at"], row["price_minor"], row["deposit_minor"], row["currency"])  # fmt: skip


# Plain table statements, built once: a hold is the hot path of a race, and all of it is
# written in hold_in_session, so the ORM's unit of work has nothing to add.
_B = Booking.__table__.c
_SHOPS = Shop.__table__.c
# SQLite's steps (_write_hold_in_steps; PostgreSQL writes in one statement, below): the
# booking is written with ON CONFLICT DO NOTHING and no conflict target, which covers the
# unique code: a refused row is simply not written, and no savepoint is needed.
_INSERT_BOOKING = sqlite.insert(Booking.__table__).on_conflict_do_nothing().returning(_B.id)
_TAKE_NUMBER = (update(Shop.__table__).where(_SHOPS.id == bindparam("shop"))
                .values(next_booking_number=_SHOPS.next_booking_number + 1)
                .returning(_SHOPS.next_booking_number - 1))  # fmt: skip
_CODE_USED = select(_B.id).where(_B.code == bindparam("code"))
_OVERDUE = select(_B.id).where(_B.status == S.HELD, _B.hold_expires_at <= bindparam("now"))
_OVERDUE_HOLDS = {  # of every shop (the sweep), or of one (a hold)
    False: _OVERDUE.order_by(_B.id).with_for_update(skip_locked=True),
    True: _OVERDUE.where(_B.shop_id == bindparam("shop")).order_by(_B.id).with_for_update(skip_locked=True),
}


def _write_hold_in_steps(session: Session, view: av.ShopView, row: dict,
                         services: tuple[av.ServiceInfo, ...]) -> tuple[int | None, str]:  # fmt: skip
    """Number the booking, write it with its items and its first event (SQLite). No id
    (and only the number spent) when the code was already taken."""
    code = _next_code(session, view)
    booking_id = session.execute(_INSERT_BOOKING, {**row, "code": code}).scalar()
    if booking_id is None:
        return None, code
    session.execute(insert(BookingItem.__table__), [
        dict(booking_id=booking_id, service_id=s.id, kind="service", description=s.code,
             duration_minutes=s.duration_minutes, price_minor=s.price_minor, status="booked")
        for s in services
    ])  # fmt: skip
    session.execute(insert(BookingEvent.__table__), dict(
        booking_id=booking_id, from_status=None, to_status=row["status"],
        actor=f"customer:{row['customer_id']}", reason=None, at=row["created_at"]))  # fmt: skip
    return booking_id, code


def _write_hold_at_once(session: Session, view: av.ShopView, row: dict,
                        services: tuple[av.ServiceInfo, ...]) -> tuple[int | None, str]:  # fmt: skip
    """The same writes as `_write_hold_in_steps` in one PostgreSQL statement: the
    winner of a race holds the day's lock for one round trip instead of four. No id
    when the code was taken or the booking would overlap another; no code either when
    the shop changed since `view` was read (a day closed while we waited for it)."""
    return _WRITE_HOLD_AT_ONCE.first(session, {
        **row, "prefix": view.code_prefix, "stamp": view.stamp, "actor": f"customer:{row['customer_id']}",
        "service_ids": [s.id for s in services], "descriptions": [s.code for s in services],
        "minutes": [s.duration_minutes for s in services], "prices": [s.price_minor for s in services],
    })  # fmt: skip


_WRITE_HOLD_AT_ONCE = Precompiled(text("""
WITH numbered AS (
    UPDATE shops SET next_booking_number = next_booking_number + 1 WHERE id = :shop_id AND updated_at = :stamp
    RETURNING CAST(:prefix AS text) || '-' || (next_booking_number - 1) AS code
), booked AS (
    INSERT INTO bookings (code, shop_id, customer_id, vehicle_id, mechanic_id, bay_id, starts_at,
                          ends_at, blocks_until, status, hold_expires_at, price_minor, deposit_minor,
                          currency, payment_method, channel, notes, created_at, updated_at)
    SELECT numbered.code, :shop_id, :customer_id, :vehicle_id, :mechanic_id, :bay_id,
           :starts_at, :ends_at, :blocks_until, :status, :hold_expires_at, :price_minor, :deposit_minor,
           :currency, :payment_method, :channel, :notes, :created_at, :updated_at
    FROM numbered
    ON CONFLICT DO NOTHING
    RETURNING id
), items AS (
    INSERT INTO booking_items (booking_id, service_id, kind, description, duration_minutes, price_minor, status)
    SELECT booked.id, s.service_id, 'service', s.description, s.minutes, s.price, 'booked'
    FROM booked, unnest(CAST(:service_ids AS integer[]), CAST(:descriptions AS text[]),
                        CAST(:minutes AS integer[]), CAST(:prices AS bigint[]))
                 WITH ORDINALITY AS s(service_id, description, minutes, price, position)
    ORDER BY s.position
), event AS (
    INSERT INTO booking_events (booking_id, from_status, to_status, actor, reason, at)
    SELECT booked.id, NULL, :status, :actor, NULL, :created_at FROM booked
)
SELECT (SELECT id FROM booked), (SELECT code FROM numbered)""").columns(column("id", Integer), column("code", String)))
_WRITE_HOLD = {"postgresql": _write_hold_at_once, "sqlite": _write_hold_in_steps}


def _fit(session, view: av.ShopView, visit: av.Visit, start: datetime, now: datetime,
         exclude: int | None = None, **kwargs) -> engine.Slot | None:  # fmt: skip
    day = view.local_day(start)
    lo, hi = av.window(view, day, day)
    return engine.fits(
        av.calendar(session, view, day, day), view.mechanics, view.bay_ids,
        av.occupied(session, view.shop_id, lo, hi, now, exclude_booking=exclude),
        start, visit.duration, visit.skills, now, **kwargs,
    )  # fmt: skip


def alternatives(session: Session, shop_id: int, service_ids: tuple[int, ...], start: datetime,
                 now: datetime, moving: int | None = None, too_soon: bool = False) -> SlotTaken:  # fmt: skip
    """The wanted start is gone: the nearest free starts of that day, in time order
    (`moving`: the booking being moved, as for `free_slots`, whose own start is no
    alternative)."""
    view = av.shop_view(session, shop_id)
    day = view.local_day(start)
    free = av.free_slots(session, shop_id, service_ids, day, day, now, moving)
    if moving is not None:
        own = session.get(Booking, moving)
        free = [slot for slot in free if own is None or own.status == S.NEEDS_RESCHEDULE or slot.start != own.starts_at]
    return _nearest(start, free, too_soon)


def _nearest(start: datetime, free: list[engine.Slot], too_soon: bool = False) -> SlotTaken:
    nearest = sorted(free, key=lambda s: abs((s.start - start).total_seconds()))[:ALTERNATIVES]
    return SlotTaken(start, tuple(sorted(s.start for s in nearest)), too_soon)


def _is_overlap(exc: IntegrityError) -> bool:
    """PostgreSQL's exclusion_violation (23P01): another booking got there first."""
    return getattr(exc.orig, "sqlstate", None) == "23P01"


def _next_code(session: Session, view: av.ShopView) -> str:
    number = session.execute(_TAKE_NUMBER, {"shop": view.shop_id}).scalar_one()
    return f"{view.code_prefix}-{number}"


def tokens_now(customer: Customer, now: datetime, view: av.ShopView) -> policy.Tokens:
    """The customer's tokens as of now: refilled if a new month has begun in the shop's
    timezone (read only; `refresh_tokens` stores it)."""
    current = policy.Tokens(customer.tokens, customer.tokens_reset_on)
    return policy.tokens_this_month(current, view.local_day(now), view.spec.cancellation.tokens)


def _store_tokens(session: Session, customer: Customer, now: datetime, view: av.ShopView) -> int:
    """`refresh_tokens` for a hold: a new month's refill is written at once by a statement
    (nothing when the month is the same), not left to the flush, which the hold's own
    statement would make on every booking's way for more than it costs. The refill is
    written only if the row still holds an earlier month: the customer was read unlocked
    at the message's start, and a token spent since (a no-show marked meanwhile, which
    refilled the month first) stays spent; the row's own tokens are then the ones."""
    fresh = tokens_now(customer, now, view)
    if (fresh.count, fresh.reset_on) == (customer.tokens, customer.tokens_reset_on):
        return fresh.count
    params = {"customer": customer.id, "tokens": fresh.count, "tokens_reset_on": fresh.reset_on, "month": fresh.reset_on}
    stored = _REFILL_TOKENS.first(session, params) or _STORED_TOKENS.first(session, params)
    written(session, customer, {"tokens": stored[0], "tokens_reset_on": stored[1]})
    return stored[0]


_CUSTOMERS = Customer.__table__
_REFILL_TOKENS = Precompiled(
    update(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("customer"), or_(
        _CUSTOMERS.c.tokens_reset_on.is_(None), _CUSTOMERS.c.tokens_reset_on < bindparam("month")))
    .returning(_CUSTOMERS.c.tokens, _CUSTOMERS.c.tokens_reset_on), column_keys=["tokens", "tokens_reset_on"])  # fmt: skip
_STORED_TOKENS = Precompiled(select(_CUSTOMERS.c.tokens, _CUSTOMERS.c.tokens_reset_on)
                             .where(_CUSTOMERS.c.id == bindparam("customer")))  # fmt: skip


def refresh_tokens(customer: Customer, now: datetime, view: av.ShopView) -> int:
    """The customer's tokens, refilled if a new month has begun in the shop's timezone."""
    fresh = tokens_now(customer, now, view)
    customer.tokens, customer.tokens_reset_on = fresh.count, fresh.reset_on
    return fresh.count


# -- after the hold ----------------------------------------------------------------------


def confirm(db: Database | Session, booking_id: int, actor: str, now: datetime, reason: str | None = None) -> Booking:
    """Turn a hold into a promise (payment received, or pay at the shop accepted)."""
    with session_of(db) as s:
        booking = locked_booking(s, booking_id)
        move_at_once(s, booking, S.CONFIRMED, actor, now, reason, hold_expires_at=None)
        return booking


def cancel(db: Database | Session, booking_id: int, actor: str, now: datetime,
           customer_id: int | None = None) -> Cancelled:  # fmt: skip
    """Cancel; late cancellations of a confirmed booking cost the customer a token, and
    the money paid in advance stays with the shop. One in time gives the money back."""
    from core import payments  # payments builds on this module

    with session_of(db) as s:
        booking = locked_booking(s, booking_id, customer_id)
        view = av.shop_view(s, booking.shop_id)
        cost = policy.cancellation_cost(now, booking.starts_at, view.spec.cancellation.late_window, booking.status,
                                        av.is_open(s, view, view.local_day(booking.starts_at)))  # fmt: skip
        move_at_once(s, booking, S.CANCELLED, actor, now, "late cancellation" if cost else None)
        tokens = _spend(s, booking.customer_id, now, view, cost)
        refund = payments.refund_cancelled(s, booking, now) if policy.refund_on_cancel(cost) else 0
        return Cancelled(booking.code, cost, tokens, refund, booking.currency)


def mark_no_show(db: Database | Session, booking_id: int, actor: str, now: datetime) -> Cancelled:
    """The customer did not come: the slot is lost and it costs them a token."""
    with session_of(db) as s:
        booking = locked_booking(s, booking_id)
        view = av.shop_view(s, booking.shop_id)
        move(s, booking, S.NO_SHOW, actor, now)
        return Cancelled(booking.code, 1, _spend(s, booking.customer_id, now, view, 1))


def _spend(session: Session, customer_id: int, now: datetime, view: av.ShopView, cost: int) -> int:
    """The customer's tokens after paying `cost` of them. Nothing spent, nothing is
    written, so their row is read, not locked (a free cancellation's only question)."""
    if not cost:
        return tokens_now(session.get(Customer, customer_id), now, view).count
    customer = session.scalar(_LOCK_CUSTOMER, {"customer": customer_id})
    refresh_tokens(customer, now, view)
    for _ in range(cost):
        spent = policy.spend_token(policy.Tokens(customer.tokens, customer.tokens_reset_on))
        customer.tokens = spent.count
    return customer.tokens


def reset_tokens(db: Database | Session, customer_id: int, now: datetime) -> int:
    """The owner forgives: the customer's tokens go back to the shop's monthly number."""
    with session_of(db) as s:
        customer = s.scalar(_LOCK_CUSTOMER, {"customer": customer_id})
        view = av.shop_view(s, customer.shop_id)
        customer.tokens = view.spec.cancellation.tokens
        customer.tokens_reset_on = view.local_day(now).replace(day=1)
        return customer.tokens


_VEHICLE_OWNER = Precompiled(select(Vehicle.customer_id).where(Vehicle.id == bindparam("vehicle")))

# The customer as the lock finds them: one already read in this transaction (the chat's
# customer, read before the lock) is overwritten with what another transaction committed.
_LOCK_CUSTOMER = select(Customer).where(Customer.id == bindparam("customer")).with_for_update() \
    .execution_options(populate_existing=True)  # fmt: skip


def expire_overdue_holds(session: Session, shop_id: int | None, now: datetime) -> list[int]:
    """Mark held bookings whose hold ran out as expired (they already stopped blocking).
    The sweep job asks for every shop; a hold asks first (on PostgreSQL only when its
    day has some), so that an ended hold cannot trip the exclusion constraints."""
    ids = list(session.execute(_OVERDUE_HOLDS[shop_id is not None], {"shop": shop_id, "now": now}).scalars())
    if not ids:
        return []
    for booking in session.scalars(select(Booking).where(Booking.id.in_(ids)).order_by(Booking.id)):
        move(session, booking, S.EXPIRED, "system:sweep", now, "hold ran out before payment")
    return ids


def release_holds_on(session: Session, shop_id: int, day: date, now: datetime) -> list[int]:
    """Let go of the holds on a day the shop has just closed: a hold is no promise yet,
    and confirming one (a waitlist offer taken, pay at the shop) would book a closed
    day. Money already on its way for one finds the day closed and is refunded
    (`payments.after_payment`). The day's lock (the caller's may be taken again), then
    the rows, as every writer."""
    av.lock_days(session, shop_id, {day})
    lo, hi = av.local_bounds(av.shop_view(session, shop_id).spec.timezone, day, day)
    held = session.scalars(select(Booking).where(
        Booking.shop_id == shop_id, Booking.starts_at >= lo, Booking.starts_at < hi,
        Booking.status == S.HELD).order_by(Booking.id).with_for_update())  # fmt: skip
    released = []
    for booking in held:
        move(session, booking, S.EXPIRED, "system:closed", now, "the shop closed that day")
        released.append(booking.id)
    return released


def release_holds_outside_hours(session: Session, shop_id: int, now: datetime) -> list[int]:
    """Let go of the live holds the shop's hours no longer cover (its file changed them):
    as for a closed day, confirming one would book a time the shop is shut."""
    released = []
    for held in _outside_hours(session, shop_id, now, (S.HELD,), lock=True):
        move(session, held, S.EXPIRED, "system:hours", now, "the shop's hours changed")
        released.append(held.id)
    return released


def booked_outside_hours(session: Session, shop_id: int, now: datetime) -> list[Booking]:
    """Visits still to come that the shop's hours no longer cover: promises someone has
    to talk over with the customer."""
    return _outside_hours(session, shop_id, now, (S.CONFIRMED, S.NEEDS_RESCHEDULE), lock=False)


def _outside_hours(session: Session, shop_id: int, now: datetime, statuses, lock: bool) -> list[Booking]:
    """The shop's bookings in these statuses to come (holds still live) that lie outside
    its hours; with `lock`, their days' locks, then their rows, as every writer."""
    query = select(Booking).where(
        Booking.shop_id == shop_id, Booking.status.in_(statuses), Booking.starts_at > now,
        or_(Booking.status != S.HELD, Booking.hold_expires_at > now)).order_by(Booking.starts_at)  # fmt: skip
    view = av.shop_view(session, shop_id)
    found = list(session.scalars(query))
    if not found:
        return []
    days = {view.local_day(b.starts_at) for b in found}
    if lock:
        av.lock_days(session, shop_id, days)
        found = [b for b in session.scalars(query.with_for_update()) if view.local_day(b.starts_at) in days]
    cal = av.calendar(session, view, min(days), max(days))
    return [b for b in found if not engine.within_hours(cal, b.starts_at, b.ends_at)]


def sweep_expired_holds(db: Database | Session, now: datetime) -> list[int]:
    """The cron job: expire every overdue hold of every shop."""
    with session_of(db) as s:
        return expire_overdue_holds(s, None, now)


# -- moving a booking --------------------------------------------------------------------


def reschedule(db: Database | Session, booking_id: int, new_start: datetime, actor: str, now: datetime,
               customer_id: int | None = None) -> Held | SlotTaken:  # fmt: skip
    """Move a booking to a new start atomically: the old slot is kept if the new one is gone."""
    with session_of(db) as s:
        shop_id = s.scalar(select(Booking.shop_id).where(Booking.id == booking_id))
        if shop_id is None:
            raise LookupError(f"no booking with id {booking_id}")
        view = av.shop_view(s, shop_id)
        booking = locked_booking(s, booking_id, customer_id, also_days=(view.local_day(new_start),))
        status = status_now(booking.status, booking.hold_expires_at, now)  # a hold that ran out moves nowhere
        if status not in CANCELLABLE:  # those a customer may move, too
            check_move(status, S.NEEDS_RESCHEDULE)  # raises with the reason
        service_ids = tuple(i.service_id for i in booking.items if i.kind == "service")
        visit = av.visit(s, booking.shop_id, service_ids, view, booked=True)
        expire_overdue_holds(s, booking.shop_id, now)
        slot = _fit(s, view, visit, new_start, now, exclude=booking.id)
        if slot is None:
            too_soon = new_start < now + view.spec.booking.min_notice  # not taken by anyone: the clock moved on
            return alternatives(s, booking.shop_id, service_ids, new_start, now, moving=booking.id, too_soon=too_soon)
        old = booking.starts_at
        booking.starts_at, booking.ends_at = slot.start, slot.end
        booking.blocks_until = slot.end + view.spec.booking.buffer
        booking.mechanic_id, booking.bay_id = slot.mechanic_id, slot.bay_id
        try:
            with s.begin_nested():
                s.flush()
        except IntegrityError as exc:
            if not _is_overlap(exc):
                raise
            s.expire(booking)
            return SlotTaken(new_start, ())
        reason = f"{RESCHEDULED} {old.isoformat()}"
        if booking.status == S.NEEDS_RESCHEDULE:
            move(s, booking, S.CONFIRMED, actor, now, reason)
        else:
            s.add(BookingEvent(booking_id=booking.id, from_status=booking.status,
                               to_status=booking.status, actor=actor, reason=reason, at=now))  # fmt: skip
        return Held(booking.id, booking.code, booking.starts_at, booking.ends_at, slot.mechanic_id,
                    slot.bay_id, booking.hold_expires_at or now, booking.price_minor,
                    booking.deposit_minor, booking.currency)  # fmt: skip
