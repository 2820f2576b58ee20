"""Words that worked before the readers learnt services and times in one message (found
by replaying the same words through the old and the new dialogue): they still do. A
number after a service ("oil change 10") is no longer taken: it may be an hour."""

import pytest

from bot.model import Event
from tests.unit.fake_context import FakeContext, example_shop
from tests.unit.test_engine import Chat


def at_the_menu(ctx, lang="en"):
    return Chat(ctx, lang).send(Event("start")).tap(f"lang:{lang}")


@pytest.mark.parametrize("typed, state", [("my bookings now", "bookings"), ("see my bookings", "bookings"),
                                          ("book a service now", "services"), ("Booking a service", "services"),
                                          ("talk with the shop", "message_shop"),
                                          ("talk to the shop now", "message_shop")])  # fmt: skip
def test_a_menu_item_with_a_word_more_is_still_that_item(typed, state):
    assert at_the_menu(FakeContext().with_vehicle()).type(typed).state == state


@pytest.mark.parametrize("typed, service", [("new brake pads", 2), ("brake pads too", 2), ("and oil change", 1)])
def test_a_service_named_with_a_word_more_at_which_service_is_still_added(typed, service):
    chat = at_the_menu(FakeContext().with_vehicle()).tap("m:book").type(typed)
    assert chat.data.get("services") == [service]


@pytest.mark.parametrize("shop, lang, typed", [("nairobi-garage", "sw", "huduma"),  # "Weka miadi ya huduma"
                                               ("atyrau-service", "ru", "обслуживание"),  # "Записаться на обслуживание"
                                               ("atyrau-service", "ru", "техобслуживание"),
                                               ("atyrau-service", "kk", "қызмет")])  # fmt: skip
def test_the_word_for_a_service_alone_at_the_menu_still_starts_a_booking(shop, lang, typed):
    info, _ = example_shop(shop)
    assert at_the_menu(FakeContext(shop=info).with_vehicle(), lang).type(typed).state == "services"


def test_a_word_for_any_service_in_a_request_still_names_none():
    info, _ = example_shop("nairobi-garage")
    chat = at_the_menu(FakeContext(shop=info), "sw").type("nataka huduma")
    assert chat.state == "services" and not chat.data.get("services")
