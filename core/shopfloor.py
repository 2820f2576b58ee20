"""The shop floor: a mechanic (or the owner) moves a job through its statuses, reports
extra work, marks a no-show or goes off shift, and the customer hears about each change.

Every function works inside the caller's transaction (a staff member's chat message),
takes the booking's day lock and row lock through `core.booking.locked_booking` (lock
order: conversation row → day lock → booking row → payment/part rows), changes status
only through `core.booking.move`, and writes the customer's notice to the outbox in the
same transaction, keyed so that a replay writes nothing twice.

Who may do what: a mechanic acts on the jobs assigned to them, the owner on every job
of the shop; nobody acts on another shop's jobs. Refusals raise `NotAllowed` (a message
id for the staff member); a move the job's status does not allow raises `WrongStatus`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import availability as av
from core import booking as bookings
from core import messages as m
from core import notices, outbox, parts, payments, receipts, staffing
from core.i18n import N_
from core.lifecycle import BookingStatus, may_act
from core.messages import Choice, Msg, Reply
from core.models import Booking, BookingEvent, BookingItem, Payment, Staff, Vehicle

log = logging.getLogger(__name__)
S = BookingStatus
PAID = ("completed",)  # payment statuses that count as money received
ONLINE_METHODS = ("mpesa", "kaspi")
PROPOSED = "proposed"  # extra work the customer is asked about
LEFT_OUT = "left_out"  # extra work never answered when the car was ready: not done


class NotAllowed(PermissionError):
    """The staff member may not do this (another shop's job, another mechanic's job)."""

    def __init__(self, reason: str, params: dict | None = None):
        super().__init__(reason)
        self.reason, self.params = reason, params or {}


class WrongStatus(ValueError):
    """The job's status does not allow this now; `reason` is a message id."""

    def __init__(self, reason: str, params: dict | None = None):
        super().__init__(reason)
        self.reason, self.params = reason, params or {}


@dataclass(frozen=True)
class Moved:
    booking_id: int
    code: str
    status: str
    total_minor: int = 0
    paid_minor: int = 0
    detail: dict = field(default_factory=dict)

    @property
    def balance_minor(self) -> int:
        return max(self.total_minor - self.paid_minor, 0)


# -- reading ------------------------------------------------------------------------------


def paid_minor(session: Session, booking_id: int) -> int:
    """Money received against the booking so far."""
    return int(session.scalar(select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
        Payment.booking_id == booking_id, Payment.status.in_(PAID))) or 0)  # fmt: skip


def staff_member(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise NotAllowed(N_("You are not on the staff list any more."))
    return staff


def job(session: Session, staff: Staff, booking_id: int) -> Booking:
    """The booking, locked, if this staff member may act on it (`lifecycle.may_act`)."""
    found = session.execute(select(Booking.shop_id, Booking.mechanic_id, Booking.status)
                            .where(Booking.id == booking_id)).first()  # fmt: skip
    if found is None or found.shop_id != staff.shop_id:
        raise NotAllowed(N_("There is no such job in this shop."))
    if not may_act(staff.role == "owner", staff.id, found.mechanic_id, found.status):
        raise NotAllowed(N_("That job is not yours. Ask the owner to move it."))
    return bookings.locked_booking(session, booking_id)


def _car_came_anyway(session: Session, b: Booking, staff: Staff, now: datetime) -> dict:
    """A visit the shop could not keep (its mechanic went off shift, nobody was free)
    whose car came all the same: it is a job again, at its own time, for the mechanic
    taking the car in if they can do it, or else whoever qualified is free then, who is
    told. Returns the detail for the staff member: to whom it went, if not to them."""
    if b.status != S.NEEDS_RESCHEDULE:
        return {}
    slot = staffing.place_again(session, b, now, prefer=staff.id if staff.role == "mechanic" else None)
    if slot is None:
        raise WrongStatus(N_("Nobody who can do {code} is free at {time}, so it cannot be taken in. Agree a new "
                             "time with the customer."), {"code": b.code, "time": m.clock(b.starts_at, _tz(session, b))})  # fmt: skip
    b.mechanic_id, b.bay_id = slot.mechanic_id, slot.bay_id
    event = bookings.move(session, b, S.CONFIRMED, f"staff:{staff.id}", now, "the car came all the same")
    if slot.mechanic_id != staff.id:  # another's job now: they hear it from us, not from the customer
        tz = _tz(session, b)
        handed = Reply((Msg(N_("{name} took in {code} on {when} ({vehicle}), whose visit needed a new time: it is "
                               "now your job."), {"name": notices.first_name(staff.name), "code": b.code,
                                                  "when": m.when(b.starts_at, tz), "vehicle": _plate(session, b)}),),
                       (Choice(f"st:job:{b.id}", Msg(N_("Open the job"))),))  # fmt: skip
        mechanic = session.get(Staff, slot.mechanic_id)
        notices.tell_staff(session, mechanic, handed, f"taken-in:{event.id}", now)
        return {"given_to": notices.first_name(mechanic.name)}
    return {}


def _tz(session: Session, booking: Booking) -> str:
    return av.shop_view(session, booking.shop_id).spec.timezone


def _plate(session: Session, booking: Booking) -> str:
    vehicle = session.get(Vehicle, booking.vehicle_id) if booking.vehicle_id else None
    return vehicle.plate if vehicle else booking.code


def _status_notice(session: Session, booking: Booking, event: BookingEvent, texts: list[Msg], now: datetime,
                   choices: tuple[Choice, ...] = ()) -> None:  # fmt: skip
    session.flush()
    notices.status_notice(session, booking, Reply(tuple(texts), choices), f"status:{event.id}", now)


def _step(session: Session, booking: Booking, path: list[S], actor: str, now: datetime,
          reason: str | None = None) -> BookingEvent:  # fmt: skip
    """Move along `path` (e.g. received then ready), returning the last event."""
    event = None
    for status in path:
        event = bookings.move(session, booking, status, actor, now, reason)
    return event


# -- the job's statuses -------------------------------------------------------------------


def receive(session: Session, staff_id: int, booking_id: int, now: datetime) -> Moved:
    """The car is at the shop."""
    staff = staff_member(session, staff_id)
    b = job(session, staff, booking_id)
    given = _car_came_anyway(session, b, staff, now)
    if b.status != S.CONFIRMED:
        raise _wrong(b, "received")
    event = _step(session, b, [S.RECEIVED], f"staff:{staff.id}", now)
    _status_notice(session, b, event, [
        Msg(N_("We have received your car ({plate}) for {code}. We will tell you when the work starts."),
            {"plate": _plate(session, b), "code": b.code}),
    ], now)  # fmt: skip
    return Moved(b.id, b.code, b.status, detail=given)


def start(session: Session, staff_id: int, booking_id: int, now: datetime) -> Moved:
    """Work begins (a car not yet marked received is received on the way)."""
    staff = staff_member(session, staff_id)
    b = job(session, staff, booking_id)
    given = _car_came_anyway(session, b, staff, now)
    path = {S.CONFIRMED: [S.RECEIVED, S.IN_PROGRESS], S.RECEIVED: [S.IN_PROGRESS]}.get(b.status)
    if path is None:
        raise _wrong(b, "start")
    event = _step(session, b, path, f"staff:{staff.id}", now)
    _status_notice(session, b, event, [Msg(N_("Work on your car ({plate}) has started. Booking {code}."),
                                           {"plate": _plate(session, b), "code": b.code})], now)  # fmt: skip
    return Moved(b.id, b.code, b.status, detail=given)


def ready(session: Session, staff_id: int, booking_id: int, now: datetime, leaving_out: bool = False) -> Moved:
    """The car can be picked up; a customer with a balance may pay now from the chat.
    `leaving_out`: the mechanic said the extra work still unanswered is not done; if the
    customer answered in the meantime, that was said of work they may have approved."""
    staff = staff_member(session, staff_id)
    b = job(session, staff, booking_id)
    given = _car_came_anyway(session, b, staff, now)
    if leaving_out and b.status != S.AWAITING_APPROVAL:
        raise WrongStatus(N_("The customer has just answered about the extra work on {code}. Look at the job "
                             "again before marking it ready."), {"code": b.code})  # fmt: skip
    left_out = _leave_out_unanswered(session, b, staff, now) if b.status == S.AWAITING_APPROVAL else []
    path = {S.CONFIRMED: [S.RECEIVED, S.READY], S.RECEIVED: [S.READY], S.IN_PROGRESS: [S.READY]}.get(b.status)
    if path is None:
        raise _wrong(b, "ready")
    event = _step(session, b, path, f"staff:{staff.id}", now)
    total, paid = b.price_minor, paid_minor(session, b.id)
    texts = [Msg(N_("Your car ({plate}) is ready for pickup. Booking {code}."), {"plate": _plate(session, b), "code": b.code})]
    texts += [Msg(N_("The extra work ({work}) was not done: we did not hear from you in time."), {"work": work})
              for work in left_out]  # fmt: skip
    texts += [Msg(N_("Total {total}, paid {paid}, to pay {balance}."),
                 {"total": m.money(total, b.currency), "paid": m.money(paid, b.currency),
                  "balance": m.money(max(total - paid, 0), b.currency)})]  # fmt: skip
    detail = {"left_out": left_out} | given
    choices: tuple[Choice, ...] = ()
    methods = [x for x in av.shop_view(session, b.shop_id).spec.payment_methods if x in ONLINE_METHODS]
    if total > paid and methods:
        offer = getattr(payments, "offer_balance", None)
        if offer is not None:  # core/payments sends the "pay now" choices (issue 6)
            _status_notice(session, b, event, texts, now)
            offer(session, b, now)
            return Moved(b.id, b.code, b.status, total, paid, detail)
        texts.append(Msg(N_("You can pay now, or at the shop when you collect the car.")))
        labels = {"mpesa": N_("Pay now with M-Pesa"), "kaspi": N_("Pay now with Kaspi")}
        choices = tuple(Choice(f"payagain:{b.id}:{x}", Msg(labels[x])) for x in methods)
    _status_notice(session, b, event, texts, now, choices)
    return Moved(b.id, b.code, b.status, total, paid, detail)


def _leave_out_unanswered(session: Session, b: Booking, staff: Staff, now: datetime) -> list[str]:
    """The car is ready while extra work still waits for the customer's answer: it was
    not approved, so it was not done. Recorded as left out (not as the customer's
    decline: they never answered), and the job goes on."""
    items = [i for i in b.items if i.kind == "extra" and i.status == PROPOSED]
    for item in items:
        item.status, item.decided_at = LEFT_OUT, now
    works = [item.description for item in items]
    bookings.move(session, b, S.IN_PROGRESS, f"staff:{staff.id}", now, f"extra work left out, unanswered: {', '.join(works)}"[:500])
    return works


def complete(session: Session, staff_id: int, booking_id: int, now: datetime, cash_paid: bool = False) -> Moved:
    """The customer has the car back: record a balance paid in cash at the counter, use
    up the parts, send the receipt and ask for a rating."""
    staff = staff_member(session, staff_id)
    b = job(session, staff, booking_id)
    path = {S.READY: [S.COMPLETED], S.IN_PROGRESS: [S.READY, S.COMPLETED],
            S.RECEIVED: [S.READY, S.COMPLETED]}.get(b.status)  # fmt: skip
    if path is None:
        if b.status == S.AWAITING_APPROVAL:
            raise WrongStatus(N_("{code} is waiting for the customer's answer about the extra work."), {"code": b.code})
        raise _wrong(b, "done")
    total, paid = b.price_minor, paid_minor(session, b.id)
    if cash_paid and total > paid:
        session.add(Payment(shop_id=b.shop_id, booking_id=b.id, provider="cash", purpose="balance",
                            amount_minor=total - paid, currency=b.currency, status="completed",
                            created_at=now, completed_at=now))  # fmt: skip
        paid = total
    _step(session, b, path, f"staff:{staff.id}", now)
    session.flush()
    low = parts.consume_for_booking(session, b, now)
    receipts.send_receipt(session, b, now)
    return Moved(b.id, b.code, b.status, total, paid, {"low_parts": [p.code for p in low]})


def no_show(session: Session, staff_id: int, booking_id: int, now: datetime) -> Moved:
    """The customer did not come: the slot is lost and it costs them a token."""
    staff = staff_member(session, staff_id)
    b = job(session, staff, booking_id)
    if b.status != S.CONFIRMED:
        raise _wrong(b, "noshow")
    if now < b.starts_at:
        raise WrongStatus(N_("{code} starts at {time}; it can be marked a no-show only after that."),
                          {"code": b.code, "time": m.clock(b.starts_at, _tz(session, b))})  # fmt: skip
    done = bookings.mark_no_show(session, b.id, f"staff:{staff.id}", now)
    event = session.scalars(select(BookingEvent).where(BookingEvent.booking_id == b.id)
                            .order_by(BookingEvent.id.desc())).first()  # fmt: skip
    _status_notice(session, b, event, [_missed(session, b, now),
        Msg(N_("It used one token. You have {n} left this month."), {"n": done.tokens_left}),
    ], now)  # fmt: skip
    return Moved(b.id, b.code, b.status, detail={"tokens_left": done.tokens_left})


def _missed(session: Session, b: Booking, now: datetime) -> Msg:
    """"We missed you today", or, marked the morning after, on which day."""
    view = av.shop_view(session, b.shop_id)
    if view.local_day(b.starts_at) == view.local_day(now):
        return Msg(N_("We missed you today: booking {code} at {time} was marked as a no-show."),
                   {"code": b.code, "time": m.clock(b.starts_at, view.spec.timezone)})  # fmt: skip
    return Msg(N_("We missed you on {when}: booking {code} was marked as a no-show."),
               {"code": b.code, "when": m.when(b.starts_at, view.spec.timezone)})  # fmt: skip


def _wrong(b: Booking, action: str) -> WrongStatus:
    return WrongStatus(N_("{code} is {status} now, so that cannot be done."),
                       {"code": b.code, "status": m.message(Msg(notices.STAFF_STATUS_NAMES.get(b.status, b.status)))})  # fmt: skip


# -- extra work ---------------------------------------------------------------------------


def propose_extra(session: Session, staff_id: int, booking_id: int, description: str, price_minor: int,
                  now: datetime) -> Moved:  # fmt: skip
    """Extra work found on the car: the customer is asked to approve it, with the new total.
    The job waits for the answer (awaiting_approval)."""
    staff = staff_member(session, staff_id)
    b = job(session, staff, booking_id)
    _car_came_anyway(session, b, staff, now)
    if price_minor <= 0:
        raise WrongStatus(N_("The price must be more than zero."))
    path = {S.CONFIRMED: [S.RECEIVED, S.IN_PROGRESS, S.AWAITING_APPROVAL],
            S.RECEIVED: [S.IN_PROGRESS, S.AWAITING_APPROVAL], S.IN_PROGRESS: [S.AWAITING_APPROVAL],
            S.AWAITING_APPROVAL: []}.get(b.status)  # fmt: skip
    if path is None:
        raise _wrong(b, "extra")
    description = " ".join(description.split())[:500]
    item = BookingItem(booking_id=b.id, service_id=None, kind="extra", description=description,
                       duration_minutes=0, price_minor=price_minor, status=PROPOSED)  # fmt: skip
    session.add(item)
    reason = f"extra work proposed: {description}"[:500]
    if path:
        _step(session, b, path, f"staff:{staff.id}", now, reason)
    else:  # already waiting for an answer about other work: record this one too
        session.add(BookingEvent(booking_id=b.id, from_status=b.status, to_status=b.status,
                                 actor=f"staff:{staff.id}", reason=reason, at=now))  # fmt: skip
    session.flush()
    pending = sum(i.price_minor for i in b.items if i.kind == "extra" and i.status == PROPOSED and i.id != item.id)
    total = b.price_minor + price_minor
    reply = Reply((
        Msg(N_("{mechanic} found extra work on your car ({plate}): {work}."),
            {"mechanic": notices.first_name(staff.name), "plate": _plate(session, b), "work": description}),
        Msg(N_("It costs {price}. With it your total would be {total}."),
            {"price": m.money(price_minor, b.currency), "total": m.money(total, b.currency)}),
        Msg(N_("Do you approve this work?")),
    ), (Choice(f"extra:yes:{item.id}", Msg(N_("Approve"))), Choice(f"extra:no:{item.id}", Msg(N_("Decline")))))  # fmt: skip
    notices.status_notice(session, b, reply, outbox.extra_key(item.id), now,
                          aliases={f"extra:yes:{item.id}": notices.YES_ALIASES, f"extra:no:{item.id}": notices.NO_ALIASES})  # fmt: skip
    return Moved(b.id, b.code, b.status, total, paid_minor(session, b.id),
                 {"item_id": item.id, "pending_minor": pending})  # fmt: skip


@dataclass(frozen=True)
class Decided:
    item_id: int
    booking_id: int
    code: str
    approved: bool
    description: str
    price_minor: int
    total_minor: int
    currency: str
    status: str


def decide_extra(session: Session, item_id: int, customer_id: int, approve: bool, now: datetime) -> Decided:
    """The customer's answer about extra work, stored with its time (the consent record).
    Approval adds the work and its price; either way the job resumes once nothing else
    waits for an answer. Raises NotYours, LookupError, or WrongStatus (already decided)."""
    booking_id = session.scalar(select(BookingItem.booking_id).where(BookingItem.id == item_id, BookingItem.kind == "extra"))
    if booking_id is None:
        raise LookupError(f"no extra work {item_id}")
    b = bookings.locked_booking(session, booking_id, customer_id)
    item = session.get(BookingItem, item_id)
    session.refresh(item)
    if item.status == LEFT_OUT:
        raise WrongStatus(N_("That extra work was left out: your car was ready before we heard from you."))
    if item.status != PROPOSED or b.status not in (S.AWAITING_APPROVAL, S.IN_PROGRESS):
        raise WrongStatus(N_("You already answered about this work."))
    item.status, item.decided_at = ("approved" if approve else "declined"), now
    if approve:
        b.price_minor += item.price_minor
    actor, verb = f"customer:{customer_id}", "approved" if approve else "declined"
    session.flush()
    waiting = session.scalar(select(func.count()).select_from(BookingItem).where(
        BookingItem.booking_id == b.id, BookingItem.status == PROPOSED))  # fmt: skip
    reason = f"extra work {verb}: {item.description}"[:500]
    if not waiting and b.status == S.AWAITING_APPROVAL:
        bookings.move(session, b, S.IN_PROGRESS, actor, now, reason)
    else:
        session.add(BookingEvent(booking_id=b.id, from_status=b.status, to_status=b.status, actor=actor,
                                 reason=reason, at=now))  # fmt: skip
    mechanic = session.get(Staff, b.mechanic_id) if b.mechanic_id else None
    said = N_("The customer approved the extra work on {code}: {work}. New total {total}.") if approve else \
        N_("The customer declined the extra work on {code}: {work}. Total stays {total}.")  # fmt: skip
    note = Reply((Msg(said, {"code": b.code, "work": item.description, "total": m.money(b.price_minor, b.currency)}),),
                 (Choice(f"st:job:{b.id}", Msg(N_("Open the job"))),))  # fmt: skip
    if mechanic is not None:
        notices.tell_staff(session, mechanic, note, f"extra-decided:{item.id}", now)
    return Decided(item.id, b.id, b.code, approve, item.description, item.price_minor, b.price_minor,
                   b.currency, b.status)  # fmt: skip


# -- shifts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftChange:
    reassigned: tuple[str, ...] = ()  # booking codes now with a colleague
    unassigned: tuple[str, ...] = ()  # booking codes that need a new time


def off_shift(session: Session, staff_id: int, now: datetime) -> ShiftChange:
    """The mechanic leaves: each future job goes to a free colleague (the customer is told
    who), or needs a new time (the customer is asked to choose one, the owner is told)."""
    staff = staff_member(session, staff_id)
    if staff.role != "mechanic":
        raise NotAllowed(N_("Only mechanics have shifts."))
    return hand_on(session, staff, f"staff:{staff.id}", now)


def hand_on(session: Session, staff: Staff, actor: str, now: datetime, left: bool = False) -> ShiftChange:
    """Every future job of a mechanic who is not there (off shift, or `left` the shop: no
    longer in its file) goes to a free colleague, or needs a new time; the customers,
    colleagues and owners are told."""
    outcomes = staffing.go_off_shift(session, staff.id, actor, now)
    moved, waiting = [], []
    for outcome in outcomes:
        b = session.get(Booking, outcome.booking_id)
        tz = _tz(session, b)
        event_id = session.scalars(select(BookingEvent.id).where(BookingEvent.booking_id == b.id)
                                   .order_by(BookingEvent.id.desc())).first()  # fmt: skip
        if isinstance(outcome, staffing.Reassigned):
            colleague = session.get(Staff, outcome.to_mechanic_id)
            reply = Reply((Msg(N_("A change to your booking {code} on {when}: {mechanic} will work on your car. "
                                  "The time stays the same."),
                               {"code": b.code, "when": m.when(b.starts_at, tz), "mechanic": notices.first_name(colleague.name)}),))  # fmt: skip
            notices.status_notice(session, b, reply, f"reassigned:{event_id}", now)
            said = N_("{name} has left the shop: {code} on {when} ({vehicle}) is now your job.") if left else \
                N_("{name} went off shift: {code} on {when} ({vehicle}) is now your job.")  # fmt: skip
            handed = Reply((Msg(said,
                                {"name": notices.first_name(staff.name), "code": b.code, "when": m.when(b.starts_at, tz),
                                 "vehicle": _plate(session, b)}),), (Choice(f"st:job:{b.id}", Msg(N_("Open the job"))),))  # fmt: skip
            notices.tell_staff(session, colleague, handed, f"handed-on:{event_id}", now)
            moved.append(b.code)
        elif b.status == S.CANCELLED:  # an unpaid hold, let go (the customer only is told)
            reply = Reply((Msg(N_("Sorry, the time you were holding for {code} on {when} is no longer available: "
                                  "the mechanic is not available, and nobody else is free then. Please book "
                                  "another time from the menu."), {"code": b.code, "when": m.when(b.starts_at, tz)}),))  # fmt: skip
            notices.status_notice(session, b, reply, f"unassigned:{event_id}", now)
        else:
            reply = Reply((
                Msg(N_("Sorry, the mechanic for your booking {code} on {when} is not available, and nobody else "
                       "is free then."), {"code": b.code, "when": m.when(b.starts_at, tz)}),
                Msg(N_("Please choose a new time, or cancel the booking.")),
            ), (Choice(f"rm:move:{b.id}", Msg(N_("Choose a new time"))),
                Choice(f"rm:cancel:{b.id}", Msg(N_("Cancel the booking")))))  # fmt: skip
            notices.status_notice(session, b, reply, f"unassigned:{event_id}", now)
            said = N_("{code} on {when} has no mechanic since {name} left the shop. The customer was asked to "
                      "choose a new time.") if left else \
                N_("{code} on {when} has no mechanic since {name} went off shift. The customer was asked to "
                   "choose a new time.")  # fmt: skip
            owner_note = Reply((Msg(said,
                                    {"code": b.code, "when": m.when(b.starts_at, tz), "name": staff.name}),))  # fmt: skip
            notices.tell_owners(session, b.shop_id, owner_note, f"unassigned:{event_id}", now)
            waiting.append(b.code)
    log.info("staff %s away (%s): %d job(s) reassigned, %d need a new time", staff.id, actor, len(moved), len(waiting))
    return ShiftChange(tuple(moved), tuple(waiting))


def on_shift(session: Session, staff_id: int) -> None:
    staff = staff_member(session, staff_id)
    if staff.role != "mechanic":
        raise NotAllowed(N_("Only mechanics have shifts."))
    staffing.go_on_shift(session, staff.id)
