"""Doing what the engine asked: each command becomes a call to core, in the message's
transaction, and its result comes back to the engine as an outcome."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from bot import model as cmd
from bot import photos
from bot.context import DbContext
from core import booking, notices, payments, policy, waitlist
from core.booking import Held, NotYours, SlotTaken
from core.customers import (
    STILL_BOOKED,
    StillBooked,
    add_vehicle,
    called,
    mask_phone,
    remove_vehicle,
)
from core.i18n import N_
from core.lifecycle import AT_THE_SHOP, IllegalMove
from core.lifecycle import BookingStatus as S
from core.messages import Choice, Msg, Reply, when
from core.models import Booking, Customer, Payment
from core.precompiled import write_columns

log = logging.getLogger(__name__)


def execute(session: Session, ctx: DbContext, command, channel: str):
    """Carry out one command; return an outcome for the engine, or None."""
    customer = session.get(Customer, ctx.customer.id)
    actor = f"customer:{customer.id}"
    match command:
        case cmd.SetLanguage(lang):
            if lang != customer.language:  # most often it is the one their app told us
                write_columns(session, customer, {"language": lang})  # not left for the step's savepoint to flush
        case cmd.SavePhone(phone):
            customer.phone = phone
        case cmd.SaveVehicle(plate, make_model):
            vehicle = add_vehicle(session, customer, plate, make=make_model)
            return cmd.Done("vehicle", {"vehicle_id": vehicle.id, "plate": vehicle.plate})
        case cmd.Hold(service_ids, start, vehicle_id, method, phone):
            held = booking.hold(session, shop_id=ctx.view.shop_id, customer_id=customer.id,
                                service_ids=service_ids, start=start, now=ctx.now, vehicle_id=vehicle_id,
                                channel=channel, payment_method=method)  # fmt: skip
            if isinstance(held, SlotTaken):
                return cmd.Taken(held.wanted, held.alternatives, held.too_soon)
            return _settle(session, ctx, held.booking_id, method, actor, phone, held=held, held_services=tuple(service_ids))
        case cmd.AcceptOffer(booking_id, method) | cmd.RetryPayment(booking_id, method):
            row = _held_for(session, booking_id, customer.id, ctx.now)
            if row is None:
                return _no_longer_held(session, ctx, booking_id, customer.id)
            if isinstance(command, cmd.AcceptOffer):  # the engine's pick, by the same rule (not trusted from a button)
                method = policy.way_to_take_offer(ctx.view.spec.payment_methods, row.deposit_minor > 0)
            settled = _settle(session, ctx, booking_id, method, actor, command.phone)
            if isinstance(settled, cmd.Booked):
                row.payment_method = method  # a refused try leaves the booking as it was
            return settled
        case cmd.DeclineOffer(booking_id) if _held_for(session, booking_id, customer.id, ctx.now) is None:
            return cmd.Refused(N_("That offer is no longer open."))
        case cmd.DeclineOffer(booking_id) | cmd.Cancel(booking_id):
            try:
                done = booking.cancel(session, booking_id, actor, ctx.now, customer_id=customer.id)
            except (NotYours, LookupError):
                return cmd.Refused(N_("That booking is not yours to change."))
            except IllegalMove:
                return cmd.Refused(N_("That booking can no longer be cancelled."))
            return cmd.Done("cancel", {"code": done.code, "token_cost": done.token_cost, "tokens_left": done.tokens_left,
                                       "refund_minor": done.refund_minor, "currency": done.currency})  # fmt: skip
        case cmd.Reschedule(booking_id, start):
            try:
                moved = booking.reschedule(session, booking_id, start, actor, ctx.now, customer_id=customer.id)
            except (NotYours, LookupError):
                return cmd.Refused(N_("That booking is not yours to change."))
            except IllegalMove:
                return cmd.Refused(N_("That booking can no longer be moved."))
            if isinstance(moved, SlotTaken):
                return cmd.Taken(moved.wanted, moved.alternatives, moved.too_soon)
            unpaid = session.get(Booking, booking_id).status == S.HELD  # still only held while they pay
            return cmd.Done("reschedule", {"code": moved.code, "held_until": moved.hold_expires_at if unpaid else None})
        case cmd.JoinWaitlist(day, service_ids, vehicle_id):
            waitlist.join(session, shop_id=ctx.view.shop_id, customer_id=customer.id, day=day,
                          service_ids=service_ids, now=ctx.now, vehicle_id=vehicle_id, channel=channel)  # fmt: skip
            return cmd.Done("waitlist")
        case cmd.DecideExtra(item_id, approve):  # issue 7: the customer's consent to extra work
            from core import shopfloor

            try:
                decided = shopfloor.decide_extra(session, item_id, customer.id, approve, ctx.now)
            except (NotYours, LookupError):
                return cmd.Refused(N_("That booking is not yours to change."))
            except shopfloor.WrongStatus as exc:
                return cmd.Refused(exc.reason, exc.params)
            return cmd.Done("extra", {"approved": decided.approved, "work": decided.description, "code": decided.code,
                                      "total": decided.total_minor})  # fmt: skip
        case cmd.RateJob(booking_id, stars):
            from core import ratings

            try:
                rated = ratings.rate(session, booking_id, customer.id, stars, ctx.now)
            except (NotYours, ratings.NotRateable, ValueError):
                return cmd.Refused(N_("That visit cannot be rated."))
            return cmd.Done("rated", {"stars": rated.stars, "code": rated.code})
        case cmd.SendReceipt(booking_id):
            from core import receipts
            from core.runtime import current_runtime

            row = session.get(Booking, booking_id)
            if row is None or row.customer_id != customer.id or row.status != "completed":
                return cmd.Refused(N_("That receipt is not available."))
            receipts.send_pdf(session, row, ctx.now, current_runtime().settings.var_dir)
            return cmd.Done("receipt", {"code": row.code})
        case cmd.PayBalance(booking_id, method, phone):
            try:
                started = payments.pay_balance(session, booking_id, method, ctx.now, customer_id=customer.id, phone=phone)
            except payments.AlreadyAsked as exc:
                return _already_asked(exc)
            if started is None:
                return cmd.Refused(N_("Nothing is left to pay for that booking."))
            paying = session.get(Payment, started.payment_id)
            return cmd.Done("paybalance", {"amount": paying.amount_minor, "method": method})
        case cmd.RemoveVehicle(vehicle_id):
            try:
                removed = remove_vehicle(session, customer.id, vehicle_id, ctx.now)
            except LookupError:
                return cmd.Refused(N_("That vehicle is no longer in your list."))
            if isinstance(removed, StillBooked):
                return cmd.Refused(STILL_BOOKED, {"plate": removed.plate, "code": removed.code,
                                                  "when": when(removed.start, ctx.view.spec.timezone)})  # fmt: skip
            return cmd.Done("vehicle_removed", {"plate": removed.plate, "waits_ended": removed.waits_ended})
        case cmd.MessageShop(text, photo, more_photos) if photo:
            for n, each in enumerate((photo, *more_photos)):  # the words once, under the first
                _photo_to_owners(session, ctx, customer, "" if n else text, each)
        case cmd.MessageShop(text):
            _to_owners(session, ctx, customer, text)
    return None


def _settle(session: Session, ctx: DbContext, booking_id: int, method: str, actor: str,
            phone: str | None = None, held: Held | None = None,
            held_services: tuple[int, ...] | None = None) -> cmd.Booked | cmd.Refused:  # fmt: skip
    """After a hold: pay at the shop confirms at once (unless money is due in advance: a
    button of an earlier message may still offer it); online methods ask for money
    (M-Pesa from `phone`: another number given for it, or the customer's own typed just
    now, saved after this, so that their row is locked last). `held` and
    `held_services`: a hold made just now in this transaction, and its services in its
    lines' order (not read back: confirming it reads its row, under its lock)."""
    priced = held or session.get(Booking, booking_id)  # either tells the price and the deposit
    amount = priced.deposit_minor or priced.price_minor
    if method not in policy.ways_to_pay(ctx.view.spec.payment_methods, priced.deposit_minor > 0):
        return cmd.Refused(N_("This visit is paid in advance. Please choose another way to pay."))
    if method == "cash":
        row = booking.confirm(session, booking_id, actor, ctx.now, "pays at the shop")
        return cmd.Booked(row.id, row.code, row.starts_at, True, 0, 0, method, service_ids=held_services or _service_ids(row))
    row = session.get(Booking, booking_id)  # the object read above, if it was
    try:
        payment = payments.start(session, row, method, amount, ctx.now, phone=phone)
    except payments.AlreadyAsked as exc:
        return _already_asked(exc)
    asked = session.get(Payment, payment.payment_id).amount_minor  # M-Pesa's is in whole shillings
    minutes = int((row.hold_expires_at - ctx.now).total_seconds() // 60)
    return cmd.Booked(row.id, row.code, row.starts_at, False, asked, minutes, method, payment.link,
                      held_services or _service_ids(row))


def _already_asked(exc: payments.AlreadyAsked) -> cmd.Refused:
    return cmd.Refused(N_("A payment request for {code} is already on its way. Please finish that one first."),
                       {"code": exc.code})


def _held_for(session: Session, booking_id: int, customer_id: int, now: datetime) -> Booking | None:
    """The customer's hold, if it is still theirs: what an offer's or a retry's button
    may act on (a stale one must not touch a booking that has moved on)."""
    row = session.get(Booking, booking_id)
    return row if row is not None and row.customer_id == customer_id and payments.hold_live(row, now) else None


def _no_longer_held(session: Session, ctx: DbContext, booking_id: int, customer_id: int) -> cmd.Refused:
    """Why an offer's or a payment's button finds no hold: the time is theirs already (a
    second tap on "Yes", a payment that went through meanwhile), or it is gone."""
    row = session.get(Booking, booking_id)
    if row is not None and row.customer_id == customer_id and row.status in (S.CONFIRMED, *AT_THE_SHOP):
        return cmd.Refused(N_("{code} is already booked for you: {when}."),
                           {"code": row.code, "when": when(row.starts_at, ctx.view.spec.timezone)})  # fmt: skip
    return cmd.Refused(N_("Sorry, that time is no longer held for you."))


def _service_ids(row: Booking) -> tuple[int, ...]:
    return tuple(i.service_id for i in row.items if i.kind == "service" and i.service_id is not None)


def _to_owners(session: Session, ctx: DbContext, customer: Customer, text: str) -> None:
    """Forward the customer's words to every owner, where they read us (on
    WhatsApp outside its 24-hour window, as the shop's staff template, unless one
    already waits for the owner's next message: then they wait with it)."""
    sent = notices.tell_owners(session, ctx.view.shop_id, to_owners(customer, text), None, ctx.now, may_wait=True)
    log.info("message from customer %s forwarded to %d owner(s)", mask_phone(customer.phone), sent)


def to_owners(customer: Customer, text: str, photo: bool = False) -> Reply:
    """What the owners read of a customer's words (or of the caption of their photo),
    with the choice to answer them."""
    said = {"name": customer.name or "-", "phone": customer.phone or "-", "text": text}
    if not photo:
        header = Msg(N_("Message from {name} ({phone}): {text}"), said)
    else:
        header = Msg(N_("Photo from {name} ({phone}): {text}") if text else N_("Photo from {name} ({phone})"), said)
    return Reply((header,), (Choice(f"st:answer:{customer.id}", Msg(N_("Answer {name}"), {"name": called(customer)})),))


def _photo_to_owners(session: Session, ctx: DbContext, customer: Customer, text: str, photo: str) -> None:
    """The customer's photo to every owner, under their words: fetched when it is first
    sent (bot.photos); should it be gone by then, the owners hear that it came, and the
    words. On WhatsApp outside an owner's window, the staff template says it came (unless
    one already waits for his next message: each is paid for, and WhatsApp brings each
    photo as a message of its own, as a Telegram album does), and the photos follow when
    he writes."""
    key = photos.dedupe_key("shop-photo", customer.id, photo, ctx.now)
    sent = notices.tell_owners(session, ctx.view.shop_id, to_owners(customer, text, photo=True), key, ctx.now,
                               kind="photo", extra=photos.passed_on(photo, _not_received(customer, text)) |
                               {"whole_later": True}, may_wait=True)  # fmt: skip
    log.info("photo from customer %s forwarded to %d owner(s)", mask_phone(customer.phone), sent)


def _not_received(customer: Customer, caption: str) -> Reply:
    """What the owners read when the photo could not be fetched: that it came, and from whom."""
    said = Msg(N_("{name} ({phone}) sent a photo, but it could not be received. Ask them to send it again."),
               {"name": customer.name or "-", "phone": customer.phone or "-"})  # fmt: skip
    reply = to_owners(customer, caption)
    return Reply((said, *reply.texts) if caption else (said,), reply.choices)


__all__ = ["execute", "Held"]
