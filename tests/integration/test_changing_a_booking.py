"""A customer changing a booking in chat, on the clock: what it costs and what a button
from earlier may still do. A stale button never touches a booking that has moved on, a
visit the shop could not keep is cancelled for free, and the tokens said are today's."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from core import availability, booking, waitlist
from core.customers import customer_for
from core.models import Booking, Customer, Service
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import start_pitstop
from tests.integration.staff_helpers import ACHIENG, Clocked, book, verify_on_telegram
from tests.integration.test_staff import ACH_TG, AMINA, MONDAY_9, at, customer_starts


@pytest.fixture
def story(sqlite_url, tmp_path):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        yield Clocked(start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")}))


def tokens_of(story, customer_id: int) -> int:
    with story.db.uow() as uow:
        return uow.session.get(Customer, customer_id).tokens


def status_of(story, booking_id: int) -> str:
    with story.db.uow() as uow:
        return uow.session.get(Booking, booking_id).status


def offered_a_freed_alignment(story, shop: int):
    """Tuesday's alignments are all booked, Amina waits for one, one is cancelled: the
    freed time is offered to her."""
    tuesday = at(24, 12).date()
    with story.db.uow() as uow:
        alignment = uow.session.scalar(select(Service.id).where(Service.shop_id == shop, Service.code == "wheel-alignment"))
    fillers = []
    while free := _free(story, shop, alignment, tuesday):
        fillers.append(book(story.db, shop, f"99{len(fillers):04d}", ["wheel-alignment"], free[0].start, MONDAY_9))
    with story.db.uow() as uow:
        amina = customer_for(uow.session, shop, "telegram", str(AMINA), now=MONDAY_9, language="en").id
    waitlist.join(story.db, shop_id=shop, customer_id=amina, day=tuesday, service_ids=(alignment,), now=MONDAY_9,
                  channel="telegram")  # fmt: skip
    booking.cancel(story.db, fillers[3].id, "customer", MONDAY_9 + timedelta(minutes=1))
    return amina, waitlist.offer_freed(story.db, shop, tuesday, MONDAY_9 + timedelta(minutes=2))


def _free(story, shop, service, day):
    with story.db.uow() as uow:
        return availability.free_slots(uow.session, shop, [service], day, day, MONDAY_9)


def test_the_other_button_of_a_taken_offer_does_not_cancel_the_booking(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    amina, offer = offered_a_freed_alignment(story, shop)
    story.tap(AMINA, f"offer:yes:{offer.held.booking_id}", MONDAY_9 + timedelta(minutes=3))
    assert status_of(story, offer.held.booking_id) == "confirmed"

    story.tap(AMINA, f"offer:no:{offer.held.booking_id}", MONDAY_9 + timedelta(hours=3))  # scrolled up, tapped

    assert story.last(AMINA).startswith("That offer is no longer open.\nWhat would you like to do?")
    assert status_of(story, offer.held.booking_id) == "confirmed"
    assert tokens_of(story, amina) == 2


def test_declining_an_offer_lets_the_time_go_in_one_answer(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    _, offer = offered_a_freed_alignment(story, shop)
    before = len(story.texts(AMINA))

    story.tap(AMINA, f"offer:no:{offer.held.booking_id}", MONDAY_9 + timedelta(minutes=3))

    assert story.texts(AMINA)[before:] == ["OK, I have let the time go.\nWhat would you like to do?"]
    assert status_of(story, offer.held.booking_id) == "cancelled"


def test_cancelling_a_visit_the_shop_could_not_keep_is_free(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    alignment = book(story.db, shop, str(AMINA), ["wheel-alignment"], at(24, 14), MONDAY_9)
    verify_on_telegram(story, ACH_TG, ACHIENG, MONDAY_9)
    story.say(ACH_TG, "off shift", at(24, 12))
    story.answer(ACH_TG, True, at(24, 12))
    assert status_of(story, alignment.id) == "needs_reschedule"

    story.tap(AMINA, f"rm:cancel:{alignment.id}", at(24, 12, 5))  # two hours before: late
    assert story.last(AMINA).startswith("Cancel MM-1001 on Tue 24 Nov, 14:00?\nCancelling now is free.")
    story.tap_button(AMINA, "yes:", at(24, 12, 6))

    assert status_of(story, alignment.id) == "cancelled"
    assert tokens_of(story, alignment.customer_id) == 2


def test_the_cancel_question_counts_the_tokens_of_a_new_month(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["oil-change"], datetime(2026, 12, 1, 12, 0, tzinfo=UTC), MONDAY_9)
    with story.db.uow() as uow:  # both of November's tokens were spent
        amina = uow.session.get(Customer, job.customer_id)
        amina.tokens, amina.tokens_reset_on = 0, date(2026, 11, 1)
    december_1st = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # 09:00 in Nairobi: two tokens again

    for tap in ("m:bookings", f"bk:{job.id}", "cancel"):
        story.tap(AMINA, tap, december_1st)

    assert "so cancelling now costs one token. You will have 1 left this month." in story.last(AMINA)
    story.tap_button(AMINA, "yes:", december_1st)
    assert story.last(AMINA).startswith("Cancelled MM-1001.\nOne token was used. You have 1 left this month.")


def test_moving_a_hold_that_ran_out_meanwhile_is_refused(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    hold = book(story.db, shop, str(AMINA), ["oil-change"], at(25, 10), MONDAY_9, method="mpesa", confirm=False)
    for tap in ("m:bookings", f"bk:{hold.id}", "resched", "day:2026-11-26"):
        story.tap(AMINA, tap, at(23, 9, 5))
    story.tap(AMINA, story.buttons(AMINA)[0][1], at(23, 9, 5))  # its first free time

    story.tap_button(AMINA, "yes:", at(23, 9, 16))  # the 15-minute hold ran out a minute ago; no sweep yet

    assert story.last(AMINA).startswith("That booking can no longer be moved.")
    with story.db.uow() as uow:
        row = uow.session.get(Booking, hold.id)
        assert (row.starts_at.replace(tzinfo=UTC), row.status) == (at(25, 10), "held")  # not moved
