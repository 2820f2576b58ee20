"""A chat's conversation row, locked: the first lock a chat message takes (Pitstop's lock
order: the conversation row, then the booking service's day locks, then booking rows,
then a customer's row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, bindparam, column, select, text
from sqlalchemy.orm import Session

from core import inbox
from core.availability import ShopChanged, unconfirmed_stamp
from core.customers import READ_AHEAD
from core.db import insert_once, per_transaction
from core.models import ChannelIdentity, Conversation, Customer, InboxUpdate, Shop
from core.precompiled import Precompiled, loaded_row

LOCKED = "locked_conversations"  # per transaction: (shop, channel, chat) -> its row, locked
FIRST_STATE = "start"  # where a chat's conversation begins


def take_message(session: Session, shop_id: int, channel: str, chat_id: str | None, *, external_id: str,
                 payload: str, now: datetime, expected: str) -> inbox.Recorded:  # fmt: skip
    """Record a chat message in the inbox (`inbox.record`) and, unless it is a repeat,
    lock its chat (`chat_id`; None for a message no chat is answered for) and read its
    customer, which the conversation then finds without asking again. On PostgreSQL the
    three are one round trip instead of three, and a chat's first message makes its
    conversation (in FIRST_STATE) there too (migration 0008); elsewhere this records
    the message alone, and the conversation asks for the rest as it goes. On PostgreSQL
    it first confirms a shop's view the transaction took unconfirmed (`recent_view`),
    and raises ShopChanged, having done nothing, when the shop changed since."""
    if session.get_bind().dialect.name != "postgresql":
        return inbox.record(session, source=channel, external_id=external_id, payload=payload, now=now,
                            shop_id=shop_id, expected=expected)  # fmt: skip
    current, inbox_id, duplicate, *rest = _TAKE.first(session, {
        "shop": shop_id, "external_id": external_id[:200], "payload": payload, "now": now,
        "outcome": expected, "channel": channel, "chat": chat_id, "first_state": FIRST_STATE,
        "stamp": unconfirmed_stamp(session, shop_id)})  # fmt: skip
    if not current:
        raise ShopChanged(shop_id)
    if duplicate or chat_id is None:
        return inbox.Recorded(inbox_id, duplicate)
    chat, identity = rest[:_CHAT_WIDTH], tuple(rest[_CHAT_WIDTH:])  # identity: as customer_for reads it
    key = (shop_id, channel, chat_id)
    per_transaction(session, LOCKED)[key] = loaded_row(session, Conversation, chat)
    per_transaction(session, READ_AHEAD)[key] = None if identity[0] is None else identity
    return inbox.Recorded(inbox_id, False)


def lock_chat(session: Session, shop_id: int, channel: str, chat_id: str, now: datetime, *, state: str = FIRST_STATE,
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


def _take() -> Precompiled:
    """The call of migration 0008's function, its rows' fields spelled out by the models'
    columns (in the order `loaded_row` takes them, each typed as the model's)."""
    chats, identities, customers = (m.__table__.c for m in (Conversation, ChannelIdentity, Customer))
    fields = [column("current", Boolean), column("inbox", Integer), column("duplicate", Boolean),
              *(column(f"chat_{c.name}", c.type) for c in chats),
              column("identity", Integer), column("seen", identities.last_inbound_at.type),
              *(column(f"customer_{c.name}", c.type) for c in customers)]  # fmt: skip
    listed = ", ".join(["t.t_current", "t.t_inbox", "t.t_duplicate", *(f"(t.t_chat).{c.name}" for c in chats), "t.t_identity",
                        "t.t_seen", *(f"(t.t_customer).{c.name}" for c in customers)])  # fmt: skip
    call = text(f"SELECT {listed} FROM pitstop_take_message(:shop, :external_id, :payload, :now, :outcome,"
                " :channel, :chat, :first_state, :stamp) AS t").bindparams(
        bindparam("now", type_=InboxUpdate.__table__.c.received_at.type),
        bindparam("stamp", type_=Shop.__table__.c.updated_at.type))  # fmt: skip
    return Precompiled(call.columns(*fields))


_TAKE = _take()
_CHAT_WIDTH = len(Conversation.__table__.c)
