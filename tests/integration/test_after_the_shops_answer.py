"""After the shop answers, a customer's unknown words go to the shop as a reply; the menu
still works as the menu."""

from datetime import UTC, datetime, timedelta

import pytest

from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN, start_pitstop
from tests.integration.staff_helpers import WANJIRU, Clocked, verify_on_telegram

AMINA, OWNER_TG = 5550001, 6000001
MONDAY_9 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@pytest.fixture
def story(sqlite_url, tmp_path):
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        story = Clocked(start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")}))
        yield story
        story.p.runtime.close()


def shop_answered(story):
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    story.tap(AMINA, "lang:en", MONDAY_9)
    story.tap(AMINA, "m:shop", MONDAY_9)
    story.say(AMINA, "Do you have Michelin tyres for a Probox?", MONDAY_9)
    [(_, answer)] = story.buttons(OWNER_TG)
    story.tap(OWNER_TG, answer, MONDAY_9 + timedelta(minutes=2))
    story.say(OWNER_TG, "Yes, 9,500 each.", MONDAY_9 + timedelta(minutes=3))
    assert story.last(AMINA) == "Mwangaza Motors answers: Yes, 9,500 each."
    return len(story.texts(OWNER_TG))


@pytest.mark.parametrize("typed", ["book", "I want to book", "tomorrow 10am", "my bookings"])
def test_after_the_shops_answer_a_customer_who_types_to_book_is_not_sent_to_the_shop(story, typed):
    owner_had = shop_answered(story)
    story.say(AMINA, typed, MONDAY_9 + timedelta(minutes=10))
    assert len(story.texts(OWNER_TG)) == owner_had, f"{typed!r} went to the owner: {story.last(OWNER_TG)!r}"
    assert not story.last(AMINA).startswith("Sent to the shop")


def test_after_the_shops_answer_the_menus_book_button_still_books(story):
    shop_answered(story)
    story.post(story.p.telegram.update_callback(next(story.ids), AMINA, "m:book",
                                                story.p.telegram.sent_messages(AMINA)[0]["message_id"]),
               MONDAY_9 + timedelta(minutes=10))
    assert "Sorry" not in story.last(AMINA), story.last(AMINA)


@pytest.mark.parametrize("later", [timedelta(hours=3), timedelta(days=1)])
def test_the_next_day_book_books_although_the_shop_answered_her_question(story, later):
    """Left waiting for words for the shop, her chat is 'in the middle of something': after
    the pause her 'book' is swallowed by 'Welcome back! We left off a while ago'."""
    shop_answered(story)
    story.say(AMINA, "book", MONDAY_9 + later)
    assert "Welcome back" not in story.last(AMINA), story.last(AMINA)
    assert [d for _, d in story.buttons(AMINA)][0].startswith("svc:"), story.buttons(AMINA)
