"""One path for every inbound chat message, whatever the channel: store it in the inbox
under the provider's id, then run it through the conversation, in one transaction.

A repeat of a delivery (Telegram and Twilio retry on any hiccup) finds its inbox row
and changes nothing, so N deliveries give one set of replies (invariant 3).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import runner, understand
from bot.model import Event
from core import inbox, outbox
from core.chats import take_message
from core.customers import fill_in, mask_phone
from core.db import Database, session_of
from core.i18n import N_
from core.messages import Msg, Reply, remembered_choices
from core.models import OutboxMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    """A chat message reduced to what the conversation needs, from any channel."""

    channel: str  # telegram | whatsapp
    update_id: str  # the provider's unique id: Telegram update_id, Twilio MessageSid
    chat_id: str  # where replies go: Telegram chat id, "whatsapp:+2547..."
    event: Event | None  # None: a kind of update the bot does not handle
    user_id: str | None = None
    name: str | None = None
    language_hint: str | None = None
    phone: str | None = None  # a phone we know belongs to the sender (WhatsApp, own contact)
    callback_id: str | None = None  # Telegram: answer the tap
    tapped_message_id: int | None = None  # Telegram: the menu that was answered
    note: str | None = None  # why an update is ignored
    photo: str | None = None  # a photo sent, with or without words: "telegram:<file_id>", "whatsapp:<media URL>"
    album: str | None = None  # Telegram: the album (media_group_id) the photo is one of, each a message of its own; WhatsApp: BURST
    more_photos: tuple[str, ...] = ()  # WhatsApp: the other images of the same message, answered with it, once
    group: bool = False  # from a group chat: answered, never taken for a customer
    replied_to: str | None = None  # WhatsApp: the provider's id of our message whose quick reply was tapped

    def photo_event(self, event: Event) -> Event:
        """The photos it carries as the event, the words with it (if any) the first one's caption."""
        return Event("photo", text=event.text if event.kind == "text" else "", photo=self.photo,
                     other_file=event.other_file, album=self.album, more_photos=self.more_photos)  # fmt: skip


APPLIED, APPLIED_BY_STAFF = "applied", "applied: staff"


@dataclass(frozen=True)
class Processed:
    duplicate: bool
    outcome: str


def process(db: Database | Session, shop_id: int, inbound: Inbound, raw: str, now: datetime) -> Processed:
    """Record the delivery, and (unless it is a repeat) answer it, in one transaction
    (the caller's, when given a session)."""
    with session_of(db) as s:
        chat = inbound.chat_id if inbound.chat_id and not inbound.group else None  # the chat it is answered in
        recorded = take_message(s, shop_id, inbound.channel, chat, external_id=f"{shop_id}:{inbound.update_id}",
                                payload=raw, now=now, expected=APPLIED)  # fmt: skip
        if recorded.duplicate:
            return Processed(True, "duplicate")
        outcome = _answer(s, shop_id, inbound, recorded.inbox_id, now)
        fill_in(s)  # a customer's row last (the lock order, bot/runner.py)
        if outcome != APPLIED:
            inbox.mark(s, recorded.inbox_id, outcome, now)
        return Processed(False, outcome)


def _answer(session: Session, shop_id: int, inbound: Inbound, inbox_id: int, now: datetime) -> str:
    from bot import staff  # staff commands take precedence for verified staff

    if inbound.event is None and not inbound.photo:
        log.info("%s update %s ignored: %s", inbound.channel, inbound.update_id, inbound.note)
    if inbound.group:  # everyone there would be one customer: nobody is made one
        _answer_group(session, shop_id, inbound, inbox_id, now)
        return f"ignored: {inbound.note}"
    if not inbound.chat_id:  # from no chat (a channel's post, a service update): nobody to answer
        return f"ignored: {inbound.note}"
    answered, tapped = _answering(session, shop_id, inbound)
    event = tapped or inbound.event or Event("unsupported", text=inbound.note or "")
    extra = {"edit_message_id": inbound.tapped_message_id} if inbound.tapped_message_id else None
    if staff.handles(session, shop_id, inbound, event, now, inbox_id):
        return APPLIED_BY_STAFF
    if inbound.photo and tapped is None:
        event = inbound.photo_event(event)
    handled = runner.handle_in(session, shop_id=shop_id, channel=inbound.channel, chat_id=inbound.chat_id,
                               event=event, now=now, language_hint=inbound.language_hint,
                               name=inbound.name, phone=inbound.phone, reply_key=inbox_id,
                               first_extra=extra, callback_id=inbound.callback_id, answered=answered)  # fmt: skip
    log.info("%s update from %s answered (%s)", inbound.channel, mask_phone(inbound.phone), handled.state)
    return APPLIED if inbound.event is not None or inbound.photo else f"ignored: {inbound.note}"


def _answering(session: Session, shop_id: int, inbound: Inbound) -> tuple[int | None, Event | None]:
    """A quick-reply button tapped under one of our messages (the shop's WhatsApp template,
    when the 24-hour window had closed) answers that message: (its outbox id, the choice
    of its that the button's words name, as if tapped there); (None, None) when they
    name none of them."""
    if not inbound.replied_to or inbound.event is None or inbound.event.kind != "text":
        return None, None
    row = session.scalar(select(OutboxMessage).where(
        OutboxMessage.shop_id == shop_id, OutboxMessage.address == inbound.chat_id,
        OutboxMessage.provider_message_id == inbound.replied_to))  # fmt: skip
    choices = Reply.from_json(row.body).choices if row is not None else ()
    picked = understand.pick_choice(inbound.event.text, remembered_choices(choices, row.language)) if choices else None
    return (row.id, Event.tapped(picked)) if picked else (None, None)


def _answer_group(session: Session, shop_id: int, inbound: Inbound, inbox_id: int, now: datetime) -> None:
    language = runner.supported_language(session, shop_id, inbound.language_hint)
    reply = Reply((Msg(N_("I can only help in a private chat. Please write to me directly.")),))
    outbox.answer(session, shop_id=shop_id, channel=inbound.channel, address=inbound.chat_id, language=language,
                  replies=[reply], now=now, reply_key=inbox_id, callback_id=inbound.callback_id)  # fmt: skip
