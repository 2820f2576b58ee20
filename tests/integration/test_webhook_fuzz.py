"""Bad input at every webhook: malformed JSON and forms, wrong types, missing fields, huge
bodies, odd unicode, forged or missing secrets and signatures. Never a 500, never a
change from a refused request, and every request stored or refused with a reason."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.models import Booking, Conversation, InboxUpdate, OutboxMessage
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio, signed_inbound
from tests.integration.channel_helpers import (
    PUBLIC,
    SECRET,
    TWILIO_SID,
    TWILIO_TOKEN,
    start_pitstop,
)

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
UPDATE_KEYS = st.fixed_dictionaries({}, optional={
    "update_id": st.integers() | st.text(max_size=5),
    "message": JSONISH, "callback_query": JSONISH, "edited_message": JSONISH, "my_chat_member": JSONISH,
})


@pytest.fixture(scope="module")
def pitstop(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "pitstop.db"
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        yield start_pitstop(f"sqlite:///{path}", telegram, twilio)


def counts(pitstop):
    with pitstop.runtime.db.uow() as uow:
        return tuple(uow.session.scalar(select(func.count()).select_from(m))
                     for m in (InboxUpdate, OutboxMessage, Conversation, Booking))


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=st.one_of(JSONISH.map(json.dumps), UPDATE_KEYS.map(json.dumps), st.binary(max_size=300)))
def test_telegram_webhook_never_500s_on_anything_with_the_right_secret(pitstop, body):
    response = pitstop.client.post("/webhooks/telegram/mwangaza-motors", data=body, content_type="application/json",
                                   headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status_code in (200, 400), response.data


@FUZZ
@given(body=UPDATE_KEYS.map(json.dumps), secret=st.text(max_size=40).filter(lambda s: s != SECRET))
def test_a_wrong_or_missing_telegram_secret_changes_nothing(pitstop, body, secret):
    before = counts(pitstop)
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret.isascii() and secret.isprintable() else {}
    response = pitstop.client.post("/webhooks/telegram/mwangaza-motors", data=body,
                                   content_type="application/json", headers=headers)
    assert response.status_code == 403
    assert counts(pitstop) == before


FORM = st.dictionaries(st.sampled_from(["From", "Body", "MessageSid", "ButtonPayload", "NumMedia", "Latitude",
                                        "Longitude", "ProfileName", "WaId", "To", "Junk"]),
                       st.text(max_size=50), max_size=8)


@FUZZ
@given(form=FORM)
def test_whatsapp_webhook_never_500s_on_any_signed_form(pitstop, form):
    path = "/webhooks/whatsapp/mwangaza-motors"
    headers, data = signed_inbound(PUBLIC + path, TWILIO_TOKEN, form)
    response = pitstop.client.post(path, data=data, headers=headers)
    assert response.status_code in (200, 400), response.data


STATUS_FORM = st.dictionaries(st.sampled_from(["MessageSid", "MessageStatus", "ErrorCode", "AccountSid", "To", "Junk"]),
                              st.text(max_size=80) | st.sampled_from(["undelivered", "read", "SM" + "1" * 32]),
                              max_size=6)  # fmt: skip


@FUZZ
@given(form=STATUS_FORM)
def test_whatsapp_status_webhook_stores_or_refuses_any_signed_form_and_never_500s(pitstop, form):
    path = "/webhooks/whatsapp/mwangaza-motors/status"
    headers, data = signed_inbound(PUBLIC + path, TWILIO_TOKEN, form)
    before = counts(pitstop)
    response = pitstop.client.post(path, data=data, headers=headers)
    assert response.status_code in (200, 400), response.data
    if response.status_code == 400:
        assert response.get_json()["error"].startswith("not a status report") and counts(pitstop) == before


@FUZZ
@given(form=FORM, forged=st.booleans())
def test_an_unsigned_or_forged_whatsapp_post_changes_nothing(pitstop, form, forged):
    path = "/webhooks/whatsapp/mwangaza-motors"
    headers, data = signed_inbound(PUBLIC + path, "not-the-token", form) if forged else ({}, form)
    before = counts(pitstop)
    assert pitstop.client.post(path, data=data, headers=headers).status_code == 403
    assert counts(pitstop) == before


def test_a_huge_body_is_refused_without_being_read(pitstop):
    response = pitstop.client.post("/webhooks/telegram/mwangaza-motors", data=b"{" + b" " * 400_000 + b"}",
                                   content_type="application/json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status_code == 413


def test_every_accepted_update_is_recorded_with_what_became_of_it(pitstop):
    pitstop.say(4242, "/start")
    with pitstop.runtime.db.uow() as uow:
        outcomes = set(uow.session.scalars(select(InboxUpdate.outcome)))
    assert None not in outcomes and "applied" in outcomes


@pytest.mark.parametrize("broken", [
    lambda u: u["message"].update(text=["not", "words"]),
    lambda u: u["message"].pop("chat"),
    lambda u: u["message"].update(chat=None),
])  # fmt: skip
def test_an_update_of_the_right_shape_with_a_field_of_the_wrong_type_is_refused_not_a_500(pitstop, broken):
    """python-telegram-bot builds such an update without checking its fields' types."""
    update = pitstop.telegram.update_text(777_001, 4343, "hello")
    broken(update)
    before = counts(pitstop)
    response = pitstop.client.post("/webhooks/telegram/mwangaza-motors", data=json.dumps(update),
                                   content_type="application/json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert (response.status_code, response.get_json()) == (400, {"error": "not a Telegram update"})
    assert counts(pitstop) == before
