"""The outbox: every message to a person is written here, in the same transaction as
the change that caused it, and delivered afterwards (invariant 4: nothing accepted is
lost, even if Redis or a worker was down when it was written).

A `dedupe_key` makes writing idempotent: a reply to inbox update 55, or the 24-hour
reminder of booking 12, is written once however often the cause is replayed.
Once the transaction commits, a delivery job is enqueued for each new row; the cron
re-drive picks up any row whose job was lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from core import availability as av
from core.db import defer, insert_all_once, insert_once
from core.lifecycle import BookingStatus, status_now
from core.messages import Reply
from core.models import (
    Booking,
    BookingEvent,
    BookingItem,
    ChannelIdentity,
    Customer,
    OutboxMessage,
    Payment,
    utcnow,
)


@dataclass(frozen=True)
class Queued:
    """A message written to the outbox, on its way once the transaction commits."""

    id: int
    shop_id: int
    channel: str
    address: str
    language: str


def send(session: Session, *, shop_id: int, channel: str, address: str, language: str,
         reply: Reply, dedupe_key: str | None = None, kind: str = "text",
         extra: dict | None = None, now: datetime | None = None) -> Queued | None:  # fmt: skip
    """Write a message to deliver; None if one with this dedupe_key was written before."""
    values = _values(shop_id, channel, address, language, reply, kind, extra, now) | {"dedupe_key": dedupe_key}
    if dedupe_key is not None:
        row_id = insert_once(session, OutboxMessage, values, ["dedupe_key"])
        if row_id is None:
            return None
    else:
        row_id = session.execute(_INSERT, values).scalar()
    _deliver_after_commit(session, row_id)
    return Queued(row_id, shop_id, channel, address, language)


def _values(shop_id: int, channel: str, address: str, language: str, reply: Reply, kind: str, extra: dict | None,
            now: datetime | None) -> dict:  # fmt: skip
    at = now or utcnow()
    return {"shop_id": shop_id, "channel": channel, "address": address, "language": language, "kind": kind,
            "body": reply.to_json() | (extra or {}), "status": "pending", "attempts": 0, "next_attempt_at": at,
            "created_at": at}  # fmt: skip


def _deliver_after_commit(session: Session, row_id: int) -> None:
    from bot.delivery import deliver  # the channel senders live with the channels

    defer(session, deliver, row_id, job_id=f"deliver-{row_id}", first=True)


_INSERT = insert(OutboxMessage.__table__).returning(OutboxMessage.__table__.c.id)


def answer(session: Session, *, shop_id: int, channel: str, address: str, language: str, replies: list[Reply],
           now: datetime, reply_key: int | str | None = None, callback_id: str | None = None,
           first_extra: dict | None = None) -> list[int]:  # fmt: skip
    """The answer to one inbound message: stop the tapped button's spinner (Telegram),
    then the replies in order; the ids written. `reply_key` (the inbox row's id) makes it
    idempotent, a repeat of the delivery writing nothing, and it is then one statement."""
    drafts = [("callback_answer", Reply(()), {"callback_id": callback_id}, f"answer:{reply_key}")] if callback_id else []
    drafts += [("text", reply, first_extra if i == 0 else None, f"reply:{reply_key}:{i}")
               for i, reply in enumerate(replies)]  # fmt: skip
    if reply_key is None:  # nothing to recognise a repeat by: one by one
        return [send(session, shop_id=shop_id, channel=channel, address=address, language=language, reply=reply,
                     kind=kind, extra=extra, now=now).id for kind, reply, extra, _ in drafts]  # fmt: skip
    rows = [_values(shop_id, channel, address, language, reply, kind, extra, now) | {"dedupe_key": dedupe_key}
            for kind, reply, extra, dedupe_key in drafts]  # fmt: skip
    written = insert_all_once(session, OutboxMessage, rows, "dedupe_key") if rows else {}
    ids = [written[row["dedupe_key"]] for row in rows if row["dedupe_key"] in written]
    for row_id in ids:
        _deliver_after_commit(session, row_id)
    return ids


# The keys of messages that can go stale, written here beside `outdated`, which reads them.
def reminder_key(booking_id: int, starts_at: datetime, hours: int) -> str:
    return f"reminder:{booking_id}:{visit_stamp(starts_at)}:{hours}h"


def offer_key(booking_id: int) -> str:
    return f"waitlist-offer:{booking_id}"


def extra_key(item_id: int) -> str:
    return f"extra:{item_id}"


def visit_stamp(starts_at: datetime) -> str:
    return f"{starts_at.astimezone(UTC):%Y%m%d%H%M}"


def outdated(session: Session, row: OutboxMessage, now: datetime, again: bool = False) -> str | None:
    """Why a message written a while ago would mislead if it went now (it may have waited
    out an outage, or a closed WhatsApp window), or None: a reminder of a visit cancelled,
    moved or begun since, or on a day closed since, or one a later reminder of the visit
    replaces; a waitlist offer whose hold ran out; extra work to approve that was decided
    or left out; a balance to pay that was paid or changed; a visit to give a new time
    that has one, or was taken in or cancelled. The sender asks just before it sends, and
    so do the notice shown again whole and the notice asked again after another (`again`:
    then a failed payment's "try again" whose hold or balance is settled, and a refund the
    owner was asked for and has marked returned, are no longer news either; the first
    time, the customer must hear that their payment failed all the same)."""
    kind, _, rest = (row.dedupe_key or "").partition(":")
    number = rest.split(":")[0]
    if kind not in _CHECKED or not number.isdecimal():
        return None
    if kind == "payment":  # payment:<id>:failed (try again, pay now), payment:<id>:refund:owner<n> (return it)
        if not again:
            return None
        if rest.endswith(":failed"):
            return _retry_outdated(session, int(number), now)
        payment = session.get(Payment, int(number))
        owed = ":refund" in rest and payment is not None and payment.status != "refund_due"
        return "the money was returned" if owed else None
    if kind in ("extra", "extra-photo"):  # extra:<item>: the customer is asked to approve extra work (its photo)
        item = session.get(BookingItem, int(number))
        return None if item is not None and item.status == "proposed" else "the extra work is no longer asked about"
    if kind == "unassigned":  # unassigned:<event>: the visit's mechanic went off shift, nobody else was free
        event = session.get(BookingEvent, int(number))
        if event is None or event.to_status != BookingStatus.NEEDS_RESCHEDULE:  # a hold let go: news that stays true
            return None
        waiting = session.get(Booking, event.booking_id).status == BookingStatus.NEEDS_RESCHEDULE
        return None if waiting else "the visit no longer waits for a new time"
    booking = session.get(Booking, int(number))
    if booking is None:
        return "its booking is gone"
    if kind == "balance":  # balance:<booking>:<due>
        from core.payments import balance_due  # payments builds on the outbox

        due = rest.split(":")[1] if ":" in rest else ""
        return None if due == str(balance_due(session, booking)) else "the balance was paid or has changed"
    if kind == "waitlist-offer":
        held = status_now(booking.status, booking.hold_expires_at, now) == BookingStatus.HELD
        return None if held else "the offered time is no longer held"
    if booking.status != BookingStatus.CONFIRMED or booking.starts_at <= now:
        return f"the visit is {booking.status} now"
    stamp = rest.split(":")[1]  # reminder_key (or, before 6 December, no time)
    if stamp.isdecimal() and stamp != visit_stamp(booking.starts_at):
        return "the visit has moved since"
    if session.scalar(_LATER_REMINDER, {"key": f"reminder:{booking.id}:%", "id": row.id}):  # after the cheap checks
        return "a later reminder of the visit replaces it"
    view = av.shop_view(session, booking.shop_id)
    if not av.is_open(session, view, view.local_day(booking.starts_at)):
        return "the shop has closed that day since"  # the owner contacts those customers
    return None


def _retry_outdated(session: Session, payment_id: int, now: datetime) -> str | None:
    """Why a failed payment's "try again" no longer holds: the balance was paid (at the
    counter, say), or the hold it would pay was paid or has ended."""
    from core.payments import ACTIVE, balance_due  # payments builds on the outbox

    payment = session.get(Payment, payment_id)
    booking = session.get(Booking, payment.booking_id) if payment is not None else None
    if booking is None:
        return "its booking is gone"
    if payment.purpose == "balance":
        return None if booking.status in ACTIVE and balance_due(session, booking) > 0 else "the balance was paid"
    held = status_now(booking.status, booking.hold_expires_at, now) == BookingStatus.HELD
    return None if held else "the hold was paid or has ended"


_CHECKED = ("reminder", "waitlist-offer", "extra", "extra-photo", "balance", "unassigned", "payment")
_OUTBOX = OutboxMessage.__table__.c
_LATER_REMINDER = select(_OUTBOX.id).where(_OUTBOX.dedupe_key.like(bindparam("key")),
                                           _OUTBOX.id > bindparam("id")).limit(1)  # fmt: skip


def reach(session: Session, customer: Customer, prefer: str | None = None) -> ChannelIdentity | None:
    """Where to reach a customer: the channel they booked from, else the latest used."""
    identities = sorted(customer.identities, key=lambda i: (i.channel != prefer, -(i.id or 0)))
    return identities[0] if identities else None


def tell_customer(session: Session, booking: Booking, reply: Reply, dedupe_key: str | None = None,
                  now: datetime | None = None, kind: str = "text", extra: dict | None = None):  # fmt: skip
    """Tell the booking's customer, in their language, on the channel they booked from."""
    customer = session.get(Customer, booking.customer_id)
    identity = reach(session, customer, booking.channel)
    if identity is None:
        return None
    return send(session, shop_id=booking.shop_id, channel=identity.channel, address=identity.address,
                language=customer.language, reply=reply, dedupe_key=dedupe_key, now=now,
                kind=kind, extra=extra)  # fmt: skip
