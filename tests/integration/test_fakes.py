"""The local fakes (pitstop.fakes) driven by the REAL client libraries.

No database needed; needs the network stack on 127.0.0.1. Fixtures come from
/work/shared/fixtures (override with PITSTOP_FIXTURES).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import threading
import time
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import telegram
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from werkzeug.wrappers import Response

from pitstop.fakes import daraja as daraja_mod
from pitstop.fakes import telegram as tg_mod
from pitstop.fakes.daraja import FakeDaraja, callback_body, stk_password, timestamp_now
from pitstop.fakes.kaspi import FakeKaspi
from pitstop.fakes.server import Receiver
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import (
    FakeTwilio,
    TwilioBaseUrlHttpClient,
    inbound_button_params,
    inbound_text_params,
    signed_inbound,
)

FIXTURES = Path(os.environ.get("PITSTOP_FIXTURES", "/work/shared/fixtures"))

# PTB 22.2+ warns inside RetryAfter.__init__ about the int -> timedelta change; not our code.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")


# --------------------------------------------------------------------------- helpers
def load_json(rel: str) -> dict:
    data = json.loads((FIXTURES / rel).read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def load_form(rel: str) -> list[tuple[str, str]]:
    for line in (FIXTURES / rel).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            return parse_qsl(line.strip(), keep_blank_values=True)
    raise AssertionError(f"no body in {rel}")


def shape(obj):
    """Structure with leaf types: equal shapes = same keys, same nesting, same JSON types."""
    if isinstance(obj, dict):
        return {k: shape(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [shape(v) for v in obj]
    return type(obj).__name__


def run(coro):
    return asyncio.run(coro)


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22.2+ deprecates the int form; accept both
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else value


# =========================================================================== server helper
def test_server_context_manager_and_receiver():
    with Receiver(body={"ok": 1}) as rx:
        url = rx.url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        r = requests.post(url + "/x?a=1", data={"b": "2"}, headers={"X-Test": "y"})
        assert r.status_code == 200 and r.json() == {"ok": 1}
        rec = rx.last_request()
        assert (rec.method, rec.path, rec.query, rec.form) == ("POST", "/x", {"a": "1"},
                                                               {"b": "2"})
        assert rec.header("x-test") == "y"
        rx.fail_next(1, status=503)
        assert requests.get(url).status_code == 503
        assert requests.get(url).status_code == 200
    assert not rx.running
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=1)


# =========================================================================== Telegram
@pytest.fixture
def tg():
    with FakeTelegram() as fake:
        yield fake


def make_bot(fake: FakeTelegram) -> Bot:
    return Bot(fake.token, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot")


def test_telegram_getme_send_edit_answer(tg):
    kb = InlineKeyboardMarkup([[InlineKeyboardButton("10:00", callback_data="slot:10"),
                                InlineKeyboardButton("11:00", callback_data="slot:11")]])

    async def scenario():
        async with make_bot(tg) as bot:
            assert bot.bot.id == 7000000001 and bot.bot.is_bot
            assert bot.bot.username == "example_booking_bot"
            m1 = await bot.send_message(1111111, "Choose a time slot:", reply_markup=kb)
            m2 = await bot.send_message(1111111, "second")
            other = await bot.send_message(2222222, "hi")
            edited = await bot.edit_message_text("Booked 10:00", chat_id=1111111,
                                                 message_id=m1.message_id)
            with pytest.raises(BadRequest, match="(?i)message is not modified"):
                await bot.edit_message_text("Booked 10:00", chat_id=1111111,
                                            message_id=m1.message_id)
            rm = await bot.edit_message_reply_markup(chat_id=1111111, message_id=m2.message_id,
                                                     reply_markup=kb)
            ok = await bot.answer_callback_query("4382bfdwdsb323b2d9", text="Saved")
            return m1, m2, other, edited, rm, ok

    m1, m2, other, edited, rm, ok = run(scenario())
    assert (m1.message_id, m2.message_id, other.message_id) == (1, 2, 1)
    assert m1.chat.id == 1111111 and m1.chat.type == "private"
    assert m1.from_user.id == 7000000001 and m1.text == "Choose a time slot:"
    assert m1.reply_markup == kb and m1.date is not None
    assert edited.text == "Booked 10:00" and edited.reply_markup is None
    assert edited.edit_date is not None
    assert rm.reply_markup == kb and rm.text == "second"
    assert ok is True

    send = tg.api_calls("sendMessage")[0]
    assert send.method == "POST"
    assert send.path == f"/bot{tg.token}/sendMessage"
    assert send.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert send.form == {
        "chat_id": "1111111", "text": "Choose a time slot:",
        "reply_markup": json.dumps(kb.to_dict())}
    assert send.response_json["ok"] is True
    assert send.response_json["result"]["reply_markup"] == kb.to_dict()
    assert tg.api_calls("getMe")[0].body == b""

    sent = tg.sent_messages(1111111)
    assert [(m["method"], m["message_id"], m["text"]) for m in sent] == [
        ("sendMessage", 1, "Choose a time slot:"), ("sendMessage", 2, "second"),
        ("editMessageText", 1, "Booked 10:00"), ("editMessageReplyMarkup", 2, None)]
    assert sent[0]["keyboard"] == [[{"callback_data": "slot:10", "text": "10:00"},
                                    {"callback_data": "slot:11", "text": "11:00"}]]
    assert [m["chat_id"] for m in tg.sent_messages()] == [1111111, 1111111, 2222222, 1111111,
                                                           1111111]
    assert tg.answered_callbacks()[0]["callback_query_id"] == "4382bfdwdsb323b2d9"
    assert tg.answered_callbacks()[0]["text"] == "Saved"


def test_telegram_send_document_photo_multipart_and_download(tg):
    pdf = b"%PDF-1.4 fake invoice"

    async def scenario():
        async with make_bot(tg) as bot:
            doc = await bot.send_document(1111111, document=pdf, filename="invoice.pdf",
                                          caption="Your invoice")
            photo = await bot.send_photo(1111111, photo=b"\x89PNG fake chart", caption="Chart")
            f = await bot.get_file(doc.document.file_id)
            data = bytes(await f.download_as_bytearray())
            return doc, photo, f, data

    doc, photo, f, data = run(scenario())
    assert doc.document.file_name == "invoice.pdf" and doc.document.file_size == len(pdf)
    assert doc.caption == "Your invoice" and doc.message_id == 1
    assert photo.photo[-1].file_size == len(b"\x89PNG fake chart") and photo.message_id == 2
    assert f.file_path.startswith(f"{tg.url}/file/bot{tg.token}/documents/")
    assert data == pdf
    call = tg.api_calls("sendDocument")[0]
    assert call.headers["Content-Type"].startswith("multipart/form-data")
    assert call.files["document"].filename == "invoice.pdf"
    assert call.files["document"].content == pdf
    assert call.form["chat_id"] == "1111111" and call.form["caption"] == "Your invoice"
    sent = tg.sent_messages(1111111)
    assert [(m["method"], m["text"]) for m in sent] == [("sendDocument", "Your invoice"),
                                                       ("sendPhoto", "Chart")]
    assert sent[0]["file"]["content"] == pdf


def test_telegram_get_updates_offset_and_long_poll():
    with FakeTelegram(max_long_poll=2.0) as fake:
        fake.queue_update(fake.update_text(10000, 1111111, "/start"))
        fake.queue_update(fake.update_text(10001, 1111111, "hello"))

        async def scenario():
            async with make_bot(fake) as bot:
                first = await bot.get_updates(timeout=0)
                again = await bot.get_updates(offset=first[0].update_id, timeout=0)
                confirmed = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
                # long poll: an update queued while the request waits is answered at once
                threading.Timer(0.3, fake.queue_update,
                                args=(fake.update_text(10002, 1111111, "late"),)).start()
                t0 = time.monotonic()
                late = await bot.get_updates(offset=10002, timeout=5)
                waited = time.monotonic() - t0
                t0 = time.monotonic()
                empty = await bot.get_updates(offset=10003, timeout=5)
                capped = time.monotonic() - t0
                return first, again, confirmed, late, waited, empty, capped

        first, again, confirmed, late, waited, empty, capped = run(scenario())
    assert [u.update_id for u in first] == [10000, 10001]
    assert first[0].message.text == "/start" and first[0].message.entities[0].type == "bot_command"
    assert [u.update_id for u in again] == [10000, 10001]
    assert confirmed == ()
    assert [u.message.text for u in late] == ["late"] and 0.2 < waited < 1.9
    assert empty == () and 1.5 < capped < 4.5  # timeout=5 capped by max_long_poll=2
    call = fake.api_calls("getUpdates")[1]
    assert call.form == {"offset": "10000", "timeout": "0"}


def test_telegram_429_is_retry_after_and_5xx_network_error(tg):
    async def scenario():
        async with make_bot(tg) as bot:
            tg.fail_next(1, status=429, retry_after=3)
            with pytest.raises(RetryAfter) as exc:
                await bot.send_message(1111111, "x")
            tg.fail_next(1, status=502)
            with pytest.raises(NetworkError, match="Bad Gateway"):
                await bot.send_message(1111111, "x")
            tg.fail_next(1, status=500, description="Internal Server Error: restart")
            with pytest.raises(NetworkError, match="restart"):
                await bot.send_message(1111111, "x")
            ok = await bot.send_message(1111111, "finally")
            return exc.value, ok

    exc, ok = run(scenario())
    assert retry_seconds(exc) == 3
    assert ok.message_id == 1  # failed sends did not consume message ids
    failed = tg.api_calls("sendMessage")[0]
    assert failed.response_status == 429
    assert failed.response_json == {"ok": False, "error_code": 429,
                                    "description": "Too Many Requests: retry after 3",
                                    "parameters": {"retry_after": 3}}
    assert tg.api_calls("sendMessage")[1].response_json == {
        "ok": False, "error_code": 502, "description": "Bad Gateway"}
    assert tg.count_429 == 1 and [m["text"] for m in tg.sent_messages()] == ["finally"]


def test_telegram_rate_limiter_per_chat_and_overall(tg):
    # Telegram's numbers are 30/s overall and 1/s per chat; a smaller overall limit keeps the
    # test fast and independent of machine speed.
    tg.enable_rate_limit(overall_per_second=10, per_chat_per_second=1)

    async def scenario():
        async with make_bot(tg) as bot:
            await bot.send_message(1, "a")
            with pytest.raises(RetryAfter) as per_chat:
                await bot.send_message(1, "b")
            for chat in range(2, 11):  # 9 more chats: 10 messages within the second
                await bot.send_message(chat, "x")
            with pytest.raises(RetryAfter) as overall:
                await bot.send_message(31, "x")
            return per_chat.value, overall.value

    per_chat, overall = run(scenario())
    assert retry_seconds(per_chat) == 1 and retry_seconds(overall) == 1
    assert tg.rate_limited_total == 2
    assert tg.rate_limited_by_chat == {1: 1} and tg.rate_limited_by_bot == 1  # chat 31 met the bot's limit
    assert tg.count_429 == 2
    assert len(tg.sent_messages()) == 10
    body = tg.api_calls("sendMessage")[1].response_json
    assert body == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry "
                    "after 1", "parameters": {"retry_after": 1}}

    async def later():
        await asyncio.sleep(1.05)
        async with make_bot(tg) as bot:
            return await bot.send_message(1, "b again")

    assert run(later()).message_id == 2


def test_telegram_group_limit_and_blocked_chat(tg):
    tg.enable_rate_limit(group_per_minute=20)
    tg.block_chat(555)

    async def scenario():
        async with make_bot(tg) as bot:
            for _ in range(20):
                await bot.send_message(-100123, "g")
            with pytest.raises(RetryAfter) as group:
                await bot.send_message(-100123, "g")
            with pytest.raises(Forbidden, match="blocked by the user"):
                await bot.send_message(555, "hi")
            return group.value

    group = run(scenario())
    assert retry_seconds(group) >= 1
    assert tg.sent_messages(-100123)[0]["chat_id"] == -100123


def test_telegram_webhook_methods_and_push(tg):
    with Receiver(body="") as app:
        async def scenario():
            async with make_bot(tg) as bot:
                info0 = await bot.get_webhook_info()
                with pytest.raises(BadRequest, match="unallowed characters"):
                    await bot.set_webhook(app.url + "/webhooks/telegram/nairobi",
                                          secret_token="bad secret!")
                ok = await bot.set_webhook(app.url + "/webhooks/telegram/nairobi",
                                           secret_token="s3cret_Token-1",
                                           allowed_updates=["message", "callback_query"])
                info = await bot.get_webhook_info()
                with pytest.raises(Conflict):
                    await bot.get_updates()
                return info0, ok, info

        info0, ok, info = run(scenario())
        assert info0.url == "" and info0.pending_update_count == 0
        assert ok is True
        assert info.url == app.url + "/webhooks/telegram/nairobi"
        assert info.max_connections == 40
        assert tuple(info.allowed_updates) == ("message", "callback_query")
        set_call = tg.api_calls("setWebhook")[-1]
        assert set_call.response_json == {"ok": True, "result": True,
                                          "description": "Webhook was set"}

        resp = tg.push_update(tg.update_text(10000, 1111111, "/start"))
        assert resp.status_code == 200
        got = app.last_request()
        assert got.path == "/webhooks/telegram/nairobi"
        assert got.headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret_Token-1"
        assert got.headers["Content-Type"] == "application/json"
        assert got.json["message"]["text"] == "/start"

    async def delete():
        async with make_bot(tg) as bot:
            return await bot.delete_webhook(), await bot.get_webhook_info()

    deleted, info = run(delete())
    assert deleted is True and info.url == ""


def _fixture_update(name: str) -> dict:
    return load_json(f"telegram/{name}")


def test_telegram_builders_reproduce_fixtures_exactly():
    start = _fixture_update("update_message_start.json")
    built = tg_mod.update_text(10000, 1111111, "/start", language_code="en",
                               first_name="Test Firstname", last_name="Test Lastname",
                               username="Testusername", message_id=1365, date=1441645532)
    assert built == start

    deeplink = _fixture_update("update_message_start_deeplink.json")
    assert tg_mod.update_text(10001, 1111111, "/start book_42", language_code="ru",
                              username="Testusername", message_id=1366,
                              date=1441645540) == deeplink

    cbq = _fixture_update("update_callback_query.json")
    markup = cbq["callback_query"]["message"]["reply_markup"]
    assert tg_mod.update_callback(
        10002, 1111111, "slot:2026-03-14T10:00:svc7", 1367, message_text="Choose a time slot:",
        reply_markup=markup, callback_id="4382bfdwdsb323b2d9",
        chat_instance="-8913263514513412867", username="Testusername",
        message_date=1441645550) == cbq

    contact = _fixture_update("update_message_contact.json")
    reply_to = contact["message"]["reply_to_message"]
    assert tg_mod.update_contact(
        10003, 1111111, "77011234567", 1111111, language_code="kk", username="Testusername",
        contact_last_name="Test Lastname", message_id=1368, date=1441645560,
        reply_to_message=reply_to) == contact


def test_telegram_builders_defaults_have_fixture_shape_and_parse():
    bot = Bot("7000000001:AAFakeToken")
    text = tg_mod.update_text(1, 42, "/start", username="u")
    assert shape(text) == shape(_fixture_update("update_message_start_deeplink.json"))
    cb = tg_mod.update_callback(2, 42, "slot:1", 7, username="u")
    fx = _fixture_update("update_callback_query.json")
    assert set(cb) == set(fx)
    for key in (None, "from", "message"):
        a = cb["callback_query"] if key is None else cb["callback_query"][key]
        b = fx["callback_query"] if key is None else fx["callback_query"][key]
        assert set(a) == set(b), key
    assert cb["callback_query"]["message"]["reply_markup"] == {
        "inline_keyboard": [[{"text": "slot:1", "callback_data": "slot:1"}]]}
    contact = tg_mod.update_contact(3, 42, "+254700000001", username="u")
    assert set(contact["message"]) == set(_fixture_update("update_message_contact.json")[
        "message"]) - {"reply_to_message"}
    for built in (text, cb, contact):
        upd = Update.de_json(built, bot)
        assert upd.update_id == built["update_id"]
    upd = Update.de_json(contact, bot)
    assert upd.message.contact.user_id == upd.message.from_user.id == 42
    assert "user_id" not in tg_mod.update_contact(3, 42, "1", None)["message"]["contact"]
    assert Update.de_json(cb, bot).callback_query.data == "slot:1"
    for name in ("update_message_start.json", "update_message_start_deeplink.json",
                 "update_callback_query.json", "update_message_contact.json"):
        assert isinstance(Update.de_json(_fixture_update(name), bot), telegram.Update)


def test_telegram_fake_callback_builder_uses_sent_message(tg):
    kb = InlineKeyboardMarkup([[InlineKeyboardButton("Confirm", callback_data="confirm:42")]])

    async def send():
        async with make_bot(tg) as bot:
            return await bot.send_message(1111111, "Confirm booking?", reply_markup=kb)

    sent = run(send())
    upd = tg.update_callback(20000, 1111111, "confirm:42", sent.message_id)
    msg = upd["callback_query"]["message"]
    assert msg["text"] == "Confirm booking?" and msg["reply_markup"] == kb.to_dict()
    assert msg["from"]["id"] == tg.bot_id
    parsed = Update.de_json(upd, make_bot(tg))
    assert parsed.callback_query.message.message_id == sent.message_id
    # the next inbound message gets the chat's next message id
    assert tg.update_text(20001, 1111111, "hi")["message"]["message_id"] == sent.message_id + 1


# =========================================================================== Twilio
@pytest.fixture
def tw():
    with FakeTwilio(senders=["whatsapp:+14155238886"]) as fake:
        yield fake


def test_twilio_client_sends_body(tw):
    client = Client(tw.account_sid, tw.auth_token, http_client=TwilioBaseUrlHttpClient(tw.url))
    msg = client.messages.create(from_="whatsapp:+14155238886", to="whatsapp:+254700000001",
                                 body="Your booking is confirmed",
                                 status_callback="https://bot.example.com/status")
    assert re.fullmatch(r"SM[0-9a-f]{32}", msg.sid)
    assert msg.status == "queued" and msg.direction == "outbound-api"
    assert msg.body == "Your booking is confirmed" and msg.to == "whatsapp:+254700000001"
    assert msg.from_ == "whatsapp:+14155238886" and msg.account_sid == tw.account_sid
    assert msg.num_media == "0" and msg.error_code is None and msg.date_created is not None

    rec = tw.requests()[0]
    assert rec.method == "POST"
    assert rec.path == f"/2010-04-01/Accounts/{tw.account_sid}/Messages.json"
    assert rec.headers["Content-Type"] == "application/x-www-form-urlencoded"
    expected_auth = base64.b64encode(f"{tw.account_sid}:{tw.auth_token}".encode()).decode()
    assert rec.headers["Authorization"] == f"Basic {expected_auth}"
    assert rec.form == {"To": "whatsapp:+254700000001",
                        "StatusCallback": "https://bot.example.com/status",
                        "From": "whatsapp:+14155238886", "Body": "Your booking is confirmed"}
    assert rec.response_status == 201
    assert set(rec.response_json) == {
        "account_sid", "api_version", "body", "date_created", "date_sent", "date_updated",
        "direction", "error_code", "error_message", "from", "messaging_service_sid",
        "num_media", "num_segments", "price", "price_unit", "sid", "status",
        "subresource_uris", "to", "uri"}
    assert rec.response_json["uri"] == f"/2010-04-01/Accounts/{tw.account_sid}/Messages/" \
                                       f"{msg.sid}.json"
    assert client.messages(msg.sid).fetch().sid == msg.sid


def test_twilio_client_sends_content_template(tw):
    template = load_json("twilio/content_template_quick_reply.json")
    sid = "HX" + "2" * 32
    tw.content_templates[sid] = template
    fx = dict(load_form("twilio/outbound_send_template_request.form"))
    msg = tw.client().messages.create(from_=fx["From"], to=fx["To"], content_sid=fx["ContentSid"],
                                      content_variables=fx["ContentVariables"],
                                      status_callback=fx["StatusCallback"])
    assert msg.status == "queued"
    assert msg.body == "Hi Asel, reply YES to confirm your booking for 14 March 10:00."
    assert tw.requests()[0].form == {
        "To": fx["To"], "StatusCallback": fx["StatusCallback"], "From": fx["From"],
        "ContentSid": fx["ContentSid"], "ContentVariables": fx["ContentVariables"]}
    assert tw.last_message()["warnings"] == []


def test_twilio_auth_and_errors(tw):
    bad = Client(tw.account_sid, "wrong", http_client=tw.http_client())
    with pytest.raises(TwilioRestException) as exc:
        bad.messages.create(from_="whatsapp:+14155238886", to="whatsapp:+254700000001", body="x")
    assert exc.value.status == 401 and exc.value.code == 20003

    client = tw.client()
    tw.fail_next(1, status=429)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(from_="whatsapp:+14155238886", to="whatsapp:+254700000001",
                               body="x")
    assert (exc.value.status, exc.value.code) == (429, 20429)
    assert tw.requests()[-1].response_json == {
        "code": 20429, "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}
    tw.fail_next(1, status=503)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(from_="whatsapp:+14155238886", to="whatsapp:+254700000001",
                               body="x")
    assert (exc.value.status, exc.value.code) == (503, 20503)
    tw.fail_next(1, status=400, code=21610, message="Attempt to send to unsubscribed recipient")
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(from_="whatsapp:+14155238886", to="whatsapp:+254700000001",
                               body="x")
    assert (exc.value.status, exc.value.code) == (400, 21610)

    cases = [
        (dict(from_="whatsapp:+14155238886", to="whatsapp:+254700000001"), 21602),
        (dict(from_="whatsapp:+14155238886", to="+254700000001", body="x"), 21910),
        (dict(from_="whatsapp:+15550000000", to="whatsapp:+254700000001", body="x"), 63007),
        (dict(from_="whatsapp:+14155238886", to="whatsapp:+2547", body="x"), 21211),
        (dict(from_="whatsapp:+14155238886", to="whatsapp:+254700000001", body="x" * 1601),
         21617),
        (dict(from_="whatsapp:+14155238886", to="whatsapp:+254700000001", content_sid="HX1"),
         21655),
    ]
    for kwargs, code in cases:
        with pytest.raises(TwilioRestException) as exc:
            client.messages.create(**kwargs)
        assert exc.value.code == code, kwargs
    assert len(tw.messages()) == 0


def test_twilio_status_callbacks_signed_and_shaped():
    with FakeTwilio(auto_status=("sent", "delivered", "read"), status_delay=0.01) as fake, \
            Receiver(body="") as app:
        url = app.url + "/webhooks/whatsapp/nairobi/status"
        msg = fake.client().messages.create(from_="whatsapp:+14155238886",
                                            to="whatsapp:+254700000001", body="hi",
                                            status_callback=url)
        app.wait_for_request(count=3)
        posts = app.requests()
        assert [p.form["MessageStatus"] for p in posts] == ["sent", "delivered", "read"]
        validator = RequestValidator(fake.auth_token)
        for post, status in zip(posts, ("sent", "delivered", "read"), strict=True):
            assert validator.validate(url, post.form, post.headers["X-Twilio-Signature"])
            fx = load_form(f"twilio/status_whatsapp_{status}.form")
            assert list(post.form) == [k for k, _ in fx]
            assert post.form["MessageSid"] == msg.sid
            assert post.form["ChannelToAddress"] == "+2547000XXXXX"
        assert fake.client().messages(msg.sid).fetch().status == "read"


def test_twilio_session_window_63016():
    with FakeTwilio(enforce_session_window=True, auto_status=("sent", "delivered"),
                    status_delay=0.01) as fake, Receiver(body="") as app:
        client = fake.client()
        url = app.url + "/status"
        outside = client.messages.create(from_="whatsapp:+14155238886",
                                         to="whatsapp:+254700000001", body="hi",
                                         status_callback=url)
        assert outside.status == "queued"  # accepted first, fails later
        app.wait_for_request(count=1)
        failed = app.requests()[0].form
        assert failed["MessageStatus"] == "failed" and failed["ErrorCode"] == "63016"
        assert list(failed) == [k for k, _ in load_form("twilio/status_whatsapp_failed_63016.form")]
        template = client.messages.create(from_="whatsapp:+14155238886",
                                          to="whatsapp:+254700000001",
                                          content_sid="HX" + "a" * 32, status_callback=url)
        fake.open_session("whatsapp:+254700000002")
        inside = client.messages.create(from_="whatsapp:+14155238886",
                                        to="whatsapp:+254700000002", body="hi",
                                        status_callback=url)
        app.wait_for_request(count=5)
        by_sid = {}
        for r in app.requests():
            by_sid.setdefault(r.form["MessageSid"], []).append(r.form["MessageStatus"])
        assert by_sid[template.sid] == ["sent", "delivered"]
        assert by_sid[inside.sid] == ["sent", "delivered"]


def test_twilio_signed_inbound_matches_vectors():
    vectors = load_json("twilio/signature_vectors_self_computed.json")
    for vec in vectors["vectors"]:
        params = dict(load_form(f"twilio/{vec['file']}"))
        headers, form = signed_inbound(vectors["url"], vectors["auth_token"], params)
        assert headers["X-Twilio-Signature"] == vec["X-Twilio-Signature"], vec["file"]
        assert form == params and list(form) == list(params)
        assert RequestValidator(vectors["auth_token"]).validate(
            vectors["url"], form, headers["X-Twilio-Signature"])


def test_twilio_inbound_builders_have_fixture_fields_in_order():
    text = inbound_text_params("whatsapp:+254700000001", "Hi, I want to book a haircut",
                               message_sid="SM" + "a" * 30 + "01",
                               account_sid="AC00000000000000000000000000000001")
    assert list(text.items()) == load_form("twilio/inbound_whatsapp_text.form")
    button = inbound_button_params("whatsapp:+254700000001", "10:00", "slot:2026-03-14T10:00:svc7",
                                   "MM" + "c" * 30 + "03")
    fx = load_form("twilio/inbound_whatsapp_quick_reply.form")
    assert list(button) == [k for k, _ in fx if k != "ExternalUserId"]
    fx_d = dict(fx)
    for key in ("ButtonText", "ButtonPayload", "Body", "WaId", "From", "To", "MessageType",
                "OriginalRepliedMessageSid", "ChannelMetadata"):
        assert button[key] == fx_d[key], key


def test_twilio_post_inbound_signs_for_public_url():
    with FakeTwilio() as fake, Receiver(body="<Response/>") as app:
        params = inbound_text_params("+254700000001", "")
        public = "https://bot.example.com/webhooks/whatsapp/nairobi"
        resp = fake.post_inbound(app.url + "/webhooks/whatsapp/nairobi", params,
                                 signed_url=public)
        assert resp.status_code == 200
        got = app.last_request()
        assert got.form["Body"] == ""
        assert RequestValidator(fake.auth_token).validate(public, got.form,
                                                          got.headers["X-Twilio-Signature"])
        assert fake.in_session("whatsapp:+254700000001")


def test_twilio_http_client_rewrite():
    client = TwilioBaseUrlHttpClient("http://127.0.0.1:9999")
    assert client.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1") \
        == "http://127.0.0.1:9999/2010-04-01/Accounts/AC1/Messages.json?x=1"
    assert client.rewrite("https://content.twilio.com/v1/Content") == \
        "http://127.0.0.1:9999/v1/Content"
    assert client.rewrite("https://example.com/a") == "https://example.com/a"


# =========================================================================== Daraja
@pytest.fixture
def mpesa():
    with FakeDaraja(callback_delay=0.05) as fake, Receiver() as receiver:
        yield fake, receiver


def daraja_token(fake: FakeDaraja) -> str:
    r = requests.get(f"{fake.url}/oauth/v1/generate", params={"grant_type": "client_credentials"},
                     auth=(fake.consumer_key, fake.consumer_secret))
    assert r.status_code == 200
    return r.json()["access_token"]


def stk_body(callback_url: str, phone: int | str = 254708374149, amount=1, **over) -> dict:
    ts = timestamp_now()
    body = {"BusinessShortCode": 174379,
            "Password": stk_password("174379", daraja_mod.SANDBOX_PASSKEY, ts),
            "Timestamp": ts, "TransactionType": "CustomerPayBillOnline", "Amount": amount,
            "PartyA": phone, "PartyB": 174379, "PhoneNumber": phone,
            "CallBackURL": callback_url, "AccountReference": "BK20260314",
            "TransactionDesc": "Booking 42"}
    body.update(over)
    return body


def stk_push(fake, token, body):
    return requests.post(f"{fake.url}/mpesa/stkpush/v1/processrequest", json=body,
                         headers={"Authorization": f"Bearer {token}"})


def stk_query(fake, token, checkout_id):
    ts = timestamp_now()
    return requests.post(f"{fake.url}/mpesa/stkpushquery/v1/query", json={
        "BusinessShortCode": "174379",
        "Password": stk_password("174379", daraja_mod.SANDBOX_PASSKEY, ts), "Timestamp": ts,
        "CheckoutRequestID": checkout_id}, headers={"Authorization": f"Bearer {token}"})


def test_daraja_oauth(mpesa):
    fake, _ = mpesa
    r = requests.get(f"{fake.url}/oauth/v1/generate", params={"grant_type": "client_credentials"},
                     auth=(fake.consumer_key, fake.consumer_secret))
    body = r.json()
    assert set(body) == {"access_token", "expires_in"} and body["expires_in"] == "3599"
    assert len(body["access_token"]) == 28
    rec = fake.last_request()
    assert rec.method == "GET" and rec.query == {"grant_type": "client_credentials"}
    assert rec.headers["Authorization"].startswith("Basic ")
    bad = requests.get(f"{fake.url}/oauth/v1/generate",
                       params={"grant_type": "client_credentials"}, auth=("x", "y"))
    assert bad.status_code == 400 and set(bad.json()) == {"requestId", "errorCode",
                                                          "errorMessage"}


def test_daraja_stk_push_success_callback_matches_fixture(mpesa):
    fake, receiver = mpesa
    token = daraja_token(fake)
    r = stk_push(fake, token, stk_body(receiver.url + "/webhooks/mpesa/t0k3n", amount=1500))
    assert r.status_code == 200
    sync = r.json()
    fx_sync = load_json("mpesa/stk_push_sync_response_ok.json")
    assert shape(sync) == shape(fx_sync)
    assert sync["ResponseCode"] == "0"
    assert sync["ResponseDescription"] == sync["CustomerMessage"] == fx_sync["CustomerMessage"]
    assert re.fullmatch(r"ws_CO_\d{14}\d{3}708374149", sync["CheckoutRequestID"])
    assert re.fullmatch(r"\d+-\d+-1", sync["MerchantRequestID"])

    got = receiver.wait_for_request()[0]
    assert got.method == "POST" and got.path == "/webhooks/mpesa/t0k3n"
    assert got.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert got.headers["Businessshortcode"] == "174379"
    assert "Authorization" not in got.headers
    fx = load_json("mpesa/callback_success.json")
    assert shape(got.json) == shape(fx)
    items = got.json["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    assert [i["Name"] for i in items] == [i["Name"] for i in fx["Body"]["stkCallback"][
        "CallbackMetadata"]["Item"]]
    values = {i["Name"]: i.get("Value") for i in items}
    assert values["Amount"] == 1500 and values["PhoneNumber"] == 254708374149
    assert re.fullmatch(r"[A-Z0-9]{10}", values["MpesaReceiptNumber"])
    assert re.fullmatch(r"20\d{12}", str(values["TransactionDate"]))
    cb = got.json["Body"]["stkCallback"]
    assert cb["CheckoutRequestID"] == sync["CheckoutRequestID"]
    assert cb["MerchantRequestID"] == sync["MerchantRequestID"]
    assert fake.wait_callbacks(1)[0]["status_code"] == 200
    q = stk_query(fake, token, sync["CheckoutRequestID"]).json()
    assert shape(q) == shape(load_json("mpesa/stk_query_response_success.json"))
    assert (q["ResultCode"], q["ResponseCode"]) == ("0", "0")


FAILURE_FIXTURES = {
    254700001032: (1032, "callback_cancelled_1032.json", "1032"),
    254700002001: (2001, "callback_wrong_pin_2001.json", "2001"),
    254700001111: (1, "callback_insufficient_funds_1.json", "1"),
    254700001037: (1037, "callback_timeout_1037.json", "1037"),
}


@pytest.mark.parametrize("phone", sorted(FAILURE_FIXTURES))
def test_daraja_failure_outcomes_by_phone(mpesa, phone):
    fake, receiver = mpesa
    code, fixture, query_code = FAILURE_FIXTURES[phone]
    token = daraja_token(fake)
    sync = stk_push(fake, token, stk_body(receiver.url + "/cb", phone=phone)).json()
    got = receiver.wait_for_request()[0].json
    fx = load_json(f"mpesa/{fixture}")
    assert shape(got) == shape(fx)
    assert got["Body"]["stkCallback"]["ResultCode"] == code
    assert "CallbackMetadata" not in got["Body"]["stkCallback"]
    q = stk_query(fake, token, sync["CheckoutRequestID"]).json()
    assert q["ResultCode"] == query_code
    if code == 1032:
        assert shape(q) == shape(load_json("mpesa/stk_query_response_cancelled.json"))


def test_daraja_no_callback_twice_and_pending_forever(mpesa):
    fake, receiver = mpesa
    token = daraja_token(fake)
    lost = stk_push(fake, token, stk_body(receiver.url + "/lost", phone=254700000000)).json()
    twice = stk_push(fake, token, stk_body(receiver.url + "/twice", phone=254700002222)).json()
    never = stk_push(fake, token, stk_body(receiver.url + "/never", phone=254700009999)).json()
    fake.wait_callbacks(2)
    time.sleep(0.2)
    paths = [r.path for r in receiver.requests()]
    assert paths == ["/twice", "/twice"]
    first, second = receiver.requests()
    assert first.json == second.json
    assert stk_query(fake, token, lost["CheckoutRequestID"]).json()["ResultCode"] == "0"
    assert stk_query(fake, token, twice["CheckoutRequestID"]).json()["ResultCode"] == "0"
    pending = stk_query(fake, token, never["CheckoutRequestID"]).json()
    assert pending == {**load_json("mpesa/stk_query_response_in_progress_4999.json"),
                       "MerchantRequestID": never["MerchantRequestID"],
                       "CheckoutRequestID": never["CheckoutRequestID"]}


def test_daraja_query_pending_styles_and_unknown():
    with FakeDaraja(callback_delay=5, query_pending="500.001.1001") as fake, \
            Receiver() as receiver:
        token = daraja_token(fake)
        sync = stk_push(fake, token, stk_body(receiver.url + "/cb")).json()
        r = stk_query(fake, token, sync["CheckoutRequestID"])
        assert r.status_code == 500
        assert shape(r.json()) == shape(load_json("mpesa/stk_query_error_500_001_1001.json"))
        assert r.json()["errorCode"] == "500.001.1001"
        fake.resolve_now(sync["CheckoutRequestID"])
        assert stk_query(fake, token, sync["CheckoutRequestID"]).json()["ResultCode"] == "0"
        unknown = stk_query(fake, token, "ws_CO_000")
        assert unknown.status_code == 500
        assert unknown.json()["errorMessage"] == "The transaction does not Exist"


def test_daraja_validation_errors(mpesa):
    fake, receiver = mpesa
    token = daraja_token(fake)
    r = stk_push(fake, token, stk_body(receiver.url + "/cb", phone="0712345678"))
    assert r.status_code == 400
    fx = load_json("mpesa/stk_push_sync_response_error_invalid_phone.json")
    assert shape(r.json()) == shape(fx)
    assert {k: r.json()[k] for k in ("errorCode", "errorMessage")} == {
        "errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid PartyA"}
    r = stk_push(fake, token, stk_body(receiver.url + "/cb", PhoneNumber=254812345678))
    assert r.json()["errorMessage"] == fx["errorMessage"]
    assert stk_push(fake, token, stk_body(receiver.url + "/cb", amount=1.5)).json()[
        "errorMessage"] == "Bad Request - Invalid Amount"
    assert stk_push(fake, token, stk_body(receiver.url + "/cb", amount="10.00")).status_code == 400
    assert stk_push(fake, token, stk_body(receiver.url + "/cb", Password="bad")).json()[
        "errorCode"] == "500.001.1001"
    assert stk_push(fake, token, stk_body("http://BOT.EXAMPLE/cb")).json()[
        "errorMessage"] == "Bad Request - Invalid CallBackURL"
    assert stk_push(fake, token, stk_body(receiver.url + "/cb",
                                          AccountReference="X" * 13)).status_code == 400
    assert stk_push(fake, "nope", stk_body(receiver.url + "/cb")).json()[
        "errorCode"] == "404.001.03"
    # string numbers, as in Safaricom's own example, and the 01xx prefix are accepted
    ok = stk_push(fake, token, stk_body(receiver.url + "/cb", phone="254112345678",
                                        amount="10", PartyB="174379"))
    assert ok.status_code == 200
    fake.fail_next(1, status=500, path="processrequest")
    err = stk_push(fake, token, stk_body(receiver.url + "/cb"))
    assert err.status_code == 500 and err.json()["errorCode"] == "500.001.1001"
    fake.expire_tokens()
    assert stk_push(fake, token, stk_body(receiver.url + "/cb")).status_code == 404
    assert len(fake.pushes()) == 1


def test_daraja_helpers_match_fixtures():
    for vec in load_json("mpesa/stk_password_vectors.json")["vectors"]:
        assert stk_password(vec["BusinessShortCode"], vec["Passkey"], vec["Timestamp"]) == \
            vec["Password"]
    fx = load_json("mpesa/callback_success.json")
    assert callback_body("ws_CO_DMZ_264695293_11032019122104433", "19918-3028728-2", 0,
                         amount=1, receipt="NCB9FJNAIT", phone=254719748260,
                         transaction_date=20190311122121) == fx
    dup = load_json("mpesa/callback_duplicate_delivery.json")["deliveries"][0]
    assert callback_body("ws_CO_17112022155730304796440427", "11225-96181251-1", 0, amount=1,
                         receipt="QKH94M1Z11", phone=254796440427,
                         transaction_date=20221117155745) == dup
    for fixture in ("callback_cancelled_1032.json", "callback_wrong_pin_2001.json",
                    "callback_insufficient_funds_1.json", "callback_timeout_1037.json"):
        cb = load_json(f"mpesa/{fixture}")["Body"]["stkCallback"]
        assert callback_body(cb["CheckoutRequestID"], cb["MerchantRequestID"], cb["ResultCode"],
                             result_desc=cb["ResultDesc"]) == {"Body": {"stkCallback": cb}}
    four = callback_body("c", "m", 0, amount=5, include_balance=False)
    assert [i["Name"] for i in four["Body"]["stkCallback"]["CallbackMetadata"]["Item"]] == [
        "Amount", "MpesaReceiptNumber", "TransactionDate", "PhoneNumber"]


# =========================================================================== Kaspi QR API
@pytest.fixture
def kaspi():
    with FakeKaspi() as fake:
        yield fake


def kget(fake, path, headers=None, **params):
    return requests.get(fake.base_url() + path, params=params,
                        headers=fake.headers() if headers is None else headers)


def kpost(fake, path, body, headers=None, scheme="r1"):
    return requests.post(fake.base_url(scheme) + path, json=body,
                         headers=fake.headers() if headers is None else headers)


def test_kaspi_link_lifecycle_driven_by_test(kaspi):
    fx_req = load_json("kaspi/qr_api/qr_create_link_request.json")
    r = kpost(kaspi, "/qr/create-link", {**fx_req, "DeviceToken": kaspi.device_token})
    assert r.status_code == 200
    fx = load_json("kaspi/qr_api/qr_create_link_response.json")
    body = r.json()
    assert shape(body) == shape(fx)
    assert body["Data"]["PaymentBehaviorOptions"] == fx["Data"]["PaymentBehaviorOptions"]
    assert body["Data"]["PaymentMethods"] == ["Gold", "Red", "Loan"]
    assert re.fullmatch(r"https://pay\.kaspi\.kz/pay/\d{41}", body["Data"]["PaymentLink"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05", body["Data"]["ExpireDate"])
    rec = kaspi.last_request()
    assert rec.path == "/r1/v01/qr/create-link" and rec.json == {
        **fx_req, "DeviceToken": kaspi.device_token}
    assert rec.headers["Api-Key"] == kaspi.api_key and rec.headers["X-Request-ID"]

    pid = body["Data"]["PaymentId"]
    assert kget(kaspi, f"/payment/status/{pid}").json() == load_json(
        "kaspi/qr_api/payment_status_QrTokenCreated.json")
    kaspi.set_status(pid, "Wait")
    assert kget(kaspi, f"/payment/status/{pid}").json() == load_json(
        "kaspi/qr_api/payment_status_Wait.json")
    kaspi.set_status(pid, "Processed")
    assert kget(kaspi, f"/payment/status/{pid}").json() == load_json(
        "kaspi/qr_api/payment_status_Processed.json")
    assert len(kaspi.status_polls(pid)) == 3


def test_kaspi_qr_create_script_and_emulation():
    with FakeKaspi(default_script=["QrTokenCreated", "Wait", "Error"]) as kaspi:
        fx_req = load_json("kaspi/qr_api/qr_create_request.json")
        r = kpost(kaspi, "/qr/create", {**fx_req, "DeviceToken": kaspi.device_token})
        fx = load_json("kaspi/qr_api/qr_create_response.json")
        assert shape(r.json()) == shape(fx)
        assert r.json()["Data"]["QrPaymentBehaviorOptions"] == fx["Data"][
            "QrPaymentBehaviorOptions"]
        pid = r.json()["Data"]["QrPaymentId"]
        seen = [kget(kaspi, f"/payment/status/{pid}").json()["Data"]["Status"] for _ in range(4)]
        assert seen == ["QrTokenCreated", "Wait", "Error", "Error"]

        other = kpost(kaspi, "/qr/create-link", {"DeviceToken": kaspi.device_token,
                                                 "Amount": 6000}).json()["Data"]["PaymentId"]
        kaspi.set_status(other, "QrTokenCreated")
        scan = kpost(kaspi, "/test/payment/scan", {"qrPaymentId": str(other)})
        assert scan.json() == {"StatusCode": 0, "message": "OK"}
        assert kget(kaspi, f"/payment/status/{other}").json()["Data"]["Status"] == "Wait"
        kpost(kaspi, "/test/payment/confirm", {"qrPaymentId": str(other)})
        assert kget(kaspi, f"/payment/status/{other}").json()["Data"]["Status"] == "Processed"


def test_kaspi_auth_headers_and_errors(kaspi):
    no_id = {"Content-Type": "application/json", "Api-Key": kaspi.api_key}
    r = kget(kaspi, "/payment/status/1", headers=no_id)
    assert r.status_code == 400 and r.json()["StatusCode"] == -1
    wrong = {**kaspi.headers(), "Api-Key": "test_wrong"}
    r = kget(kaspi, "/payment/status/1", headers=wrong)
    assert r.status_code == 401 and r.json()["StatusCode"] == -10000
    r = kget(kaspi, "/payment/status/424242")
    assert r.status_code == 200
    assert r.json() == {"StatusCode": -1601, "Message": "Purchase not found"}
    r = kpost(kaspi, "/qr/create-link", {"DeviceToken": "nope", "Amount": 1})
    assert r.json() == load_json("kaspi/qr_api/error_response_device_not_found.json")
    r = kpost(kaspi, "/qr/create-link", {"DeviceToken": kaspi.device_token, "Amount": 0})
    assert r.json()["StatusCode"] == 990000028
    kaspi.fail_next(1, status_code=-999)
    r = kget(kaspi, "/payment/status/1")
    assert r.status_code == 200 and r.json()["StatusCode"] == -999
    kaspi.fail_next(1, http_status=503)
    assert kget(kaspi, "/payment/status/1").status_code == 503
    tps = kget(kaspi, "/partner/tradepoints").json()
    assert shape(tps) == shape(load_json("kaspi/qr_api/tradepoints_response.json"))
    reg = load_json("kaspi/qr_api/device_register_request.json")
    t1 = kpost(kaspi, "/device/register", {**reg, "TradePointId": 1}).json()
    t2 = kpost(kaspi, "/device/register", {**reg, "TradePointId": 1}).json()
    assert shape(t1) == shape(load_json("kaspi/qr_api/device_register_response.json"))
    assert t1 == t2  # idempotent
    assert kpost(kaspi, "/device/register", {**reg, "TradePointId": 99}).json()[
        "StatusCode"] == -99000002
    assert kaspi.duplicate_request_ids == []


def test_kaspi_timeouts_turn_into_error():
    with FakeKaspi(link_activation_timeout=0, payment_confirmation_timeout=0) as kaspi:
        pid = kpost(kaspi, "/qr/create-link", {"DeviceToken": kaspi.device_token,
                                               "Amount": 100}).json()["Data"]["PaymentId"]
        time.sleep(0.01)
        assert kget(kaspi, f"/payment/status/{pid}").json()["Data"]["Status"] == "Error"


def test_kaspi_r3_details_refund_and_remote(kaspi):
    h = kaspi.headers()
    del h["Api-Key"]  # r3 authenticates by client certificate (not emulated)
    pid = kpost(kaspi, "/qr/create-link", {"DeviceToken": kaspi.device_token, "Amount": 6000},
                headers=h, scheme="r3").json()["Data"]["PaymentId"]
    ret = {"DeviceToken": kaspi.device_token, "OrganizationBin": "180340021791",
           "QrPaymentId": pid, "Amount": 1000.0}
    assert kpost(kaspi, "/payment/return", ret, headers=kaspi.headers(),
                 scheme="r3").json()["StatusCode"] == -99000011
    kaspi.set_status(pid, "Processed")
    det = requests.get(kaspi.base_url("r3") + "/payment/details", headers=kaspi.headers(),
                       params={"QrPaymentId": pid, "DeviceToken": kaspi.device_token}).json()
    assert shape(det["Data"]) == shape(load_json("kaspi/qr_api/payment_details_response_r3.json")
                                       ["Data"])
    assert det["Data"]["AvailableReturnAmount"] == 6000.0
    ok = kpost(kaspi, "/payment/return", ret, headers=kaspi.headers(), scheme="r3").json()
    assert ok["StatusCode"] == 0 and isinstance(ok["Data"]["ReturnOperationId"], int)
    too_much = kpost(kaspi, "/payment/return", {**ret, "Amount": 5001.0},
                     headers=kaspi.headers(), scheme="r3").json()
    assert too_much["StatusCode"] == -99000005
    assert kpost(kaspi, "/payment/return", ret).status_code == 404  # r1 has no refund API
    rem = load_json("kaspi/qr_api/remote_create_request_r3.json")
    created = kpost(kaspi, "/remote/create", {**rem, "DeviceToken": kaspi.device_token},
                    scheme="r3").json()
    assert shape(created) == shape(load_json("kaspi/qr_api/remote_create_response_r3.json"))
    cancel = kpost(kaspi, "/remote/cancel", {"OrganizationBin": "180340021791",
                                             "QrPaymentId": created["Data"]["QrPaymentId"],
                                             "DeviceToken": kaspi.device_token},
                   scheme="r3").json()
    assert cancel == load_json("kaspi/qr_api/remote_cancel_response_r3.json")


def test_kaspi_demo_payment_page():
    with FakeKaspi() as kaspi:
        kaspi.link_base = f"{kaspi.url}/pay/"
        data = kpost(kaspi, "/qr/create-link", {"DeviceToken": kaspi.device_token,
                                                "Amount": 6000}).json()["Data"]
        assert requests.get(data["PaymentLink"]).status_code == 200
        assert kaspi.payment(data["PaymentId"]).status == "Wait"
        requests.post(data["PaymentLink"], data={"action": "confirm"})
        assert kget(kaspi, f"/payment/status/{data['PaymentId']}").json()["Data"][
            "Status"] == "Processed"


# =========================================================================== Kaspi classic
def _fixture_request_line(rel: str) -> str:
    for line in (FIXTURES / rel).read_text(encoding="utf-8").splitlines():
        if line.startswith("GET "):
            return line.split()[1]
    raise AssertionError(rel)


def test_kaspi_classic_check_and_pay_exact_requests():
    check_xml = (FIXTURES / "kaspi/classic/check_response_ok.xml").read_text(encoding="utf-8")
    pay_json = load_json("kaspi/classic/response_json_variants.json")["pay_ok_laundry_style"]

    def respond(rec):
        if rec.query.get("command") == "check":
            return Response(check_xml, mimetype="application/xml")
        return Response(json.dumps(pay_json), mimetype="application/json")

    with Receiver(responder=respond) as merchant, FakeKaspi() as kaspi:
        url = merchant.url + "/kaspi/payment"
        check = kaspi.call_check(url, "BK20260314", 6000, txn_id=1234567890)
        pay = kaspi.call_pay(url, "X5ABCDEF0123456789AB", "1000.00", txn_id=12345,
                             txn_date="20260813122345")
        sent = merchant.requests()
        for rec, fixture in zip(sent, ("check_request.txt", "pay_request.txt"), strict=True):
            expected = urlsplit(_fixture_request_line(f"kaspi/classic/{fixture}"))
            assert (rec.method, rec.path, rec.query_string, rec.body) == (
                "GET", expected.path, expected.query, b"")
        assert check.format == "xml" and check.result == 0
        assert check.data == {"txn_id": "1234567890", "result": "0", "sum": "6000.00",
                              "comment": "Booking BK20260314, haircut 14.03 10:00"}
        assert pay.format == "json" and pay.result == 0
        assert pay.prv_txn == pay_json["prv_txn_id"]
        assert len(kaspi.classic_calls) == 2
