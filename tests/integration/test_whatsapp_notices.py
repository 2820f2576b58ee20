"""Notices with choices on WhatsApp, where the customer answers by typing a number: a
waitlist offer, the balance when the car is ready, a failed payment's "try again".
Each is answered as the notice meant (not as the menu the chat showed before), and
outside the 24-hour window it goes as the shop's status template, then whole once the
customer writes."""

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import schedule
from core import reminders, waitlist
from core.models import (
    Booking,
    ChannelIdentity,
    Customer,
    InboxUpdate,
    OutboxMessage,
    Payment,
    Service,
    utcnow,
)
from pitstop.fakes import twilio as fake_twilio
from pitstop.fakes.daraja import FakeDaraja
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import PUBLIC, TWILIO_SID, TWILIO_TOKEN, start_pitstop
from tests.integration.staff_helpers import ACHIENG, KIPRONO, WANJIRU, book
from tests.integration.test_mpesa import chatting
from tests.integration.test_staff_whatsapp import KAMAU, bodies, next_start, shop_id


@pytest.fixture
def pitstop(sqlite_url, tmp_path):
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        yield start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")})


def offer_kamau_a_freed_time(pitstop, silent_for: timedelta | None = None, name: str = "Kamau"):
    """Kamau has chatted (and maybe gone quiet since), joined the waitlist for an oil
    change, and a time is offered to him. `name`: his WhatsApp profile's."""
    pitstop.whatsapp(KAMAU, "Habari", name=name)
    pitstop.whatsapp(KAMAU, "1", name=name)
    shop = shop_id(pitstop)
    start = next_start(pitstop, shop, ["oil-change"])
    with pitstop.runtime.db.uow() as uow:
        identity = uow.session.scalar(select(ChannelIdentity).where(ChannelIdentity.address == f"whatsapp:{KAMAU}"))
        if silent_for:
            identity.last_inbound_at = utcnow() - silent_for
        oil = uow.session.scalar(select(Service.id).where(Service.shop_id == shop, Service.code == "oil-change"))
        customer = identity.customer_id
    day = start.astimezone(ZoneInfo("Africa/Nairobi")).date()
    waitlist.join(pitstop.runtime.db, shop_id=shop, customer_id=customer, day=day, service_ids=(oil,), now=utcnow(),
                  channel="whatsapp")  # fmt: skip
    return waitlist.offer_freed(pitstop.runtime.db, shop, day, utcnow())


def status_of(pitstop, booking_id: int) -> str:
    with pitstop.runtime.db.uow() as uow:
        return uow.session.get(Booking, booking_id).status


def test_a_waitlist_offer_is_taken_by_typing_its_number(pitstop):
    offer = offer_kamau_a_freed_time(pitstop)
    assert bodies(pitstop, KAMAU)[-1].endswith("Do you want it?\n1. Yes, I'll take it\n2. No, thanks")

    pitstop.whatsapp(KAMAU, "1")

    assert status_of(pitstop, offer.held.booking_id) == "confirmed"
    assert bodies(pitstop, KAMAU)[-1].startswith("Booked! Your code is MM-1001.")


def test_a_waitlist_offer_outside_the_window_goes_as_the_status_template_and_whole_once_they_write(pitstop):
    offer = offer_kamau_a_freed_time(pitstop, silent_for=timedelta(days=2))
    last = pitstop.twilio.messages(f"whatsapp:{KAMAU}")[-1]["params"]
    assert last["ContentSid"] == "HX1b2c3d4e5f60718293a4b5c6d7e8f90a"  # the shop's status template

    pitstop.whatsapp(KAMAU, "ok", name="Kamau")  # not yet an answer: they have not seen the offer

    assert status_of(pitstop, offer.held.booking_id) == "held"
    assert bodies(pitstop, KAMAU)[-1].endswith("Do you want it?\n1. Yes, I'll take it\n2. No, thanks")
    pitstop.whatsapp(KAMAU, "ndiyo")
    assert status_of(pitstop, offer.held.booking_id) == "confirmed"


def test_a_customer_whose_whatsapp_profile_has_no_name_still_gets_the_template(pitstop):
    """Twilio refuses a template with an empty variable (21656): the greeting says "customer"."""
    offer = offer_kamau_a_freed_time(pitstop, silent_for=timedelta(days=2), name="")
    row = pitstop.twilio.messages(f"whatsapp:{KAMAU}")[-1]
    assert row["params"]["ContentSid"] == "HX1b2c3d4e5f60718293a4b5c6d7e8f90a"
    assert json.loads(row["params"]["ContentVariables"]) == {"1": "customer", "2": "MM-1001", "3": "waiting for payment"}
    with pitstop.runtime.db.uow() as uow:
        sent = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"%{offer.held.booking_id}%"),
                                                              OutboxMessage.address == f"whatsapp:{KAMAU}"))
        assert (sent.status, sent.last_error) == ("sent", None)


def test_a_name_across_lines_goes_into_a_template_on_one_line(pitstop):
    offer_kamau_a_freed_time(pitstop, silent_for=timedelta(days=2), name="Kamau\n  wa    Njoroge")
    row = pitstop.twilio.messages(f"whatsapp:{KAMAU}")[-1]
    assert json.loads(row["params"]["ContentVariables"])["1"] == "Kamau wa Njoroge"


def twilio_reports(pitstop, sid: str, status: str, error_code: str) -> None:
    """Twilio's status callback for one message we sent, signed as Twilio signs it."""
    path = "/webhooks/whatsapp/mwangaza-motors/status"
    params = {"MessageSid": sid, "MessageStatus": status, "ErrorCode": error_code, "AccountSid": TWILIO_SID}
    headers, form = fake_twilio.signed_inbound(PUBLIC + path, TWILIO_TOKEN, params)
    assert pitstop.client.post(path, data=form, headers=headers).status_code == 200


def test_an_offer_twilio_could_not_deliver_is_not_taken_by_the_next_number_and_comes_whole_when_they_write(pitstop):
    offer = offer_kamau_a_freed_time(pitstop)
    with pitstop.runtime.db.uow() as uow:
        sent = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.address == f"whatsapp:{KAMAU}")
                                   .order_by(OutboxMessage.id)).all()[-1]  # fmt: skip
        sid = sent.provider_message_id
    assert sent.body["texts"][-1]["id"].endswith("Do you want it?") and sid  # accepted by Twilio...

    twilio_reports(pitstop, sid, "undelivered", "30003")  # ...but never reached his phone (switched off)

    before = len(bodies(pitstop, KAMAU))
    pitstop.whatsapp(KAMAU, "1")  # he means the menu he saw last: "Book a service"

    assert status_of(pitstop, offer.held.booking_id) == "held"  # not taken for him
    said = bodies(pitstop, KAMAU)[before:]
    assert said[0].startswith("Which service do you need?")  # what he meant: the menu's first choice
    assert len(said) == 2 and said[-1].endswith("Do you want it?\n1. Yes, I'll take it\n2. No, thanks")  # now shown whole
    pitstop.whatsapp(KAMAU, "1")
    assert status_of(pitstop, offer.held.booking_id) == "confirmed"


def test_an_offer_for_a_day_the_owner_closed_since_is_let_go_and_not_taken(pitstop):
    offer = offer_kamau_a_freed_time(pitstop)
    day = offer.held.starts_at.astimezone(ZoneInfo("Africa/Nairobi")).date()

    pitstop.whatsapp(WANJIRU, f"/close {day.isoformat()} Burst water pipe", name="Wanjiru")

    told = bodies(pitstop, WANJIRU)[-1]
    assert "is now closed for bookings.\nWanjiru, what do you need?" in told  # no booking left to settle with him
    assert status_of(pitstop, offer.held.booking_id) == "expired"
    pitstop.whatsapp(KAMAU, "1")  # "Yes, I'll take it"
    assert status_of(pitstop, offer.held.booking_id) == "expired"
    assert bodies(pitstop, KAMAU)[-1].startswith("Sorry, that time is no longer held for you.\nWhat would you like to do?")


def test_a_new_time_asked_for_outside_the_window_is_shown_whole_before_a_number_answers_it(pitstop):
    shop = shop_id(pitstop)
    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")
    pitstop.whatsapp(KAMAU, "1")
    job = book(pitstop.runtime.db, shop, f"whatsapp:{KAMAU}", ["wheel-alignment"],  # only Achieng aligns wheels
               next_start(pitstop, shop, ["wheel-alignment"]), utcnow(), channel="whatsapp", name="Kamau")  # fmt: skip
    with pitstop.runtime.db.uow() as uow:
        uow.session.scalar(select(ChannelIdentity).where(ChannelIdentity.address == f"whatsapp:{KAMAU}")) \
            .last_inbound_at = utcnow() - timedelta(days=2)  # fmt: skip
    pitstop.whatsapp(ACHIENG, "hello", name="Achieng")
    pitstop.whatsapp(ACHIENG, "off shift")
    pitstop.whatsapp(ACHIENG, "1")  # "Ndiyo, maliza zamu": nobody else aligns wheels, Kamau is asked for a new time
    last = pitstop.twilio.messages(f"whatsapp:{KAMAU}")[-1]["params"]
    assert last["ContentSid"] == "HX1b2c3d4e5f60718293a4b5c6d7e8f90a"  # only the status template could go

    pitstop.whatsapp(KAMAU, "1", name="Kamau")  # he has seen no choices yet

    assert status_of(pitstop, job.id) == "needs_reschedule"
    assert bodies(pitstop, KAMAU)[-1].endswith("Please choose a new time, or cancel the booking.\n1. Choose a new time\n"
                                               "2. Cancel the booking")  # fmt: skip


def reminded_after_his_window_closed(pitstop):
    """Kamau chatted (in English: the menu, "2. My bookings", is the last list he saw),
    booked an oil change, and went quiet; two days later its reminder can go only as the
    shop's reminder template. Returns the booking."""
    shop = shop_id(pitstop)
    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")
    pitstop.whatsapp(KAMAU, "1")
    job = book(pitstop.runtime.db, shop, f"whatsapp:{KAMAU}", ["oil-change"], next_start(pitstop, shop, ["oil-change"]),
               utcnow(), channel="whatsapp", name="Kamau")  # fmt: skip
    with pitstop.runtime.db.uow() as uow:
        uow.session.scalar(select(ChannelIdentity).where(ChannelIdentity.address == f"whatsapp:{KAMAU}")) \
            .last_inbound_at = utcnow() - timedelta(days=2)  # fmt: skip
        row = uow.session.get(Booking, job.id)
        reminders._remind(uow.session, row, 24, utcnow(), row.created_at - timedelta(days=5))
    assert pitstop.twilio.messages(f"whatsapp:{KAMAU}")[-1]["params"]["ContentSid"] == "HX0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    return job


def test_a_reminder_that_went_as_its_template_is_not_answered_by_the_menus_number(pitstop):
    job = reminded_after_his_window_closed(pitstop)  # the template has no list in it

    pitstop.whatsapp(KAMAU, "2", name="Kamau")  # "2. My bookings"

    said = bodies(pitstop, KAMAU)
    assert said[-2].startswith("Your upcoming bookings:\n1. MM-1001 · ")  # what he asked for
    assert said[-1].endswith("1. Change the time\n2. Cancel the booking")  # now the reminder, whole
    assert status_of(pitstop, job.id) == "confirmed"


@pytest.mark.parametrize("button, asked, then", [("Cancel the booking", "Cancel MM-1001 on ", "cancelled"),
                                                 ("Change the time", "Which day suits you?", "confirmed")])  # fmt: skip
def test_a_quick_reply_tapped_on_the_reminder_template_answers_that_reminder(pitstop, button, asked, then):
    job = reminded_after_his_window_closed(pitstop)
    reminder = pitstop.twilio.messages(f"whatsapp:{KAMAU}")[-1]  # the template, with its buttons

    path = "/webhooks/whatsapp/mwangaza-motors"  # Twilio posts the tap with the template's own button id
    tap = fake_twilio.inbound_button_params(f"whatsapp:{KAMAU}", button, "btn_2", reminder["sid"], profile_name="Kamau")
    headers, form = fake_twilio.signed_inbound(PUBLIC + path, TWILIO_TOKEN, tap)
    assert pitstop.client.post(path, data=form, headers=headers).status_code == 200

    said = bodies(pitstop, KAMAU)
    assert said[-1].startswith(asked) and not said[-2].startswith("Reminder:")  # answered, not shown again
    pitstop.whatsapp(KAMAU, "1")  # "Yes, cancel it", or the first day: the numbers answer what he sees
    assert status_of(pitstop, job.id) == then


def test_the_balance_is_paid_by_typing_its_number_when_the_car_is_ready(pitstop):
    shop = shop_id(pitstop)
    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")
    pitstop.whatsapp(KAMAU, "1")
    services = ["brake-pads", "battery"]  # Kiprono's job
    job = book(pitstop.runtime.db, shop, f"whatsapp:{KAMAU}", services, next_start(pitstop, shop, services), utcnow(),
               channel="whatsapp", name="Kamau", plate="KDA 456B")  # fmt: skip
    for typed in ("hello", "MM-1001", "1", "1", "tayari 1001"):  # car received (a visit of tomorrow: yes, here), then ready
        pitstop.whatsapp(KIPRONO, typed, name="Kiprono")
    assert bodies(pitstop, KAMAU)[-1].endswith("Pay now, or at the shop when you collect it.\n1. M-Pesa\n"
                                               "2. M-Pesa from another number")  # fmt: skip

    before = len(bodies(pitstop, KAMAU))
    pitstop.whatsapp(KAMAU, "1")

    answered = bodies(pitstop, KAMAU)[before]  # then the push fails: no Daraja here, and they are told so
    assert answered.startswith("Check your phone: M-Pesa will ask you to pay Ksh16,500. Enter your PIN to confirm.\n")
    with pitstop.runtime.db.uow() as uow:
        paying = uow.session.scalar(select(Payment).where(Payment.booking_id == job.id))
        assert (paying.purpose, paying.amount_minor, paying.phone) == ("balance", 1_650_000, KAMAU)


def whatsapp(chat, phone: str, body: str) -> None:
    """`Pitstop.whatsapp` for an app served on a real port (its own public address)."""
    path = "/webhooks/whatsapp/mwangaza-motors"
    headers, form = fake_twilio.signed_inbound(chat.runtime.settings.public_base_url + path, TWILIO_TOKEN,
                                               fake_twilio.inbound_text_params(f"whatsapp:{phone}", body))  # fmt: skip
    assert chat.client.post(path, data=form, headers=headers).status_code == 200


def test_after_a_cancelled_mpesa_prompt_pay_at_the_shop_is_chosen_by_its_number(url):
    phone = "+254712341032"  # FakeDaraja: the customer cancels the prompt
    with FakeDaraja(callback_delay=0.05) as fake, chatting(url, MPESA_API_BASE=fake.url) as chat:
        for typed in ("Habari", "1", "1", "oil change", "1", "KDA 456B", "skip", "2", "1", "1", "1"):
            whatsapp(chat, phone, typed)  # ... a day, its first time, confirm, M-Pesa
        fake.wait_callbacks(1)
        failed = bodies(chat, phone)[-1]
        assert failed.startswith("You cancelled the M-Pesa payment for booking MM-1001.")
        assert failed.endswith("1. M-Pesa\n2. M-Pesa from another number\n3. Pay at the shop")

        whatsapp(chat, phone, "3")

        with chat.runtime.db.uow() as uow:
            assert uow.session.scalar(select(Booking.status)) == "confirmed"
        assert bodies(chat, phone)[-1].startswith("Booked! Your code is MM-1001.")


def test_after_a_failed_prompt_the_customer_pays_from_his_other_mpesa_number(url):
    phone = "+254712341111"  # FakeDaraja: too little on this line's M-Pesa (his WhatsApp is on another SIM)
    with FakeDaraja(callback_delay=0.05) as fake, chatting(url, MPESA_API_BASE=fake.url) as chat:
        failed_prompt(chat, fake, phone)

        whatsapp(chat, phone, "2")
        assert bodies(chat, phone)[-1].startswith("Which number should M-Pesa ask to pay? Type it, like 0712 345 678.")
        whatsapp(chat, phone, "0722 000 555")  # his M-Pesa line
        fake.wait_callbacks(2)

        assert [p["phone"] for p in fake.pushes()] == ["254712341111", "254722000555"]
        with chat.runtime.db.uow() as uow:
            assert uow.session.scalar(select(Booking.status)) == "confirmed"
            assert uow.session.scalar(select(Customer.phone)) == phone  # his own number stays his: it was for this once


def failed_prompt(chat, fake, phone: str) -> None:
    """He books on WhatsApp and pays by M-Pesa; the prompt fails (FakeDaraja: the line's
    last digits say how). The notice offers to try again."""
    for typed in ("Habari", "1", "1", "oil change", "1", "KDA 456B", "skip", "2", "1", "1", "1"):
        whatsapp(chat, phone, typed)  # ... a day, its first time, confirm, M-Pesa
    fake.wait_callbacks(1)
    assert bodies(chat, phone)[-1].endswith("1. M-Pesa\n2. M-Pesa from another number\n3. Pay at the shop")


def test_back_from_which_number_shows_the_payment_choices_again(url):
    phone = "+254712341032"  # FakeDaraja: he cancels the prompt
    with FakeDaraja(callback_delay=0.05) as fake, chatting(url, MPESA_API_BASE=fake.url) as chat:
        failed_prompt(chat, fake, phone)
        whatsapp(chat, phone, "2")  # another number... no
        whatsapp(chat, phone, "back")
        assert bodies(chat, phone)[-1].endswith("1. M-Pesa\n2. M-Pesa from another number\n3. Pay at the shop")

        whatsapp(chat, phone, "3")

        assert bodies(chat, phone)[-1].startswith("Booked! Your code is MM-1001.")


def test_after_back_from_which_number_mpesa_asked_for_politely_is_still_m_pesa_itself(url):
    phone = "+254712341032"
    with FakeDaraja(callback_delay=0.05) as fake, chatting(url, MPESA_API_BASE=fake.url) as chat:
        failed_prompt(chat, fake, phone)
        whatsapp(chat, phone, "2")
        whatsapp(chat, phone, "back")

        whatsapp(chat, phone, "mpesa please")

        assert [p["phone"] for p in fake.pushes()] == ["254712341032", "254712341032"]


def test_mpesa_asked_for_politely_after_a_failed_prompt_is_m_pesa_itself(url):
    phone = "+254712341032"
    with FakeDaraja(callback_delay=0.05) as fake, chatting(url, MPESA_API_BASE=fake.url) as chat:
        failed_prompt(chat, fake, phone)

        whatsapp(chat, phone, "mpesa please")  # not "M-Pesa from another number", which has the word too

        assert [p["phone"] for p in fake.pushes()] == ["254712341032", "254712341032"]


class FakeTwilioThatReportsAtOnce(FakeTwilio):
    """Twilio as it is on a bad day: the status callback of a message it could not deliver
    reaches us before its answer to our create does, while the sender still holds the row."""

    def __init__(self, report, **kwargs):
        super().__init__(**kwargs)
        self.report = report  # sid -> posts its status callback

    def handle(self, rec, request):
        response = super().handle(rec, request)
        if rec.method == "POST" and "Do you want it?" in rec.form.get("Body", ""):
            self.report(json.loads(response.get_data())["sid"])
        return response


def test_an_undelivered_report_that_overtakes_the_senders_commit_still_frees_the_number(pg_only, tmp_path):
    with FakeTelegram() as telegram, \
            FakeTwilioThatReportsAtOnce(lambda sid: twilio_reports(pitstop, sid, "undelivered", "30003"),
                                        account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:  # fmt: skip
        pitstop = start_pitstop(pg_only, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")})
        offer = offer_kamau_a_freed_time(pitstop)
        with pitstop.runtime.db.uow() as uow:
            sent = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.address == f"whatsapp:{KAMAU}")
                                       .order_by(OutboxMessage.id)).all()[-1]  # fmt: skip
            assert (sent.status, sent.last_error) == ("undelivered", "Twilio error 30003")
            assert uow.session.scalar(select(InboxUpdate.outcome).where(
                InboxUpdate.external_id == f"{sent.provider_message_id}:undelivered")) == "applied"  # fmt: skip

        pitstop.whatsapp(KAMAU, "1")  # he means the menu he saw last

        assert status_of(pitstop, offer.held.booking_id) == "held"  # not taken for him
        assert bodies(pitstop, KAMAU)[-2].startswith("Which service do you need?")
        pitstop.runtime.close()


def test_a_report_that_came_before_its_sid_was_written_is_applied_by_the_redrive(pitstop):
    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")
    twilio_reports(pitstop, "SM" + "7" * 32, "undelivered", "63016")  # for a message whose sid is not known yet

    with pitstop.runtime.db.uow() as uow:  # the sender writes it down, just after it looked for such reports
        sent = uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()[-1]
        sent.provider_message_id, sent.status = "SM" + "7" * 32, "sent"
    schedule.redrive_outbox(min_age=timedelta(0))

    with pitstop.runtime.db.uow() as uow:
        sent = uow.session.get(OutboxMessage, sent.id)
        assert (sent.status, sent.last_error) == ("undelivered", "Twilio error 63016")


def test_a_report_for_no_message_of_ours_is_given_up_after_a_day(pitstop):
    twilio_reports(pitstop, "SM" + "8" * 32, "delivered", "")
    schedule.redrive_outbox(min_age=timedelta(0))
    with pitstop.runtime.db.uow() as uow:
        report = uow.session.scalar(select(InboxUpdate).where(InboxUpdate.external_id == "SM" + "8" * 32 + ":delivered"))
        assert report.outcome == "waiting: no message of ours has this sid yet"  # the sender may not have written it yet
        report.received_at -= timedelta(days=1, seconds=1)
    schedule.redrive_outbox(min_age=timedelta(0))
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.get(InboxUpdate, report.id).outcome == "ignored: no message of ours has this sid"


def test_tokens_restored_while_his_window_was_closed_are_told_when_he_next_writes(pitstop):
    """No template carries the news: it waits for his next message instead of failing."""
    shop = shop_id(pitstop)
    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")
    job = book(pitstop.runtime.db, shop, f"whatsapp:{KAMAU}", ["oil-change"], next_start(pitstop, shop, ["oil-change"]),
               utcnow(), channel="whatsapp", name="Kamau")  # fmt: skip
    with pitstop.runtime.db.uow() as uow:
        uow.session.scalar(select(ChannelIdentity).where(ChannelIdentity.address == f"whatsapp:{KAMAU}")) \
            .last_inbound_at = utcnow() - timedelta(days=2)  # fmt: skip
        uow.session.get(Customer, job.customer_id).tokens = 0
    sent_before = len(pitstop.twilio.messages(f"whatsapp:{KAMAU}"))
    pitstop.whatsapp(WANJIRU, "hello", name="Wanjiru")
    pitstop.whatsapp(WANJIRU, f"/tokens reset {job.code}")
    assert bodies(pitstop, WANJIRU)[-1].startswith(f"Tokens restored for {job.code}: 2 this month.")
    assert len(pitstop.twilio.messages(f"whatsapp:{KAMAU}")) == sent_before  # nothing can reach him now

    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")

    assert "Good news: Mwangaza Motors has restored your booking tokens. You have 2 this month." in bodies(pitstop, KAMAU)[-2:]
