"""The shared real-format samples go through the webhooks and route where they should;
long polling and webhook registration talk to the fake Bot API; outside WhatsApp's
24-hour window only the shop's approved template is sent."""

import json
from datetime import UTC, timedelta
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select, update

from bot import polling, schedule
from core import outbox
from core.messages import Msg, Reply
from core.models import ChannelIdentity, InboxUpdate, OutboxMessage, utcnow
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio, signed_inbound
from tests.conftest import FIXTURES
from tests.integration.channel_helpers import (
    PUBLIC,
    SECRET,
    TWILIO_SID,
    TWILIO_TOKEN,
    start_pitstop,
)


def telegram_fixture(name: str) -> dict:
    data = json.loads((FIXTURES / "telegram" / name).read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def form_fixture(name: str) -> dict[str, str]:
    lines = [x for x in (FIXTURES / "twilio" / name).read_text().splitlines() if x and not x.startswith("#")]
    return dict(parse_qsl(lines[0], keep_blank_values=True))


@pytest.fixture
def pitstop(sqlite_url):
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        yield start_pitstop(sqlite_url, telegram, twilio)


def outcomes(pitstop, source):
    with pitstop.runtime.db.uow() as uow:
        return [(r.external_id.split(":", 1)[1], r.outcome) for r in uow.session.scalars(
            select(InboxUpdate).where(InboxUpdate.source == source).order_by(InboxUpdate.id))]


def test_every_telegram_sample_is_stored_and_answered(pitstop):
    for name in ("update_message_start.json", "update_message_start_deeplink.json",
                 "update_callback_query.json", "update_message_contact.json"):
        assert pitstop.telegram_post(telegram_fixture(name)).status_code == 200, name
    assert [o for _, o in outcomes(pitstop, "telegram")] == ["applied"] * 4
    chats = {m["chat_id"] for m in pitstop.telegram.sent_messages()}
    assert chats  # every sample got a reply in its own chat
    assert pitstop.telegram.answered_callbacks()  # the tap's spinner was stopped


def test_the_whatsapp_samples_are_stored_and_answered_and_statuses_recorded(pitstop):
    path = "/webhooks/whatsapp/mwangaza-motors"
    for name in ("inbound_whatsapp_text.form", "inbound_whatsapp_location.form", "inbound_whatsapp_image.form",
                 "inbound_whatsapp_quick_reply.form"):
        headers, form = signed_inbound(PUBLIC + path, TWILIO_TOKEN, form_fixture(name))
        assert pitstop.client.post(path, data=form, headers=headers).status_code == 200, name
    results = outcomes(pitstop, "whatsapp")
    assert len(results) == 4
    assert ("applied" in results[0][1]) and results[2][1] == "applied"  # a photo: answered with where photos go
    for name in ("status_whatsapp_sent.form", "status_whatsapp_delivered.form", "status_whatsapp_read.form"):
        headers, form = signed_inbound(PUBLIC + path + "/status", TWILIO_TOKEN, form_fixture(name))
        response = pitstop.client.post(path + "/status", data=form, headers=headers)
        assert response.status_code == 200 and response.json == {"ok": True, "applied": False}  # not our message


def test_long_polling_answers_through_the_same_inbox(pitstop):
    telegram = pitstop.telegram
    telegram.queue_update(telegram.update_text(501, 4242, "/start"))
    telegram.queue_update(telegram.update_text(502, 4242, "2"))
    offset = polling.poll_once(pitstop.runtime, "mwangaza-motors", None, timeout=0)
    assert offset == 503
    assert [o for _, o in outcomes(pitstop, "telegram")] == ["applied", "applied"]
    assert pitstop.texts(4242)[-1].startswith("Sawa, tutaongea kwa Kiswahili.")
    assert polling.poll_once(pitstop.runtime, "mwangaza-motors", offset, timeout=0) == offset


def test_long_polling_answers_a_tap_through_the_outbox(pitstop):
    """No webhook response to carry the answer: the tap's spinner is stopped by a request."""
    telegram = pitstop.telegram
    telegram.queue_update(telegram.update_text(601, 4243, "/start"))
    polling.poll_once(pitstop.runtime, "mwangaza-motors", None, timeout=0)
    tap = telegram.update_callback(602, 4243, "lang:en", telegram.last_message(4243)["message_id"])
    telegram.queue_update(tap)
    polling.poll_once(pitstop.runtime, "mwangaza-motors", 602, timeout=0)
    assert [a["callback_query_id"] for a in telegram.answered_callbacks()] == [tap["callback_query"]["id"]]


def test_set_webhook_registers_the_public_url_with_the_secret(pitstop):
    url = polling.register_webhook(pitstop.runtime, "mwangaza-motors")
    assert url == f"{PUBLIC}/webhooks/telegram/mwangaza-motors"
    info = pitstop.telegram.webhook_info()
    assert info["url"] == url
    call = pitstop.telegram.api_calls("setWebhook")[-1]
    assert call.params["secret_token"] == SECRET
    assert json.loads(call.params["allowed_updates"]) == ["message", "edited_message", "callback_query"]


def test_outside_the_24_hour_window_only_the_template_is_sent(pitstop):
    phone = "+254722333444"
    pitstop.whatsapp(phone, "Habari")
    with pitstop.runtime.db.uow() as uow:  # the customer last wrote two days ago
        s = uow.session
        s.execute(update(ChannelIdentity).values(last_inbound_at=pitstop.runtime.now() - timedelta(days=2)))
        plain = outbox.send(s, shop_id=1, channel="whatsapp", address=f"whatsapp:{phone}", language="en",
                            reply=Reply((Msg("Your car is ready for pickup."),)))  # fmt: skip
        templated = outbox.send(s, shop_id=1, channel="whatsapp", address=f"whatsapp:{phone}", language="en",
                                reply=Reply((Msg("Reminder: your visit is tomorrow."),)),
                                extra={"template": "reminder", "variables": {"name": "Kamau", "service": "Oil",
                                                                             "time": "10:00", "code": "MM-1001"}})  # fmt: skip
        ids = (plain.id, templated.id)
    schedule.redrive_outbox(min_age=timedelta(0))
    with pitstop.runtime.db.uow() as uow:
        rows = {r.id: r for r in uow.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))}
    assert rows[ids[0]].status == "failed"
    assert "24-hour window" in rows[ids[0]].last_error
    assert rows[ids[1]].status == "sent"
    sent = pitstop.twilio.messages(f"whatsapp:{phone}")[-1]["params"]
    assert sent["ContentSid"] == "HX0a1b2c3d4e5f60718293a4b5c6d7e8f9" and "Body" not in sent
    assert json.loads(sent["ContentVariables"]) == {"1": "Kamau", "2": "Oil", "3": "10:00", "4": "MM-1001"}


def test_a_file_on_whatsapp_is_sent_by_a_link_only_twilio_can_guess(pitstop, tmp_path):
    phone = "+254722555666"
    pitstop.whatsapp(phone, "Habari")
    folder = pitstop.runtime.settings.var_dir / "receipts"
    folder.mkdir(parents=True, exist_ok=True)
    pdf = folder / f"receipt-test-{tmp_path.name}.pdf"
    pdf.write_bytes(b"%PDF-1.4 test receipt")
    with pitstop.runtime.db.uow() as uow:
        row = outbox.send(uow.session, shop_id=1, channel="whatsapp", address=f"whatsapp:{phone}", language="en",
                          reply=Reply((Msg("Your receipt for {code} is on its way as a PDF.", {"code": "MM-1"}),)),
                          kind="document", extra={"path": str(pdf), "filename": "receipt-MM-1.pdf"})  # fmt: skip
        row_id = row.id
    schedule.redrive_outbox(min_age=timedelta(0))
    sent = pitstop.twilio.messages(f"whatsapp:{phone}")[-1]["params"]
    url = sent["MediaUrl"]
    assert url.startswith(f"{PUBLIC}/media/{row_id}/") and sent["Body"].startswith("Your receipt for MM-1")
    path = url.removeprefix(PUBLIC)
    response = pitstop.client.get(path)
    assert (response.status_code, response.data) == (200, b"%PDF-1.4 test receipt")
    assert pitstop.client.get(f"/media/{row_id}/guessed-token").status_code == 404
    assert pitstop.client.get(f"/media/{row_id + 1000}/x").status_code == 404
    pdf.unlink()


def test_an_owner_on_whatsapp_gets_the_staff_template_outside_the_24_hour_window(pitstop):
    from core import notices
    from core.models import Staff

    with pitstop.runtime.db.uow() as uow:
        s = uow.session
        owner = s.scalar(select(Staff).where(Staff.phone == "+254711000001"))
        owner.verified_at = pitstop.runtime.now()  # verified on WhatsApp, silent for days since
        notices.tell_staff(s, owner, Reply((Msg("Low stock: {part} is down to {n} (minimum {min}). "
                                                "Restock with /restock {code} QTY.",
                                                {"part": "Oil filter", "n": 1, "min": 4, "code": "oil-filter"}),)),
                           "low-stock:test", pitstop.runtime.now())  # fmt: skip
    schedule.redrive_outbox(min_age=timedelta(0))
    sent = pitstop.twilio.messages("whatsapp:+254711000001")[-1]["params"]
    assert sent["ContentSid"] == "HX4e5f60718293a4b5c6d7e8f90a1b2c3d" and "Body" not in sent
    assert json.loads(sent["ContentVariables"]) == {
        "1": "Wanjiru", "2": "Low stock: Oil filter is down to 1 (minimum 4). Restock with /restock oil-filter QTY."}


def test_a_file_made_on_one_machine_is_sent_and_served_from_another(pitstop, tmp_path):
    """The chart, a receipt or an export is kept in the database: the worker that sends
    it and the web process Twilio fetches it from need not share the maker's disk."""
    from core import files

    phone, customer = "+254722555667", 5551234
    pitstop.whatsapp(phone, "Habari")
    pitstop.say(customer, "/start")
    made_here = tmp_path / "machine-a" / "receipt.pdf"
    made_here.parent.mkdir()
    made_here.write_bytes(b"%PDF-1.4 made on machine A")
    with pitstop.runtime.db.uow() as uow:
        kept = files.keep(uow.session, 1, made_here, utcnow(), "receipt-MM-7.pdf")
        ids = [outbox.send(uow.session, shop_id=1, channel=channel, address=address, language="en",
                           reply=Reply((Msg("Your receipt for {code}", {"code": "MM-7"}),)), kind="document",
                           extra=kept).id
               for channel, address in (("whatsapp", f"whatsapp:{phone}"), ("telegram", str(customer)))]  # fmt: skip
    made_here.unlink()  # machine A's disk is not the sender's

    schedule.redrive_outbox(min_age=timedelta(0))

    with pitstop.runtime.db.uow() as uow:
        assert [uow.session.get(OutboxMessage, i).status for i in ids] == ["sent", "sent"]
    url = pitstop.twilio.messages(f"whatsapp:{phone}")[-1]["params"]["MediaUrl"]
    response = pitstop.client.get(url.removeprefix(PUBLIC))
    assert (response.status_code, response.data) == (200, b"%PDF-1.4 made on machine A")
    assert "receipt-MM-7.pdf" in response.headers["Content-Disposition"]
    document = pitstop.telegram.sent_messages(customer)[-1]["file"]
    assert (document["file_name"], document["content"]) == ("receipt-MM-7.pdf", b"%PDF-1.4 made on machine A")


def test_files_are_kept_thirty_days(pitstop, tmp_path):
    from datetime import datetime

    from core import files
    from core.models import StoredFile

    made, now = tmp_path / "chart.png", datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    made.write_bytes(b"\x89PNG chart")
    with pitstop.runtime.db.uow() as uow:
        kept = files.keep(uow.session, 1, made, now)

    assert files.forget_old(pitstop.runtime.db, now + timedelta(days=29)) == 0
    assert files.forget_old(pitstop.runtime.db, now + timedelta(days=31)) == 1
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.get(StoredFile, kept["file_id"]) is None


def test_a_file_a_message_still_waits_to_send_is_kept_past_thirty_days(db, nairobi_spec):
    """A photo still to be sent (its retries) or waiting for an owner's next message
    (show_again) lost its file to the cron job after 30 days; and the file found by its
    name was the oldest, the first to go."""
    from datetime import datetime

    from core import files
    from core.models import Conversation, StoredFile
    from tests.integration.booking_helpers import loaded

    shop, now = loaded(db, nairobi_spec).id, datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    with db.uow() as uow:
        s = uow.session
        pending, shown_later, unnamed = (files.store(s, shop, b"\xff\xd8", f"photo-{n}.jpg", now) for n in range(3))
        newer = files.store(s, shop, b"\xff\xd8", "photo-0.jpg", now + timedelta(days=20))
        assert files.named(s, shop, "photo-0.jpg") == newer
        row = {"shop_id": shop, "channel": "whatsapp", "address": "whatsapp:+254711000001", "language": "en", "kind": "photo"}
        s.add(OutboxMessage(**row, body={"texts": []} | pending, status="pending"))
        waiting = OutboxMessage(**row, body={"texts": []} | shown_later, status="sent")
        s.add(waiting)
        s.flush()
        s.add(Conversation(shop_id=shop, channel="whatsapp", chat_id="whatsapp:+254711000001", state="menu",
                           data={"staff": {}, "show_again": [waiting.id]}))  # fmt: skip

    assert files.forget_old(db, now + timedelta(days=31)) == 1

    with db.uow() as uow:
        kept = set(uow.session.scalars(select(StoredFile.id)))
    assert unnamed["file_id"] not in kept and {pending["file_id"], shown_later["file_id"], newer["file_id"]} <= kept
