"""Carrying a conversation forward: one inbound event, one transaction.

Lock order (the same everywhere): the conversation row first, then the booking
service's day locks, then booking rows, and a customer's row after those (a no-show
takes its day's lock, then the customer's row to spend a token; a number typed for a
payment is saved after the payment's hold, and a name or phone the channel gives that
their row lacked at the end of the message, by core.customers.fill_in). Holding the
conversation row means two messages of one customer are handled one after the other,
never interleaved.
Replies go to the outbox in the same transaction; their delivery jobs are enqueued
only after it commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import engine
from bot.commands import execute
from bot.context import DbContext
from bot.model import Event
from core import notices, outbox
from core.chats import LOCKED, lock_chat
from core.customers import customer_for, fill_in
from core.db import Database, per_transaction, undoable
from core.i18n import N_
from core.messages import Msg, Reply
from core.models import Conversation, OutboxMessage
from core.precompiled import write_columns

log = logging.getLogger(__name__)
MAX_ROUNDS = 6  # command → outcome → step rounds in one message; more means a bug


@dataclass(frozen=True)
class Handled:
    state: str
    replies: list[Reply]
    outbox_ids: list[int]
    language: str


def handle(db: Database, *, shop_id: int, channel: str, chat_id: str, event: Event, now: datetime,
           language_hint: str | None = None, name: str | None = None, phone: str | None = None,
           reply_key: str | None = None) -> Handled:  # fmt: skip
    """Run one event through the engine and write the replies to the outbox.

    `reply_key` (e.g. the inbox row's id) makes the replies idempotent: replaying the
    same delivery writes nothing new (invariant 3).
    """
    with db.uow() as uow:
        handled = handle_in(uow.session, shop_id=shop_id, channel=channel, chat_id=chat_id, event=event,
                            now=now, language_hint=language_hint, name=name, phone=phone,
                            reply_key=reply_key)  # fmt: skip
        fill_in(uow.session)  # a customer's row last (the lock order, above)
        return handled


def handle_in(session: Session, *, shop_id, channel, chat_id, event, now, language_hint=None,
              name=None, phone=None, reply_key=None, first_extra=None, callback_id=None,
              answered: int | None = None) -> Handled:  # fmt: skip
    chat = conversation(session, shop_id, channel, chat_id, now)
    hint = chat.language or language_hint
    customer = customer_for(session, shop_id, channel, chat_id, language=supported_language(session, shop_id, hint),
                            name=name, phone=phone, now=now)  # fmt: skip
    ctx = DbContext(session, shop_id, customer, now, hint, numbered=channel != "telegram")
    state, data, replies, notes = chat.state, dict(chat.data or {}), [], ()
    # notices only a template carried (WhatsApp), but for the one a quick reply just answered
    show_again = [i for i in data.pop("show_again", None) or [] if i != answered]
    try:
        with undoable(session) as writing:  # a failure below undoes everything the step wrote
            for _ in range(MAX_ROUNDS):
                result = engine.step(state, data, event, ctx)
                state, data = result.state, result.data
                replies += result.replies
                notes += result.notes  # a round that only issued commands: said with the answer that follows
                outcome = None
                for command in result.commands:
                    writing()
                    outcome = execute(session, ctx, command, channel) or outcome
                    ctx.refresh()
                if outcome is None:
                    break
                event = Event("outcome", outcome=outcome)
            replies = engine.said_first(notes, replies)  # one message, as when the step answers at once
    except Exception:
        # Invariant 6: never silence, never a stack trace. Keep the state we had.
        log.exception("conversation step failed (shop %s, %s)", shop_id, channel)
        session.refresh(chat)
        state, data = chat.state, dict(chat.data or {})
        replies = [Reply((Msg(N_("Sorry, something went wrong on our side. Please try again in a moment.")),))]
    language = data.get("lang") or customer.language
    save(session, chat, now, state=state, data=data, language=language)
    ids = outbox.answer(session, shop_id=shop_id, channel=channel, address=chat_id, language=language,
                        replies=replies, now=now, reply_key=reply_key, callback_id=callback_id,
                        first_extra=first_extra)  # fmt: skip
    if show_again:  # they wrote, so the window is open: now the whole notice, after the answer
        notices.show_again(session, show_again, now)
    return Handled(state, replies, ids, language)


def conversation(session: Session, shop_id: int, channel: str, chat_id: str, now: datetime) -> Conversation:
    """The chat's conversation row, locked for this transaction (created on first contact).
    Staff and customers of one chat share the row, so they share the lock too. Asked
    again in the same transaction, it is the row already locked, without a query."""
    locked = per_transaction(session, LOCKED)
    key = (shop_id, channel, chat_id)
    if key not in locked:
        locked[key] = lock_chat(session, shop_id, channel, chat_id, now)
    return locked[key]


def save(session: Session, chat: Conversation, now: datetime, **values) -> None:
    """Write where the chat stands (and a new version) in one UPDATE of the locked row
    (`write_columns`): on every message, the ORM's flush of a changed object cost about
    twice its statement. Call it once the step is over, its savepoint closed, with every
    column the step changed."""
    write_columns(session, chat, values | {"version": chat.version + 1, "updated_at": now})


def supported_language(session: Session, shop_id: int, hint: str | None) -> str:
    """The language a hint names, if the shop speaks it; else the shop's first."""
    from core.availability import shop_view

    languages = shop_view(session, shop_id).spec.languages
    return hint if hint in languages else languages[0]


def pending_for(session: Session, shop_id: int, channel: str, chat_id: str) -> list[OutboxMessage]:
    """Undelivered messages for one chat, oldest first (the terminal shows these)."""
    return list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.shop_id == shop_id, OutboxMessage.channel == channel,
        OutboxMessage.address == chat_id, OutboxMessage.status == "pending").order_by(OutboxMessage.id)))  # fmt: skip
