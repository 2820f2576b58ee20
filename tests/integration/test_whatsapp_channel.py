"""WhatsApp stories over HTTP, signed exactly as Twilio signs, against the fake Twilio API."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.customers import customer_for
from core.models import Booking, ChannelIdentity, InboxUpdate, OutboxMessage
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio, signed_inbound
from tests.integration.booking_helpers import loaded
from tests.integration.channel_helpers import PUBLIC, TWILIO_SID, TWILIO_TOKEN, start_pitstop

KAMAU = "+254722111222"


@pytest.fixture
def pitstop(sqlite_url):
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        yield start_pitstop(sqlite_url, telegram, twilio)


def bodies(pitstop, phone=KAMAU) -> list[str]:
    return [m["params"]["Body"] for m in pitstop.twilio.messages() if m["params"].get("To") == f"whatsapp:{phone}"]


def count(pitstop, model, *where):
    with pitstop.runtime.db.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model).where(*where))


def test_customer_books_on_whatsapp_in_swahili_by_typing_numbers_and_words(sqlite_url):
    """On a Monday morning by Pitstop's clock: "kesho" (tomorrow) on the real clock is
    closed on some days (a Sunday, Jamhuri Day, Christmas Eve's stocktake)."""
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        pitstop = start_pitstop(sqlite_url, telegram, twilio, extra_env={"PITSTOP_NOW": "2026-11-23T07:00:00Z"})
        pitstop.whatsapp(KAMAU, "Habari")
        assert bodies(pitstop)[-1].endswith("1. English\n2. Kiswahili")
        pitstop.whatsapp(KAMAU, "2")
        for typed in ("1", "tyre change", "1", "KDA 456B", "Toyota Fielder", "kesho saa nne", "1"):
            pitstop.whatsapp(KAMAU, typed)
        pitstop.whatsapp(KAMAU, "2")  # pay at the shop
        with pitstop.runtime.db.uow() as uow:
            booking = uow.session.scalar(select(Booking))
        assert (booking.status, booking.channel) == ("confirmed", "whatsapp")
        assert booking.starts_at == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # Tuesday, 10:00 in Nairobi
        assert booking.code in bodies(pitstop)[-1]


def test_a_customers_slash_start_is_their_own_command_not_a_refused_staff_one(pitstop):
    pitstop.whatsapp(KAMAU, "/start")

    assert bodies(pitstop)[-1].startswith("Hello! This is Mwangaza Motors.")
    assert bodies(pitstop)[-1].endswith("1. English\n2. Kiswahili")


def test_a_forged_signature_is_refused_and_nothing_is_stored(pitstop):
    path = "/webhooks/whatsapp/mwangaza-motors"
    headers, form = signed_inbound(PUBLIC + path, "not-the-token", {"From": f"whatsapp:{KAMAU}", "Body": "hi", "MessageSid": "SM1"})
    assert pitstop.client.post(path, data=form, headers=headers).status_code == 403
    assert pitstop.client.post(path, data=form).status_code == 403
    headers, form = signed_inbound("https://elsewhere.example" + path, TWILIO_TOKEN, {"From": f"whatsapp:{KAMAU}", "Body": "hi", "MessageSid": "SM1"})
    assert pitstop.client.post(path, data=form, headers=headers).status_code == 403
    assert count(pitstop, InboxUpdate) == 0



def test_a_webhook_address_with_a_query_is_checked_as_twilio_signed_it(pitstop):
    path = "/webhooks/whatsapp/mwangaza-motors?from=console"  # as the operator typed it into Twilio
    message = {"From": f"whatsapp:{KAMAU}", "Body": "Habari", "MessageSid": "SM1"}
    headers, form = signed_inbound(PUBLIC + path, TWILIO_TOKEN, message)
    assert pitstop.client.post(path, data=form, headers=headers).status_code == 200
    headers, form = signed_inbound(PUBLIC + path.split("?")[0], TWILIO_TOKEN, message | {"MessageSid": "SM2"})
    assert pitstop.client.post(path, data=form, headers=headers).status_code == 403  # the query is signed too
    assert count(pitstop, InboxUpdate) == 1

def test_a_message_retried_by_twilio_is_answered_once(pitstop):
    for _ in range(3):
        pitstop.whatsapp(KAMAU, "Habari", sid="SM" + "a" * 32)
    assert len(bodies(pitstop)) == 1


def test_delivery_status_only_moves_forward(pitstop):
    pitstop.whatsapp(KAMAU, "Habari")
    with pitstop.runtime.db.uow() as uow:
        sid = uow.session.scalar(select(OutboxMessage.provider_message_id))
    path = "/webhooks/whatsapp/mwangaza-motors/status"
    for status in ("delivered", "sent", "read", "delivered"):
        params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC1"}
        headers, form = signed_inbound(PUBLIC + path, TWILIO_TOKEN, params)
        assert pitstop.client.post(path, data=form, headers=headers).status_code == 200
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalar(select(OutboxMessage.status)) == "read"


def test_a_staging_clock_days_behind_the_wall_still_answers_inside_the_window(sqlite_url):
    """The 24-hour window is measured by Pitstop's clock, which also stamped when the
    customer wrote; a demo's Monday morning must not look days old to the sender."""
    days_ago = (datetime.now(UTC) - timedelta(days=9)).isoformat()
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        staging = start_pitstop(sqlite_url, telegram, twilio, extra_env={"PITSTOP_NOW": days_ago})
        staging.whatsapp(KAMAU, "Habari")
        assert bodies(staging)[-1].endswith("1. English\n2. Kiswahili")
        with staging.runtime.db.uow() as uow:
            assert uow.session.scalar(select(OutboxMessage.status)) == "sent"


def test_when_a_customer_last_wrote_is_kept_to_the_minute(sqlite_db, nairobi_spec):
    shop = loaded(sqlite_db, nairobi_spec)
    first = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)

    def writes_at(at: datetime) -> datetime:
        with sqlite_db.uow() as uow:
            customer_for(uow.session, shop.id, "whatsapp", f"whatsapp:{KAMAU}", language="en", now=at)
        with sqlite_db.uow() as uow:
            return uow.session.scalar(select(ChannelIdentity.last_inbound_at))

    assert writes_at(first) == first
    assert writes_at(first + timedelta(seconds=59)) == first  # quick taps: no write each
    assert writes_at(first + timedelta(seconds=61)) == first + timedelta(seconds=61)


def test_a_reply_longer_than_a_whatsapp_body_arrives_whole_in_parts(pitstop):
    """Twilio takes 1,600 characters: a busy day's digest stopped mid-line, its unpaid
    balances and stock never arriving. Now it goes in parts cut between lines, the
    choices at the end of the last."""
    from core import outbox
    from core.messages import Choice, Msg, Reply

    pitstop.whatsapp(KAMAU, "Habari")  # the window is open
    before = len(bodies(pitstop))
    lines = tuple(Msg("Line {n}: a long day's digest, one line per booking, to the end.", {"n": n}) for n in range(60))
    with pitstop.runtime.db.uow() as uow:
        shop = uow.session.scalar(select(ChannelIdentity.shop_id).where(ChannelIdentity.address == f"whatsapp:{KAMAU}"))
        outbox.send(uow.session, shop_id=shop, channel="whatsapp", address=f"whatsapp:{KAMAU}", language="en",
                    reply=Reply(lines, (Choice("m:help", Msg("Help")),)))  # fmt: skip

    parts = bodies(pitstop)[before:]
    assert len(parts) == 3 and all(len(part) <= 1600 for part in parts)
    assert "\n".join(parts) == "\n".join(f"Line {n}: a long day's digest, one line per booking, to the end."
                                           for n in range(60)) + "\n1. Help"  # fmt: skip


def test_a_long_reply_whose_last_part_failed_is_sent_on_from_there_not_again_from_the_start(pitstop):
    import time

    from bot import schedule
    from core import outbox
    from core.messages import Msg, Reply

    pitstop.whatsapp(KAMAU, "Habari")
    before = len(bodies(pitstop))
    created = []

    def the_second_message(request) -> bool:
        created.append(request)
        return len(created) == 2

    pitstop.twilio.fail_next(1, status=500, match=the_second_message)  # Twilio fails the last part, once
    lines = tuple(Msg("line {n}: " + "x" * 90, {"n": n}) for n in range(30))  # about 3,000 characters: two parts
    with pitstop.runtime.db.uow() as uow:
        shop = uow.session.scalar(select(ChannelIdentity.shop_id).where(ChannelIdentity.address == f"whatsapp:{KAMAU}"))
        outbox.send(uow.session, shop_id=shop, channel="whatsapp", address=f"whatsapp:{KAMAU}", language="en",
                    reply=Reply(lines))  # fmt: skip
    time.sleep(2.1)
    schedule.redrive_outbox(min_age=timedelta(0))

    parts = bodies(pitstop)[before:]
    assert [p.split(":")[0] for p in parts] == ["line 0", "line 16"]  # each part once, in order
    assert "\n".join(parts) == "\n".join(f"line {n}: " + "x" * 90 for n in range(30))


def test_a_number_twilio_refuses_is_logged_masked(sqlite_url, caplog):
    import logging

    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        pitstop = start_pitstop(sqlite_url, telegram, twilio)
        twilio.fail_next(1, status=400, code=21211, message=f"The 'To' number whatsapp:{KAMAU} is not a valid phone number.")
        with caplog.at_level(logging.INFO):
            pitstop.whatsapp(KAMAU, "Habari")

    refused = [r.getMessage() for r in caplog.records if "cannot be delivered" in r.getMessage()]
    assert len(refused) == 1 and refused[0].endswith("The 'To' number whatsapp:+254••••••222 is not a valid phone number.")


def test_a_reply_twilio_refused_for_the_shops_credentials_is_sent_once_they_work_again(pitstop, caplog):
    import logging
    import time

    from bot import schedule

    pitstop.twilio.fail_next(1, status=401, code=20003, message="Authenticate")  # the auth token was rotated
    with caplog.at_level(logging.ERROR):
        pitstop.whatsapp(KAMAU, "Habari")
    assert bodies(pitstop) == []
    assert any("Twilio refused the credentials of mwangaza-motors" in r.getMessage() for r in caplog.records)

    time.sleep(2.1)  # the first retry's back-off; the operator has put the new token in meanwhile
    schedule.redrive_outbox(min_age=timedelta(0))

    assert len(bodies(pitstop)) == 1 and bodies(pitstop)[0].endswith("lugha gani?\n1. English\n2. Kiswahili")
