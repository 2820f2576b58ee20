"""Booking in chat against the real database, on both backends: what the customer is
told when the day or the time they want cannot be had."""

from datetime import timedelta

import pytest

from bot import runner
from bot.model import Event
from core.messages import render_reply
from tests.integration.booking_helpers import MONDAY_9AM_NAIROBI as NOW
from tests.integration.booking_helpers import loaded


@pytest.fixture
def garage(db, nairobi_spec):
    return loaded(db, nairobi_spec)


def chatting(db, garage, chat_id: str):
    """A customer's chat: say(text, minutes later) -> what the bot answered."""

    def say(text: str, minutes: int = 0, event: Event | None = None) -> str:
        handled = runner.handle(db, shop_id=garage.id, channel="telegram", chat_id=chat_id,
                                event=event or Event.typed(text), now=NOW + timedelta(minutes=minutes),
                                language_hint="en")  # fmt: skip
        return "\n".join(render_reply(reply, "en")[0] for reply in handled.replies)

    say("", event=Event("start"))
    for line in ("english", "book", "oil change", "that's all", "kcb 123a", "skip"):
        say(line)
    return say


def test_a_closed_day_or_a_public_holiday_is_called_closed(db, garage):
    say = chatting(db, garage, "4401")
    assert say("sunday").startswith("We are closed on Sun 29 Nov.\nWhich day suits you?")
    assert say("12.12").startswith("We are closed on Sat 12 Dec.")  # Jamhuri Day
    assert say("1.12") == "Free times on Tue 1 Dec:"  # an ordinary Tuesday


def test_a_time_that_became_too_soon_while_the_customer_read_is_called_too_soon(db, garage):
    say = chatting(db, garage, "4402")
    assert say("today 10:00").startswith("Please check your booking:")  # at 09:00, with an hour's notice
    answer = say("yes", minutes=25)
    assert answer.endswith("How would you like to pay?")
    answer = say("pay at the shop", minutes=25)
    assert answer.startswith("Sorry, 10:00 is too soon now to be booked.\nHere are the nearest free times.")
