"""A chat's conversation row, locked: the first lock a chat message takes (Pitstop's lock
order: the conversation row, then the booking service's day locks, then booking rows,
then a customer's row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core.db import insert_once
from core.models import Conversation
from core.precompiled import Precompiled, loaded_row


def lock_chat(session: Session, shop_id: int, channel: str, chat_id: str, now: datetime, *, state: str = "start",
              data: dict | None = None, create: bool = True) -> Conversation | None:  # fmt: skip
    """The chat's conversation row, locked for this transaction; made first (in `state`,
    with `data`) when the chat has none, unless `create` is false."""
    key = {"shop": shop_id, "channel": channel, "chat": chat_id}
    row = _locked(session, key)
    if row is not None or not create:
        return row
    # another process may have made it a moment ago: then theirs is the one locked
    insert_once(session, Conversation, dict(shop_id=shop_id, channel=channel, chat_id=chat_id, state=state,
                                            data=data or {}, version=0, updated_at=now),
                unique=["shop_id", "channel", "chat_id"])  # fmt: skip
    return _locked(session, key)


def _locked(session: Session, key: dict) -> Conversation | None:
    found = _LOCK_CHAT.first(session, key)
    return loaded_row(session, Conversation, found) if found else None


# Every message takes this lock first: compiled once, run on the driver (core.precompiled).
# The lock alone: a row of another table read in the same statement would come from before
# a wait for the lock (PostgreSQL re-reads only the locked row), so the customer is read after.
# Skipping a held row (SKIP LOCKED) would not do: the chat's previous message may commit
# between the statement's start and its lock, with no wait, and the customer still be old.
_LOCK_CHAT = Precompiled(select(*Conversation.__table__.c).where(
    Conversation.shop_id == bindparam("shop"), Conversation.channel == bindparam("channel"),
    Conversation.chat_id == bindparam("chat")).with_for_update())  # fmt: skip
