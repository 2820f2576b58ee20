"""The answer to one inbound message is written to the outbox in one statement, on both
backends: the tapped button's spinner first, then the replies in order, each once."""

from datetime import UTC, datetime

from sqlalchemy import select

from bot.delivery import deliver
from core import outbox
from core.db import DEFERRED
from core.messages import Msg, Reply
from core.models import OutboxMessage
from tests.integration.booking_helpers import loaded

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _answer(session, shop_id, reply_key, texts, callback_id=None):
    replies = [Reply((Msg(text),)) for text in texts]
    return outbox.answer(session, shop_id=shop_id, channel="telegram", address="4242", language="en",
                         replies=replies, now=NOW, reply_key=reply_key, callback_id=callback_id,
                         first_extra={"edit_message_id": 7})  # fmt: skip


def _rows(db):
    with db.uow() as uow:
        return [(r.id, r.dedupe_key, r.kind, r.body) for r in
                uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]  # fmt: skip


def test_a_tap_is_answered_in_order_and_a_repeat_writes_nothing(db, nairobi_spec):
    shop_id = loaded(db, nairobi_spec).id
    with db.uow() as uow:
        ids = _answer(uow.session, shop_id, 55, ["Pick a day", "Or type one"], callback_id="cb-1")
        deferred = [(job[0], job[1]) for job in uow.session.info[DEFERRED]]
    rows = _rows(db)
    assert [(key, kind) for _, key, kind, _ in rows] == [
        ("answer:55", "callback_answer"), ("reply:55:0", "text"), ("reply:55:1", "text")]
    assert ids == [row[0] for row in rows]
    assert deferred == [(deliver, (row_id,)) for row_id in ids]
    assert rows[0][3] == {"texts": [], "callback_id": "cb-1"}
    assert rows[1][3]["edit_message_id"] == 7 and "edit_message_id" not in rows[2][3]

    with db.uow() as uow:
        assert _answer(uow.session, shop_id, 55, ["Pick a day", "Or type one"], callback_id="cb-1") == []
        assert uow.session.info.get(DEFERRED, []) == []
    assert _rows(db) == rows


def test_only_the_missing_part_of_an_answer_is_written(db, nairobi_spec):
    shop_id = loaded(db, nairobi_spec).id
    with db.uow() as uow:
        [first] = _answer(uow.session, shop_id, 56, ["Hello"])
    with db.uow() as uow:
        ids = _answer(uow.session, shop_id, 56, ["Hello", "And welcome"])
    assert [(row_id, key) for row_id, key, _, _ in _rows(db)] == [(first, "reply:56:0"), (ids[0], "reply:56:1")]
    assert len(ids) == 1


def test_an_answer_without_a_key_is_written_every_time(db, nairobi_spec):
    shop_id = loaded(db, nairobi_spec).id
    for _ in range(2):
        with db.uow() as uow:
            assert len(_answer(uow.session, shop_id, None, ["Hi"], callback_id="cb-2")) == 2
    assert [(key, kind) for _, key, kind, _ in _rows(db)] == [
        (None, "callback_answer"), (None, "text"), (None, "callback_answer"), (None, "text")]
