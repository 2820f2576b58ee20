"""Payments: asking for money and applying what the providers report, exactly once.

This module is the provider-neutral part; the M-Pesa and Kaspi specifics live in
core/mpesa.py and core/kaspi.py. The life of a payment:

    start()  ─ pending, in the booking's transaction; the provider call is a job
    request(payment_id)        the job: STK push, or create a Kaspi link (sent to the chat)
    callback / status poll     M-Pesa posts to /webhooks/mpesa/<token>; Kaspi QR is polled
    reconcile_payments(now)    the cron entry point: STK queries, Kaspi polls, retries,
                               give-ups, and a re-drive of callbacks whose apply failed

Exactly once: every result is applied under the locks every writer in Pitstop takes in
the same order — the booking's day lock, the booking row, then the payment row
(`lock`) — and only to a payment that is still pending. A completed or failed payment
is never applied again, whoever reports it and however often.

What a payment does to its booking is decided by one pure function, `after_payment`:
a live hold is confirmed; a hold that ran out is confirmed if its slot is still free,
otherwise the money is marked refund_due and the customer and the owner are told; money
for an active booking counts towards its balance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import availability as av
from core import messages as m
from core import notices, policy, setup_faults
from core import slots as engine
from core.booking import locked_booking, move
from core.db import Database, defer, session_of
from core.i18n import N_
from core.lifecycle import BookingStatus
from core.messages import Choice, Msg, Reply
from core.models import Booking, Customer, InboxUpdate, Payment
from core.precompiled import Precompiled, loaded_row

log = logging.getLogger(__name__)
S = BookingStatus

# Payment statuses. pending is the only one a provider's answer can change.
PENDING, COMPLETED, FAILED = "pending", "completed", "failed"
REFUND_DUE, REFUNDING, REFUNDED = "refund_due", "refunding", "refunded"
OWED_BACK = (REFUND_DUE, REFUNDING)  # money due back, not yet known to be returned
FINAL = frozenset({COMPLETED, FAILED, REFUND_DUE, REFUNDING, REFUNDED})

# Chat payment method -> the provider that takes the money online.
PROVIDER_OF_METHOD = {"mpesa": "mpesa", "kaspi": "kaspi_qr"}
ONLINE_PROVIDERS = tuple(PROVIDER_OF_METHOD.values())  # those we ask for money (a prompt, a link)
METHOD_OF_PROVIDER = {provider: method for method, provider in PROVIDER_OF_METHOD.items()}
# Brand names: the same in every language.
PROVIDER_NAMES = {"mpesa": "M-Pesa", "kaspi_qr": "Kaspi", "kaspi": "Kaspi", "cash": "cash"}
METHOD_LABELS = {"mpesa": N_("M-Pesa"), "kaspi": N_("Kaspi"), "cash": N_("Pay at the shop")}
OTHER_NUMBER = N_("M-Pesa from another number")

# Booking statuses in which money counts towards the visit.
ACTIVE = frozenset({S.CONFIRMED, S.NEEDS_RESCHEDULE, S.RECEIVED, S.IN_PROGRESS,
                    S.AWAITING_APPROVAL, S.READY, S.COMPLETED})  # fmt: skip

# Once asked for money, a customer has at least this long to pay before their hold may
# run out: an M-Pesa prompt is answered or gone within about a minute (and the STK query
# decides after three), a Kaspi link is opened and paid in a few minutes. Money that comes
# later still (a query still "processing", a link whose creation was retried) finds the
# hold run out, and is confirmed if the time is still free or marked for a refund.
PAYING_TIME = {"mpesa": timedelta(minutes=4), "kaspi_qr": timedelta(minutes=5)}

# An M-Pesa callback whose apply failed is re-driven from the inbox after this long.
REDRIVE_AFTER = timedelta(minutes=1)
RAW_KEPT = 20  # provider answers kept on the payment row, newest last


# -- what the customer, and the owner, are told ---------------------------------------------

PAID = N_("Payment received: {amount}.")
PAID_RECEIPT = N_("Payment received: {amount} (receipt {receipt}).")
CONFIRMED = N_("Booking {code} is confirmed for {when}. See you then!")
CREDITED = N_("Thank you! It counts towards booking {code}.")

REFUND_SLOT_TAKEN = N_("We received {amount} for booking {code}, but the hold had run out and the "
                       "time was taken by someone else. The shop has been told and will refund you.")  # fmt: skip
REFUND_DAY_CLOSED = N_("We received {amount} for booking {code}, but the shop has closed on that day "
                       "since. The shop has been told and will refund you.")  # fmt: skip
REFUND_INACTIVE = N_("We received {amount} for booking {code}, but the booking is no longer "
                     "active. The shop has been told and will refund you.")  # fmt: skip
REFUND_OVERPAID = N_("We received {amount} for booking {code}, which was already paid in full. "
                     "The shop has been told and will refund you.")  # fmt: skip
RETURNED = N_("The shop has returned your payment of {amount} for booking {code}.")
OWNER_REFUND_HOW = N_("Once you have returned it, write /refunded {code}.")
OWNER_REFUND_SLOT_TAKEN = N_("Refund due: {customer} paid {amount} by {provider} (reference {ref}) "
                             "for booking {code} after the hold ran out, and the time is taken.")  # fmt: skip
OWNER_REFUND_DAY_CLOSED = N_("Refund due: {customer} paid {amount} by {provider} (reference {ref}) "
                             "for booking {code}, on a day the shop has closed since.")  # fmt: skip
OWNER_REFUND_INACTIVE = N_("Refund due: {customer} paid {amount} by {provider} (reference {ref}) "
                           "for booking {code}, which is no longer active.")  # fmt: skip
OWNER_REFUND_OVERPAID = N_("Refund due: {customer} paid {amount} by {provider} (reference {ref}) "
                           "for booking {code}, which was already paid in full.")  # fmt: skip
OWNER_REFUND_CANCELLED = N_("Refund due: {customer} cancelled booking {code} in time, so the {amount} "
                            "paid by {provider} (reference {ref}) goes back to them.")  # fmt: skip


class FailureKind(StrEnum):
    CANCELLED = "cancelled"  # the customer said no (M-Pesa 1032)
    WRONG_PIN = "wrong_pin"  # M-Pesa 2001
    INSUFFICIENT = "insufficient_funds"  # M-Pesa 1
    NO_ANSWER = "no_answer"  # the provider never gave a result
    DECLINED = "declined"  # any other failure the provider reported
    EXPIRED = "expired"  # the Kaspi link ran out
    NOT_STARTED = "not_started"  # the provider refused the request itself
    UNCONFIRMED = "unconfirmed"  # the request's answer was lost and no result came: it may have been paid


FAILURE_TEXT = {
    FailureKind.CANCELLED: N_("You cancelled the {provider} payment for booking {code}."),
    FailureKind.WRONG_PIN: N_("The M-Pesa PIN was wrong, so the payment for booking {code} did not go through."),
    FailureKind.INSUFFICIENT: N_("Your {provider} balance was too low to pay {amount} for booking {code}."),
    FailureKind.NO_ANSWER: N_("We got no answer from {provider} about the payment for booking {code}, "
                              "so it did not go through."),
    FailureKind.DECLINED: N_("The {provider} payment for booking {code} did not go through."),
    FailureKind.EXPIRED: N_("The {provider} payment link for booking {code} has expired."),
    FailureKind.NOT_STARTED: N_("The {provider} payment for booking {code} could not be started."),
    FailureKind.UNCONFIRMED: N_("We could not confirm with {provider} whether the payment for booking {code} "
                                "went through. If the money left your account, the shop will see it and put it right."),
}  # fmt: skip
OWNER_NOT_STARTED = N_("The {provider} payment for booking {code} could not be started: {reason}. Until this is put "
                       "right, customers cannot pay by {provider}: please check the shop's {provider} set-up.")  # fmt: skip
OWNER_UNCONFIRMED = N_("Please check the {provider} statement: {customer} ({phone}) was asked to pay {amount} for "
                       "booking {code}, and {provider}'s answer never reached us. The customer was told we could not "
                       "confirm it; if the money came in, contact them.")  # fmt: skip
STILL_HELD = N_("Your time is still held until {time}. Try again, or choose another way to pay.")
BOOK_AGAIN = N_("Your hold has ended. You can book again whenever you are ready.")
BALANCE_TRY_AGAIN = N_("Try again now, or pay at the shop when you collect it.")
BALANCE_LEFT = N_("{amount} is left to pay for booking {code}. Pay now, or at the shop when you collect it.")

OWNER_REFUSED = N_("A payment notice from {provider} for booking {code} was refused, and nothing "
                   "was changed: {reason}.")  # fmt: skip
REASON_AMOUNT = N_("it says {got}, but {expected} was asked")
REASON_OTHER_PAYMENT = N_("it names a different payment")
REASON_INCOMPLETE = N_("it says the payment went through but gives no receipt number or no amount")
REASON_CURRENCY = N_("it is in shillings, but {expected} was asked")
REASON_RECEIPT_USED = N_("its receipt {receipt} was already used for another payment")
OWNER_CONTRADICTION = N_("{provider} reports {amount} paid for booking {code} (reference {ref}) after "
                         "the payment was marked failed. Nothing was changed; please check whether "
                         "the customer paid.")  # fmt: skip


# -- starting a payment ---------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    payment_id: int
    link: str | None = None  # Kaspi: the link arrives with the job, through the outbox


class AlreadyAsked(Exception):
    """A request for this booking's money is still open (a second tap on "Pay now" or
    "Try again"): a second prompt could take the money twice."""

    def __init__(self, code: str):
        super().__init__(f"a payment for {code} is still open")
        self.code = code


def start(session: Session, booking: Booking, method: str, amount_minor: int, now: datetime,
          purpose: str | None = None, phone: str | None = None) -> Started:  # fmt: skip
    """Record a pending payment for the booking and queue the request to the provider
    (M-Pesa prompts `phone`, given for this payment only, or else the customer's).

    The provider is called by the job `request(payment_id)` once this transaction
    commits, so Safaricom or Kaspi is asked only for a hold that really exists.
    """
    provider = PROVIDER_OF_METHOD.get(method)
    if provider is None:
        raise ValueError(f"{method!r} is not an online payment method")
    session.execute(select(Booking.id).where(Booking.id == booking.id).with_for_update())  # two taps take turns
    if session.scalar(select(Payment.id).where(Payment.booking_id == booking.id, Payment.status == PENDING,
                                               Payment.provider.in_(ONLINE_PROVIDERS)).limit(1)):  # fmt: skip
        raise AlreadyAsked(booking.code)
    if provider == "mpesa":
        amount_minor = -(-amount_minor // 100) * 100  # M-Pesa takes whole shillings only
    if purpose is None:
        purpose = "full" if amount_minor >= amount_owed(booking) else "deposit"
    customer = session.get(Customer, booking.customer_id)
    payment = Payment(shop_id=booking.shop_id, booking_id=booking.id, provider=provider, purpose=purpose,
                      amount_minor=amount_minor, currency=booking.currency, status=PENDING,
                      phone=phone or (customer.phone if customer else None), raw_callbacks=[], checks=0,
                      created_at=now, updated_at=now)  # fmt: skip
    session.add(payment)
    if hold_live(booking, now) and booking.hold_expires_at is not None:
        hold = timedelta(minutes=av.shop_view(session, booking.shop_id).spec.booking.hold_minutes)
        latest = booking.created_at + hold + PAYING_TIME[provider]  # tries again and again keep it no longer
        booking.hold_expires_at = max(booking.hold_expires_at, min(now + PAYING_TIME[provider], latest))
    session.flush()
    defer(session, request, payment.id, job_id=f"payment-request-{payment.id}")
    return Started(payment.id)


def request(payment_id: int, now: datetime | None = None) -> None:
    """The job that asks the provider for the money: STK push, or a Kaspi payment link.

    Idempotent: a payment already asked for (or no longer pending) is left alone.
    """
    from core import kaspi, mpesa

    provider = _provider_of(payment_id)
    if provider == "mpesa":
        mpesa.push(payment_id, now)
    elif provider == "kaspi_qr":
        kaspi.create_link(payment_id, now)


def check_payment(payment_id: int, now: datetime | None = None) -> None:
    """Find out where an undecided payment stands (STK query, Kaspi status poll) and
    apply the answer; retry a request that did not get through."""
    from core import kaspi, mpesa

    provider = _provider_of(payment_id)
    if provider == "mpesa":
        mpesa.check(payment_id, now)
    elif provider == "kaspi_qr":
        kaspi.poll(payment_id, now)


def _provider_of(payment_id: int) -> str | None:
    from core.runtime import current_runtime

    with current_runtime().db.uow() as uow:
        return uow.session.scalar(select(Payment.provider).where(Payment.id == payment_id))


# -- the cron entry point -------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciled:
    checked: int  # payments whose provider was asked (or whose request was retried)
    redriven: int  # recorded callbacks applied again after an earlier apply failed


def reconcile_payments(now: datetime | None = None, limit: int = 200) -> Reconciled:
    """The reconciliation job, run by cron every few seconds (cheap when nothing is due).

    Asks about every pending payment whose `next_check_at` has come: M-Pesa payments
    with no callback after a few minutes (STK query), Kaspi links at the interval Kaspi
    gave (status poll), requests to retry; fails those past `give_up_at`. Then re-applies
    M-Pesa callbacks that were recorded but whose apply did not finish.
    """
    from core import mpesa
    from core.runtime import current_runtime

    runtime = current_runtime()
    now = now or runtime.now()
    db = runtime.db
    with db.uow() as uow:
        due = list(uow.session.scalars(
            select(Payment.id).where(Payment.status == PENDING, Payment.next_check_at <= now,
                                     Payment.provider.in_(ONLINE_PROVIDERS))
            .order_by(Payment.next_check_at).limit(limit)))  # fmt: skip
        stale = list(uow.session.scalars(
            select(InboxUpdate.id).where(InboxUpdate.source == mpesa.SOURCE,
                                         InboxUpdate.processed_at.is_(None),
                                         InboxUpdate.received_at <= now - REDRIVE_AFTER)
            .order_by(InboxUpdate.id).limit(limit)))  # fmt: skip
    for payment_id in due:
        try:
            check_payment(payment_id, now)
        except Exception:  # one payment's trouble must not stop the others
            log.exception("payment %s: check failed; it is tried again next round", payment_id)
    for inbox_id in stale:
        try:
            mpesa.redrive(db, inbox_id, now)
        except Exception:
            log.exception("inbox %s: re-applying the M-Pesa callback failed", inbox_id)
    return Reconciled(len(due), len(stale))


# -- locks ---------------------------------------------------------------------------------


def lock(session: Session, payment_id: int) -> tuple[Booking, Payment]:
    """The payment's booking and the payment, locked in Pitstop's one order: the day
    lock, the booking row, then the payment row (read fresh, so its status is current)."""
    booking_id = session.scalar(select(Payment.booking_id).where(Payment.id == payment_id))
    if booking_id is None:
        raise LookupError(f"no payment with id {payment_id}")
    booking = locked_booking(session, booking_id)
    payment = session.scalar(
        select(Payment).where(Payment.id == payment_id).with_for_update()
        .execution_options(populate_existing=True))  # fmt: skip
    return booking, payment


# -- the rule: what a payment does to its booking -----------------------------------------


class Verdict(StrEnum):
    CONFIRM = "confirm"  # a live hold becomes a promise
    CONFIRM_LATE = "confirm_late"  # the hold ran out, but the slot is still free
    CREDIT = "credit"  # counts towards an active booking (balance, extra deposit)
    REFUND_SLOT_TAKEN = "refund_slot_taken"
    REFUND_DAY_CLOSED = "refund_day_closed"  # for a hold on a day the shop closed since
    REFUND_INACTIVE = "refund_inactive"  # cancelled, no-show
    REFUND_OVERPAID = "refund_overpaid"  # the booking was already paid in full

    @property
    def refund(self) -> bool:
        return self.value.startswith("refund")


def after_payment(status: str, hold_live: bool, slot_free: bool, paid_before: int, owed: int,
                  day_open: bool = True) -> Verdict:  # fmt: skip
    """What money received does to a booking, from plain facts about it."""
    status = S(status)
    if status in (S.HELD, S.EXPIRED) and not day_open:  # a hold is no promise: a closed day keeps none
        return Verdict.REFUND_DAY_CLOSED
    if status == S.HELD and hold_live:
        return Verdict.CONFIRM
    if status in (S.HELD, S.EXPIRED):
        return Verdict.CONFIRM_LATE if slot_free else Verdict.REFUND_SLOT_TAKEN
    if status not in ACTIVE:
        return Verdict.REFUND_INACTIVE
    if paid_before >= owed:
        return Verdict.REFUND_OVERPAID
    return Verdict.CREDIT


def amount_owed(booking: Booking) -> int:
    """The visit's price: its services and the extra work the customer approved."""
    if not booking.items:
        return booking.price_minor
    return sum(i.price_minor for i in booking.items
               if i.kind == "service" or (i.kind == "extra" and i.status == "approved"))  # fmt: skip


def paid_total(session: Session, booking_id: int, exclude: int | None = None) -> int:
    """What has come in for the booking, but for the payment `exclude` (one being applied)."""
    return int(_PAID.scalar(session, {"booking": booking_id, "exclude": -1 if exclude is None else exclude}))


# Asked by the customer's chat whenever a booking is shown (ids are positive: -1 excludes nothing).
_PAID = Precompiled(select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
    Payment.booking_id == bindparam("booking"), Payment.status == COMPLETED, Payment.id != bindparam("exclude")))  # fmt: skip


def hold_live(booking: Booking, now: datetime) -> bool:
    return booking.status == S.HELD and (booking.hold_expires_at is None or booking.hold_expires_at > now)


def late_slot(session: Session, view: av.ShopView, booking: Booking, now: datetime) -> tuple[int, int] | None:
    """The mechanic and bay a booking whose hold ran out can still have at its time: its
    own if both are free, else any that fit; None when the time is gone, or the shop no
    longer opens then (a day closed, hours changed since)."""
    if booking.starts_at <= now:
        return None
    day = view.local_day(booking.starts_at)
    lo, hi = av.window(view, day, day)
    cal, busy = av.calendar(session, view, day, day), av.occupied(session, booking.shop_id, lo, hi, now, booking.id)
    service_ids = [i.service_id for i in booking.items if i.kind == "service" and i.service_id in view.services]
    skills = frozenset(view.services[i].category for i in service_ids)
    tries = [([mech for mech in view.mechanics if mech.id == booking.mechanic_id],
               [bay for bay in view.bay_ids if bay == booking.bay_id])]  # its own first
    if service_ids:
        tries.append((view.mechanics, view.bay_ids))
    for mechanics, bays in tries:
        slot = engine.fits(cal, mechanics, bays, busy, booking.starts_at, booking.ends_at - booking.starts_at, skills,
                           now, reassigning=True)  # fmt: skip
        if slot is not None:
            return slot.mechanic_id, slot.bay_id
    return None


# -- applying a result (the caller holds `lock`) -------------------------------------------


def settle_paid(session: Session, booking: Booking, payment: Payment, now: datetime, *,
                receipt: str | None, actor: str) -> Verdict:  # fmt: skip
    """The provider says the money is in: complete the payment, confirm or credit the
    booking (or mark the money refund_due), and tell the customer — and the owner when
    money has to go back. The caller holds `lock` and checked the payment is pending."""
    view = av.shop_view(session, booking.shop_id)
    live = hold_live(booking, now)
    slot, day_open = None, True
    if booking.status in (S.HELD, S.EXPIRED):
        day_open = av.is_open(session, view, view.local_day(booking.starts_at))
        if not live and day_open:
            slot = late_slot(session, view, booking, now)
    verdict = after_payment(booking.status, live, slot is not None,
                            paid_total(session, booking.id, exclude=payment.id), amount_owed(booking), day_open)  # fmt: skip
    reason = f"paid by {PROVIDER_NAMES[payment.provider]} ({receipt or payment.provider_ref or payment.id})"
    if verdict == Verdict.CONFIRM:
        move(session, booking, S.CONFIRMED, actor, now, reason)
        booking.hold_expires_at = None
    elif verdict == Verdict.CONFIRM_LATE and not _confirm_late(session, booking, slot, actor, now, reason):
        verdict = Verdict.REFUND_SLOT_TAKEN
    payment.status = REFUND_DUE if verdict.refund else COMPLETED
    payment.receipt = receipt
    payment.completed_at = payment.updated_at = now
    payment.next_check_at = None
    _tell_paid(session, view, booking, payment, verdict, now)
    log.info("payment %s of booking %s: %s (%s)", payment.id, booking.code, payment.status, verdict)
    return verdict


def _confirm_late(session: Session, booking: Booking, slot: tuple[int, int], actor: str, now: datetime,
                  reason: str) -> bool:  # fmt: skip
    """expired (or an overdue hold) → confirmed; PostgreSQL's exclusion constraints have
    the last word, as for every booking write."""
    try:
        with session.begin_nested():
            booking.mechanic_id, booking.bay_id = slot
            move(session, booking, S.CONFIRMED, actor, now, f"{reason}, after the hold ran out")
            booking.hold_expires_at = None
            session.flush()
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) != "23P01":
            raise
        session.refresh(booking)
        return False
    return True


def _tell_paid(session: Session, view: av.ShopView, booking: Booking, payment: Payment, verdict: Verdict,
               now: datetime) -> None:  # fmt: skip
    amount = m.money(payment.amount_minor, payment.currency)
    code = booking.code
    if verdict.refund:
        text = {Verdict.REFUND_SLOT_TAKEN: REFUND_SLOT_TAKEN, Verdict.REFUND_DAY_CLOSED: REFUND_DAY_CLOSED,
                Verdict.REFUND_INACTIVE: REFUND_INACTIVE, Verdict.REFUND_OVERPAID: REFUND_OVERPAID}[verdict]  # fmt: skip
        notices.status_notice(session, booking, Reply((Msg(text, {"amount": amount, "code": code}),)),
                              f"payment:{payment.id}:settled", now, money=True)  # fmt: skip
        owner_text = {Verdict.REFUND_SLOT_TAKEN: OWNER_REFUND_SLOT_TAKEN,
                      Verdict.REFUND_DAY_CLOSED: OWNER_REFUND_DAY_CLOSED,
                      Verdict.REFUND_INACTIVE: OWNER_REFUND_INACTIVE,
                      Verdict.REFUND_OVERPAID: OWNER_REFUND_OVERPAID}[verdict]  # fmt: skip
        _refund_due(session, booking, payment, owner_text, now)
        return
    first = Msg(PAID_RECEIPT, {"amount": amount, "receipt": payment.receipt}) if payment.receipt \
        else Msg(PAID, {"amount": amount})  # fmt: skip
    if verdict in (Verdict.CONFIRM, Verdict.CONFIRM_LATE):
        second = Msg(CONFIRMED, {"code": code, "when": m.when(booking.starts_at, view.spec.timezone)})
    else:
        second = Msg(CREDITED, {"code": code})
    notices.status_notice(session, booking, Reply((first, second)), f"payment:{payment.id}:settled", now)


def settle_failed(session: Session, booking: Booking, payment: Payment, now: datetime, *,
                  kind: FailureKind, code: str | None, reason: str | None = None) -> None:  # fmt: skip
    """The money will not come: fail the payment and tell the customer, in their
    language, what happened and what they can do (try again while the hold lasts)."""
    payment.status = FAILED
    payment.failure_code = (code or kind.value)[:32]
    payment.failure_reason = (reason or kind.value)[:500]
    payment.next_check_at = None
    payment.updated_at = now
    log.info("payment %s of booking %s failed: %s (%s)", payment.id, booking.code, kind, code)
    view = av.shop_view(session, booking.shop_id)
    params = {"provider": PROVIDER_NAMES[payment.provider], "code": booking.code,
              "amount": m.money(payment.amount_minor, payment.currency)}  # fmt: skip
    texts = [Msg(FAILURE_TEXT[kind], params)]
    if kind == FailureKind.NOT_STARTED:
        _tell_shop_to_mend(session, view, booking, payment, params, now)
    choices: tuple[Choice, ...] = ()
    if kind == FailureKind.UNCONFIRMED:  # money may have been taken: only the shop's statement can tell, and
        notices.tell_owners(session, booking.shop_id, Reply((Msg(OWNER_UNCONFIRMED, params | {  # no invitation
            "customer": _customer_name(session, booking), "phone": payment.phone or "-"}),)),  # to pay twice
            f"payment:{payment.id}:unconfirmed", now)  # fmt: skip
    elif payment.purpose == "balance":
        choices = balance_choices(session, booking)
        if not choices:
            return  # paid another way meanwhile, or the visit is over: nothing to add
        texts.append(Msg(BALANCE_TRY_AGAIN))
    elif hold_live(booking, now):
        texts.append(Msg(STILL_HELD, {"time": m.clock(booking.hold_expires_at, view.spec.timezone)}))
        choices = retry_choices(view.spec.payment_methods, booking)
    elif booking.status in (S.HELD, S.EXPIRED):
        texts.append(Msg(BOOK_AGAIN))
    else:
        return  # the booking moved on (paid another way, cancelled): nothing to add
    notices.status_notice(session, booking, Reply(tuple(texts), choices), f"payment:{payment.id}:failed", now,
                          aliases=pay_words(choices))  # fmt: skip


def _tell_shop_to_mend(session: Session, view: av.ShopView, booking: Booking, payment: Payment, params: dict,
                       now: datetime) -> None:  # fmt: skip
    """A payment that could not be started because of the shop's set-up (see
    core.setup_faults.to_mend) is told to its owners, once a day per provider and kind of
    fault (a second fault found after the first was put right is news): every
    customer meets it until it is put right. The reason is in the owner's language,
    with the provider's own words quoted for whoever takes it up with the provider."""
    fault = setup_faults.fault(payment.provider, payment.failure_code, payment.failure_reason)
    if not setup_faults.to_mend(payment.provider, payment.failure_code, fault):
        return
    reason = setup_faults.owner_reason(params["provider"], fault, payment.failure_reason)
    notices.tell_owners(session, booking.shop_id, Reply((Msg(OWNER_NOT_STARTED, params | {
        "reason": m.message(reason)}),)), f"not-started:{payment.provider}:{fault}:{view.local_day(now)}", now)  # fmt: skip


def retry_choices(methods, booking: Booking) -> tuple[Choice, ...]:
    """One "payagain:<booking>:<method>" choice per way the customer may pay for it
    (not at the shop when money is due in advance), and M-Pesa from another number."""
    ways = [m for m in policy.ways_to_pay(methods, booking.deposit_minor > 0) if m in METHOD_LABELS]
    return _with_other_number(f"payagain:{booking.id}", ways)


# What people type for a way of paying beyond its label, in the four languages.
PAY_WORDS = {"mpesa": ["mpesa", "m-pesa", "мпеса", "м-песа"], "kaspi": ["kaspi", "каспи"],
             "cash": ["cash", "at the shop", "taslimu", "наличные", "наличными", "на месте",
                      "оплачу на месте", "в сервисе", "қолма-қол", "орнында"]}  # fmt: skip


def pay_words(choices) -> dict[str, list[str]]:
    """The words of the payment step for the same ways of paying offered again (try
    again, pay the balance): "каспи" or "taslimu" answer them too. "mpesa" (politely or
    not) is M-Pesa itself, not "M-Pesa from another number", whose label holds the word."""
    ways = {c.id: c.id.rpartition(":")[2] for c in choices if ":" in c.id}
    return {cid: PAY_WORDS[way] for cid, way in ways.items() if way in PAY_WORDS}


def _with_other_number(prefix: str, methods: list[str]) -> tuple[Choice, ...]:
    """A choice per method, and after M-Pesa "M-Pesa from another number" (":other"): the
    number we have may not be the one with M-Pesa on it (two SIMs, WhatsApp on Airtel)."""
    choices = []
    for method in methods:
        choices.append(Choice(f"{prefix}:{method}", Msg(METHOD_LABELS[method])))
        if method == "mpesa":
            choices.append(Choice(f"{prefix}:mpesa:other", Msg(OTHER_NUMBER)))
    return tuple(choices)


def fail(db: Database | Session, payment_id: int, kind: FailureKind, code: str | None, now: datetime,
         reason: str | None = None) -> bool:  # fmt: skip
    """Fail a pending payment in its own unit of work; False if it was already decided."""
    with session_of(db) as s:
        booking, payment = lock(s, payment_id)
        if payment.status != PENDING:
            return False
        settle_failed(s, booking, payment, now, kind=kind, code=code, reason=reason)
        return True


def reschedule(db: Database | Session, payment_id: int, at: datetime, now: datetime,
               provider_status: str | None = None) -> None:  # fmt: skip
    """Look at an undecided payment again at `at` (only the payment row is touched)."""
    with session_of(db) as s:
        payment = s.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
        if payment is None or payment.status != PENDING:
            return
        payment.next_check_at = at
        payment.checks += 1
        payment.updated_at = now
        if provider_status is not None:
            payment.provider_status = provider_status[:32]


def note_raw(payment: Payment, source: str, body, now: datetime) -> None:
    """Keep what a provider said about this payment on its row (bounded)."""
    kept = list(payment.raw_callbacks or [])[-(RAW_KEPT - 1):]
    payment.raw_callbacks = [*kept, {"at": now.isoformat(), "source": source, "body": body}]


# -- telling the owner ---------------------------------------------------------------------


def report_refused(session: Session, booking: Booking, provider: str, reason: Msg, key: str, now: datetime) -> None:
    """A payment notice that does not match was refused: the owner should know."""
    notices.tell_owners(session, booking.shop_id, Reply((Msg(OWNER_REFUSED, {
        "provider": PROVIDER_NAMES.get(provider, provider), "code": booking.code,
        "reason": m.message(reason)}),)), key=key, now=now)  # fmt: skip


def report_contradiction(session: Session, booking: Booking, payment: Payment, amount_minor: int, ref: str | None,
                         key: str, now: datetime) -> None:  # fmt: skip
    """Money reported for a payment already failed: a person has to look."""
    notices.tell_owners(session, booking.shop_id, Reply((Msg(OWNER_CONTRADICTION, {
        "provider": PROVIDER_NAMES[payment.provider], "code": booking.code,
        "amount": m.money(amount_minor, payment.currency), "ref": ref or _reference(payment)}),)),
        key=key, now=now)  # fmt: skip


def mismatch_reason(what: str, got_minor: int | None, expected_minor: int, currency: str,
                    got_currency: str | None = None) -> Msg:  # fmt: skip
    """Why a notice that does not match was refused, for the owner: it is incomplete, in
    another currency, or names another amount."""
    if what == "incomplete":
        return Msg(REASON_INCOMPLETE)
    if what == "currency":
        return Msg(REASON_CURRENCY, {"expected": m.money(expected_minor, currency)})
    return amount_reason(got_minor, expected_minor, currency, got_currency)


def amount_reason(got_minor: int | None, expected_minor: int, currency: str, got_currency: str | None = None) -> Msg:
    got = m.money(got_minor, got_currency or currency) if got_minor is not None else "-"
    return Msg(REASON_AMOUNT, {"got": got, "expected": m.money(expected_minor, currency)})


def refund_cancelled(session: Session, booking: Booking, now: datetime) -> int:
    """A visit cancelled in time gives back what was paid for it: each payment received
    becomes refund_due, and the owner is told what to return (a Kaspi QR payment goes
    back by itself where the shop's scheme allows). The caller holds the booking's lock
    (payments are locked after it, as everywhere). Returns the minor units due back."""
    paid = [loaded_row(session, Payment, row) for row in _RECEIVED_LOCKED.rows(session, {"booking": booking.id})]
    for payment in paid:
        payment.status, payment.updated_at = REFUND_DUE, now
        _refund_due(session, booking, payment, OWNER_REFUND_CANCELLED, now)
        log.info("payment %s of booking %s: refund due (cancelled in time)", payment.id, booking.code)
    return sum(p.amount_minor for p in paid)


# Every cancellation asks it (most bookings have none: paid at the shop).
_RECEIVED_LOCKED = Precompiled(select(Payment.__table__).where(
    Payment.booking_id == bindparam("booking"), Payment.status == COMPLETED).order_by(Payment.id).with_for_update())  # fmt: skip


def _refund_due(session: Session, booking: Booking, payment: Payment, owner_text: str, now: datetime) -> None:
    """Money that goes back: the owner is told what to return and why (once per
    payment), and a Kaspi QR payment is returned through Kaspi where the scheme allows
    (the owner is then told when it is back, or asked to return it after all)."""
    from core import kaspi

    by_itself = payment.provider == "kaspi_qr" and kaspi.returns_by_itself()
    payer = _customer_name(session, booking)
    if payment.phone and payment.phone not in payer:  # the number the money came from: what a statement shows
        payer = f"{payer} ({payment.phone})"
    said = Msg(owner_text, {"customer": payer, "code": booking.code,
                            "amount": m.money(payment.amount_minor, payment.currency),
                            "provider": PROVIDER_NAMES[payment.provider], "ref": _reference(payment)})  # fmt: skip
    how = () if by_itself else (Msg(OWNER_REFUND_HOW, {"code": booking.code}),)  # else Kaspi's answer tells
    notices.tell_owners(session, booking.shop_id, Reply((said, *how)), key=f"payment:{payment.id}:refund", now=now)
    if payment.provider == "kaspi_qr":
        defer(session, kaspi.refund, payment.id, job_id=f"payment-refund-{payment.id}")


@dataclass(frozen=True)
class Returned:
    code: str
    amount_minor: int
    currency: str


def mark_refunded(session: Session, booking_id: int, actor: str, now: datetime) -> Returned | None:
    """The owner has returned the money due back on a booking by hand (M-Pesa, cash, or
    Kaspi where it cannot return it by itself): its payments due back are refunded, and
    the customer is told. None when nothing is due back (already marked, or returned by
    Kaspi meanwhile). Locks the booking, then its payments, as everywhere."""
    booking = locked_booking(session, booking_id)
    due = list(session.scalars(select(Payment).where(  # refunding: a Kaspi return whose answer never came
        Payment.booking_id == booking_id, Payment.status.in_(OWED_BACK)).order_by(Payment.id).with_for_update()))  # fmt: skip
    if not due:
        return None
    for payment in due:
        payment.status, payment.updated_at = REFUNDED, now
        payment.failure_reason = f"returned by hand ({actor})"
    amount = sum(p.amount_minor for p in due)
    notices.status_notice(session, booking, Reply((Msg(RETURNED, {
        "amount": m.money(amount, booking.currency), "code": booking.code}),)), f"payment:{due[0].id}:returned", now,
        money=True)  # fmt: skip
    log.info("booking %s: %d payment(s) marked refunded by %s", booking.code, len(due), actor)
    return Returned(booking.code, amount, booking.currency)


def _customer_name(session: Session, booking: Booking) -> str:
    customer = session.get(Customer, booking.customer_id)
    return (customer.name or customer.phone or f"#{customer.id}") if customer else "-"


def _reference(payment: Payment) -> str:
    return payment.receipt or payment.provider_ref or str(payment.id)


# -- paying the balance (when a mechanic marks the job ready) ------------------------------


def balance_due(session: Session, booking: Booking) -> int:
    """What is left to pay for the visit: its price (with approved extras) minus money in."""
    return max(amount_owed(booking) - paid_total(session, booking.id), 0)


def offer_balance(session: Session, booking: Booking, now: datetime) -> bool:
    """Tell the customer what is left to pay, with a "pay now" choice per online method
    of the shop (ids "paybalance:<booking>:<method>"; the engine answers one by calling
    `pay_balance`). False when nothing is due or the shop takes no money online. It
    follows the car's "ready" notice, whose template says all a template can: outside
    WhatsApp's window it waits for the customer's next word."""
    due = balance_due(session, booking)
    choices = balance_choices(session, booking, due)
    if not choices:
        return False
    reply = Reply((Msg(BALANCE_LEFT, {"amount": m.money(due, booking.currency), "code": booking.code}),), choices)
    # no status template: the "ready" notice just sent carries the same one; this waits for their next word
    notices.notify_customer(session, booking, reply, f"balance:{booking.id}:{due}", now, aliases=pay_words(reply.choices),
                            whole=True, extra={"show_later": True})  # fmt: skip
    return True


def balance_choices(session: Session, booking: Booking, due: int | None = None) -> tuple[Choice, ...]:
    """A "pay now" choice per online way the shop takes money, while the active booking
    has something left to pay (`due`, when the caller has read it); none otherwise."""
    spec = av.shop_view(session, booking.shop_id).spec
    if booking.status not in ACTIVE or (balance_due(session, booking) if due is None else due) <= 0:
        return ()
    return _with_other_number(f"paybalance:{booking.id}", [x for x in spec.payment_methods if x in PROVIDER_OF_METHOD])


def pay_balance(session: Session, booking_id: int, method: str, now: datetime,
                customer_id: int | None = None, phone: str | None = None) -> Started | None:  # fmt: skip
    """Ask for the balance of an active booking now (STK push, or a Kaspi link sent to
    the chat). None when nothing is due, the method is not the shop's, or the booking is
    not this customer's or no longer active."""
    booking = session.get(Booking, booking_id)
    if booking is None or (customer_id is not None and booking.customer_id != customer_id):
        return None
    spec = av.shop_view(session, booking.shop_id).spec
    if booking.status not in ACTIVE or method not in PROVIDER_OF_METHOD or method not in spec.payment_methods:
        return None
    due = balance_due(session, booking)
    if due <= 0:
        return None
    return start(session, booking, method, due, now, purpose="balance", phone=phone)
