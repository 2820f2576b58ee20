"""Mechanics and owners on Telegram: verification, a job from arrival to receipt and
rating, extra work approved and declined, no-shows, going off shift, the owner's
commands, and every refusal. Driven through the webhook path against the fake Bot API."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.models import (
    Booking,
    BookingEvent,
    BookingItem,
    Closure,
    Conversation,
    Customer,
    OutboxMessage,
    Part,
    Payment,
    Rating,
    Staff,
)
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import start_pitstop
from tests.integration.staff_helpers import (
    A_PDF,
    A_PLACE,
    A_STICKER,
    A_VOICE_NOTE,
    ACHIENG,
    ERLAN,
    KIPRONO,
    OTIENO,
    SERGEY,
    WANJIRU,
    Clocked,
    book,
    said,
    staff_id,
    verify_on_telegram,
)  # fmt: skip

MONDAY_9 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Monday 09:00 in Nairobi


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Nairobi wall time in November 2026."""
    return datetime(2026, 11, day, hour - 3, minute, tzinfo=UTC)


AMINA, BRIAN = 5550001, 5550002
KIP_TG, OTI_TG, ACH_TG, OWNER_TG, STRANGER, SERGEY_TG = 6000003, 6000002, 6000004, 6000001, 6009999, 7000003


@pytest.fixture
def story(sqlite_url, tmp_path):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")})
        yield Clocked(pitstop)


def count(story, model, *where):
    with story.db.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model).where(*where))


def customer_starts(story, user, at_, name="Amina"):
    """The customer has talked to the bot before (as everyone who booked by chat has)."""
    story.say(user, "/start", at_, first_name=name)
    story.tap(user, "lang:en", at_)


def test_a_listed_mechanic_verifies_with_their_own_contact_and_nobody_else_can(story, caplog):
    caplog.set_level(logging.INFO)
    now = MONDAY_9
    story.say(STRANGER, "/staff", now)
    last = story.p.telegram.last_message(STRANGER)
    assert story.last(STRANGER).startswith("To confirm that you work at Mwangaza Motors, share your phone number")
    assert last["reply_markup"]["keyboard"][0][0]["request_contact"] is True

    # Someone else's card (a forwarded contact of the owner) is refused.
    story.contact(STRANGER, WANJIRU, now, contact_user_id=4242)
    assert story.last(STRANGER) == "Please share your own number, using the button below."
    # Their own number, which is not on the staff list, is refused too.
    story.contact(STRANGER, "+254799888777", now)
    assert story.last(STRANGER) == "This number is not on the staff list of Mwangaza Motors. Ask the owner to add you."
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refusals) == 2 and all("+254799888777" not in r and "711000001" not in r for r in refusals)
    assert count(story, Staff, Staff.verified_at.is_not(None)) == 0

    # Kiprono shares his own contact (Telegram leaves out the "+"): recognised from then on.
    assert verify_on_telegram(story, KIP_TG, KIPRONO, now).startswith(
        "Thank you, Kiprono: you are now recognised as mechanic of Mwangaza Motors.")
    with story.db.uow() as uow:
        kip = uow.session.scalar(select(Staff).where(Staff.phone == KIPRONO))
        assert (kip.telegram_user_id, kip.verified_at) == (KIP_TG, now)
    assert [label for label, _ in story.buttons(KIP_TG)] == ["My jobs today", "Go off shift", "Stock", "Help"]
    story.say(KIP_TG, "/jobs", now)
    assert story.last(KIP_TG).startswith("No jobs today.")
    # ...but only in this shop: in Zhaiyk Auto he is nobody.
    story.say(KIP_TG, "/jobs", now, slug="zhaiyk-auto")
    assert story.last(KIP_TG).startswith("That command is only for the staff of Жайық Авто.")


ASKED_FOR_PHONE = ("To confirm that you work at Mwangaza Motors, share your phone number with the button below. "
                   "It must be the number the owner listed for you.")
@pytest.mark.parametrize("sent, said", [(A_PDF, "Your file was not passed on.\n"),
                                        (A_VOICE_NOTE, "Your file was not passed on.\n"),
                                        (A_STICKER, ""), (A_PLACE, "")],
                         ids=["a PDF", "a voice note", "a sticker", "a place"])  # fmt: skip
@pytest.mark.parametrize("before", [[], ["/start", "English"]], ids=["first contact", "a customer at the menu"])
def test_a_file_or_a_sticker_while_asked_for_the_phone_after_staff_gets_that_question_again(story, before, sent, said):
    """He was answered as a customer: greeted, or asked what he would like to do, the button
    to share his number gone (a sticker, a place too)."""
    for typed in before:
        story.say(OTI_TG, typed, MONDAY_9)
    story.say(OTI_TG, "/staff", MONDAY_9)
    messages = len(story.texts(OTI_TG))

    story.sends_without_words(OTI_TG, sent, MONDAY_9)

    assert story.texts(OTI_TG)[messages:] == [said + ASKED_FOR_PHONE]
    assert story.p.telegram.last_message(OTI_TG)["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    story.contact(OTI_TG, OTIENO.lstrip("+"), MONDAY_9)  # still asked: his contact recognises him (in his Kiswahili)
    assert story.last(OTI_TG) == "Asante, Otieno: sasa umetambuliwa kama fundi wa Mwangaza Motors.\nOtieno, unahitaji nini?"


@pytest.mark.parametrize("before, later, answered", [
    (["/start", "English"], A_VOICE_NOTE, "Your file was not passed on: only words and photos reach the shop.\n"
                                          "What would you like to do?"),
    ([], A_STICKER, "Hello! This is Mwangaza Motors. I can book your car in and keep you posted.\n"
                    "Which language do you prefer?"),
], ids=["a voice note three days on, at the menu", "a sticker a week on, as a first message"])  # fmt: skip
def test_staffs_question_runs_out_as_a_conversation_does(story, before, later, answered):
    """Someone curious who typed /staff and never answered is a customer again after the
    pause that starts any conversation over (engine.IDLE_AFTER), not asked for his phone."""
    for typed in before:
        story.say(OTI_TG, typed, MONDAY_9)
    story.say(OTI_TG, "/staff", MONDAY_9)
    messages = len(story.texts(OTI_TG))

    story.sends_without_words(OTI_TG, later, MONDAY_9 + timedelta(days=3 if before else 7))

    assert story.texts(OTI_TG)[messages:] == [answered]


def test_staffs_question_stands_for_half_an_hour(story):
    story.say(OTI_TG, "/staff", MONDAY_9)
    messages = len(story.texts(OTI_TG))

    story.sends_without_words(OTI_TG, A_STICKER, MONDAY_9 + timedelta(minutes=29))

    assert story.texts(OTI_TG)[messages:] == [ASKED_FOR_PHONE]


def test_staffs_question_asked_again_stands_for_another_half_hour(story):
    """A sticker at 9:29 is asked the question again, with the button: his number shared
    at 9:31 with it is still the answer to /staff."""
    story.say(STRANGER, "/staff", MONDAY_9)
    story.sends_without_words(STRANGER, A_STICKER, MONDAY_9 + timedelta(minutes=29))
    assert story.last(STRANGER) == ASKED_FOR_PHONE

    story.contact(STRANGER, "+254799888777", MONDAY_9 + timedelta(minutes=31))

    assert story.last(STRANGER) == "This number is not on the staff list of Mwangaza Motors. Ask the owner to add you."


def test_start_after_staff_ends_its_question(story):
    story.say(STRANGER, "/staff", MONDAY_9)
    story.say(STRANGER, "/start", MONDAY_9)
    messages = len(story.texts(STRANGER))

    story.sends_without_words(STRANGER, A_STICKER, MONDAY_9 + timedelta(minutes=1))

    assert story.texts(STRANGER)[messages:] == [
        "I can only read text and buttons here. Please type your answer or tap a button.\n"
        "Hello! This is Mwangaza Motors. I can book your car in and keep you posted.\n"
        "Which language do you prefer?"]


def test_an_edit_while_asked_for_the_phone_after_staff_is_said_not_read(story):
    story.say(OTI_TG, "/start", MONDAY_9)
    story.say(OTI_TG, "English", MONDAY_9)
    story.say(OTI_TG, "/staff", MONDAY_9)
    messages = len(story.texts(OTI_TG))
    update = story.p.telegram.update_text(next(story.ids), OTI_TG, "/staff")
    update["edited_message"] = update.pop("message")

    story.post(update, MONDAY_9)

    assert story.texts(OTI_TG)[messages:] == [
        "I saw that you edited a message. Please send the new text as a new message.\n" + ASKED_FOR_PHONE]


def test_a_job_from_arrival_to_receipt_with_extra_work_approved_and_declined(story):
    shop = story.shop_id("mwangaza-motors")
    with story.db.uow() as uow:  # one battery left: this job takes it below the minimum
        uow.session.scalar(select(Part).where(Part.shop_id == shop, Part.code == "battery-70ah")).stock = 1
    customer_starts(story, AMINA, MONDAY_9)
    # Brakes and electrics in one visit: only Kiprono has both skills.
    job = book(story.db, shop, str(AMINA), ["brake-pads", "battery"], at(24, 10), MONDAY_9, plate="KCB 123A")
    assert job.mechanic_id == staff_id(story.db, KIPRONO)
    verify_on_telegram(story, KIP_TG, KIPRONO, MONDAY_9)
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    t = at(24, 9, 50)

    story.say(KIP_TG, "jobs", t)
    assert story.last(KIP_TG).startswith("Your jobs today:")
    assert story.buttons(KIP_TG)[0] == ("10:00 MM-1001 · KCB 123A · confirmed", f"st:job:{job.id}")
    story.tap(KIP_TG, f"st:job:{job.id}", t)
    card = story.last(KIP_TG)
    assert "Customer: Amina" in card and "Vehicle: KCB 123A" in card
    assert "Services: Brake pads replacement, Battery replacement" in card
    assert [b for _, b in story.buttons(KIP_TG)] == [f"st:a:received:{job.id}", f"st:a:start:{job.id}",
                                                     f"st:a:noshow:{job.id}", "st:jobs"]  # fmt: skip

    story.tap(KIP_TG, f"st:a:received:{job.id}", t)
    assert story.last(KIP_TG).startswith("MM-1001 is now: car received. The customer has been told.")
    assert story.last(AMINA) == "We have received your car (KCB 123A) for MM-1001. We will tell you when the work starts."
    story.say(KIP_TG, "strat", at(24, 10))  # a typo, and no number: the job on the screen
    assert story.last(AMINA) == "Work on your car (KCB 123A) has started. Booking MM-1001."

    # Extra work found: described, priced, no photo, sent.
    for typed in ("extra", "Front brake discs are worn out", "KSh 6,500", "skip"):
        story.say(KIP_TG, typed, at(24, 10, 20))
    assert story.last(KIP_TG).startswith('Ask the customer to approve "Front brake discs are worn out" for '
                                         "Ksh6,500? With it, the total is Ksh23,000.")  # fmt: skip
    story.say(KIP_TG, "yes", at(24, 10, 21))
    assert story.last(KIP_TG).startswith("Sent to the customer: Front brake discs are worn out, Ksh6,500.")
    assert story.last(AMINA) == ("Kiprono found extra work on your car (KCB 123A): Front brake discs are worn out.\n"
                                 "It costs Ksh6,500. With it your total would be Ksh23,000.\nDo you approve this work?")  # fmt: skip
    with story.db.uow() as uow:
        discs = uow.session.scalar(select(BookingItem).where(BookingItem.kind == "extra"))
        assert (uow.session.get(Booking, job.id).status, discs.status, discs.decided_at) == ("awaiting_approval", "proposed", None)
    story.say(KIP_TG, "ready", at(24, 10, 25))
    assert story.last(KIP_TG).startswith("The customer has not answered about the extra work on MM-1001 yet. "
                                         "Mark the car ready and leave that work out?")  # fmt: skip
    story.answer(KIP_TG, False, at(24, 10, 25))  # they wait for the answer
    assert story.last(KIP_TG).startswith("OK, nothing was changed.")

    story.tap(AMINA, f"extra:yes:{discs.id}", at(24, 10, 30))
    assert story.last(AMINA).startswith("Thank you: the extra work (Front brake discs are worn out) is approved. "
                                        "Your new total is Ksh23,000.")  # fmt: skip
    assert story.last(KIP_TG).startswith("The customer approved the extra work on MM-1001: Front brake discs are "
                                         "worn out. New total Ksh23,000.")  # fmt: skip
    story.tap(AMINA, f"extra:yes:{discs.id}", at(24, 10, 31))  # a second tap changes nothing
    assert story.last(AMINA).startswith("You already answered about this work.")

    # A second finding, declined.
    story.say(KIP_TG, "extra 1001", at(24, 11))
    for typed in ("Cabin air filter", "800", "skip", "yes"):
        story.say(KIP_TG, typed, at(24, 11, 1))
    with story.db.uow() as uow:
        filt = uow.session.scalars(select(BookingItem).where(BookingItem.kind == "extra").order_by(BookingItem.id)).all()[-1]
    story.tap(AMINA, f"extra:no:{filt.id}", at(24, 11, 5))
    assert story.last(AMINA).startswith("OK, we will not do that work (Cabin air filter). Your total stays Ksh23,000.")

    with story.db.uow() as uow:
        s = uow.session
        items = {i.description: (i.status, i.decided_at) for i in s.scalars(select(BookingItem).where(BookingItem.kind == "extra"))}
        b = s.get(Booking, job.id)
        assert items == {"Front brake discs are worn out": ("approved", at(24, 10, 30)),
                         "Cabin air filter": ("declined", at(24, 11, 5))}  # the stored consent, with its time
        assert (b.status, b.price_minor) == ("in_progress", 2_300_000)
        moves = [(e.from_status, e.to_status, e.actor) for e in b.events]
    kip, cust = staff_id(story.db, KIPRONO), b.customer_id
    assert moves[-5:] == [("received", "in_progress", f"staff:{kip}"),
                          ("in_progress", "awaiting_approval", f"staff:{kip}"),
                          ("awaiting_approval", "in_progress", f"customer:{cust}"),
                          ("in_progress", "awaiting_approval", f"staff:{kip}"),
                          ("awaiting_approval", "in_progress", f"customer:{cust}")]  # fmt: skip

    story.say(KIP_TG, "ready 1001", at(24, 12))
    ready = [m for m in story.p.telegram.sent_messages(AMINA)[-2:]]
    assert sorted(m["text"] for m in ready) == [
        "Ksh23,000 is left to pay for booking MM-1001. Pay now, or at the shop when you collect it.",
        "Your car (KCB 123A) is ready for pickup. Booking MM-1001.\nTotal Ksh23,000, paid Ksh0, to pay Ksh23,000."]
    pay_now = next(m for m in ready if m["text"].startswith("Ksh23,000"))  # core/payments offers "pay now"
    assert [b["callback_data"] for row in pay_now["reply_markup"]["inline_keyboard"] for b in row] == [
        f"paybalance:{job.id}:mpesa", f"paybalance:{job.id}:mpesa:other"]

    story.say(KIP_TG, "done 1001", at(24, 16))
    assert story.last(KIP_TG).startswith("MM-1001: the customer owes Ksh23,000. Did they pay it at the shop?")
    story.answer(KIP_TG, True, at(24, 16))
    assert story.last(KIP_TG).startswith("MM-1001 is completed. The customer has the receipt and was asked for a rating.\n"
                                         "Parts now below their minimum: battery-70ah. The owner has been told.")  # fmt: skip
    assert story.last(AMINA) == (
        "Receipt for MM-1001, Tue 24 Nov\nVehicle: KCB 123A\nBrake pads replacement: Ksh4,500\n"
        "Battery replacement: Ksh12,000\nExtra work, Front brake discs are worn out: Ksh6,500\nTotal: Ksh23,000\n"
        "Including tax (16%): Ksh3,172.41\nPaid by cash: Ksh23,000\nPaid in full. Thank you!\n"
        "Thank you for coming! How did we do? Please rate your visit from 1 to 5.")  # fmt: skip
    assert [b for _, b in story.buttons(AMINA)] == [f"rate:{job.id}:{n}" for n in range(1, 6)] + [f"receipt:pdf:{job.id}"]
    assert story.last(OWNER_TG) == ("Low stock: Battery 70 Ah is down to 0 (minimum 1). "
                                    "Restock with /restock battery-70ah QTY.")  # fmt: skip

    story.tap(AMINA, f"rate:{job.id}:4", at(24, 16, 5))
    story.tap(AMINA, f"rate:{job.id}:5", at(24, 16, 6))  # thought better of it
    assert story.last(AMINA).startswith("Thank you for rating your visit 5 of 5!")
    story.tap(AMINA, f"receipt:pdf:{job.id}", at(24, 16, 7))
    document = [m for m in story.p.telegram.sent_messages(AMINA) if m["method"] == "sendDocument"][-1]
    assert document["file"]["file_name"] == "receipt-MM-1001.pdf"
    assert document["file"]["content"].startswith(b"%PDF")

    with story.db.uow() as uow:
        s = uow.session
        rating = s.scalar(select(Rating))
        assert (rating.booking_id, rating.mechanic_id, rating.stars) == (job.id, kip, 5)
        assert s.get(Booking, job.id).status == "completed"
        stock = dict(s.execute(select(Part.code, Part.stock).where(Part.shop_id == shop)).all())
        assert (stock["brake-pads"], stock["battery-70ah"]) == (5, 0)
        paid = s.scalars(select(Payment).where(Payment.booking_id == job.id)).all()
        assert [(p.provider, p.purpose, p.amount_minor, p.status) for p in paid] == [("cash", "balance", 2_300_000, "completed")]


def test_a_no_show_marked_the_morning_after_tells_the_customer_which_day(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, BRIAN, MONDAY_9, "Brian")
    book(story.db, shop, str(BRIAN), ["brake-pads"], at(24, 16), MONDAY_9, name="Brian")
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.say(OWNER_TG, "no show 1001", at(25, 8, 30))  # the owner tidies up Tuesday's list on Wednesday morning
    story.say(OWNER_TG, "yes", at(25, 8, 30))
    assert story.last(BRIAN) == ("We missed you on Tue 24 Nov, 16:00: booking MM-1001 was marked as a no-show.\n"
                                 "It used one token. You have 1 left this month.")  # fmt: skip


def test_a_no_show_costs_the_customer_a_token_and_they_are_told(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, BRIAN, MONDAY_9, "Brian")
    job = book(story.db, shop, str(BRIAN), ["brake-pads", "battery"], at(24, 10), MONDAY_9, name="Brian")
    verify_on_telegram(story, KIP_TG, KIPRONO, MONDAY_9)
    story.say(KIP_TG, "no show 1001", at(24, 9, 30))
    assert story.last(KIP_TG).startswith("MM-1001 starts at 10:00; it can be marked a no-show only after that.")
    story.say(KIP_TG, "no show 1001", at(24, 10, 20))
    assert story.last(KIP_TG).startswith("Mark MM-1001 (10:00, Brian) as a no-show? It costs the customer a token.")
    story.say(KIP_TG, "yes", at(24, 10, 20))
    assert story.last(KIP_TG).startswith("MM-1001 is marked as a no-show. The customer has been told (1 token left).")
    assert story.last(BRIAN) == ("We missed you today: booking MM-1001 at 10:00 was marked as a no-show.\n"
                                 "It used one token. You have 1 left this month.")  # fmt: skip
    with story.db.uow() as uow:
        assert uow.session.get(Booking, job.id).status == "no_show"
        assert uow.session.get(Customer, job.customer_id).tokens == 1


def test_going_off_shift_hands_jobs_to_colleagues_or_asks_for_a_new_time(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    customer_starts(story, BRIAN, MONDAY_9, "Brian")
    alignment = book(story.db, shop, str(AMINA), ["wheel-alignment"], at(24, 14), MONDAY_9)  # only Achieng aligns
    battery = book(story.db, shop, str(BRIAN), ["battery"], at(24, 15), MONDAY_9, name="Brian")  # Kiprono or Achieng
    achieng, kiprono = staff_id(story.db, ACHIENG), staff_id(story.db, KIPRONO)
    assert alignment.mechanic_id == achieng
    with story.db.uow() as uow:  # make sure the battery job is Achieng's too
        uow.session.get(Booking, battery.id).mechanic_id = achieng
    verify_on_telegram(story, ACH_TG, ACHIENG, MONDAY_9)
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    verify_on_telegram(story, KIP_TG, KIPRONO, MONDAY_9)
    story.say(ACH_TG, "off shift", at(24, 12))
    # Achieng reads Swahili (the shop file says so)
    assert story.last(ACH_TG).startswith(said("sw", "Go off shift now? Your upcoming jobs go to free colleagues, "
                                                    "or their customers are asked to choose a new time."))
    story.answer(ACH_TG, True, at(24, 12))
    assert said("sw", "Handed to colleagues: {codes}.", codes="MM-1002") in story.last(ACH_TG)
    assert said("sw", "Need a new time (customers and the owner were told): {codes}.", codes="MM-1001") in story.last(ACH_TG)
    assert story.last(BRIAN) == ("A change to your booking MM-1002 on Tue 24 Nov, 15:00: Kiprono will work on your car. "
                                 "The time stays the same.")  # fmt: skip
    assert story.last(KIP_TG) == "Achieng went off shift: MM-1002 on Tue 24 Nov, 15:00 (KC0002A) is now your job."
    assert story.buttons(KIP_TG) == [("Open the job", f"st:job:{battery.id}")]
    assert story.last(AMINA).startswith("Sorry, the mechanic for your booking MM-1001 on Tue 24 Nov, 14:00 is not "
                                        "available, and nobody else is free then.")  # fmt: skip
    assert story.buttons(AMINA) == [("Choose a new time", f"rm:move:{alignment.id}"),
                                    ("Cancel the booking", f"rm:cancel:{alignment.id}")]  # fmt: skip
    assert story.last(OWNER_TG) == ("MM-1001 on Tue 24 Nov, 14:00 has no mechanic since Achieng Atieno went off shift. "
                                    "The customer was asked to choose a new time.")  # fmt: skip
    with story.db.uow() as uow:
        assert uow.session.get(Staff, achieng).on_shift is False
        assert uow.session.get(Booking, alignment.id).status == "needs_reschedule"
        assert uow.session.get(Booking, battery.id).mechanic_id == kiprono
    # The customer's choice works from the notice (the customer engine handles rm:*).
    story.tap(AMINA, f"rm:cancel:{alignment.id}", at(24, 12, 5))
    assert story.last(AMINA).startswith("Cancel MM-1001 on Tue 24 Nov, 14:00?")
    story.tap(ACH_TG, "st:on", at(24, 13))
    assert story.last(ACH_TG).startswith(said("sw", "You are on shift again: customers can be booked with you."))


def test_a_car_that_comes_though_its_visit_needed_a_new_time_is_taken_in_by_someone_who_can_do_it(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    alignment = book(story.db, shop, str(AMINA), ["wheel-alignment"], at(24, 14), MONDAY_9)  # only Achieng aligns
    for chat, name in ((ACH_TG, ACHIENG), (KIP_TG, KIPRONO), (OWNER_TG, WANJIRU)):
        verify_on_telegram(story, chat, name, MONDAY_9)
    story.say(ACH_TG, "off shift", at(24, 12))
    story.answer(ACH_TG, True, at(24, 12))  # nobody else aligns wheels: Amina is asked to choose a new time

    story.say(KIP_TG, "received MM-1001", at(24, 14, 5))  # she came all the same; Kiprono cannot align wheels
    assert story.last(KIP_TG).startswith("Nobody who can do MM-1001 is free at 14:00, so it cannot be taken in. "
                                         "Agree a new time with the customer.")  # fmt: skip
    story.tap(ACH_TG, "st:on", at(24, 14, 10))  # Achieng is back
    story.say(OWNER_TG, "received MM-1001", at(24, 14, 12))

    assert story.last(OWNER_TG).startswith("MM-1001 is now: car received. The customer has been told.\n"
                                           "It is Achieng's job now, and they have been told.")
    assert story.last(ACH_TG) == said("sw", "{name} took in {code} on {when} ({vehicle}), whose visit needed a new "
                                            "time: it is now your job.", name="Wanjiru", code="MM-1001",
                                      when="Jumanne 24 Nov, 14:00", vehicle="KC0001A")  # she reads Swahili  # fmt: skip
    assert story.buttons(ACH_TG) == [(said("sw", "Open the job"), f"st:job:{alignment.id}")]
    assert story.last(AMINA) == "We have received your car (KC0001A) for MM-1001. We will tell you when the work starts."
    achieng = staff_id(story.db, ACHIENG)
    with story.db.uow() as uow:
        job = uow.session.get(Booking, alignment.id)
        assert (job.status, job.mechanic_id) == ("received", achieng)
    story.say(ACH_TG, "ready MM-1001", at(24, 15))  # her job now
    with story.db.uow() as uow:
        assert uow.session.get(Booking, alignment.id).status == "ready"


def test_going_off_shift_lets_an_unpaid_hold_nobody_else_can_take_go(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    customer_starts(story, BRIAN, MONDAY_9, "Brian")
    promised = book(story.db, shop, str(AMINA), ["wheel-alignment"], at(24, 14), MONDAY_9)  # only Achieng aligns
    unpaid = book(story.db, shop, str(BRIAN), ["wheel-alignment"], at(24, 16), at(24, 11, 55), name="Brian",
                  method="mpesa", confirm=False)  # fmt: skip
    verify_on_telegram(story, ACH_TG, ACHIENG, MONDAY_9)
    story.say(ACH_TG, "off shift", at(24, 12))
    story.answer(ACH_TG, True, at(24, 12))

    assert said("sw", "Need a new time (customers and the owner were told): {codes}.", codes="MM-1001") in story.last(ACH_TG)
    assert story.last(BRIAN) == ("Sorry, the time you were holding for MM-1002 on Tue 24 Nov, 16:00 is no longer "
                                 "available: the mechanic is not available, and nobody else is free then. Please "
                                 "book another time from the menu.")  # fmt: skip
    with story.db.uow() as uow:
        assert uow.session.get(Staff, staff_id(story.db, ACHIENG)).on_shift is False
        assert [uow.session.get(Booking, b.id).status for b in (promised, unpaid)] == ["needs_reschedule", "cancelled"]


def test_the_owner_asks_for_a_past_days_digest_by_date_or_as_yesterday(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    book(story.db, shop, str(AMINA), ["oil-change"], at(23, 15), MONDAY_9)
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)

    def digest_title(typed: str) -> str:
        story.say(OWNER_TG, typed, at(24, 9))
        digests = [m["text"] for m in story.p.telegram.sent_messages(OWNER_TG) if m.get("text", "").startswith("Daily")]
        return digests[-1].splitlines()[0]

    assert digest_title("/digest 23.11") == "Daily digest of Mwangaza Motors for Mon 23 Nov"
    assert digest_title("/digest yesterday") == "Daily digest of Mwangaza Motors for Mon 23 Nov"
    story.say(OWNER_TG, "/digest someday", at(24, 9))
    assert story.last(OWNER_TG).startswith("Which day? Write it like this: /digest 2026-11-23")


def test_a_command_refused_half_way_leaves_nothing_behind(story, monkeypatch):
    from core import staffing
    from core.lifecycle import IllegalMove

    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    alignment = book(story.db, shop, str(AMINA), ["wheel-alignment"], at(24, 14), MONDAY_9)  # only Achieng aligns
    verify_on_telegram(story, ACH_TG, ACHIENG, MONDAY_9)
    real = staffing.go_off_shift

    def off_then_refused(*args, **kwargs):
        real(*args, **kwargs)  # off shift, the job needs a new time, the customer's notice is written...
        raise IllegalMove("confirmed", "needs_reschedule", "a rule found broken half-way")

    monkeypatch.setattr(staffing, "go_off_shift", off_then_refused)
    sent_before = len(story.texts(AMINA))
    story.say(ACH_TG, "off shift", at(24, 12))
    story.answer(ACH_TG, True, at(24, 12))

    assert story.last(ACH_TG).startswith(said("sw", "That cannot be done with this job now."))
    with story.db.uow() as uow:
        assert uow.session.get(Staff, staff_id(story.db, ACHIENG)).on_shift is True
        assert uow.session.get(Booking, alignment.id).status == "confirmed"
    assert len(story.texts(AMINA)) == sent_before  # no notice of a change that did not happen
    with story.db.uow() as uow:  # ...and no job left to expect an answer to it
        chat = uow.session.scalar(select(Conversation).where(Conversation.chat_id == str(AMINA)))
        assert not any(cid.startswith("rm:") for cid, _ in chat.data.get("offered", []))


# Every staff and owner command, as typed, plus forged staff buttons.
EVERY_COMMAND = [
    "/jobs", "/job MM-1001", "/received MM-1001", "/begin MM-1001", "/extra MM-1001", "/ready MM-1001",
    "/done MM-1001", "/noshow MM-1001", "/offshift", "/onshift", "/stock", "/restock oil-filter 5", "/digest",
    "/today", "/week", "/close 2026-12-01 party", "/open 2026-12-24", "/hours", "/tokens reset +254712345678",
    "/export 2026-11-01 2026-11-30", "/refunded MM-1001",
]  # fmt: skip
FORGED_BUTTONS = ["st:a:ready:1", "st:a:noshow:1", "st:digest", "st:off", "st:stock", "st:answer:1"]


def _state(story, shop):
    with story.db.uow() as uow:
        s = uow.session
        return (sorted(s.execute(select(Booking.id, Booking.status)).all()),
                sorted(s.execute(select(Part.code, Part.stock).where(Part.shop_id == shop)).all()),
                s.scalar(select(func.count()).select_from(Closure)), s.scalar(select(func.count()).select_from(BookingEvent)),
                sorted(s.execute(select(Staff.id, Staff.on_shift)).all()))  # fmt: skip


@pytest.mark.parametrize("who", ["unverified", "mechanic of another shop"])
def test_nobody_but_this_shops_staff_can_run_a_staff_command(story, caplog, who):
    caplog.set_level(logging.INFO)
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    book(story.db, shop, str(AMINA), ["oil-change"], at(24, 10), MONDAY_9)
    user = STRANGER
    if who != "unverified":  # Sergey is verified in Atyrau, on the same bot platform
        user = SERGEY_TG
        greeting = verify_on_telegram(story, user, SERGEY, MONDAY_9, "zhaiyk-auto")
        assert greeting.startswith("Спасибо, Сергей!") and "Жайық Авто" in greeting  # Sergey reads Russian
        customer_starts(story, user, MONDAY_9)
    before = _state(story, shop)
    caplog.clear()
    for typed in EVERY_COMMAND:
        story.say(user, typed, at(24, 10, 30))
        assert story.last(user) == ("That command is only for the staff of Mwangaza Motors.\n"
                                    "If you work here, send /staff to confirm your phone number."), typed  # fmt: skip
    for data in FORGED_BUTTONS:
        story.tap(user, data, at(24, 10, 31))
        assert story.last(user).startswith("That command is only for the staff of Mwangaza Motors."), data
    assert _state(story, shop) == before
    refused = [r for r in caplog.records if r.getMessage().startswith("refused") and r.levelno == logging.WARNING]
    assert len(refused) == len(EVERY_COMMAND) + len(FORGED_BUTTONS)
    assert all(str(user) not in r.getMessage() for r in refused)  # the sender is masked


def test_a_mechanic_cannot_run_owner_commands_or_touch_a_colleagues_job(story, caplog):
    caplog.set_level(logging.INFO)
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    book(story.db, shop, str(AMINA), ["brake-pads", "battery"], at(24, 10), MONDAY_9)  # Kiprono's
    verify_on_telegram(story, OTI_TG, OTIENO, MONDAY_9)
    before = _state(story, shop)
    caplog.clear()
    owner_only = ["/digest", "/week", "/close 2026-12-01", "/open 2026-12-24", "/hours", "/tokens reset +254712345678",
                  "/export 2026-11-01 2026-11-30", "/restock oil-filter 5", "/refunded MM-1001"]  # fmt: skip
    for typed in owner_only:
        story.say(OTI_TG, typed, at(24, 10, 30))
        assert story.last(OTI_TG).startswith(said("sw", "Only the owner can do that.")), typed  # Otieno reads Swahili
    for typed in ("received 1001", "ready MM-1001", "no show 1001", "MM-1001"):
        story.say(OTI_TG, typed, at(24, 10, 30))
        assert story.last(OTI_TG).startswith(said("sw", "That job is not yours. Ask the owner to move it.")), typed
    story.tap(OTI_TG, "st:a:ready:1", at(24, 10, 31))  # a forged button
    assert story.last(OTI_TG).startswith(said("sw", "That job is not yours. Ask the owner to move it."))
    assert _state(story, shop) == before
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refused) == len(owner_only) + 5
    assert all("722000002" not in r for r in refused)


def test_the_owner_answers_a_customer_who_wrote_to_the_shop(story):
    """"Sent to the shop. They will answer you here." The owner had no way to."""
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    verify_on_telegram(story, OTI_TG, OTIENO, MONDAY_9)
    customer_starts(story, AMINA, MONDAY_9)
    story.tap(AMINA, "m:shop", MONDAY_9)
    story.say(AMINA, "Is the aircon check free with a service?", MONDAY_9)
    assert story.last(OWNER_TG) == "Message from Amina (-): Is the aircon check free with a service?"
    [(label, answer)] = story.buttons(OWNER_TG)
    assert label == "Answer Amina" and answer.startswith("st:answer:")

    story.tap(OWNER_TG, answer, at(23, 9, 5))
    assert story.last(OWNER_TG).startswith("Type your answer to Amina: it goes to them as you write it.")
    story.say(OWNER_TG, "Yes, free with any service. Come by at 10.", at(23, 10, 6))  # an hour later: still hers

    assert story.last(AMINA) == "Mwangaza Motors answers: Yes, free with any service. Come by at 10."
    assert story.last(OWNER_TG).startswith("Sent to Amina.")
    story.tap(OTI_TG, answer, at(23, 9, 7))  # a mechanic (a forwarded button, say) cannot
    assert story.last(OTI_TG).startswith(said("sw", "Only the owner can do that."))
    story.say(OTI_TG, "hello Amina", at(23, 9, 7))
    assert story.last(AMINA) == "Mwangaza Motors answers: Yes, free with any service. Come by at 10."


def test_an_answer_to_a_whatsapp_customer_who_wrote_over_a_day_ago_tells_the_owner_to_call(story):
    """WhatsApp carries a shop's own words only within 24 hours of the customer's last
    message: the answer failed on the way while the owner was told "Sent to Kamau."."""
    kamau = "+254722111222"
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    for typed in ("Habari", "1", "4", "Do you sell tyres?"):  # English; Talk to the shop; the question
        story.wa(kamau, typed, MONDAY_9, name="Kamau")
    [(label, answer)] = story.buttons(OWNER_TG)
    assert label == "Answer Kamau"

    story.tap(OWNER_TG, answer, at(24, 10))  # the next day, 25 hours later
    story.say(OWNER_TG, "Yes, Bridgestone and Yokohama.", at(24, 10, 1))

    assert story.last(OWNER_TG).startswith("Kamau last wrote more than a day ago, and WhatsApp lets a shop write first "
                                           "only with an approved template. Please call them: +254722111222.")  # fmt: skip
    with story.db.uow() as uow:
        bodies = [r.body for r in uow.session.scalars(select(OutboxMessage).where(OutboxMessage.address == f"whatsapp:{kamau}"))]
    assert not [b for b in bodies if "answers" in b["texts"][0]["id"]]


def amina_writes_to_the_shop(story) -> int:
    customer_starts(story, AMINA, MONDAY_9)
    story.tap(AMINA, "m:shop", MONDAY_9)
    story.say(AMINA, "Is the aircon check free with a service?", MONDAY_9)
    with story.db.uow() as uow:
        return uow.session.scalar(select(Customer.id).where(Customer.name == "Amina"))


@pytest.mark.parametrize("data", ["st:answer:99999999999999999999", "st:answer:\u00b2", "st:job:\u00b2"])
def test_a_forged_staff_button_with_an_odd_id_is_not_understood_not_a_crash(story, data):
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    amina_writes_to_the_shop(story)
    story.tap(OWNER_TG, data, at(23, 9, 5))
    assert story.last(OWNER_TG).startswith("Sorry, I did not get that.\nTap a button, or type /help for the commands.")


def test_a_mechanic_tapping_answer_is_refused_before_being_shown_the_customer(story):
    """Any id named a customer of the shop to whoever tapped it."""
    verify_on_telegram(story, OTI_TG, OTIENO, MONDAY_9)
    customer_id = amina_writes_to_the_shop(story)
    story.tap(OTI_TG, f"st:answer:{customer_id}", at(23, 9, 5))
    assert story.last(OTI_TG).startswith(said("sw", "Only the owner can do that.")) and "Amina" not in story.last(OTI_TG)


def test_an_owners_long_answer_arrives_whole_and_one_days_later_is_no_answer(story):
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    customer_id = amina_writes_to_the_shop(story)
    story.tap(OWNER_TG, f"st:answer:{customer_id}", at(23, 9, 5))
    answer = " ".join(f"Point {i}: the aircon check covers this part." for i in range(1, 41))  # ~1,800 characters
    story.say(OWNER_TG, answer, at(23, 9, 6))
    assert story.last(AMINA) == f"Mwangaza Motors answers: {answer}"  # it was cut at 1,000 characters

    story.tap(OWNER_TG, f"st:answer:{customer_id}", at(23, 9, 7))
    story.say(OWNER_TG, "today", at(24, 9, 7))  # a day later: a command, not words for Amina
    assert story.last(AMINA) == f"Mwangaza Motors answers: {answer}"
    story.tap(OWNER_TG, f"st:answer:{customer_id}", at(24, 9, 8))
    story.say(OWNER_TG, "ready 1001", at(24, 9, 9))  # a job command with its booking: no answer reads so
    assert story.last(AMINA) == f"Mwangaza Motors answers: {answer}"
    assert story.last(OWNER_TG).startswith("I cannot find booking 1001 in this shop.")  # the command's own answer


# -- an owner's album, a photo at a time ------------------------------------------------------


def owner_sends_an_album(story, at_: datetime, album: str, caption: str, photos: int = 3) -> list[dict]:
    """An album from the owner's phone: Telegram posts a message a photo, a second apart, the words under the first."""
    return [story.photo(OWNER_TG, at_ + timedelta(seconds=i), caption if i == 0 else None, album, f"pad-{i}".encode())
            for i in range(photos)]  # fmt: skip


def photos_to(story, chat) -> list[tuple[str, bytes]]:
    return [(m["caption"], m["file"]["content"]) for m in story.p.telegram.sent_messages(chat) if m["method"] == "sendPhoto"]


OWNERS_HOME = "Wanjiru, what do you need?"


def test_an_owners_album_in_answer_to_a_customer_reaches_her_whole_and_is_said_sent_once(story):
    """Each photo of the album was answered "Sent to Amina.", and the third, coming after the
    second's answer, was said to have reached nobody (and did not reach her)."""
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    customer_id = amina_writes_to_the_shop(story)
    story.tap(OWNER_TG, f"st:answer:{customer_id}", at(23, 9, 5))
    told_before = len(story.texts(OWNER_TG))

    first = owner_sends_an_album(story, at(23, 9, 6), "424242", "The old pads and the new ones")
    story.post(first[1], at(23, 9, 6) + timedelta(seconds=5))  # Telegram delivers one again: nothing more

    assert photos_to(story, AMINA) == [("Photo from Mwangaza Motors", b"pad-0"), ("Photo from Mwangaza Motors", b"pad-1"),
                                       ("Photo from Mwangaza Motors", b"pad-2")]  # fmt: skip
    assert story.texts(AMINA)[-4:] == ["Mwangaza Motors answers: The old pads and the new ones",
                                       *["Photo from Mwangaza Motors"] * 3]  # the words first, as ever
    assert story.texts(OWNER_TG)[told_before:] == [f"Sent to Amina.\n{OWNERS_HOME}"]

    owner_sends_an_album(story, at(23, 9, 8), "434343", "And the discs", photos=2)  # another album: said once more

    assert len(photos_to(story, AMINA)) == 5
    assert story.texts(OWNER_TG)[told_before:] == [f"Sent to Amina.\n{OWNERS_HOME}"] * 2


def test_an_owners_album_that_reaches_nobody_is_said_so_once(story):
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    amina_writes_to_the_shop(story)
    told_before = len(story.texts(OWNER_TG))

    owner_sends_an_album(story, at(23, 9, 6), "424242", "The old pads and the new ones")

    assert photos_to(story, AMINA) == []
    assert story.texts(OWNER_TG)[told_before:] == [
        "This photo was not sent to anyone.\nTo send a photo of extra work, first choose the job and \"Extra work "
        f"found\".\nTo send a photo to a customer, tap \"Answer\" under their message first.\n{OWNERS_HOME}"]  # fmt: skip


def test_refunded_without_a_code_shows_the_shops_own_code_in_the_example(story):
    erlan = 7000001  # the Atyrau owner
    verify_on_telegram(story, erlan, ERLAN, MONDAY_9, "zhaiyk-auto")
    story.say(erlan, "/refunded", at(23, 9, 6), "zhaiyk-auto")
    assert story.last(erlan).startswith("Какая запись? Напишите так: /refunded ZA-1001")


def test_the_owner_runs_the_shop_from_the_chat(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["oil-change"], at(24, 10), MONDAY_9, plate="KCB 123A")
    with story.db.uow() as uow:
        uow.session.get(Customer, job.customer_id).tokens = 0
        uow.session.get(Customer, job.customer_id).phone = "+254712345678"
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    assert [label for label, _ in story.buttons(OWNER_TG)] == [
        "Today", "All jobs today", "Digest now", "This week", "Stock", "Opening hours", "Help"]
    t = at(24, 8)

    story.say(OWNER_TG, "/today", t)
    assert story.last(OWNER_TG).startswith("Today, Tue 24 Nov: 1 booking\n10:00 MM-1001 Oil and filter change: "
                                           "confirmed (Otieno)")  # fmt: skip
    story.say(OWNER_TG, "/close 2026-12-01 staff party", t)
    assert story.last(OWNER_TG).startswith("Tue 1 Dec is now closed for bookings.")
    story.say(OWNER_TG, "/close 24.11 power cut", t)
    assert story.last(OWNER_TG).startswith("Tue 24 Nov is now closed for bookings.\nBookings already on that day: "
                                           "MM-1001. Please contact those customers.")  # fmt: skip
    story.say(OWNER_TG, "/open 24.11", t)
    assert story.last(OWNER_TG).startswith("Tue 24 Nov is now open for bookings.")
    story.say(OWNER_TG, "/open 2026-12-25", t)  # Christmas: open despite the holiday
    story.say(OWNER_TG, "/open 2026-11-29", t)  # a Sunday: no hours to open
    assert story.last(OWNER_TG).startswith("Sun 29 Nov cannot be opened: the shop file gives no opening hours for "
                                           "that day of the week.")  # fmt: skip
    with story.db.uow() as uow:
        rows = {c.day.isoformat(): (c.closed, c.reason) for c in uow.session.scalars(select(Closure))}
    assert rows == {"2026-12-01": (True, "staff party"), "2026-11-24": (False, None), "2026-12-25": (False, None),
                    "2026-12-24": (True, "Christmas Eve stocktake")}  # fmt: skip
    story.say(OWNER_TG, "/hours", t)
    hours = story.last(OWNER_TG)
    assert "Monday: 08:00-18:00, break 13:00-14:00" in hours and "Sunday: closed" in hours
    assert "Closed on Tue 1 Dec: staff party" in hours and "Open on Fri 25 Dec (despite a public holiday)" in hours

    story.say(OWNER_TG, "/tokens reset 0712 345 678", t)
    assert story.last(OWNER_TG).startswith("Tokens restored for +254••••••678: 2 this month. The customer has been told.")
    assert story.last(AMINA) == "Good news: Mwangaza Motors has restored your booking tokens. You have 2 this month."
    story.say(OWNER_TG, "/tokens reset +254700111222", t)
    assert story.last(OWNER_TG).startswith("No customer of this shop has the number +254700111222.")

    story.say(OWNER_TG, "/stock", t)
    assert "Engine oil 5W-30, 4 L (oil-5w30): 12, minimum 4" in story.last(OWNER_TG)
    story.say(OWNER_TG, "/restock oil filter 6", t)
    assert story.last(OWNER_TG).startswith("Oil filter: 16 in stock now.")

    story.say(OWNER_TG, "/export 2026-11-01 2026-11-30", t)
    document = [m for m in story.p.telegram.sent_messages(OWNER_TG) if m["method"] == "sendDocument"][-1]
    rows = document["file"]["content"].decode("utf-8-sig").splitlines()  # with the mark Excel reads UTF-8 by
    assert document["file"]["content"].startswith("\ufeff".encode())
    assert rows[0] == ("Booking,Date,Start,End,Status,Customer,Phone,Plate,Services,Mechanic,Bay,Price,Paid,Balance,"
                       "Currency,Payment method,Booked via")  # fmt: skip
    assert rows[1] == ("MM-1001,2026-11-24,10:00,10:45,confirmed,Amina,+254712345678,KCB 123A,Oil and filter change,"
                       "Otieno Ochieng,Lift 1,3500.00,0.00,3500.00,KES,cash,Telegram")  # fmt: skip
    assert any(t.startswith("Here is the export: 1 booking.") for t in story.texts(OWNER_TG)[-2:])

    story.say(OWNER_TG, "/digest", at(24, 19))
    sent = story.p.telegram.sent_messages(OWNER_TG)
    text, photo = [m for m in sent if m["method"] == "sendMessage" and m["text"].startswith("Daily digest")][-1], \
        [m for m in sent if m["method"] == "sendPhoto"][-1]  # fmt: skip
    assert text["text"].startswith("Daily digest of Mwangaza Motors for Tue 24 Nov\nBookings today: 1 (confirmed: 1)")
    assert photo["file"]["content"].startswith(b"\x89PNG") and photo["caption"] == "Mwangaza Motors: the last 14 days"
    story.say(OWNER_TG, "/week", t)
    assert story.last(OWNER_TG).startswith("Last 7 days: 1 booking, 0 completed, 0 no-shows, revenue Ksh0.\nNext 7 days:\nWed 25 Nov: 0 bookings")


@pytest.mark.parametrize("lang, words", [
    ("sw", ["imepokelewa 1001", "anza 1001", "tayari 1001"]),
    ("ru", ["принял 1001", "начать 1001", "готово 1001"]),
    ("kk", ["қабылдадым 1001", "бастау 1001", "дайын 1001"]),
    ("en", ["recieved MM-1001", "/start MM1001", "redy 1001"]),
])  # fmt: skip
def test_job_commands_work_in_every_language_and_forgive_typos(story, lang, words):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["brake-pads", "battery"], at(24, 10), MONDAY_9)
    verify_on_telegram(story, KIP_TG, KIPRONO, MONDAY_9)
    statuses = []
    for typed in words:
        story.say(KIP_TG, typed, at(24, 10), lang=lang)
        with story.db.uow() as uow:
            statuses.append(uow.session.get(Booking, job.id).status)
    assert statuses == ["received", "in_progress", "ready"]



def extra_work_asked(story):
    """Kiprono starts on Amina's car and finds worn brake discs (Ksh6,500): she is asked
    to approve them. Her job and the extra work's item."""
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["brake-pads", "battery"], at(24, 10), MONDAY_9, plate="KCB 123A")
    verify_on_telegram(story, KIP_TG, KIPRONO, MONDAY_9)
    for typed in ("start 1001", "extra", "Front brake discs are worn out", "6500", "skip", "yes"):
        story.say(KIP_TG, typed, at(24, 10, 20))
    with story.db.uow() as uow:
        discs = uow.session.scalar(select(BookingItem).where(BookingItem.kind == "extra"))
    return job, discs


def test_extra_work_never_answered_is_left_out_when_the_car_is_ready(story):
    job, discs = extra_work_asked(story)

    story.say(KIP_TG, "ready 1001", at(24, 16))  # Amina never answered
    story.answer(KIP_TG, True, at(24, 16))

    assert story.texts(KIP_TG)[-1].startswith("MM-1001 is now: ready for pickup. The customer has been told.\n"
                                              "Left out, as the customer did not answer: Front brake discs are worn out.")  # fmt: skip
    ready = next(t for t in story.texts(AMINA)[-2:] if t.startswith("Your car (KCB 123A) is ready for pickup."))
    assert ready.splitlines()[1:3] == ["The extra work (Front brake discs are worn out) was not done: we did not hear "
                                       "from you in time.", "Total Ksh16,500, paid Ksh0, to pay Ksh16,500."]  # fmt: skip
    with story.db.uow() as uow:
        assert (uow.session.get(Booking, job.id).status, uow.session.get(BookingItem, discs.id).status) == \
            ("ready", "left_out")  # fmt: skip
    story.tap(AMINA, f"extra:yes:{discs.id}", at(24, 16, 5))  # too late
    assert story.last(AMINA).startswith("That extra work was left out: your car was ready before we heard from you.")
    with story.db.uow() as uow:
        assert uow.session.get(Booking, job.id).price_minor == 1_650_000


def test_ready_without_the_extra_work_is_asked_again_when_the_customer_approved_it_meanwhile(story):
    job, discs = extra_work_asked(story)
    story.say(KIP_TG, "ready 1001", at(24, 16))  # "Mark the car ready and leave that work out?"
    question = story.p.telegram.last_message(KIP_TG)
    yes = next(b["callback_data"] for row in question["reply_markup"]["inline_keyboard"] for b in row
               if b["callback_data"].startswith("st:yes:"))  # fmt: skip

    story.tap(AMINA, f"extra:yes:{discs.id}", at(24, 16, 1))  # she approves a moment before he answers
    story.post(story.p.telegram.update_callback(next(story.ids), KIP_TG, yes, question["message_id"]),
               at(24, 16, 1))  # "Yes, ready without it" under the question: the discs were not fitted

    assert story.texts(KIP_TG)[-1].startswith("The customer has just answered about the extra work on MM-1001. "
                                              "Look at the job again before marking it ready.")  # fmt: skip
    with story.db.uow() as uow:
        assert (uow.session.get(Booking, job.id).status, uow.session.get(BookingItem, discs.id).status) == \
            ("in_progress", "approved")  # fmt: skip
    assert not any(t.startswith("Your car (KCB 123A) is ready") for t in story.texts(AMINA))


def kiprono_prices_extra_work(story):
    """Kiprono has started Amina's job, found a leaking radiator hose and priced it: the
    photo step is next. Returns the booking."""
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["brake-pads", "battery"], at(24, 10), MONDAY_9)
    verify_on_telegram(story, KIP_TG, KIPRONO, MONDAY_9)
    for typed in ("start 1001", "extra 1001", "Leaking radiator hose", "1500"):
        story.say(KIP_TG, typed, at(24, 10, 10))
    return job


def test_a_photo_of_extra_work_reaches_the_customer(story):
    job = kiprono_prices_extra_work(story)
    story.post(story.p.telegram.update_photo(next(story.ids), KIP_TG, b"\xff\xd8\xff\xe0fake-jpeg"), at(24, 10, 11))
    assert story.last(KIP_TG).startswith("Photo received.\nAsk the customer to approve")
    story.say(KIP_TG, "yes", at(24, 10, 12))
    photo = [m for m in story.p.telegram.sent_messages(AMINA) if m["method"] == "sendPhoto"][-1]
    assert photo["caption"] == "Photo of the extra work on MM-1001: Leaking radiator hose"
    assert photo["file"]["content"] == b"\xff\xd8\xff\xe0fake-jpeg"
    with story.db.uow() as uow:
        assert uow.session.get(Booking, job.id).status == "awaiting_approval"
    assert count(story, OutboxMessage, OutboxMessage.dedupe_key.like("extra-photo:%")) == 1


def test_a_photo_of_extra_work_telegram_no_longer_has_leaves_the_question_standing_without_it(story):
    job = kiprono_prices_extra_work(story)
    story.post(story.p.telegram.update_photo(next(story.ids), KIP_TG, file_id="AgACgone"), at(24, 10, 11))
    story.say(KIP_TG, "yes", at(24, 10, 12))

    assert story.last(AMINA).endswith("It costs Ksh1,500. With it your total would be Ksh18,000.\n"
                                      "Do you approve this work?")  # fmt: skip
    assert [m for m in story.p.telegram.sent_messages(AMINA) if m["method"] == "sendPhoto"] == []
    with story.db.uow() as uow:
        assert uow.session.get(Booking, job.id).status == "awaiting_approval"
        row = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("extra-photo:%")))
        assert (row.status, row.last_error) == ("failed", "the photo could not be fetched: Telegram: Invalid file_id")


def test_a_photo_of_extra_work_reaches_a_whatsapp_customer_whose_window_had_closed_when_he_next_writes(sqlite_url,
                                                                                                         tmp_path):
    from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN

    kamau = "+254711000222"
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        story = Clocked(start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var"),
                                                                     "PITSTOP_NOW": at(24, 10, 11).isoformat()}))  # fmt: skip
        story.wa(kamau, "Habari", MONDAY_9)  # he last wrote yesterday morning: his 24 hours are over by 10:11
        story.wa(kamau, "1", MONDAY_9)
        book(story.db, story.shop_id("mwangaza-motors"), f"whatsapp:{kamau}", ["brake-pads", "battery"], at(24, 10),
             MONDAY_9, channel="whatsapp")  # fmt: skip
        verify_on_telegram(story, KIP_TG, KIPRONO, MONDAY_9)
        for typed in ("start 1001", "extra 1001", "Leaking radiator hose", "1500"):
            story.say(KIP_TG, typed, at(24, 10, 10))
        story.post(telegram.update_photo(next(story.ids), KIP_TG, b"\xff\xd8\xff\xe0fake-jpeg"), at(24, 10, 11))
        story.say(KIP_TG, "yes", at(24, 10, 12))
        assert [bool(m["params"].get("ContentSid")) for m in twilio.messages(f"whatsapp:{kamau}")][-1:] == [True]

        story.wa(kamau, "ok", at(24, 10, 20))  # he writes: the question comes whole, and the photo with it

        sent = [m["params"] for m in twilio.messages(f"whatsapp:{kamau}")][-2:]
        assert sent[0]["Body"].endswith("Do you approve this work?\n1. Approve\n2. Decline")
        assert sent[1]["Body"] == "Photo of the extra work on MM-1001: Leaking radiator hose" and sent[1]["MediaUrl"]
        story.p.runtime.close()


def test_the_atyrau_owner_is_shown_examples_of_his_own_shop_not_of_nairobis(story):
    erlan = 7000001  # reads Russian
    verify_on_telegram(story, erlan, ERLAN, MONDAY_9, "zhaiyk-auto")

    story.say(erlan, "/tokens reset", MONDAY_9, slug="zhaiyk-auto")
    assert story.last(erlan).startswith(said("ru", "Whose tokens? Write their phone or one of their booking codes, "
                                                   "like this: /tokens reset {phone} or /tokens reset {code}",
                                             phone="+77710009998", code="ZA-1001"))  # fmt: skip
    story.say(erlan, "/help", MONDAY_9, slug="zhaiyk-auto")
    assert said("ru", "jobs: today's jobs. {code}: a job's card.", code="ZA-1042") in story.last(erlan)


def test_the_atyrau_shop_works_in_kazakh_and_russian(story):
    """Айдос types Kazakh, the owner Russian; the customer's receipt PDF is in Cyrillic."""
    shop = story.shop_id("zhaiyk-auto")
    customer, aidos, erlan = 5550077, 7000002, 7000001
    story.say(customer, "/start", MONDAY_9, slug="zhaiyk-auto", lang="ru", first_name="Алия")
    story.tap(customer, "lang:ru", MONDAY_9, slug="zhaiyk-auto")
    # Brakes and suspension: Айдос is the only mechanic with both.
    job = book(story.db, shop, str(customer), ["brake-pads", "suspension"], datetime(2026, 11, 24, 5, 0, tzinfo=UTC), MONDAY_9, name="Алия",
               language="ru", plate="123 ABC 06")  # fmt: skip
    assert "Айдос" in verify_on_telegram(story, aidos, "+77052000002", MONDAY_9, "zhaiyk-auto")
    verify_on_telegram(story, erlan, "+77012000001", MONDAY_9, "zhaiyk-auto")
    for typed in ("қабылдадым 1001", "бастау 1001", "дайын 1001", "бітті 1001"):
        story.say(aidos, typed, at(24, 12), slug="zhaiyk-auto", lang="kk")
    story.answer(aidos, True, at(24, 12, 5), slug="zhaiyk-auto")  # paid in cash
    with story.db.uow() as uow:
        assert uow.session.get(Booking, job.id).status == "completed"
    assert any(b == f"receipt:pdf:{job.id}" for _, b in story.buttons(customer))
    story.tap(customer, f"receipt:pdf:{job.id}", at(24, 12, 10), slug="zhaiyk-auto")
    pdf = [m for m in story.p.telegram.sent_messages(customer) if m["method"] == "sendDocument"][-1]
    assert pdf["file"]["content"].startswith(b"%PDF") and pdf["file"]["file_name"] == "receipt-ZA-1001.pdf"
    story.say(erlan, "сводка", at(24, 20), slug="zhaiyk-auto", lang="ru")
    sent = story.p.telegram.sent_messages(erlan)
    assert [m["method"] for m in sent[-2:]].count("sendPhoto") == 1
    digest_text = next(m["text"] for m in sent if (m["text"] or "").startswith("Ежедневная сводка Жайық Авто"))
    assert "Записей сегодня: 1 (" in digest_text and "50\xa0000\xa0₸" in digest_text  # the owner reads Russian


def test_a_yes_left_on_an_earlier_question_does_not_answer_the_current_one(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    customer_starts(story, BRIAN, MONDAY_9, "Brian")
    late = book(story.db, shop, str(AMINA), ["brake-pads", "battery"], at(24, 10), MONDAY_9, plate="KAA 111A")
    early = book(story.db, shop, str(BRIAN), ["brake-pads", "battery"], at(24, 8), MONDAY_9, name="Brian",
                 plate="KBB 222B")  # fmt: skip
    verify_on_telegram(story, KIP_TG, KIPRONO, MONDAY_9)
    story.say(KIP_TG, f"ready {early.code}", at(24, 10, 20))
    story.say(KIP_TG, f"no show {late.code}", at(24, 10, 20))
    no_show_question = story.p.telegram.last_message(KIP_TG)
    story.say(KIP_TG, f"done {early.code}", at(24, 10, 20))
    assert story.last(KIP_TG).startswith(f"{early.code}: the customer owes Ksh16,500. Did they pay it at the shop?")

    stale_yes = next(b["callback_data"] for row in no_show_question["reply_markup"]["inline_keyboard"] for b in row
                     if b["callback_data"].startswith("st:yes:"))  # fmt: skip
    story.post(story.p.telegram.update_callback(next(story.ids), KIP_TG, stale_yes, no_show_question["message_id"]),
               at(24, 10, 21))  # fmt: skip

    assert story.last(KIP_TG) == ("That button belongs to an earlier question, so I did nothing.\n"
                                  f"{early.code}: the customer owes Ksh16,500. Did they pay it at the shop?")
    with story.db.uow() as uow:
        assert [uow.session.get(Booking, b.id).status for b in (late, early)] == ["confirmed", "ready"]
        assert uow.session.scalar(select(func.count()).select_from(Payment)) == 0



def test_a_customer_who_once_sent_staff_can_still_share_their_phone_for_mpesa(story):
    customer_starts(story, AMINA, MONDAY_9)
    story.say(AMINA, "/staff", MONDAY_9)  # curious; she does not work there, and goes on to book
    story.say(AMINA, "book", MONDAY_9)
    for prefix in ("svc:", "done"):
        story.tap(AMINA, next(d for _, d in story.buttons(AMINA) if d.startswith(prefix)), MONDAY_9)
    story.say(AMINA, "KCB 123A", MONDAY_9)
    story.tap(AMINA, "skip", MONDAY_9)
    for prefix in ("day:", "time:", "confirm:"):
        story.tap(AMINA, next(d for _, d in story.buttons(AMINA) if d.startswith(prefix)), MONDAY_9)
    story.tap(AMINA, "pay:mpesa", MONDAY_9)
    assert story.last(AMINA) == "M-Pesa needs your phone number. Share it with the button, or type it."

    story.contact(AMINA, "+254712345678", MONDAY_9)  # her own, with the button asked for

    assert "staff list" not in story.last(AMINA)
    with story.db.uow() as uow:
        assert uow.session.scalar(select(Customer.phone).where(Customer.name == "Amina")) == "+254712345678"


def test_the_owner_restores_tokens_by_a_booking_code_or_by_the_whatsapp_number_itself(story):
    shop = story.shop_id("mwangaza-motors")
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    customer_starts(story, BRIAN, MONDAY_9)
    brian = book(story.db, shop, str(BRIAN), ["oil-change"], at(24, 10), MONDAY_9, name="Brian")  # pays at the shop
    amina = book(story.db, shop, "whatsapp:+254712345678", ["oil-change"], at(25, 10), MONDAY_9, channel="whatsapp")
    with story.db.uow() as uow:
        uow.session.get(Customer, brian.customer_id).phone = "+254712345678"  # typed for M-Pesa: Amina pays for him
        for c in (brian.customer_id, amina.customer_id):
            uow.session.get(Customer, c).tokens = 0

    story.say(OWNER_TG, "/tokens reset 0712 345 678", at(23, 10))
    assert story.last(OWNER_TG).startswith("Tokens restored for +254••••••678: 2 this month.")
    story.say(OWNER_TG, f"/tokens reset {brian.code.lower()}", at(23, 10))
    assert story.last(OWNER_TG).startswith(f"Tokens restored for {brian.code}: 2 this month.")
    story.say(OWNER_TG, "/tokens reset MM-9999", at(23, 10))
    assert story.last(OWNER_TG).startswith("There is no booking MM-9999 in this shop.")

    with story.db.uow() as uow:
        assert [uow.session.get(Customer, c).tokens for c in (amina.customer_id, brian.customer_id)] == [2, 2]
    assert story.last(BRIAN) == "Good news: Mwangaza Motors has restored your booking tokens. You have 2 this month."


def test_a_car_kept_overnight_is_still_the_mechanics_job_and_the_customers_booking(story):
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["brake-pads", "battery"], at(24, 10), MONDAY_9, plate="KCB 123A")
    verify_on_telegram(story, KIP_TG, KIPRONO, MONDAY_9)
    story.say(KIP_TG, f"received {job.code}", at(24, 10))
    story.say(KIP_TG, f"start {job.code}", at(24, 10, 5))  # then a part is missing: the car stays the night

    story.say(KIP_TG, "jobs", at(25, 8))
    assert [data for _, data in story.buttons(KIP_TG)][:1] == [f"st:job:{job.id}"]
    story.tap(AMINA, "m:bookings", at(25, 8, 30))
    assert [label.split(" · ")[0] for label, _ in story.buttons(AMINA)][:1] == ["MM-1001"]


@pytest.mark.parametrize("lang, phone, chat, extra, skip, asked", [
    ("ru", ERLAN, 7000001, "доп 1001", "пропустить", "Отправить клиенту на согласование «Тормозные диски» за 20\xa0000\xa0₸? "
     "Вместе с этой работой итог — 35\xa0000\xa0₸."),
    ("kk", "+77052000002", 7000002, "қосымша 1001", "өткізіп жіберу", "Клиенттен «Тормозные диски» жұмысына 20\xa0000\xa0₸ "
     "бағасымен келісім сұрайық па? Сонда жалпы сома 35\xa0000\xa0₸ болады.")])  # fmt: skip
def test_a_mechanic_skips_the_photo_of_extra_work_with_the_word_the_prompt_uses(story, lang, phone, chat, extra, skip,
                                                                               asked):
    """"…или пропустите этот шаг": the prompt's own word skips it, not only the button's."""
    book(story.db, story.shop_id("zhaiyk-auto"), "7100001", ["brake-pads"], at(24, 10), MONDAY_9, language=lang)
    verify_on_telegram(story, chat, phone, MONDAY_9, "zhaiyk-auto")
    for typed in (extra, "Тормозные диски", "20000", skip):
        story.say(chat, typed, at(24, 10, 20), slug="zhaiyk-auto", lang=lang)

    assert story.texts(chat)[-1] == asked  # the photo step passed


def test_an_owners_answer_that_names_a_booking_goes_to_the_customer_and_moves_nothing(story):
    """"Tayari nimekuwekea MM-1001 kesho" ("I have already booked you…", tayari = already)
    starts with a job word and names a booking: it is still the answer, not "ready"."""
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["oil-change"], at(24, 10), MONDAY_9)
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.tap(AMINA, "m:shop", MONDAY_9)
    story.say(AMINA, "Can you fit me in tomorrow?", MONDAY_9)
    story.tap(OWNER_TG, story.buttons(OWNER_TG)[0][1], MONDAY_9)

    story.say(OWNER_TG, "Tayari nimekuwekea MM-1001 kesho saa nne", MONDAY_9)

    assert story.last(AMINA).startswith("Mwangaza Motors answers: Tayari nimekuwekea MM-1001 kesho saa nne")
    assert status_of(story, job.id) == "confirmed"


def test_a_job_moved_on_a_visit_of_another_day_is_asked_about_first(story):
    """"received 1001" for next week's visit: most likely a mistyped number. Asked first;
    "No" changes nothing, "Yes" takes the car in (it came early)."""
    shop = story.shop_id("mwangaza-motors")
    customer_starts(story, AMINA, MONDAY_9)
    job = book(story.db, shop, str(AMINA), ["oil-change"], at(30, 10), MONDAY_9)
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)

    story.say(OWNER_TG, "received 1001", MONDAY_9)

    assert story.last(OWNER_TG) == "MM-1001 is booked for Mon 30 Nov, 10:00. Has its car come in already?"
    story.answer(OWNER_TG, False, MONDAY_9)
    assert status_of(story, job.id) == "confirmed"
    story.say(OWNER_TG, "received 1001", MONDAY_9)
    story.answer(OWNER_TG, True, MONDAY_9)
    assert status_of(story, job.id) == "received"


def status_of(story, booking_id: int) -> str:
    with story.db.uow() as uow:
        return uow.session.get(Booking, booking_id).status
