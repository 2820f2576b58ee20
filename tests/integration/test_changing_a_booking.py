"""A customer changing a booking in chat, on the clock: what it costs and what a button
from earlier may still do. A stale button never touches a booking that has moved on, a
visit the shop could not keep is cancelled for free, and the tokens said are today's."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from core import availability, booking, waitlist
from core.customers import customer_for
from core.models import Booking, Customer, Payment, Service
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import start_pitstop
from tests.integration.staff_helpers import ACHIENG, WANJIRU, Clocked, book, verify_on_telegram
from tests.integration.test_staff import ACH_TG, AMINA, MONDAY_9, OWNER_TG, at, customer_starts


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


def ask_to_cancel(story, job, when) -> None:
    """Amina opens her bookings, the booking, and taps "Cancel the booking"."""
    for tap in ("m:bookings", f"bk:{job.id}", "cancel"):
        story.tap(AMINA, tap, when)


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


def test_a_second_tap_on_yes_under_a_taken_offer_says_the_time_is_hers_not_that_it_was_lost(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    _, offer = offered_a_freed_alignment(story, shop)
    story.tap(AMINA, f"offer:yes:{offer.held.booking_id}", MONDAY_9 + timedelta(minutes=3))
    assert story.last(AMINA).startswith("Booked! Your code is MM-1010.")

    story.tap(AMINA, f"offer:yes:{offer.held.booking_id}", MONDAY_9 + timedelta(minutes=4))

    assert story.last(AMINA).startswith("MM-1010 is already booked for you: Tue 24 Nov, 11:00.\nWhat would you like")
    assert status_of(story, offer.held.booking_id) == "confirmed"


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


def test_a_visit_the_shop_could_not_keep_can_have_its_own_time_back_once_it_is_free_again(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    alignment = book(story.db, shop, str(AMINA), ["wheel-alignment"], at(25, 10), MONDAY_9)  # only Achieng aligns
    verify_on_telegram(story, ACH_TG, ACHIENG, MONDAY_9)
    story.say(ACH_TG, "off shift", at(23, 18))
    story.answer(ACH_TG, True, at(23, 18))
    story.tap(ACH_TG, "st:on", at(24, 8))  # she is back the next morning

    story.tap(AMINA, f"rm:move:{alignment.id}", at(24, 9))
    story.tap(AMINA, "day:2026-11-25", at(24, 9))
    assert "10:00" in [label for label, _ in story.buttons(AMINA)]  # the time she was promised
    story.say(AMINA, "10:00", at(24, 9, 1))
    story.tap_button(AMINA, "yes", at(24, 9, 2))

    assert status_of(story, alignment.id) == "confirmed"


def moving_to(story, service: str, day: str, time: str, **booked):
    """Amina, booked for `service` on Tuesday 10:00, opens it, taps "Change the time", the
    day and the time (as it is labelled): asked to confirm the move. Returns the booking."""
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, story.shop_id("mwangaza-motors"), str(AMINA), [service], at(24, 10), MONDAY_9, **booked)
    for tap in ("m:bookings", f"bk:{job.id}", "resched", f"day:{day}"):
        story.tap(AMINA, tap, MONDAY_9)
    story.tap(AMINA, next(data for label, data in story.buttons(AMINA) if label == time), MONDAY_9)
    return job


def test_moving_to_a_time_that_became_too_soon_says_so_and_does_not_blame_another_customer(story):
    moving_to(story, "oil-change", "2026-11-23", "10:00")

    story.tap_button(AMINA, "yes:", MONDAY_9 + timedelta(minutes=5))  # an hour's notice no longer holds

    assert story.last(AMINA).startswith("Sorry, 10:00 is too soon now to be booked.\nHere are the nearest free times.")


def test_the_times_offered_after_a_move_was_beaten_leave_out_the_time_the_booking_has(story):
    moving_to(story, "wheel-alignment", "2026-11-24", "11:00")
    book(story.db, story.shop_id("mwangaza-motors"), "5550002", ["wheel-alignment"], at(24, 11), MONDAY_9,
         name="Brian")  # Brian is quicker  # fmt: skip

    story.tap_button(AMINA, "yes:", MONDAY_9)

    assert story.last(AMINA).startswith("Sorry, 11:00 was taken by someone else a moment ago.")
    assert [label for label, _ in story.buttons(AMINA)] == ["08:00", "08:30", "09:00", "09:30", "12:00", "14:00",
                                                            "Another day"]  # not 10:00: it is hers  # fmt: skip


def test_a_hold_moved_before_it_is_paid_is_said_to_be_still_only_held(story):
    job = moving_to(story, "oil-change", "2026-11-24", "11:00", method="mpesa", confirm=False)

    story.tap_button(AMINA, "yes:", MONDAY_9)

    assert story.last(AMINA).startswith("Done. MM-1001 is now on Tue 24 Nov, 11:00.\n"
                                        "It is held for you until 09:15: pay before then to keep it.")
    assert status_of(story, job.id) == "held"
    assert [data for _, data in story.buttons(AMINA)] == [  # its card, with the ways to pay for it
        f"payagain:{job.id}:mpesa", f"payagain:{job.id}:mpesa:other", f"payagain:{job.id}:cash", "resched", "cancel",
        "back"]  # fmt: skip


def test_the_cancel_question_counts_the_tokens_of_a_new_month(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["oil-change"], datetime(2026, 12, 1, 12, 0, tzinfo=UTC), MONDAY_9)
    with story.db.uow() as uow:  # both of November's tokens were spent
        amina = uow.session.get(Customer, job.customer_id)
        amina.tokens, amina.tokens_reset_on = 0, date(2026, 11, 1)
    december_1st = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # 09:00 in Nairobi: two tokens again

    ask_to_cancel(story, job, december_1st)

    assert "so cancelling now costs one token. You will have 1 left this month." in story.last(AMINA)
    story.tap_button(AMINA, "yes:", december_1st)
    assert story.last(AMINA).startswith("Cancelled MM-1001.\nOne token was used. You have 1 left this month.")


def test_moving_a_booking_half_an_hour_later_is_offered_though_it_overlaps_its_old_time(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["wheel-alignment"], at(24, 10), MONDAY_9)  # only Achieng aligns
    for tap in ("m:bookings", f"bk:{job.id}", "resched", "day:2026-11-24"):
        story.tap(AMINA, tap, MONDAY_9)
    offered = [label for label, _ in story.buttons(AMINA)]
    assert "10:30" in offered and "10:00" not in offered  # its own time is no time to move to

    story.say(AMINA, "10:30", MONDAY_9)
    story.tap_button(AMINA, "yes:", MONDAY_9)

    with story.db.uow() as uow:
        assert uow.session.get(Booking, job.id).starts_at == at(24, 10, 30)


def test_moving_a_booking_on_a_day_full_but_for_it_offers_other_days_not_the_waitlist(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["wheel-alignment"], at(24, 10), MONDAY_9)
    with story.db.uow() as uow:
        alignment = uow.session.scalar(select(Service.id).where(Service.shop_id == shop, Service.code == "wheel-alignment"))
    n = 0
    while free := _free(story, shop, alignment, at(24, 12).date()):  # every other alignment of Tuesday taken
        book(story.db, shop, f"99{n:04d}", ["wheel-alignment"], free[0].start, MONDAY_9)
        n += 1

    for tap in ("m:bookings", f"bk:{job.id}", "resched"):
        story.tap(AMINA, tap, MONDAY_9)
    assert "day:2026-11-24" not in [data for _, data in story.buttons(AMINA)]
    story.say(AMINA, "tuesday", MONDAY_9)

    assert story.last(AMINA).startswith("There is no other free time on Tue 24 Nov.\nWhich day suits you?")


def deposit_paid(story, job, amount_minor: int) -> None:
    """The deposit came in by M-Pesa, as a callback would have left it."""
    with story.db.uow() as uow:
        uow.session.add(Payment(shop_id=job.shop_id, booking_id=job.id, provider="mpesa", purpose="deposit",
                                amount_minor=amount_minor, currency="KES", status="completed", receipt="RCPT0DEPO1"))  # fmt: skip


def payment_status(story, job) -> str:
    with story.db.uow() as uow:
        return uow.session.scalar(select(Payment.status).where(Payment.booking_id == job.id))


def test_a_customer_who_cancels_in_time_is_told_the_deposit_comes_back(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["brake-pads"], at(25, 10), MONDAY_9)
    deposit_paid(story, job, 100000)

    ask_to_cancel(story, job, MONDAY_9)
    assert story.last(AMINA).startswith("Cancel MM-1001 on Wed 25 Nov, 10:00?\nCancelling now is free.\n"
                                        "The Ksh1,000 you paid will be refunded.")  # fmt: skip
    story.tap_button(AMINA, "yes:", MONDAY_9)

    assert story.last(AMINA).startswith("Cancelled MM-1001.\nThe shop has been told to refund the Ksh1,000 you paid.")
    assert payment_status(story, job) == "refund_due"



def test_the_owner_returns_the_deposit_and_marks_it_refunded_in_chat(story):
    """The refund due stayed due for ever: the digest counted it every day, as nothing
    told Pitstop the owner had sent the money back."""
    shop = story.shop_id("mwangaza-motors")
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["brake-pads"], at(25, 10), MONDAY_9)
    deposit_paid(story, job, 100000)
    ask_to_cancel(story, job, MONDAY_9)
    story.tap_button(AMINA, "yes:", MONDAY_9)
    told = next(t for t in story.texts(OWNER_TG) if t.startswith("Refund due: Amina cancelled booking MM-1001"))
    assert told.endswith("\nOnce you have returned it, write /refunded MM-1001.")

    story.say(OWNER_TG, "/refunded ZA-1001", at(23, 11))  # Atyrau's code, typed in Mwangaza's chat
    assert story.last(OWNER_TG).startswith("There is no booking ZA-1001 in this shop.")
    assert payment_status(story, job) == "refund_due"  # not MM-1001's, which has the same number

    story.say(OWNER_TG, "/refunded 1001", at(23, 11))

    assert story.last(OWNER_TG).startswith("Booking MM-1001: Ksh1,000 marked as returned. The customer has been told.")
    assert story.last(AMINA) == "The shop has returned your payment of Ksh1,000 for booking MM-1001."
    assert payment_status(story, job) == "refunded"
    story.say(OWNER_TG, "/refunded MM-1001", at(23, 12))  # a second time: nothing more to return
    assert story.last(OWNER_TG).startswith("Booking MM-1001 has no money due back.")
    story.say(OWNER_TG, "/refunded", at(23, 12))
    assert story.last(OWNER_TG).startswith("Which booking? Write it like this: /refunded MM-1001")
    story.say(OWNER_TG, "/refunded 1999", at(23, 12))
    assert story.last(OWNER_TG).startswith("There is no booking 1999 in this shop.")

def test_a_customer_who_cancels_late_is_told_the_deposit_is_kept(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["brake-pads"], at(23, 15), MONDAY_9)
    deposit_paid(story, job, 100000)

    ask_to_cancel(story, job, at(23, 12))
    assert "The Ksh1,000 you paid is not refunded on a late cancellation." in story.last(AMINA)
    story.tap_button(AMINA, "yes:", at(23, 12))

    assert story.last(AMINA).startswith("Cancelled MM-1001.\nOne token was used. You have 1 left this month.\n"
                                        "What would you like to do?")  # fmt: skip
    assert payment_status(story, job) == "completed"


def test_a_cancellation_asked_as_free_is_asked_again_once_it_would_cost_a_token(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["oil-change"], at(24, 10), MONDAY_9)
    ask_to_cancel(story, job, at(23, 9, 58))
    assert "Cancelling now is free." in story.last(AMINA)

    story.tap_button(AMINA, "yes:", at(23, 10, 1))  # the 24 hours ran out while the question waited

    assert story.last(AMINA).startswith("What cancelling costs has changed since I asked.\nCancel MM-1001 on "
                                        "Tue 24 Nov, 10:00?\nIt is less than 24 hours before the visit, so "
                                        "cancelling now costs one token.")  # fmt: skip
    assert (status_of(story, job.id), tokens_of(story, job.customer_id)) == ("confirmed", 2)
    story.tap_button(AMINA, "yes:", at(23, 10, 2))
    assert (status_of(story, job.id), tokens_of(story, job.customer_id)) == ("cancelled", 1)


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


def test_a_booking_for_a_service_the_shop_stopped_offering_can_still_be_moved_and_handed_on(story, nairobi_spec):
    from dataclasses import replace

    from core import staffing
    from core.shops import load_shop

    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["diagnosis"], at(25, 10), MONDAY_9)
    load_shop(story.db, replace(nairobi_spec, services=[s for s in nairobi_spec.services if s.code != "diagnosis"]))

    for tap in ("m:bookings", f"bk:{job.id}", "resched"):
        story.tap(AMINA, tap, MONDAY_9 + timedelta(hours=1))
    assert story.last(AMINA).startswith("Which day suits you?")  # its days, not "something went wrong"
    story.tap(AMINA, story.buttons(AMINA)[0][1], MONDAY_9 + timedelta(hours=1))  # a day
    story.tap(AMINA, story.buttons(AMINA)[0][1], MONDAY_9 + timedelta(hours=1))  # its first time
    story.tap_button(AMINA, "yes:", MONDAY_9 + timedelta(hours=1))
    with story.db.uow() as uow:
        moved = uow.session.get(Booking, job.id)
        assert (moved.status, moved.starts_at != at(25, 10)) == ("confirmed", True), story.last(AMINA)
    outcomes = staffing.go_off_shift(story.db, moved.mechanic_id, "staff:x", MONDAY_9 + timedelta(hours=1))
    assert [o.booking_id for o in outcomes] == [job.id]  # handed on (or waiting for a new time), not a crash
