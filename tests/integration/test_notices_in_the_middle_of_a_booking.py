"""Amina is booking in chat (a service and her car chosen, the day asked) when a notice
about another booking comes: a failed payment to try again, a freed time offered, a
reminder. Answering it does what she asked, and then her booking goes on where it was,
with what she had chosen; a reminder's change of time, a dialogue of its own, takes its
place, and she is told so."""

from datetime import timedelta

import pytest

from core import payments
from core.models import Booking
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import start_pitstop
from tests.integration.staff_helpers import WANJIRU, Clocked, book, verify_on_telegram
from tests.integration.test_changing_a_booking import offered_a_freed_alignment, status_of
from tests.integration.test_notices_that_no_longer_hold import (
    OWNER_TG,
    amina_books,
    extra_work_found,
    story_at,
)
from tests.integration.test_staff import AMINA, MONDAY_9, at, customer_starts

DAY_ASKED = "Which day suits you? Choose one, or type a date like \"Friday\" or \"25.12\"."
SOON = MONDAY_9 + timedelta(minutes=3)


@pytest.fixture
def story(sqlite_url, tmp_path):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        yield Clocked(start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var"),
                                                                   "PITSTOP_NOW": MONDAY_9.isoformat()}))  # fmt: skip


def oil_change(story) -> str:
    return next(data for label, data in story.buttons(AMINA) if label.startswith("Oil and filter change"))


def choosing_a_day(story, vehicle: str) -> None:
    """Amina starts a booking: an oil change, for her car; the day is asked."""
    story.tap(AMINA, "m:book", MONDAY_9)
    for tap in (oil_change(story), "done", vehicle):
        story.tap(AMINA, tap, MONDAY_9)
    assert story.last(AMINA) == DAY_ASKED


def her_car(visit: Booking) -> str:
    return f"veh:{visit.vehicle_id}"


def goes_on_with_the_oil_change(story) -> None:
    """The day she had been asked is asked again, and her booking goes on to the summary
    with the service and car she chose before the notice."""
    assert [data for _, data in story.buttons(AMINA)][:1] == ["day:2026-11-23"]
    story.tap(AMINA, "day:2026-11-25", SOON)
    story.tap(AMINA, next(data for label, data in story.buttons(AMINA) if label == "10:00"), SOON)
    summary = story.last(AMINA)
    assert summary.startswith("Please check your booking:\nServices: Oil and filter change\nWhen: Wed 25 Nov, 10:00\n")


def test_paying_at_the_shop_after_a_failed_payment_goes_back_to_the_booking_she_was_making(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    held = book(story.db, shop, str(AMINA), ["wheel-alignment"], at(24, 14), MONDAY_9, method="mpesa", confirm=False)
    choosing_a_day(story, her_car(held))
    with story.db.uow() as uow:  # M-Pesa is not set up here: the request fails at once
        payments.start(uow.session, uow.session.get(Booking, held.id), "mpesa", held.price_minor, MONDAY_9,
                       phone="+254712345678")  # fmt: skip
    assert story.last(AMINA).startswith("The M-Pesa payment for booking MM-1001 could not be started.")
    assert f"payagain:{held.id}:cash" in [data for _, data in story.buttons(AMINA)]

    story.tap(AMINA, f"payagain:{held.id}:cash", SOON)

    assert story.last(AMINA) == ("Booked! Your code is MM-1001.\nWheel alignment, Tue 24 Nov, 14:00. Pay at the shop.\n"
                                 + DAY_ASKED)  # fmt: skip
    assert status_of(story, held.id) == "confirmed"
    goes_on_with_the_oil_change(story)


def test_taking_a_freed_time_goes_back_to_the_booking_she_was_making(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    _, offer = offered_a_freed_alignment(story, shop)
    story.tap(AMINA, "m:book", MONDAY_9)
    story.tap(AMINA, oil_change(story), MONDAY_9)
    for typed in ("done", "KCB 123A", "skip"):
        story.say(AMINA, typed, MONDAY_9)
    assert story.last(AMINA) == "Saved KCB 123A.\n" + DAY_ASKED

    story.tap(AMINA, f"offer:yes:{offer.held.booking_id}", SOON)

    assert story.last(AMINA) == ("Booked! Your code is MM-1010.\nWheel alignment, Tue 24 Nov, 11:00. Pay at the shop.\n"
                                 + DAY_ASKED)  # fmt: skip
    assert status_of(story, offer.held.booking_id) == "confirmed"
    goes_on_with_the_oil_change(story)


def test_letting_a_freed_time_go_goes_back_to_the_booking_she_was_making(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    _, offer = offered_a_freed_alignment(story, shop)
    earlier = book(story.db, shop, str(AMINA), ["oil-change"], at(30, 10), MONDAY_9)
    choosing_a_day(story, her_car(earlier))

    story.tap(AMINA, f"offer:no:{offer.held.booking_id}", SOON)

    assert story.last(AMINA) == "OK, I have let the time go.\n" + DAY_ASKED
    goes_on_with_the_oil_change(story)


@pytest.mark.parametrize("button, asked", [
    ("rm:move", DAY_ASKED),
    ("rm:cancel", "Cancel MM-1001 on Tue 24 Nov, 14:00?\nCancelling now is free."),
])  # fmt: skip
def test_a_reminders_change_takes_the_place_of_the_booking_she_was_making_and_she_is_told(story, button, asked):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    visit = book(story.db, shop, str(AMINA), ["wheel-alignment"], at(24, 14), MONDAY_9)
    choosing_a_day(story, her_car(visit))

    story.tap(AMINA, f"{button}:{visit.id}", SOON)

    assert story.last(AMINA) == ("What you were doing before was left unfinished: you can start it again from the "
                                 "menu.\n" + asked)  # fmt: skip
    if button == "rm:move":  # the days are the alignment's, the visit being moved
        story.tap(AMINA, "day:2026-11-25", SOON)
        story.tap(AMINA, next(data for label, data in story.buttons(AMINA) if label == "10:00"), SOON)
        assert story.last(AMINA) == "Move MM-1001 to Wed 25 Nov, 10:00?"


def test_a_freed_time_let_go_while_she_looks_for_another_time_for_it_is_not_moved_on_afterwards(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    _, offer = offered_a_freed_alignment(story, shop)
    held = offer.held.booking_id
    for tap in ("m:bookings", f"bk:{held}", "resched"):  # she looks for a better time for the freed one
        story.tap(AMINA, tap, MONDAY_9)
    assert story.last(AMINA) == DAY_ASKED

    story.tap(AMINA, f"offer:no:{held}", SOON)  # and then lets it go from the offer itself

    assert status_of(story, held) == "cancelled"
    assert story.last(AMINA) == "OK, I have let the time go.\nWhat would you like to do?"



def test_extra_work_approved_long_after_she_asked_for_the_language_ends_at_the_menu(story):
    """Her car is on the lift; booking another visit, she types "language" and leaves it.
    Extra work is found meanwhile, and she approves it 40 minutes after she wrote: the
    language question of 40 minutes before came back after her thanks; now the menu, as
    after any step left so long."""
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    visit = book(story.db, shop, str(AMINA), ["brake-pads"], at(24, 10), MONDAY_9)
    story.tap(AMINA, "m:book", at(24, 10, 10))
    for tap in (oil_change(story), "done", her_car(visit)):
        story.tap(AMINA, tap, at(24, 10, 10))
    story.say(AMINA, "language", at(24, 10, 10))
    assert story.last(AMINA) == "Which language do you prefer?"
    discs = extra_work_found(story)  # at 10:20

    story.tap(AMINA, f"extra:yes:{discs.id}", at(24, 10, 50))

    assert story.last(AMINA) == ("Thank you: the extra work (Front brake discs are worn out) is approved. Your new "
                                 "total is Ksh11,000.\nWhat would you like to do?")  # fmt: skip


def test_pay_now_tapped_again_from_the_language_question_is_not_asked_again_once_the_language_is_chosen(
        sqlite_url, tmp_path):
    """Her car ready, Amina taps Pay now, is asked her number, asks for the language, taps
    Pay now again there and gives her number (M-Pesa cannot start it here). Once she
    chose the language, the first number question came back and asked M-Pesa again,
    unasked: "Check your phone: M-Pesa will ask you to pay Ksh4,500". Now the menu."""
    with story_at(sqlite_url, tmp_path, at(24, 15, 5)) as (story, _):
        job = amina_books(story, ["brake-pads"], at(24, 10))
        verify_on_telegram(story, OWNER_TG, WANJIRU, at(23, 9))
        story.say(OWNER_TG, "start 1001", at(24, 10))
        story.say(OWNER_TG, "ready 1001", at(24, 15))
        story.tap(AMINA, f"paybalance:{job.id}:mpesa", at(24, 15, 1))
        assert story.last(AMINA).startswith("M-Pesa needs your phone number")
        story.say(AMINA, "language", at(24, 15, 2))
        story.tap(AMINA, f"paybalance:{job.id}:mpesa", at(24, 15, 3))
        story.say(AMINA, "0712 345 678", at(24, 15, 4))
        assert "could not be started" in story.last(AMINA)
        before = len(story.texts(AMINA))

        story.tap(AMINA, "lang:en", at(24, 15, 5))

        assert story.texts(AMINA)[before:] == ["Great, let's talk in English.\nWhat would you like to do?"]
