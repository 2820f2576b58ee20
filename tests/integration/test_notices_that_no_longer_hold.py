"""A notice the customer has not answered yet is asked again after another one is
answered ("One more question is waiting for your answer"), and a notice only WhatsApp's
template carried is sent again, whole, when the customer next writes. Neither may come
back once it stopped being true: a reminder of a visit under way, a balance paid at the
counter, extra work left out, a visit that needed a new time but was taken in."""

from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from core import reminders
from core.models import Booking, BookingItem, Customer, Service
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN, start_pitstop
from tests.integration.staff_helpers import ACHIENG, WANJIRU, Clocked, book, verify_on_telegram

MONDAY_9 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
OWNER_TG, ACHIENG_TG = 6000001, 6000004
AMINA = 5550001  # on Telegram
KAMAU = "+254711000222"  # on WhatsApp; he last wrote on Monday morning, so his window closes on Tuesday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Nairobi wall time on a November 2026 day, as UTC."""
    return datetime(2026, 11, day, hour - 3, minute, tzinfo=UTC)


@contextmanager
def story_at(sqlite_url, tmp_path, now: datetime, **env: str):
    """The app at `now`, Telegram and Twilio faked; `env`: settings besides (M-Pesa's)."""
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        story = Clocked(start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var"),
                                                                     "PITSTOP_NOW": now.isoformat(), **env}))  # fmt: skip
        try:
            yield story, twilio
        finally:
            story.p.runtime.close()


def amina_books(story, services: list[str], start: datetime) -> Booking:
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    story.tap(AMINA, "lang:en", MONDAY_9)
    return book(story.db, story.shop_id("mwangaza-motors"), str(AMINA), services, start, MONDAY_9)


def kamau_books(story, services: list[str], start: datetime) -> Booking:
    story.wa(KAMAU, "Habari", MONDAY_9)
    story.wa(KAMAU, "1", MONDAY_9)
    return book(story.db, story.shop_id("mwangaza-motors"), f"whatsapp:{KAMAU}", services, start, MONDAY_9,
                channel="whatsapp", name="Kamau")  # fmt: skip


def bodies_since(twilio, before: int) -> list[str]:
    return [m["params"].get("Body") or "" for m in twilio.messages(f"whatsapp:{KAMAU}")[before:]]


def extra_work_found(story) -> BookingItem:
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    for typed in ("start 1001", "extra 1001", "Front brake discs are worn out", "6500", "skip", "yes"):
        story.say(OWNER_TG, typed, at(24, 10, 20))
    with story.db.uow() as uow:
        return uow.session.scalar(select(BookingItem).where(BookingItem.kind == "extra"))


def test_approving_extra_work_does_not_bring_back_the_reminder_of_a_visit_under_way(sqlite_url, tmp_path):
    """Amina does not answer the 2-hour reminder (she is coming). Her car is on the lift
    when extra work is found; her thanks for approving it come with no reminder."""
    with story_at(sqlite_url, tmp_path, at(24, 10, 30)) as (story, _):
        amina_books(story, ["brake-pads"], at(24, 10))
        assert reminders.send_due(story.db, at(24, 8, 1)) == 1
        discs = extra_work_found(story)

        story.tap(AMINA, f"extra:yes:{discs.id}", at(24, 10, 30))

        assert story.last(AMINA).startswith("Thank you: the extra work (Front brake discs are worn out) is approved.")
        assert "Reminder:" not in story.last(AMINA)
        assert not [data for _, data in story.buttons(AMINA) if data.startswith("rm:")]


def paid_at_the_counter(story) -> None:
    """The owner takes booking 1001 in at 10:00, marks it ready at 15:00 (the customer is
    told what is left to pay) and done at 16:00, paid in cash at the counter."""
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.say(OWNER_TG, "start 1001", at(24, 10))
    story.say(OWNER_TG, "ready 1001", at(24, 15))
    story.say(OWNER_TG, "done 1001", at(24, 16))
    story.answer(OWNER_TG, True, at(24, 16))  # "Yes, paid in cash"


def test_after_rating_a_visit_paid_at_the_counter_the_customer_is_not_asked_to_pay_again(sqlite_url, tmp_path):
    with story_at(sqlite_url, tmp_path, at(24, 16)) as (story, _):
        job = amina_books(story, ["brake-pads"], at(24, 10))
        paid_at_the_counter(story)
        assert any("is left to pay" in t for t in story.texts(AMINA))  # not answered: she paid at the counter
        assert "Paid in full. Thank you!" in story.last(AMINA)

        story.tap(AMINA, f"rate:{job.id}:5", at(24, 16, 5))

        assert story.last(AMINA) == "Thank you for rating your visit 5 of 5!\nWhat would you like to do?"


def test_paying_the_balance_does_not_bring_back_extra_work_that_was_left_out(sqlite_url, tmp_path):
    with story_at(sqlite_url, tmp_path, at(24, 16)) as (story, _):
        job = amina_books(story, ["brake-pads"], at(24, 10))
        extra_work_found(story)  # never answered
        story.say(OWNER_TG, "ready 1001", at(24, 15))
        story.answer(OWNER_TG, True, at(24, 15))  # ready without the discs
        assert any("was not done" in t for t in story.texts(AMINA))
        with story.db.uow() as uow:
            uow.session.get(Customer, job.customer_id).phone = "+254722555001"

        story.tap(AMINA, f"paybalance:{job.id}:mpesa", at(24, 15, 5))

        assert not any("Do you approve this work?" in t for t in story.texts(AMINA)[-3:])


def test_a_car_ready_outside_the_window_is_one_template_and_its_balance_waits_for_the_next_word(sqlite_url, tmp_path):
    """The 'ready' notice goes as the status template; what is left to pay, which would be
    the same template again, comes whole with its choices when Kamau next writes."""
    with story_at(sqlite_url, tmp_path, at(24, 15)) as (story, twilio):
        kamau_books(story, ["brake-pads"], at(24, 10))
        verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
        story.say(OWNER_TG, "start 1001", at(24, 10))
        before = len(twilio.messages(f"whatsapp:{KAMAU}"))

        story.say(OWNER_TG, "ready 1001", at(24, 15))

        sent = [m["params"] for m in twilio.messages(f"whatsapp:{KAMAU}")[before:]]
        assert [bool(p.get("ContentSid")) for p in sent] == [True]
        story.wa(KAMAU, "habari", at(24, 15, 30), name="Kamau")
        assert bodies_since(twilio, before + 1)[-1] == ("Ksh4,500 is left to pay for booking MM-1001. Pay now, or at "
                                                        "the shop when you collect it.\n1. M-Pesa\n"
                                                        "2. M-Pesa from another number")


def test_a_pay_now_notice_is_not_sent_again_once_the_balance_was_paid_at_the_counter(sqlite_url, tmp_path):
    with story_at(sqlite_url, tmp_path, at(24, 16)) as (story, twilio):
        job = kamau_books(story, ["brake-pads"], at(24, 10))
        paid_at_the_counter(story)
        with story.db.uow() as uow:
            assert uow.session.get(Booking, job.id).status == "completed"
        before = len(twilio.messages(f"whatsapp:{KAMAU}"))

        story.wa(KAMAU, "asante", at(24, 16, 30), name="Kamau")  # what only a template carried comes whole

        bodies = bodies_since(twilio, before)
        assert any(b.startswith("Receipt for MM-1001") for b in bodies)
        assert not any("is left to pay" in b for b in bodies)


def test_two_reminders_only_templates_carried_come_back_as_one(sqlite_url, tmp_path):
    with story_at(sqlite_url, tmp_path, at(25, 8, 1)) as (story, twilio):
        kamau_books(story, ["oil-change"], at(25, 10))
        assert reminders.send_due(story.db, at(24, 10, 1)) == 1
        assert reminders.send_due(story.db, at(25, 8, 1)) == 1
        sent = twilio.messages(f"whatsapp:{KAMAU}")
        assert [bool(m["params"].get("ContentSid")) for m in sent][-2:] == [True, True]

        story.wa(KAMAU, "sawa", at(25, 8, 30), name="Kamau")

        assert sum(b.startswith("Reminder: your visit") for b in bodies_since(twilio, len(sent))) == 1


def test_a_choose_a_new_time_notice_is_not_sent_again_once_the_car_was_taken_in(sqlite_url, tmp_path):
    """Achieng, the only one who aligns wheels, goes off shift: Kamau gets 'needs a new
    time' as the template. He comes all the same and his car is taken in."""
    with story_at(sqlite_url, tmp_path, at(24, 14, 5)) as (story, twilio):
        job = kamau_books(story, ["wheel-alignment"], at(24, 14))
        for chat, phone in ((ACHIENG_TG, ACHIENG), (OWNER_TG, WANJIRU)):
            verify_on_telegram(story, chat, phone, MONDAY_9)
        story.say(ACHIENG_TG, "off shift", at(24, 12))
        story.answer(ACHIENG_TG, True, at(24, 12))
        story.tap(ACHIENG_TG, "st:on", at(24, 14))
        story.say(OWNER_TG, "received MM-1001", at(24, 14, 5))
        with story.db.uow() as uow:
            assert uow.session.get(Booking, job.id).status == "received"
        before = len(twilio.messages(f"whatsapp:{KAMAU}"))

        story.wa(KAMAU, "hello", at(24, 14, 30), name="Kamau")

        assert not any("Please choose a new time, or cancel the booking." in b for b in bodies_since(twilio, before))


def test_a_failed_pay_now_is_not_asked_again_once_the_balance_was_paid_at_the_counter(sqlite_url, tmp_path):
    with story_at(sqlite_url, tmp_path, at(24, 16)) as (story, _):
        job = amina_books(story, ["brake-pads"], at(24, 10))
        verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
        with story.db.uow() as uow:
            uow.session.get(Customer, job.customer_id).phone = "+254722555001"
        story.say(OWNER_TG, "start 1001", at(24, 10))
        story.say(OWNER_TG, "ready 1001", at(24, 15))
        story.tap(AMINA, f"paybalance:{job.id}:mpesa", at(24, 15, 5))  # the push fails (M-Pesa not set up here)
        assert any("could not be started" in t for t in story.texts(AMINA))
        story.say(OWNER_TG, "done 1001", at(24, 16))
        story.answer(OWNER_TG, True, at(24, 16))  # "Yes, paid in cash"

        story.tap(AMINA, f"rate:{job.id}:5", at(24, 16, 5))

        assert story.last(AMINA) == "Thank you for rating your visit 5 of 5!\nWhat would you like to do?"


@pytest.mark.parametrize("button", ["rm:cancel", "rm:move"])
def test_extra_work_asked_over_a_reminder_is_asked_again_once_she_changes_the_visit_with_the_reminders_button(
        sqlite_url, tmp_path, button):
    """Her brakes are on the lift; tomorrow's oil change was reminded this morning, and
    the extra work found now comes over that reminder. She cancels (or moves) tomorrow's
    visit with the reminder's own button, still in the chat. After the change the menu
    came, the extra work's question forgotten, and the reminder was kept waiting. Now
    the extra work is asked again, and the reminder is not."""
    with story_at(sqlite_url, tmp_path, at(24, 10, 30)) as (story, _):
        amina_books(story, ["brake-pads"], at(24, 10))
        tomorrow = book(story.db, story.shop_id("mwangaza-motors"), str(AMINA), ["oil-change"], at(25, 10), MONDAY_9)
        assert reminders.send_due(story.db, at(24, 10, 1)) == 1  # tomorrow's
        discs = extra_work_found(story)
        extra_work = ("Wanjiru found extra work on your car (KC0001A): Front brake discs are worn out.\nIt costs "
                      "Ksh6,500. With it your total would be Ksh11,000.\nDo you approve this work?")  # fmt: skip
        assert story.last(AMINA) == extra_work

        story.tap(AMINA, f"{button}:{tomorrow.id}", at(24, 10, 25))
        if button == "rm:cancel":
            story.tap_button(AMINA, "yes:", at(24, 10, 26))
            done = "Cancelled MM-1002.\nOne token was used. You have 1 left this month."  # less than 24 hours before
        else:
            story.tap(AMINA, "day:2026-11-26", at(24, 10, 26))
            story.tap(AMINA, next(data for label, data in story.buttons(AMINA) if label == "10:00"), at(24, 10, 26))
            story.tap_button(AMINA, "yes:", at(24, 10, 27))
            done = "Done. MM-1002 is now on Thu 26 Nov, 10:00."

        assert story.last(AMINA) == f"{done}\nOne more question is waiting for your answer:\n{extra_work}"
        assert [data for _, data in story.buttons(AMINA)][:1] == [f"extra:yes:{discs.id}"]
        story.tap(AMINA, f"extra:yes:{discs.id}", at(24, 10, 28))
        assert story.last(AMINA) == ("Thank you: the extra work (Front brake discs are worn out) is approved. Your "
                                     "new total is Ksh11,000.\nWhat would you like to do?")  # fmt: skip


def test_extra_work_asked_over_a_freed_time_is_asked_again_once_she_takes_the_time_giving_her_number(
        sqlite_url, tmp_path, daraja):
    """Amina waits for a brake pads visit on Wednesday (Ksh1,000 paid in advance); a time
    frees up and is offered to her. Her car on the lift, extra work is found and asked
    over the offer. She takes the freed time with the offer's own button: M-Pesa needs
    her number, and she gives it. After "Check your phone" came the menu, the extra
    work's question gone. Now it is asked again once the freed time is taken."""
    from core import waitlist
    from tests.integration.test_mpesa import SECRETS

    fake, sink = daraja
    mpesa = {k: v for k, v in SECRETS.items() if "_API_BASE" not in k} | {"MPESA_API_BASE": fake.url,
                                                                          "PUBLIC_BASE_URL": sink.url}  # fmt: skip
    with story_at(sqlite_url, tmp_path, at(24, 10, 30), **mpesa) as (story, _):
        shop = story.shop_id("mwangaza-motors")
        today = amina_books(story, ["brake-pads"], at(24, 10))
        with story.db.uow() as uow:
            pads = uow.session.scalar(select(Service.id).where(Service.shop_id == shop, Service.code == "brake-pads"))
        waitlist.join(story.db, shop_id=shop, customer_id=today.customer_id, day=at(25, 12).date(),
                      service_ids=(pads,), now=at(24, 10, 10), channel="telegram")  # fmt: skip
        offer = waitlist.offer_freed(story.db, shop, at(25, 12).date(), at(24, 10, 15))
        discs = extra_work_found(story)  # at 10:20
        extra_work = ("Wanjiru found extra work on your car (KC0001A): Front brake discs are worn out.\nIt costs "
                      "Ksh6,500. With it your total would be Ksh11,000.\nDo you approve this work?")  # fmt: skip
        assert story.last(AMINA) == extra_work

        story.tap(AMINA, f"offer:yes:{offer.held.booking_id}", at(24, 10, 22))
        assert story.last(AMINA) == "M-Pesa needs your phone number. Share it with the button, or type it."
        story.say(AMINA, "0712 345 678", at(24, 10, 23))

        assert story.last(AMINA) == ("Your time Wed 25 Nov, 08:00 is held for 4 minutes while you pay. Code: MM-1002.\n"
                                     "Check your phone: M-Pesa will ask you to pay Ksh1,000. Enter your PIN to confirm."
                                     f"\nOne more question is waiting for your answer:\n{extra_work}")  # fmt: skip
        assert [data for _, data in story.buttons(AMINA)] == [f"extra:yes:{discs.id}", f"extra:no:{discs.id}"]
        assert [p["phone"] for p in fake.pushes()] == ["254712345678"]  # the deposit, once
        story.say(AMINA, "approve", at(24, 10, 24))
        assert story.last(AMINA) == ("Thank you: the extra work (Front brake discs are worn out) is approved. Your "
                                     "new total is Ksh11,000.\nWhat would you like to do?")  # fmt: skip
        assert len(fake.pushes()) == 1


def test_extra_work_come_after_she_looked_at_her_bookings_is_asked_again_once_she_cancels_with_the_reminder(
        sqlite_url, tmp_path):
    """Tomorrow's oil change was reminded this morning; Amina looked at her bookings, and
    then, her brakes on the lift, extra work was found. She cancels tomorrow's visit with
    the reminder's button, still in the chat: after "Cancelled" came the menu, the extra
    work's question forgotten, the reminder not having waited under it. Now the extra
    work is asked again; and the reminder's Cancel tapped once more asks it again too,
    not the menu."""
    with story_at(sqlite_url, tmp_path, at(24, 10, 30)) as (story, _):
        amina_books(story, ["brake-pads"], at(24, 10))
        tomorrow = book(story.db, story.shop_id("mwangaza-motors"), str(AMINA), ["oil-change"], at(25, 10), MONDAY_9)
        assert reminders.send_due(story.db, at(24, 10, 1)) == 1
        story.tap(AMINA, "m:bookings", at(24, 10, 5))
        discs = extra_work_found(story)
        extra_work = ("Wanjiru found extra work on your car (KC0001A): Front brake discs are worn out.\nIt costs "
                      "Ksh6,500. With it your total would be Ksh11,000.\nDo you approve this work?")  # fmt: skip

        story.tap(AMINA, f"rm:cancel:{tomorrow.id}", at(24, 10, 25))
        story.tap_button(AMINA, "yes:", at(24, 10, 26))

        assert story.last(AMINA) == ("Cancelled MM-1002.\nOne token was used. You have 1 left this month.\n"
                                     f"One more question is waiting for your answer:\n{extra_work}")  # fmt: skip
        story.tap(AMINA, f"rm:cancel:{tomorrow.id}", at(24, 10, 27))
        assert story.last(AMINA) == f"That booking can no longer be changed.\n{extra_work}"
        assert [data for _, data in story.buttons(AMINA)] == [f"extra:yes:{discs.id}", f"extra:no:{discs.id}"]
        story.say(AMINA, "approve", at(24, 10, 28))
        assert story.last(AMINA) == ("Thank you: the extra work (Front brake discs are worn out) is approved. Your "
                                     "new total is Ksh11,000.\nWhat would you like to do?")  # fmt: skip


EXTRA_WORK = ("Wanjiru found extra work on your car (KC0001A): Front brake discs are worn out.\nIt costs Ksh6,500. "
              "With it your total would be Ksh11,000.\nDo you approve this work?")  # fmt: skip


def freed_time_offered(story, today: Booking):
    """Amina waits for brake pads on Wednesday (Ksh1,000 paid in advance); a time frees up
    at 10:15 and is offered to her."""
    from core import waitlist

    shop = story.shop_id("mwangaza-motors")
    with story.db.uow() as uow:
        pads = uow.session.scalar(select(Service.id).where(Service.shop_id == shop, Service.code == "brake-pads"))
    waitlist.join(story.db, shop_id=shop, customer_id=today.customer_id, day=at(25, 12).date(), service_ids=(pads,),
                  now=at(24, 10, 10), channel="telegram")  # fmt: skip
    return waitlist.offer_freed(story.db, shop, at(25, 12).date(), at(24, 10, 15))


def test_an_old_freed_times_buttons_under_extra_work_say_why_and_ask_the_extra_work_again(sqlite_url, tmp_path):
    """Amina let a freed time go; then, her brakes on the lift, extra work was asked. She
    taps the freed time's "No, thanks" again, its message still in the chat: "That offer
    is no longer open." and the menu, the extra work's question forgotten. A button that
    changes nothing ends nothing: why, and the extra work again. Its "Yes" does not ask
    her number for a time no longer hers, and "approve" approves the extra work."""
    with story_at(sqlite_url, tmp_path, at(24, 10, 30)) as (story, _):
        offer = freed_time_offered(story, amina_books(story, ["brake-pads"], at(24, 10)))
        freed = offer.held.booking_id
        story.tap(AMINA, f"offer:no:{freed}", at(24, 10, 16))
        assert story.last(AMINA) == "OK, I have let the time go.\nWhat would you like to do?"
        discs = extra_work_found(story)  # at 10:20
        assert story.last(AMINA) == EXTRA_WORK

        story.tap(AMINA, f"offer:no:{freed}", at(24, 10, 22))
        assert story.last(AMINA) == f"That offer is no longer open.\n{EXTRA_WORK}"
        assert [data for _, data in story.buttons(AMINA)] == [f"extra:yes:{discs.id}", f"extra:no:{discs.id}"]
        story.tap(AMINA, f"offer:yes:{freed}", at(24, 10, 23))
        assert story.last(AMINA) == f"Sorry, that time is no longer held for you.\n{EXTRA_WORK}"

        story.say(AMINA, "approve", at(24, 10, 24))
        assert story.last(AMINA) == ("Thank you: the extra work (Front brake discs are worn out) is approved. Your "
                                     "new total is Ksh11,000.\nWhat would you like to do?")  # fmt: skip


def test_tomorrows_reminder_tapped_while_her_number_is_asked_for_a_freed_time_says_the_time_was_not_taken(
        sqlite_url, tmp_path):
    """A freed time is offered to Amina; she says Yes, and M-Pesa needs her number. Instead
    she taps Cancel under tomorrow's reminder: the cancellation was asked, and the freed
    time's payment dropped without a word, as if the time were hers. Now she is told it
    was not taken, and how to take it."""
    with story_at(sqlite_url, tmp_path, at(24, 10, 30)) as (story, _):
        offer = freed_time_offered(story, amina_books(story, ["brake-pads"], at(24, 10)))
        tomorrow = book(story.db, story.shop_id("mwangaza-motors"), str(AMINA), ["oil-change"], at(25, 10), MONDAY_9)
        assert reminders.send_due(story.db, at(24, 10, 16)) == 1  # tomorrow's
        story.tap(AMINA, f"offer:yes:{offer.held.booking_id}", at(24, 10, 17))
        assert story.last(AMINA) == "M-Pesa needs your phone number. Share it with the button, or type it."
        before = len(story.texts(AMINA))

        story.tap(AMINA, f"rm:cancel:{tomorrow.id}", at(24, 10, 18))

        said = story.texts(AMINA)[before:]
        assert said[0] == ("The freed time was not taken. To take it, answer \"Yes, I'll take it\" under its "
                           "message again.")  # fmt: skip
        assert said[-1].startswith("Cancel MM-1003 on Wed 25 Nov, 10:00?")
