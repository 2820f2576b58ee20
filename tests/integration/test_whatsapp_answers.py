"""What a WhatsApp customer's typed answer is taken for, when notices came in between:
a number, a word in another language, an answer to a question that no longer stands."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import reminders
from core.models import Booking, BookingItem, ChannelIdentity, Conversation, Rating, Staff, utcnow
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN, start_pitstop
from tests.integration.staff_helpers import KIPRONO, WANJIRU, book
from tests.integration.test_staff_whatsapp import KAMAU, bodies, next_start, shop_id


@pytest.fixture
def pitstop(sqlite_url, tmp_path):
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        yield start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")})


def state_of(pitstop) -> str:
    with pitstop.runtime.db.uow() as uow:
        return uow.session.scalar(select(Conversation.state).where(Conversation.chat_id == f"whatsapp:{KAMAU}"))


def quiet_for_two_days(pitstop) -> None:
    """Kamau last wrote two days ago: WhatsApp's window is closed, only templates go."""
    with pitstop.runtime.db.uow() as uow:
        uow.session.scalar(select(ChannelIdentity).where(ChannelIdentity.address == f"whatsapp:{KAMAU}")) \
            .last_inbound_at = utcnow() - timedelta(days=2)  # fmt: skip


def job_in_progress(pitstop):
    shop = shop_id(pitstop)
    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")
    pitstop.whatsapp(KAMAU, "1")  # English
    job = book(pitstop.runtime.db, shop, f"whatsapp:{KAMAU}", ["brake-pads", "battery"],
               next_start(pitstop, shop, ["brake-pads", "battery"]), utcnow(), channel="whatsapp", name="Kamau",
               plate="KDA 456B")  # fmt: skip
    for typed in ("hello", "MM-1001", "1", "1", "anza"):  # received (tomorrow's visit: "has it come?" yes), started
        pitstop.whatsapp(KIPRONO, typed, name="Kiprono")
    return job


def test_a_day_number_not_on_the_list_is_asked_again_not_read_as_an_hour_today(pitstop):
    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")
    for typed in ("1", "1", "tyre change", "1", "KDA 456B", "skip"):  # English, book, tyres, continue, plate
        pitstop.whatsapp(KAMAU, typed)
    assert state_of(pitstop) == "day" and "\n9. " not in bodies(pitstop, KAMAU)[-1]

    pitstop.whatsapp(KAMAU, "9")  # a slip of the finger, or a number from an older list

    assert state_of(pitstop) == "day"
    assert bodies(pitstop, KAMAU)[-1].startswith("Sorry, I did not get that.\nChoose a day from the list")


def test_a_reminder_in_swahili_is_answered_with_its_english_words(pitstop):
    shop = shop_id(pitstop)
    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")
    pitstop.whatsapp(KAMAU, "2")  # Kiswahili
    b = book(pitstop.runtime.db, shop, f"whatsapp:{KAMAU}", ["oil-change"], next_start(pitstop, shop, ["oil-change"]),
             utcnow(), channel="whatsapp", name="Kamau", plate="KDA 456B", language="sw")  # fmt: skip
    with pitstop.runtime.db.uow() as uow:
        row = uow.session.get(Booking, b.id)
        reminders._remind(uow.session, row, 24, utcnow(), row.created_at - timedelta(days=5))

    pitstop.whatsapp(KAMAU, "cancel the booking")  # Nairobi mixes both

    assert state_of(pitstop) == "cancel_confirm"


def test_a_rating_question_only_a_template_carried_is_not_answered_by_a_stray_number(pitstop):
    job_in_progress(pitstop)
    pitstop.whatsapp(KIPRONO, "tayari 1001")
    quiet_for_two_days(pitstop)  # he collects the car two days later
    pitstop.whatsapp(KIPRONO, "imekamilika 1001")
    pitstop.whatsapp(KIPRONO, "2")  # not paid yet
    assert not pitstop.twilio.messages(f"whatsapp:{KAMAU}")[-1]["params"].get("Body")  # only the template went

    pitstop.whatsapp(KAMAU, "1", name="Kamau")

    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalar(select(Rating.stars)) is None
    assert any("Please rate your visit from 1 to 5." in b for b in bodies(pitstop, KAMAU)[-2:])


@pytest.mark.parametrize("typed, stars", [("⭐⭐⭐⭐⭐", 5), ("5 stars", 5), ("nyota 4", 4), ("4/5", 4)])
def test_a_rating_typed_as_stars_or_words_is_the_rating(pitstop, typed, stars):
    """Only the digits counted: "⭐⭐⭐⭐⭐" got "Sorry, I did not get that" and the menu,
    whose "5" then opened the language question; "4/5" started a booking for 4 May."""
    job_in_progress(pitstop)
    for typed_by_kiprono in ("tayari 1001", "imekamilika 1001", "2"):  # ready; done; not paid yet
        pitstop.whatsapp(KIPRONO, typed_by_kiprono)
    assert any("Please rate your visit from 1 to 5." in b for b in bodies(pitstop, KAMAU)[-2:])

    pitstop.whatsapp(KAMAU, typed, name="Kamau")

    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalar(select(Rating.stars)) == stars


def test_extra_work_left_out_meanwhile_is_not_asked_about_again(pitstop):
    job_in_progress(pitstop)
    quiet_for_two_days(pitstop)
    for typed in ("1", "Worn wiper blades", "6,500", "skip", "ndio"):  # extra work found: only a template goes
        pitstop.whatsapp(KIPRONO, typed, name="Kiprono")
    pitstop.whatsapp(KIPRONO, "tayari 1001")
    pitstop.whatsapp(KIPRONO, "1")  # yes, ready without it
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalar(select(BookingItem.status).where(BookingItem.kind == "extra")) == "left_out"
    before = len(bodies(pitstop, KAMAU))

    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")

    assert not any("Do you approve this work?" in b for b in bodies(pitstop, KAMAU)[before:])


def test_extra_work_approved_in_the_middle_of_a_new_booking_then_the_booking_goes_on(pitstop):
    from core import shopfloor

    job = job_in_progress(pitstop)  # his car is in the shop...
    for typed in ("menu", "1", "tyre change", "1", "KDA 999Z", "skip"):  # ...and he books his other car
        pitstop.whatsapp(KAMAU, typed)
    assert state_of(pitstop) == "day"
    with pitstop.runtime.db.uow() as uow:
        kiprono = uow.session.scalar(select(Staff.id).where(Staff.phone == KIPRONO))
        shopfloor.propose_extra(uow.session, kiprono, job.id, "Worn wiper blades", 120_000, utcnow())
    assert bodies(pitstop, KAMAU)[-1].endswith("Do you approve this work?\n1. Approve\n2. Decline")

    pitstop.whatsapp(KAMAU, "1")

    assert bodies(pitstop, KAMAU)[-1].startswith("Thank you: the extra work (Worn wiper blades) is approved.")
    assert "Which day suits you?" in bodies(pitstop, KAMAU)[-1] and state_of(pitstop) == "day"
    pitstop.whatsapp(KAMAU, "1")  # the first day of the list shown again
    assert state_of(pitstop) == "time"


def test_two_pieces_of_extra_work_found_at_once_are_both_answered_by_typing(pitstop):
    from core import shopfloor

    job = job_in_progress(pitstop)
    with pitstop.runtime.db.uow() as uow:
        kiprono = uow.session.scalar(select(Staff.id).where(Staff.phone == KIPRONO))
    for work, price in (("Worn wiper blades", 120_000), ("Cracked mirror", 450_000)):
        with pitstop.runtime.db.uow() as uow:
            shopfloor.propose_extra(uow.session, kiprono, job.id, work, price, utcnow())

    pitstop.whatsapp(KAMAU, "1")  # approves the one shown last: the mirror
    assert "Cracked mirror" in bodies(pitstop, KAMAU)[-1] and "Worn wiper blades" in bodies(pitstop, KAMAU)[-1]
    assert "One more question is waiting for your answer:" in bodies(pitstop, KAMAU)[-1]
    pitstop.whatsapp(KAMAU, "2")  # and declines the wiper blades, asked again

    with pitstop.runtime.db.uow() as uow:
        decided = dict(uow.session.execute(select(BookingItem.description, BookingItem.status).where(
            BookingItem.kind == "extra")).all())  # fmt: skip
    assert decided == {"Cracked mirror": "approved", "Worn wiper blades": "declined"}
    assert bodies(pitstop, KAMAU)[-1].startswith("OK, we will not do that work (Worn wiper blades).")


def test_extra_work_asked_again_still_waits_under_a_third_piece_found_before_it_is_answered(pitstop):
    from core import shopfloor

    job = job_in_progress(pitstop)
    with pitstop.runtime.db.uow() as uow:
        kiprono = uow.session.scalar(select(Staff.id).where(Staff.phone == KIPRONO))

    def found(work: str, price: int) -> None:
        with pitstop.runtime.db.uow() as uow:
            shopfloor.propose_extra(uow.session, kiprono, job.id, work, price, utcnow())

    found("Worn wiper blades", 120_000)
    found("Cracked mirror", 450_000)
    pitstop.whatsapp(KAMAU, "1")  # approves the mirror; the wiper blades are asked again...
    found("Loose exhaust clamp", 80_000)  # ...when a third piece is found
    pitstop.whatsapp(KAMAU, "1")  # approves the clamp
    assert "One more question is waiting for your answer:" in bodies(pitstop, KAMAU)[-1]
    assert "Worn wiper blades" in bodies(pitstop, KAMAU)[-1]
    pitstop.whatsapp(KAMAU, "2")  # and declines the wiper blades

    with pitstop.runtime.db.uow() as uow:
        decided = dict(uow.session.execute(select(BookingItem.description, BookingItem.status).where(
            BookingItem.kind == "extra")).all())  # fmt: skip
    assert decided == {"Cracked mirror": "approved", "Loose exhaust clamp": "approved", "Worn wiper blades": "declined"}


def the_shop_answers_kamau_while_extra_work_waits(pitstop, answer: str) -> None:
    """Kamau asked the shop a question; meanwhile extra work on his car waits for his
    approval; then the owner answers him (on WhatsApp, windows open)."""
    from core import shopfloor

    pitstop.whatsapp(WANJIRU, "/menu", name="Wanjiru")  # the owner on WhatsApp, window open
    job = job_in_progress(pitstop)
    pitstop.whatsapp(KAMAU, "talk to the shop")
    pitstop.whatsapp(KAMAU, "Will it be ready by 5pm?")
    with pitstop.runtime.db.uow() as uow:  # meanwhile the mechanic finds extra work
        kiprono = uow.session.scalar(select(Staff.id).where(Staff.phone == KIPRONO))
        shopfloor.propose_extra(uow.session, kiprono, job.id, "Worn wiper blades", 120_000, utcnow())
    assert bodies(pitstop, KAMAU)[-1].endswith("Do you approve this work?\n1. Approve\n2. Decline")
    pitstop.whatsapp(WANJIRU, "1", name="Wanjiru")  # Answer Kamau
    pitstop.whatsapp(WANJIRU, answer, name="Wanjiru")
    assert bodies(pitstop, KAMAU)[-1].startswith("Mwangaza Motors answers:")


@pytest.mark.parametrize("typed", ["approve", "ndio"])
def test_extra_work_still_waiting_is_approved_by_its_word_after_the_shop_answered_a_question(pitstop, typed):
    the_shop_answers_kamau_while_extra_work_waits(pitstop, "Yes, by 5pm, the wipers take ten minutes.")

    pitstop.whatsapp(KAMAU, typed)  # he approves the wipers

    with pitstop.runtime.db.uow() as uow:
        status = uow.session.scalar(select(BookingItem.status).where(BookingItem.kind == "extra"))
    owner_last = bodies(pitstop, WANJIRU)[-1]
    assert status == "approved", (status, bodies(pitstop, KAMAU)[-1], owner_last)


def test_a_reply_to_the_shops_answer_reaches_the_shop_while_extra_work_waits(pitstop):
    the_shop_answers_kamau_while_extra_work_waits(pitstop, "Yes, by 5pm. Do you want us to wash it too?")
    owner_had = len(bodies(pitstop, WANJIRU))

    pitstop.whatsapp(KAMAU, "Yes please wash it, I will pay at pickup")

    owner_new = bodies(pitstop, WANJIRU)[owner_had:]
    assert any("Yes please wash it" in b for b in owner_new)
    assert bodies(pitstop, KAMAU)[-1].startswith("Sent to the shop. They will answer you here.")  # and the work again
