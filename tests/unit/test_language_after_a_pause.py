"""A language chosen long after it was asked is taken, but what it interrupted is not
brought back days later."""

from datetime import timedelta

from bot.model import Event
from tests.unit.fake_context import NOW, FakeContext
from tests.unit.test_engine import Chat


def test_a_language_chosen_days_later_does_not_resume_a_stale_booking_summary():
    ctx = FakeContext().with_vehicle()
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1")
    chat.tap("done").tap("veh:3").tap("day:2026-11-25").type("2")
    assert chat.state == "summary"
    chat.type("language")
    ctx.now = NOW + timedelta(days=5)  # 28 November: the summary's 25 November is gone

    chat.tap("lang:sw")

    assert chat.state == "menu", (chat.state, chat.text)  # after a long pause, we start over


def test_back_days_later_from_the_language_question_does_not_resume_a_stale_summary():
    ctx = FakeContext().with_vehicle()
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1")
    chat.tap("done").tap("veh:3").tap("day:2026-11-25").type("2")
    chat.type("language")
    ctx.now = NOW + timedelta(days=5)

    chat.type("back")

    assert chat.state == "menu", (chat.state, chat.text)
