"""A step's outcome is written by one UPDATE of the locked row (`runner.save`), not by the
ORM's flush of a changed object: the version goes up by one per message (a failed step
included), and the time written is the message's own."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot import engine, runner
from bot.model import Event
from core.models import Conversation
from tests.integration.booking_helpers import loaded

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CHAT = "4300"


def stored(db) -> tuple:
    with db.uow() as uow:
        row = uow.session.scalar(select(Conversation).where(Conversation.chat_id == CHAT))
        return row.state, row.data.get("lang"), row.version, row.updated_at.replace(tzinfo=UTC)


def test_each_message_writes_its_state_once_with_a_new_version_and_its_own_time(db, nairobi_spec, monkeypatch):
    shop_id = loaded(db, nairobi_spec).id

    def say(event: Event, minutes: int) -> str:
        return runner.handle(db, shop_id=shop_id, channel="telegram", chat_id=CHAT, event=event,
                             now=NOW + timedelta(minutes=minutes), language_hint="en").state  # fmt: skip

    first = say(Event.typed("/start"), 0)
    assert stored(db) == (first, None, 1, NOW)
    second = say(Event("choice", choice="lang:sw"), 1)
    assert stored(db) == (second, "sw", 2, NOW + timedelta(minutes=1))

    def broken_step(*args):
        raise RuntimeError("a bug in a step")

    monkeypatch.setattr(engine, "step", broken_step)
    assert say(Event.typed("menu"), 2) == second  # sorry, and the state is kept
    assert stored(db) == (second, "sw", 3, NOW + timedelta(minutes=2))
