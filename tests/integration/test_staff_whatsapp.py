"""Mechanics and owners on WhatsApp, over HTTP signed as Twilio signs, against the fake
Twilio: recognised by their number, numbered choices, typed commands; the customer
answers extra work and rates the visit by typing a number."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.staff_engine import EARLY_AFTER
from core import availability
from core.models import (
    Booking,
    BookingItem,
    ChannelIdentity,
    Closure,
    OutboxMessage,
    Payment,
    Rating,
    Service,
    Staff,
    utcnow,
)
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN, start_pitstop
from tests.integration.staff_helpers import FILE_LEFT, KIPRONO, WANJIRU, book

KAMAU = "+254722111222"


@pytest.fixture
def pitstop(sqlite_url, tmp_path):
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        yield start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")})


def bodies(pitstop, phone) -> list[str]:
    return [m["params"]["Body"] for m in pitstop.twilio.messages(f"whatsapp:{phone}") if m["params"].get("Body")]


def shop_id(pitstop, slug="mwangaza-motors"):
    from core.models import Shop

    with pitstop.runtime.db.uow() as uow:
        return uow.session.scalar(select(Shop.id).where(Shop.slug == slug))


def next_start(pitstop, shop, services, beyond: timedelta = EARLY_AFTER):
    """The first free start from tomorrow on (the WhatsApp window runs on the real clock),
    more than `beyond` ahead whatever the hour and the day the test runs: by default 12
    hours, as a car received earlier than that is first asked about ("Has its car come
    in already?")."""
    now = utcnow()
    with pitstop.runtime.db.uow() as uow:
        ids = [uow.session.scalar(select(Service.id).where(Service.shop_id == shop, Service.code == c)) for c in services]
        view = availability.shop_view(uow.session, shop)
        first = view.local_day(now) + timedelta(days=1)
        free = availability.free_slots(uow.session, shop, ids, first, first + timedelta(days=7) + beyond, now)
        return next(slot.start for slot in free if slot.start - now > beyond)


def test_a_mechanic_works_a_job_on_whatsapp_and_the_customer_answers_by_number(pitstop):
    shop = shop_id(pitstop)
    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")  # the customer has chatted before
    pitstop.whatsapp(KAMAU, "1")
    job = book(pitstop.runtime.db, shop, f"whatsapp:{KAMAU}", ["brake-pads", "battery"],
               next_start(pitstop, shop, ["brake-pads", "battery"]), utcnow(), channel="whatsapp", name="Kamau",
               plate="KDA 456B")  # fmt: skip

    pitstop.whatsapp(KIPRONO, "hello", name="Kiprono")
    assert bodies(pitstop, KIPRONO)[-1] == ("Thank you, Kiprono: you are now recognised as mechanic of Mwangaza Motors.\n"
                                            "Kiprono, what do you need?\n1. My jobs today\n2. Go off shift\n3. Stock\n4. Help")  # fmt: skip
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalar(select(Staff.verified_at).where(Staff.phone == KIPRONO)) is not None

    pitstop.whatsapp(KIPRONO, "MM-1001")
    card = bodies(pitstop, KIPRONO)[-1]
    assert "Customer: Kamau" in card and "Vehicle: KDA 456B" in card and card.endswith(
        "1. Car received\n2. Start work\n3. No-show\n4. Back to the jobs")
    pitstop.whatsapp(KIPRONO, "1")  # Car received
    assert bodies(pitstop, KIPRONO)[-1].startswith("MM-1001 is booked for ")  # tomorrow: "Has its car come in?"
    pitstop.whatsapp(KIPRONO, "1")  # Yes, it is here
    assert bodies(pitstop, KAMAU)[-1].startswith("We have received your car (KDA 456B) for MM-1001.")
    pitstop.whatsapp(KIPRONO, "anza")  # Swahili for start, the job on the screen
    assert bodies(pitstop, KIPRONO)[-1].endswith("1. Extra work found\n2. Ready for pickup\n3. Back to the jobs")
    pitstop.whatsapp(KIPRONO, "1")
    assert bodies(pitstop, KIPRONO)[-1].startswith("Extra work on MM-1001 (KDA 456B): what is needed?")
    for typed in ("Worn wiper blades", "1,200", "skip", "ndio"):
        pitstop.whatsapp(KIPRONO, typed)
    assert bodies(pitstop, KIPRONO)[-1].startswith("Sent to the customer: Worn wiper blades, Ksh1,200.")
    assert bodies(pitstop, KAMAU)[-1].endswith("Do you approve this work?\n1. Approve\n2. Decline")

    pitstop.whatsapp(KAMAU, "1")
    assert bodies(pitstop, KAMAU)[-1].startswith("Thank you: the extra work (Worn wiper blades) is approved.")
    with pitstop.runtime.db.uow() as uow:
        item = uow.session.scalar(select(BookingItem).where(BookingItem.kind == "extra"))
        assert (item.status, item.decided_at is not None) == ("approved", True)
        assert uow.session.get(Booking, job.id).price_minor == 1_770_000

    pitstop.whatsapp(KIPRONO, "tayari 1001")
    assert any("Your car (KDA 456B) is ready for pickup." in b for b in bodies(pitstop, KAMAU)[-2:])
    assert any(b.endswith("Pay now, or at the shop when you collect it.\n1. M-Pesa\n2. M-Pesa from another number")
               for b in bodies(pitstop, KAMAU)[-2:])  # fmt: skip
    pitstop.whatsapp(KIPRONO, "imekamilika 1001")
    pitstop.whatsapp(KIPRONO, "2")  # not paid yet
    receipt = bodies(pitstop, KAMAU)[-1]
    assert "Balance to pay: Ksh17,700" in receipt
    assert receipt.endswith("How did we do? Please rate your visit from 1 to 5.\n1. ⭐\n2. ⭐⭐\n3. ⭐⭐⭐\n4. ⭐⭐⭐⭐\n5. ⭐⭐⭐⭐⭐\n"
                            "6. Receipt as PDF")  # the PDF goes by a media link on WhatsApp
    pitstop.whatsapp(KAMAU, "4")
    assert bodies(pitstop, KAMAU)[-1].startswith("Thank you for rating your visit 4 of 5!")
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalar(select(Rating.stars)) == 4
        assert uow.session.get(Booking, job.id).status == "completed"


def test_an_owner_on_whatsapp_closes_a_day_and_strangers_are_refused(pitstop, caplog):
    caplog.set_level(logging.INFO)
    pitstop.whatsapp(WANJIRU, "/close 2026-12-31 New Year's Eve", name="Wanjiru")
    assert any("is now closed for bookings" in b for b in bodies(pitstop, WANJIRU)[-1:])
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalar(select(Closure.reason).where(Closure.day == "2026-12-31")) == "New Year's Eve"

    stranger = "+254799000111"
    for typed in ("/staff", "/digest", "/close 2026-12-30", "/jobs"):
        pitstop.whatsapp(stranger, typed)
    answers = bodies(pitstop, stranger)
    assert answers[0] == "This number is not on the staff list of Mwangaza Motors. Ask the owner to add you."
    assert all(a.startswith("That command is only for the staff of Mwangaza Motors.") for a in answers[1:])
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refused) == 4 and all("799000111" not in r for r in refused)
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalar(select(Closure).where(Closure.day == "2026-12-30")) is None


def test_a_customers_message_reaches_an_owner_on_whatsapp_outside_its_window(pitstop):
    from core.models import ChannelIdentity

    pitstop.whatsapp(WANJIRU, "/menu", name="Wanjiru")  # the owner is known on WhatsApp...
    with pitstop.runtime.db.uow() as uow:  # ...but last wrote two days ago
        uow.session.get(ChannelIdentity, uow.session.scalar(select(ChannelIdentity.id).where(
            ChannelIdentity.address == f"whatsapp:{WANJIRU}"))).last_inbound_at = utcnow() - timedelta(days=2)  # fmt: skip
    pitstop.whatsapp(KAMAU, "Habari")
    pitstop.whatsapp(KAMAU, "1")  # English
    pitstop.whatsapp(KAMAU, "talk to the shop")
    pitstop.whatsapp(KAMAU, "My car makes a noise, can you call me?")

    [template] = [m["params"] for m in pitstop.twilio.messages(f"whatsapp:{WANJIRU}") if m["params"].get("ContentSid")]
    assert template["ContentSid"] == "HX4e5f60718293a4b5c6d7e8f90a1b2c3d"
    assert "My car makes a noise, can you call me?" in template["ContentVariables"]


def test_the_digest_reaches_an_owner_on_whatsapp_outside_its_window(pitstop, tmp_path):
    from core import digest
    from core.models import ChannelIdentity

    pitstop.whatsapp(WANJIRU, "/menu", name="Wanjiru")  # the owner is known on WhatsApp...
    with pitstop.runtime.db.uow() as uow:  # ...but last wrote two days ago
        uow.session.get(ChannelIdentity, uow.session.scalar(select(ChannelIdentity.id).where(
            ChannelIdentity.address == f"whatsapp:{WANJIRU}"))).last_inbound_at = utcnow() - timedelta(days=2)  # fmt: skip
    with pitstop.runtime.db.uow() as uow:
        assert digest.send(uow.session, shop_id(pitstop), utcnow().date(), utcnow(), tmp_path, key="digest:t") == 1

    [template] = [m["params"] for m in pitstop.twilio.messages(f"whatsapp:{WANJIRU}") if m["params"].get("ContentSid")]
    assert template["ContentSid"] == "HX4e5f60718293a4b5c6d7e8f90a1b2c3d"
    assert "Daily digest of Mwangaza Motors for " in template["ContentVariables"]


def test_extra_work_sent_as_a_template_is_shown_whole_before_an_answer_counts(pitstop):
    from core.models import ChannelIdentity

    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")
    pitstop.whatsapp(KAMAU, "1")
    shop = shop_id(pitstop)
    book(pitstop.runtime.db, shop, f"whatsapp:{KAMAU}", ["brake-pads", "battery"],
         next_start(pitstop, shop, ["brake-pads", "battery"]), utcnow(), channel="whatsapp", name="Kamau",
         plate="KDA 456B")  # fmt: skip
    with pitstop.runtime.db.uow() as uow:  # Kamau last wrote two days ago
        uow.session.get(ChannelIdentity, uow.session.scalar(select(ChannelIdentity.id).where(
            ChannelIdentity.address == f"whatsapp:{KAMAU}"))).last_inbound_at = utcnow() - timedelta(days=2)  # fmt: skip
    for typed in ("hello", "MM-1001", "1", "1", "anza", "1", "Worn wiper blades", "6,500", "skip", "ndio"):  # fmt: skip
        pitstop.whatsapp(KIPRONO, typed, name="Kiprono")
    assert pitstop.twilio.messages(f"whatsapp:{KAMAU}")[-1]["params"].get("ContentSid")  # only the template went

    pitstop.whatsapp(KAMAU, "ok", name="Kamau")  # not an answer to a price they never saw

    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalar(select(BookingItem.status).where(BookingItem.kind == "extra")) == "proposed"
    shown = bodies(pitstop, KAMAU)[-1]
    assert "Worn wiper blades" in shown and "6,500" in shown and shown.endswith("1. Approve\n2. Decline")
    pitstop.whatsapp(KAMAU, "1")
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalar(select(BookingItem.status).where(BookingItem.kind == "extra")) == "approved"


def test_extra_work_for_a_customer_booked_by_the_shop_who_never_chatted_is_shown_whole(pitstop):
    from core import notices
    from core.models import ChannelIdentity, Conversation

    shop = shop_id(pitstop)
    book(pitstop.runtime.db, shop, f"whatsapp:{KAMAU}", ["brake-pads", "battery"],
         next_start(pitstop, shop, ["brake-pads", "battery"]), utcnow(), channel="whatsapp", name="Kamau",
         plate="KDA 456B")  # fmt: skip
    with pitstop.runtime.db.uow() as uow:  # booked at the counter: Kamau never wrote to us
        uow.session.get(ChannelIdentity, uow.session.scalar(select(ChannelIdentity.id).where(
            ChannelIdentity.address == f"whatsapp:{KAMAU}"))).last_inbound_at = None  # fmt: skip
        assert uow.session.scalar(select(Conversation)) is None
    for typed in ("hello", "MM-1001", "1", "1", "anza", "1", "Worn wiper blades", "6,500", "skip", "ndio"):  # fmt: skip
        pitstop.whatsapp(KIPRONO, typed, name="Kiprono")
    # another notice with choices comes meanwhile: the whole one is still owed
    notices.remember_choices(shop, "whatsapp", f"whatsapp:{KAMAU}", [["rm:cancel:1", ["Cancel"]]],
                             (utcnow() + timedelta(hours=1)).isoformat())  # fmt: skip

    pitstop.whatsapp(KAMAU, "ok", name="Kamau")

    shown = bodies(pitstop, KAMAU)[-1]
    assert "Worn wiper blades" in shown and shown.endswith("1. Approve\n2. Decline")


def kiprono_at_extra_work(pitstop, *typed: str) -> None:
    """Kamau's job with Kiprono, who has typed `typed` on it (after the job's card)."""
    shop = shop_id(pitstop)
    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")
    book(pitstop.runtime.db, shop, f"whatsapp:{KAMAU}", ["brake-pads", "battery"],
         next_start(pitstop, shop, ["brake-pads", "battery"]), utcnow(), channel="whatsapp", name="Kamau",
         plate="KDA 456B")  # fmt: skip
    for text in ("hello", "MM-1001", "1", "1", *typed):  # received (the visit is tomorrow: "has it come?" yes)
        pitstop.whatsapp(KIPRONO, text, name="Kiprono")


def photo_from_kiprono(pitstop, words: str, media: str) -> None:
    """A photo with `words` under it, as Twilio posts it."""
    from pitstop.fakes import twilio as fake_twilio

    params = fake_twilio.inbound_media_params(
        f"whatsapp:{KIPRONO}", words, f"https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/{media}",
        profile_name="Kiprono")  # fmt: skip
    assert pitstop._post_signed("/webhooks/whatsapp/mwangaza-motors", params).status_code == 200


def test_a_mechanics_photo_of_extra_work_with_words_under_it_is_taken_as_the_photo(pitstop):
    kiprono_at_extra_work(pitstop, "anza", "1", "Worn wiper blades", "1,200")
    assert bodies(pitstop, KIPRONO)[-1].startswith("Send a photo of it for the customer, or skip.")

    photo_from_kiprono(pitstop, "Wipers worn out", "ME1")

    assert bodies(pitstop, KIPRONO)[-1].startswith("Photo received.\nAsk the customer to approve")


def test_a_photo_sent_while_describing_extra_work_gives_its_words_as_the_description(pitstop):
    kiprono_at_extra_work(pitstop, "anza", "1")
    assert bodies(pitstop, KIPRONO)[-1].startswith("Extra work on MM-1001 (KDA 456B): what is needed?")

    photo_from_kiprono(pitstop, "Worn wiper blades", "ME2")

    assert bodies(pitstop, KIPRONO)[-1].startswith("How much will \"Worn wiper blades\" cost? Type the price, like 2500.")


def test_a_photo_sent_with_the_description_of_extra_work_is_its_photo_and_not_asked_for_again(pitstop):
    kiprono_at_extra_work(pitstop, "anza", "1")
    photo_from_kiprono(pitstop, "Worn wiper blades", "ME3")

    pitstop.whatsapp(KIPRONO, "1,200", name="Kiprono")

    assert bodies(pitstop, KIPRONO)[-1].startswith("Ask the customer to approve \"Worn wiper blades\" for Ksh1,200?")


def test_a_mechanics_photo_captioned_like_a_command_away_from_extra_work_is_not_run_as_one(pitstop):
    kiprono_at_extra_work(pitstop)
    said = len(bodies(pitstop, KIPRONO))

    photo_from_kiprono(pitstop, "ready 1001", "ME4")

    [told] = bodies(pitstop, KIPRONO)[said:]
    assert told.startswith("This photo was not sent to anyone.\nTo send a photo of extra work, first choose the job "
                           "and \"Extra work found\".\n")  # a mechanic answers no customer: no word of that  # fmt: skip
    card = told.split("\n")[2]
    assert card.startswith("MM-1001, ") and card.endswith(": car received")  # the job's card again, not made ready


@pytest.fixture
def pg_pitstop(pg_only, tmp_path):
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        pitstop = start_pitstop(pg_only, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")})
        yield pitstop
        pitstop.runtime.close()


def test_an_owners_first_whatsapp_message_closing_a_day_waits_for_a_hold_being_written(pg_pitstop, monkeypatch):
    """Recognising the owner on WhatsApp took the shop's row, then /close waited for the
    day's lock, which a hold held while it waited for the shop's row: PostgreSQL found
    a deadlock and one of them failed. WhatsApp staff are not part of the shop's view,
    so recognising them no longer takes the row."""
    import threading
    import time

    from core import booking
    from core.booking import Held
    from core.customers import customer_for

    shop = shop_id(pg_pitstop)
    db = pg_pitstop.runtime.db
    with db.uow() as uow:
        amina = customer_for(uow.session, shop, "telegram", "5550101", language="en").id
        oil = uow.session.scalar(select(Service.id).where(Service.shop_id == shop, Service.code == "oil-change"))
    start = next_start(pg_pitstop, shop, ["oil-change"])
    with db.uow() as uow:
        day = availability.shop_view(uow.session, shop).local_day(start)
    owner, write = [], booking._WRITE_HOLD["postgresql"]

    def write_while_the_owner_closes(session, view, row, services):
        if not owner:  # the hold has the day's lock: Wanjiru's very first message comes in now
            owner.append(threading.Thread(target=pg_pitstop.whatsapp, args=(WANJIRU, f"/close {day.isoformat()}")))
            owner[0].start()
            time.sleep(0.5)
        return write(session, view, row, services)

    monkeypatch.setitem(booking._WRITE_HOLD, "postgresql", write_while_the_owner_closes)
    held = booking.hold(db, shop_id=shop, customer_id=amina, service_ids=(oil,), start=start, now=utcnow(),
                        channel="telegram")  # fmt: skip
    owner[0].join(30)

    assert isinstance(held, Held)
    assert bodies(pg_pitstop, WANJIRU)[-1].startswith("Thank you, Wanjiru: you are now recognised as owner of "
                                                      "Mwangaza Motors.\n")  # fmt: skip
    assert "is now closed for bookings." in bodies(pg_pitstop, WANJIRU)[-1]
    with db.uow() as uow:
        assert uow.session.get(Booking, held.booking_id).status == "expired"  # let go once the day closed


def kamau_cancels_a_visit_paid_in_advance(pitstop, shop: int):
    """Kamau's brake-pads visit, its Ksh1,000 deposit paid by M-Pesa, cancelled in time:
    the money is due back to him."""
    from core import booking as bk

    now = utcnow()
    start = next_start(pitstop, shop, ["brake-pads"], beyond=timedelta(days=3))  # an open hour, whatever today is
    visit = book(pitstop.runtime.db, shop, f"whatsapp:{KAMAU}", ["brake-pads"], start, now, channel="whatsapp",
                 name="Kamau")  # fmt: skip
    with pitstop.runtime.db.uow() as uow:
        uow.session.add(Payment(shop_id=shop, booking_id=visit.id, provider="mpesa", purpose="deposit",
                                amount_minor=100_000, currency="KES", status="completed", receipt="RCPT123456",
                                phone=KAMAU, raw_callbacks=[], checks=0, created_at=now, completed_at=now,
                                updated_at=now))  # fmt: skip
    assert bk.cancel(pitstop.runtime.db, visit.id, "customer:x", now).refund_minor == 100_000
    return visit


def test_the_refund_returned_later_reaches_a_whatsapp_customer_who_went_quiet(pitstop):
    """Kamau cancelled in time; two days later the owner returns his deposit and writes
    /refunded. The window is closed, so only the status template ("cancelled") goes: the
    news that his money came back is sent whole when he next writes."""
    from core import payments

    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")
    pitstop.whatsapp(KAMAU, "1")  # English
    visit = kamau_cancels_a_visit_paid_in_advance(pitstop, shop_id(pitstop))
    with pitstop.runtime.db.uow() as uow:  # two days pass
        identity = uow.session.scalar(select(ChannelIdentity).where(ChannelIdentity.address == f"whatsapp:{KAMAU}"))
        identity.last_inbound_at = utcnow() - timedelta(days=2)
    with pitstop.runtime.db.uow() as uow:  # the owner: /refunded MM-1001
        assert payments.mark_refunded(uow.session, visit.id, "staff:1", utcnow()) is not None
    assert pitstop.twilio.messages(f"whatsapp:{KAMAU}")[-1]["params"].get("ContentSid")  # the template only

    pitstop.whatsapp(KAMAU, "Habari", name="Kamau")  # he writes again: the window is open

    assert f"The shop has returned your payment of Ksh1,000 for booking {visit.code}." in bodies(pitstop, KAMAU)[-1]


def test_a_refund_due_is_not_shown_again_to_the_owner_once_he_marked_it_returned(pitstop):

    shop = shop_id(pitstop)
    pitstop.whatsapp(WANJIRU, "/menu", name="Wanjiru")  # the owner is known on WhatsApp...
    with pitstop.runtime.db.uow() as uow:  # ...but last wrote two days ago
        uow.session.scalar(select(ChannelIdentity).where(ChannelIdentity.address == f"whatsapp:{WANJIRU}")) \
            .last_inbound_at = utcnow() - timedelta(days=2)  # fmt: skip
    visit = kamau_cancels_a_visit_paid_in_advance(pitstop, shop)
    assert pitstop.twilio.messages(f"whatsapp:{WANJIRU}")[-1]["params"].get("ContentSid")  # the template only
    before = len(bodies(pitstop, WANJIRU))

    pitstop.whatsapp(WANJIRU, f"/refunded {visit.code}", name="Wanjiru")  # he sent it back on M-Pesa

    said = bodies(pitstop, WANJIRU)[before:]
    assert not any("Refund due" in b for b in said), " || ".join(said).replace("\n", " / ")


def test_a_second_photo_at_the_confirm_step_takes_the_first_ones_place_and_the_question_is_asked_again(pitstop):
    """Two photos sent at once (an album: a message each): the second, at the confirm
    step, was said to have gone to nobody, with 'first choose the job and Extra work
    found', which he had done."""
    kiprono_at_extra_work(pitstop, "anza", "1", "Worn wiper blades", "1,200")
    photo_from_kiprono(pitstop, "", "ME1")

    photo_from_kiprono(pitstop, "", "ME2")

    assert bodies(pitstop, KIPRONO)[-1].startswith(
        "Only one photo goes with the extra work: this one, in place of the one before.\n"
        "Ask the customer to approve \"Worn wiper blades\" for Ksh1,200?")  # fmt: skip
    pitstop.whatsapp(KIPRONO, "1", name="Kiprono")  # Send to the customer
    with pitstop.runtime.db.uow() as uow:
        [sent] = uow.session.scalars(select(OutboxMessage.body).where(OutboxMessage.kind == "photo"))
    assert sent["photo"].endswith("/Media/ME2")


def photos_from_kiprono(pitstop, words: str, *media: str | tuple[str, str]) -> None:
    """Several photos in one WhatsApp message, `words` under them, as Twilio posts it;
    a file of another kind given as (name, content type)."""
    from pitstop.fakes import twilio as fake_twilio

    base = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/"
    urls = [base + m if isinstance(m, str) else (base + m[0], m[1]) for m in media]
    params = fake_twilio.inbound_media_params(f"whatsapp:{KIPRONO}", words, urls, profile_name="Kiprono")
    assert pitstop._post_signed("/webhooks/whatsapp/mwangaza-motors", params).status_code == 200


def extra_photo_sent(pitstop) -> str:
    with pitstop.runtime.db.uow() as uow:
        [sent] = uow.session.scalars(select(OutboxMessage.body).where(OutboxMessage.kind == "photo"))
    return sent["photo"]


def test_three_photos_of_extra_work_in_one_whatsapp_message_keep_the_last_and_say_so_once(pg_pitstop):
    """"Photo received.": the mechanic believed all three would reach the customer."""
    kiprono_at_extra_work(pg_pitstop, "anza", "1", "Worn wiper blades", "1,200")
    said = len(bodies(pg_pitstop, KIPRONO))

    photos_from_kiprono(pg_pitstop, "", "ME1", "ME2", "ME3")

    [told] = bodies(pg_pitstop, KIPRONO)[said:]
    assert told.startswith("Only one photo goes with the extra work: the last of these.\n"
                           "Ask the customer to approve \"Worn wiper blades\" for Ksh1,200?")  # fmt: skip
    pg_pitstop.whatsapp(KIPRONO, "1", name="Kiprono")  # Send to the customer
    assert extra_photo_sent(pg_pitstop).endswith("/Media/ME3")


def test_photos_of_extra_work_with_its_description_in_one_whatsapp_message_keep_the_last_and_say_so(pg_pitstop):
    kiprono_at_extra_work(pg_pitstop, "anza", "1")
    said = len(bodies(pg_pitstop, KIPRONO))

    photos_from_kiprono(pg_pitstop, "Worn wiper blades", "ME1", "ME2")

    [told] = bodies(pg_pitstop, KIPRONO)[said:]
    assert told.startswith("Only one photo goes with the extra work: the last of these.\n"
                           "How much will \"Worn wiper blades\" cost? Type the price, like 2500.")  # fmt: skip
    pg_pitstop.whatsapp(KIPRONO, "1,200", name="Kiprono")
    pg_pitstop.whatsapp(KIPRONO, "1", name="Kiprono")  # Send to the customer
    assert extra_photo_sent(pg_pitstop).endswith("/Media/ME2")


INVOICE = ("ME9", "application/pdf")


def test_a_pdf_beside_the_photo_of_extra_work_in_one_whatsapp_message_is_said_not_to_go(pg_pitstop):
    """Only "Photo received." was said: the mechanic believed the customer would get his PDF too."""
    kiprono_at_extra_work(pg_pitstop, "anza", "1", "Worn wiper blades", "1,200")
    said = len(bodies(pg_pitstop, KIPRONO))

    photos_from_kiprono(pg_pitstop, "", INVOICE, "ME1")

    [told] = bodies(pg_pitstop, KIPRONO)[said:]
    assert told.startswith(f"Photo received.\n{FILE_LEFT}\n"
                           "Ask the customer to approve \"Worn wiper blades\" for Ksh1,200?")  # fmt: skip
    pg_pitstop.whatsapp(KIPRONO, "1", name="Kiprono")  # Send to the customer
    assert extra_photo_sent(pg_pitstop).endswith("/Media/ME1")


def test_a_pdf_beside_photos_with_the_description_of_extra_work_is_said_not_to_go(pg_pitstop):
    kiprono_at_extra_work(pg_pitstop, "anza", "1")
    said = len(bodies(pg_pitstop, KIPRONO))

    photos_from_kiprono(pg_pitstop, "Worn wiper blades", "ME1", INVOICE, "ME2")

    [told] = bodies(pg_pitstop, KIPRONO)[said:]
    assert told.startswith(f"Only one photo goes with the extra work: the last of these.\n{FILE_LEFT}\n"
                           "How much will \"Worn wiper blades\" cost? Type the price, like 2500.")  # fmt: skip


def test_photos_and_a_pdf_reaching_nobody_are_said_so_the_photos_as_several_and_the_pdf_too(pg_pitstop):
    kiprono_at_extra_work(pg_pitstop)
    said = len(bodies(pg_pitstop, KIPRONO))

    photos_from_kiprono(pg_pitstop, "", "ME1", "ME2", INVOICE)

    [told] = bodies(pg_pitstop, KIPRONO)[said:]
    assert told.startswith(f"These photos were not sent to anyone.\n{FILE_LEFT}\n"
                           "To send a photo of extra work, first choose the job and \"Extra work found\".\n")  # fmt: skip


def test_a_pdf_alone_at_the_photo_step_of_extra_work_is_said_not_to_go_and_the_photo_asked_again(pitstop):
    """"I can read text, buttons and photos of extra work" was all he heard: nothing said
    his invoice went nowhere, so he could believe the customer got it."""
    kiprono_at_extra_work(pitstop, "anza", "1", "Worn wiper blades", "1,200")
    said = len(bodies(pitstop, KIPRONO))

    photos_from_kiprono(pitstop, "", INVOICE)

    [told] = bodies(pitstop, KIPRONO)[said:]
    assert told.startswith(f"{FILE_LEFT}\nSend a photo of it for the customer, or skip.")
