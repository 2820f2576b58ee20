"""Delivering outbox messages through their channel's sender.

`deliver(outbox_id)` is the RQ job written for every outbox row. It is idempotent: a
row already sent is left alone, so a re-drive or a retried job never sends twice.
Channels register a sender for their name; the terminal channel reads its own rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import photos
from bot.pacing import MISSES_ALLOWED, Turn, pacer_for
from core import outbox
from core.models import OutboxMessage, Shop
from core.runtime import Runtime, current_runtime

log = logging.getLogger(__name__)

FINAL = ("sent", "delivered", "read", "failed", "undelivered", "dropped")  # dropped: no longer true, never sent


class TryLater(Exception):
    """The provider asked us to slow down (HTTP 429): try again after `seconds`."""

    def __init__(self, seconds: float):
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class PartSent(Exception):
    """A message that goes as two (a photo, then the words its caption could not hold)
    sent its first part, written down on the row: the rest waits for the chat's next
    turn, and a retry sends only the rest."""


class Undeliverable(Exception):
    """The message cannot be sent as it is (e.g. outside WhatsApp's 24-hour window with
    no approved template): retrying will not help."""


@dataclass(frozen=True)
class Outgoing:
    """A message made ready in a reading unit of work, to wait for its turn outside any:
    `pace` names the limits it waits for, (bot, chat) or None, and `send(row, session)`
    sends it from the locked row, returning the provider's id. `reported(row, session)`,
    once it is sent, applies what the provider reported on it before its id was written
    down (a status callback can overtake the commit)."""

    pace: tuple[str, str] | None
    send: Callable[[OutboxMessage, Session], str | None]
    reported: Callable[[OutboxMessage, Session], None] | None = None


def channels() -> dict[str, Callable[[Runtime, OutboxMessage, Shop, Session], Outgoing]]:
    """channel name -> function(runtime, row, shop, session) that makes the row ready to send."""
    from bot import telegram, whatsapp

    return {"telegram": telegram.prepare, "whatsapp": whatsapp.prepare}


def deliver(outbox_id: int) -> None:
    """Send one outbox message, once.

    The message is made ready and waits for its turn (the channel's rate limits) with no
    transaction open: a message waiting a second for its chat holds no lock, which on the
    embedded SQLite would hold up every other write. Then the row is locked and checked
    again while it is sent, so two workers (or a worker and the re-drive) never send it
    twice; a crash mid-send rolls back to pending and the re-drive sends it. Should the
    lock take so long that the turn has passed, the lock is let go and the message waits
    for the next turn. A message going as two (a photo, the rest of its words) sends its
    second part on the chat's next turn.
    """
    runtime = current_runtime()
    outgoing = _ready(runtime, outbox_id)
    if outgoing is None:
        return
    pacer = pacer_for(runtime)
    for _ in range(PARTS):
        turn = pacer.wait(*outgoing.pace) if outgoing.pace else None
        for _ in range(MISSES_ALLOWED):
            if (went := _send_on(runtime, outbox_id, outgoing, turn)) is not None:
                break
            turn = pacer.wait(*outgoing.pace, given_up=turn)
        else:
            went = _send_on(runtime, outbox_id, outgoing, None)  # late is better than never: a 429 is retried
        if went != "part":
            return


PARTS = 4  # a photo and the rest of its words, or a long text's parts, each on its own turn (more: the re-drive)


def _send_on(runtime: Runtime, outbox_id: int, outgoing: Outgoing, turn: Turn | None) -> str | None:
    """Lock the row and send it on this turn: "done" (sent, or nothing to send now), or
    "part" when only its first part went; None, having sent nothing, if the turn passed
    while the lock was being taken (going now would bunch with the next turns)."""
    with runtime.db.uow() as uow:
        row = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.id == outbox_id).with_for_update())
        if row is None or row.status in FINAL:
            return "done"
        if turn and turn.missed():
            return None
        if why := outbox.outdated(uow.session, row, runtime.now()):  # it waited out an outage, say
            row.status, row.last_error = "dropped", why
            log.info("outbox %s not sent: %s", row.id, why)
            return "done"
        if row.kind != "callback_answer" and (retry := _earlier_retry(uow.session, row)) is not None:  # no overtaking
            row.next_attempt_at = max(row.next_attempt_at, retry)
            return "done"
        return _send(runtime, row, outgoing, uow.session)


def _earlier_retry(session: Session, row: OutboxMessage):
    """When an earlier message to the same chat, whose send failed, is tried again: the
    re-drive then sends both in the order they were written ("see you then" never before
    "your booking is confirmed"). None when nothing earlier waits for a retry, or only
    one that has failed too often to hold the chat's later messages back."""
    return session.scalar(select(OutboxMessage.next_attempt_at).where(
        OutboxMessage.shop_id == row.shop_id, OutboxMessage.channel == row.channel,
        OutboxMessage.address == row.address, OutboxMessage.id < row.id, OutboxMessage.status == "pending",
        OutboxMessage.kind != "callback_answer",  # a button's spinner stopped late says nothing out of turn
        OutboxMessage.attempts.between(1, KEEPS_ORDER_FOR)).order_by(OutboxMessage.next_attempt_at.desc()).limit(1))  # fmt: skip


KEEPS_ORDER_FOR = 3  # failed sends: a message that keeps failing (a chat gone) no longer holds the next back


def _send(runtime: Runtime, row: OutboxMessage, outgoing: Outgoing, session: Session) -> str:
    """Send the locked row and write down what came of it: "part" when only its first
    part went, else "done"."""
    row.attempts += 1
    try:
        row.provider_message_id = outgoing.send(row, session)
    except PartSent:  # no failure: the rest goes on the chat's next turn
        row.attempts -= 1
        return "part"
    except TryLater as exc:
        row.next_attempt_at = runtime.now() + timedelta(seconds=exc.seconds)
        row.last_error = str(exc)
        return "done"
    except Undeliverable as exc:
        row.status, row.last_error = "failed", str(exc)[:500]
        log.warning("outbox %s cannot be delivered: %s", row.id, exc)
        return "done"
    except Exception as exc:  # a failed send is retried by the re-drive, not lost
        row.last_error = f"{type(exc).__name__}: {exc}"[:500]
        row.next_attempt_at = runtime.now() + timedelta(seconds=min(2**row.attempts, 600))
        log.warning("delivery of outbox %s failed: %s", row.id, row.last_error)
        return "done"
    row.status, row.sent_at = "sent", runtime.now()
    if outgoing.reported is not None and row.provider_message_id:
        outgoing.reported(row, session)
    return "done"


def _ready(runtime: Runtime, outbox_id: int, fetched: bool = False) -> Outgoing | None:
    """The row made ready by its channel, or None when there is nothing to send (already
    sent, or the terminal's, which shows its own rows). A photo sent to the shop is
    fetched first (bot.photos). A failure to make it ready is sent on to be recorded on
    the row like a failed send."""
    with runtime.db.reading() as uow:
        row = uow.session.get(OutboxMessage, outbox_id)
        prepare = channels().get(row.channel) if row is not None and row.status not in FINAL else None
        if prepare is None:
            return None
        try:
            if not photos.awaited(row):
                return prepare(runtime, row, uow.session.get(Shop, row.shop_id), uow.session)
        except Exception as exc:
            return Outgoing(None, _raises(exc))
    trouble = RuntimeError("the photo taken in is not on its row") if fetched else photos.take_in(runtime, outbox_id)
    return Outgoing(None, _raises(trouble)) if trouble is not None else _ready(runtime, outbox_id, fetched=True)


def _raises(exc: Exception) -> Callable[[OutboxMessage, Session], None]:
    def send(row: OutboxMessage, session: Session) -> None:
        raise exc

    return send
