"""One whole day of Mwangaza Motors, as one story, through the same path as the webhooks
(inbox → staff or customer conversation → core → outbox → the fake Bot API), on a clock
the story sets: customers book by chat on Monday; on Tuesday the reminders go out, cars
are received, extra work is approved and declined, a customer does not come, another
cancels late, a mechanic goes off shift, jobs are completed and paid, customers rate
them; at 19:00 the owner's digest arrives, and its figures are asserted exactly."""

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from core import digest, reminders
from core.booking import confirm
from core.models import Booking, BookingItem, Customer, Payment, Rating, Staff
from core.runtime import current_runtime
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import start_pitstop
from tests.integration.staff_helpers import (
    ACHIENG,
    KIPRONO,
    OTIENO,
    WANJIRU,
    Clocked,
    outbox_keys,
    said,
    verify_on_telegram,
)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Nairobi wall time, November 2026 (Monday the 23rd, Tuesday the 24th)."""
    return datetime(2026, 11, day, hour - 3, minute, tzinfo=UTC)


OWNER, OTI, KIP, ACH = 6000001, 6000002, 6000003, 6000004
AMINA, BRIAN, CHLOE, DAVID, ESTHER, FATIMA, GRACE, HASSAN = range(5550001, 5550009)
SVC = {"oil-change": 1, "brake-pads": 2, "diagnosis": 4, "wheel-alignment": 5, "tyre-change": 7, "battery": 8}


@pytest.fixture
def story(sqlite_url, tmp_path):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        yield Clocked(start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")}))


def chat_book(story, user, name, service, plate, when, now, method="cash", phone=None):
    """A customer books by chat, exactly as on Telegram."""
    story.say(user, "/start", now, first_name=name)
    story.tap(user, "lang:en", now)
    story.tap(user, "m:book", now)
    story.tap(user, f"svc:{SVC[service]}", now)
    story.tap(user, "done", now)
    story.say(user, plate, now)
    story.tap(user, "skip", now)
    story.say(user, when, now)
    assert "Please check your booking:" in story.last(user), story.last(user)
    story.tap_button(user, "confirm:", now)
    story.tap(user, f"pay:{method}", now)
    if method == "mpesa":
        story.contact(user, phone, now)
    with story.db.uow() as uow:
        b = uow.session.scalars(select(Booking).order_by(Booking.id.desc())).first()
        return b.id, b.code


def mpesa_paid(story, booking_id, now, receipt):
    """Stand-in for the M-Pesa callback (core/payments, issue 6): the deposit arrived."""
    with story.db.uow() as uow:
        s = uow.session
        payment = s.scalar(select(Payment).where(Payment.booking_id == booking_id))
        payment.status, payment.completed_at, payment.receipt = "completed", now, receipt
        confirm(s, booking_id, "system:mpesa", now, "deposit paid")


def status(story, booking_id):
    with story.db.uow() as uow:
        return uow.session.get(Booking, booking_id).status


def test_a_whole_day_at_mwangaza_motors(story):
    # -- Monday: staff prove their phones; customers book ----------------------------------
    mon = at(23, 9)
    for user, phone in ((OWNER, WANJIRU), (OTI, OTIENO), (KIP, KIPRONO), (ACH, ACHIENG)):
        verify_on_telegram(story, user, phone, mon)
    amina, _ = chat_book(story, AMINA, "Amina", "oil-change", "KCB 111A", "24 nov 08:00", mon)
    brian, _ = chat_book(story, BRIAN, "Brian", "brake-pads", "KCC 222B", "24 nov 08:00", mon, "mpesa", "254712000222")
    mpesa_paid(story, brian, at(23, 9, 5), "QKA1B2C3D4")
    chloe, _ = chat_book(story, CHLOE, "Chloe", "diagnosis", "KCD 333C", "24 nov 10:00", mon)
    david, _ = chat_book(story, DAVID, "David", "wheel-alignment", "KCE 444D", "24 nov 14:00", mon)
    esther, _ = chat_book(story, ESTHER, "Esther", "battery", "KCF 555E", "24 nov 15:00", mon, "mpesa", "254712000555")
    mpesa_paid(story, esther, at(23, 9, 10), "QKE5F6G7H8")
    fatima, _ = chat_book(story, FATIMA, "Fatima", "tyre-change", "KCG 666F", "24 nov 16:00", mon)
    hassan, _ = chat_book(story, HASSAN, "Hassan", "diagnosis", "KCJ 888H", "24 nov 16:00", mon)
    grace, _ = chat_book(story, GRACE, "Grace", "battery", "KCH 777G", "25 nov 09:00", mon, "mpesa", "254712000777")
    mpesa_paid(story, grace, at(23, 9, 15), "QKG9H0J1K2")
    tg = {"Kiprono": KIP, "Otieno": OTI, "Achieng": ACH}
    assert mechanics(story) == {"MM-1001": "Otieno", "MM-1002": "Kiprono", "MM-1003": "Achieng", "MM-1004": "Achieng",
                                "MM-1005": "Kiprono", "MM-1006": "Otieno", "MM-1007": "Achieng", "MM-1008": "Kiprono"}  # fmt: skip
    of = {code: tg[name] for code, name in mechanics(story).items()}

    def cron(t):  # the reminder job, run twice each time (as two cron processes would)
        reminders.send_due(story.db, t)
        reminders.send_due(story.db, t)

    for t in (at(23, 10, 5), at(23, 14, 5), at(23, 15, 5), at(23, 16, 5), at(24, 6, 5), at(24, 8, 5)):
        cron(t)

    # -- Tuesday morning ------------------------------------------------------------------
    story.say(of["MM-1001"], "received 1001", at(24, 7, 55))
    story.say(of["MM-1001"], "start 1001", at(24, 8, 5))
    for typed in ("extra 1001", "Wiper blades are torn", "1200", "skip", "yes"):
        story.say(of["MM-1001"], typed, at(24, 8, 30))
    extra_a = _last_extra(story)
    assert story.last(AMINA).endswith("It costs Ksh1,200. With it your total would be Ksh4,700.\nDo you approve this work?")
    story.tap(AMINA, f"extra:yes:{extra_a}", at(24, 8, 35))

    story.say(of["MM-1002"], "received 1002", at(24, 7, 58))
    story.say(of["MM-1002"], "start 1002", at(24, 8, 10))
    for typed in ("extra 1002", "Front brake discs", "9,000", "skip", "yes"):
        story.say(of["MM-1002"], typed, at(24, 8, 40))
    extra_b = _last_extra(story)
    story.tap(BRIAN, f"extra:no:{extra_b}", at(24, 8, 50))

    story.tap(FATIMA, "m:bookings", at(24, 9))  # Fatima cancels late: it costs her a token
    story.tap(FATIMA, f"bk:{fatima}", at(24, 9))
    story.tap(FATIMA, "cancel", at(24, 9))
    story.tap_button(FATIMA, "yes:", at(24, 9))
    assert story.last(FATIMA).startswith("Cancelled MM-1006.\nOne token was used. You have 1 left this month.")
    cron(at(24, 9, 5))

    story.say(of["MM-1001"], "ready 1001", at(24, 9, 15))
    story.say(of["MM-1001"], "done 1001", at(24, 9, 40))
    story.answer(of["MM-1001"], True, at(24, 9, 40))  # paid the balance in cash
    story.tap(AMINA, f"rate:{amina}:5", at(24, 9, 45))

    story.say(of["MM-1002"], "ready 1002", at(24, 10, 15))
    story.say(of["MM-1002"], "done 1002", at(24, 10, 30))
    story.answer(of["MM-1002"], False, at(24, 10, 30))  # will pay later
    assert "Deposit paid by M-Pesa: Ksh1,000\nBalance to pay: Ksh3,500" in story.last(BRIAN)
    story.tap(BRIAN, f"rate:{brian}:3", at(24, 10, 35))

    story.say(of["MM-1003"], "no show 1003", at(24, 10, 30))  # Chloe did not come
    story.answer(of["MM-1003"], True, at(24, 10, 30))
    assert story.last(CHLOE).startswith("We missed you today: booking MM-1003 at 10:00 was marked as a no-show.")

    # -- midday: Achieng goes home ---------------------------------------------------------
    story.say(ACH, "off shift", at(24, 12))
    story.answer(ACH, True, at(24, 12))
    assert said("sw", "Handed to colleagues: {codes}.", codes="MM-1007") in story.last(ACH)  # Achieng reads Swahili
    assert "MM-1004." in story.last(ACH)
    assert story.last(HASSAN).startswith("A change to your booking MM-1007 on Tue 24 Nov, 16:00: Otieno will work")
    assert story.last(DAVID).startswith("Sorry, the mechanic for your booking MM-1004 on Tue 24 Nov, 14:00 is not available")
    assert story.last(OWNER).startswith("MM-1004 on Tue 24 Nov, 14:00 has no mechanic since Achieng Atieno went off shift.")
    for t in (at(24, 12, 5), at(24, 13, 5), at(24, 14, 5)):
        cron(t)
    assert mechanics(story)["MM-1007"] == "Otieno"
    of = {code: tg[name] for code, name in mechanics(story).items()}

    # -- afternoon ------------------------------------------------------------------------
    story.say(of["MM-1005"], "received 1005", at(24, 14, 50))
    story.say(of["MM-1005"], "start 1005", at(24, 15))
    story.say(of["MM-1005"], "ready 1005", at(24, 15, 40))
    story.say(of["MM-1005"], "done 1005", at(24, 16, 10))
    story.answer(of["MM-1005"], True, at(24, 16, 10))
    story.say(of["MM-1007"], "start 1007", at(24, 16))
    story.say(of["MM-1007"], "done 1007", at(24, 16, 30))
    story.answer(of["MM-1007"], True, at(24, 16, 30))
    story.tap(HASSAN, f"rate:{hassan}:4", at(24, 17))

    # Each reminder once, though the job ran twice every time; none for what was cancelled,
    # moved off its time, or booked inside the window.
    reminded = [re.sub(r":\d{12}:", ":", k) for k in outbox_keys(story.db, "reminder:")]  # without the visit's time
    assert reminded == [
        f"reminder:{amina}:2h", f"reminder:{brian}:2h", f"reminder:{chloe}:24h", f"reminder:{chloe}:2h",
        f"reminder:{david}:24h", f"reminder:{esther}:24h", f"reminder:{esther}:2h", f"reminder:{fatima}:24h",
        f"reminder:{hassan}:24h", f"reminder:{hassan}:2h", f"reminder:{grace}:24h"]  # fmt: skip

    # -- 19:00: the owner's digest, once ---------------------------------------------------
    var = current_runtime().settings.var_dir
    assert digest.send_due(story.db, at(24, 18, 55), var) == 0
    assert digest.send_due(story.db, at(24, 19, 1), var) == 1
    assert digest.send_due(story.db, at(24, 19, 6), var) == 0
    sent = story.p.telegram.sent_messages(OWNER)
    text = [m["text"] for m in sent if m["method"] == "sendMessage" and m["text"].startswith("Daily digest")]
    assert text == ["Daily digest of Mwangaza Motors for Tue 24 Nov\n"
                    "Bookings today: 7 (completed: 4, needs a new time: 1, no-show: 1, cancelled: 1)\n"
                    "Revenue: Ksh15,700 (cash Ksh15,700)\n"
                    "Deposits held: Ksh3,000\n"
                    "No-shows: 1. Late cancellations: 1.\n"
                    "Mechanics busy: Otieno Ochieng 14%, Kiprono Langat 17%, Achieng Atieno 0%\n"
                    "Bays busy: Lift 1 14%, Lift 2 17%\n"
                    "Tomorrow: 1 booking\n"
                    "09:00 MM-1008 Battery replacement (Kiprono Langat)\n"
                    "Unpaid balances: Ksh3,500 (MM-1002 Ksh3,500)\n"
                    "Average rating today: 4.0 of 5 (3 ratings)\n"
                    "Stock: nothing below its minimum"]  # fmt: skip
    chart = [m for m in sent if m["method"] == "sendPhoto"]
    assert len(chart) == 1 and chart[0]["file"]["content"].startswith(b"\x89PNG")

    with story.db.uow() as uow:
        s = uow.session
        f = digest.figures_for(s, story.shop_id("mwangaza-motors"), at(24, 12).date(), at(24, 19))
        ratings = sorted((r.booking_id, s.get(Staff, r.mechanic_id).name.split()[0], r.stars) for r in s.scalars(select(Rating)))
        tokens = {c.name: c.tokens for c in s.scalars(select(Customer).where(Customer.name.in_(["Chloe", "Fatima", "Amina"])))}
        extras = sorted((i.description, i.status, i.decided_at) for i in s.scalars(select(BookingItem).where(BookingItem.kind == "extra")))
    assert f.by_status == {"completed": 4, "needs_reschedule": 1, "no_show": 1, "cancelled": 1}
    assert f.revenue_by_method == {"cash": 1_570_000}  # 4,700 + 9,000 + 2,000; the deposits came on Monday
    assert f.deposits_held_minor == 300_000  # Grace's, for tomorrow
    assert (f.no_shows, f.late_cancellations) == (1, 1)
    assert [(u.name, u.minutes, u.percent) for u in f.mechanics] == [
        ("Otieno Ochieng", 75, 14), ("Kiprono Langat", 90, 17), ("Achieng Atieno", 0, 0)]
    assert [(u.name, u.minutes, u.percent) for u in f.bays] == [("Lift 1", 75, 14), ("Lift 2", 90, 17)]
    assert [(p.code, p.mechanic) for p in f.tomorrow] == [("MM-1008", "Kiprono Langat")]
    assert f.unpaid == (("MM-1002", 350_000),)
    assert f.refunds_due == (0, 0) and f.low_stock == ()
    assert f.rating == (4.0, 3)
    assert [(c.day.day, c.bookings, c.revenue_minor) for c in f.chart[-2:]] == [(23, 0, 700_000), (24, 6, 1_570_000)]
    assert ratings == [(amina, "Otieno", 5), (brian, "Kiprono", 3), (hassan, "Otieno", 4)]  # per booking and mechanic
    assert tokens == {"Amina": 2, "Chloe": 1, "Fatima": 1}
    assert extras == [("Front brake discs", "declined", at(24, 8, 50)), ("Wiper blades are torn", "approved", at(24, 8, 35))]
    assert [status(story, i) for i in (amina, brian, chloe, david, esther, fatima, hassan, grace)] == [
        "completed", "completed", "no_show", "needs_reschedule", "completed", "cancelled", "completed", "confirmed"]


def mechanics(story) -> dict[str, str]:
    with story.db.uow() as uow:
        return {b.code: uow.session.get(Staff, b.mechanic_id).name.split()[0]
                for b in uow.session.scalars(select(Booking).order_by(Booking.id))}  # fmt: skip


def _last_extra(story):
    with story.db.uow() as uow:
        return uow.session.scalars(select(BookingItem.id).where(BookingItem.kind == "extra").order_by(BookingItem.id.desc())).first()
