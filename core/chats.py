"""A chat's conversation row, locked: the first lock a chat message takes (Pitstop's lock
order: the conversation row, then the booking service's day locks, then booking rows,
then a customer's row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from core.customers import IDENTITY_AND_CUSTOMER, read_with_chat
from core.db import insert_once
from core.models import ChannelIdentity, Conversation, Customer
from core.precompiled import Precompiled, loaded_row


def lock_chat(session: Session, shop_id: int, channel: str, chat_id: str, now: datetime, *, state: str = "start",
              data: dict | None = None, create: bool = True) -> Conversation | None:  # fmt: skip
    """The chat's conversation row, locked for this transaction; made first (in `state`,
    with `data`) when the chat has none, unless `create` is false."""
    key = {"shop": shop_id, "channel": channel, "chat": chat_id}
    row = _locked_at_once(session, key)
    if row is not None:
        return row
    if create:  # none yet, or another message of the chat holds it: then theirs exists, and is waited for
        insert_once(session, Conversation, dict(shop_id=shop_id, channel=channel, chat_id=chat_id, state=state,
                                                data=data or {}, version=0, updated_at=now),
                    unique=["shop_id", "channel", "chat_id"])  # fmt: skip
    return _locked(session, key)


def _locked_at_once(session: Session, key: dict) -> Conversation | None:
    """The chat's row locked, with its customer read in the same statement, when nobody
    holds the lock: that statement skips a locked row rather than wait for it (None, as
    for a chat not made yet), and the caller then waits for the lock alone."""
    found = _LOCK_CHAT_AND_READ_CUSTOMER.first(session, key)
    if found is None:
        return None
    width = len(Conversation.__table__.c)
    if found[width] is not None:  # the chat's customer (a staff member's chat may have none yet)
        read_with_chat(session, key["shop"], key["channel"], key["chat"], found[width:])
    return loaded_row(session, Conversation, found[:width])


def _locked(session: Session, key: dict) -> Conversation | None:
    found = _LOCK_CHAT.first(session, key)
    return loaded_row(session, Conversation, found) if found else None


# Every message takes this lock first: compiled once, run on the driver (core.precompiled).
_THE_CHAT = (Conversation.shop_id == bindparam("shop"), Conversation.channel == bindparam("channel"),
             Conversation.chat_id == bindparam("chat"))  # fmt: skip
# Nearly always nobody holds it: then the customer comes with it, read as their own query
# would read them. A row of another table read with a lock that was waited for would come
# from before the wait (PostgreSQL re-reads only the locked row), so a held lock is skipped.
_LOCK_CHAT_AND_READ_CUSTOMER = Precompiled(select(*Conversation.__table__.c, *IDENTITY_AND_CUSTOMER).select_from(
    Conversation.__table__.outerjoin(ChannelIdentity.__table__, and_(
        ChannelIdentity.shop_id == Conversation.shop_id, ChannelIdentity.channel == Conversation.channel,
        ChannelIdentity.address == Conversation.chat_id)).outerjoin(
        Customer.__table__, Customer.id == ChannelIdentity.customer_id)).where(*_THE_CHAT).with_for_update(
    of=Conversation.__table__, skip_locked=True))  # fmt: skip
# The lock alone, waited for; the customer is read after it.
_LOCK_CHAT = Precompiled(select(*Conversation.__table__.c).where(*_THE_CHAT).with_for_update())
