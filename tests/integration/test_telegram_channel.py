"""Telegram stories over HTTP, against the fake Bot API, exactly as Telegram calls us."""

import json

import pytest
from sqlalchemy import func, select

from core.models import Booking, Conversation, Customer, InboxUpdate, OutboxMessage
from pitstop.fakes.telegram import FakeTelegram, update_text
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import SECRET, start_pitstop

AMINA = 5550001


@pytest.fixture
def pitstop(sqlite_url):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        yield start_pitstop(sqlite_url, telegram, twilio)


def count(pitstop, model, *where):
    with pitstop.runtime.db.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model).where(*where))


def test_customer_books_an_oil_change_on_telegram_and_pays_at_the_shop(pitstop):
    pitstop.say(AMINA, "/start")
    assert pitstop.texts(AMINA)[-1].startswith("Hello! This is Mwangaza Motors.")
    assert pitstop.buttons(AMINA) == [("English", "lang:en"), ("Kiswahili", "lang:sw")]

    pitstop.tap(AMINA, "lang:en")
    assert pitstop.telegram.sent_messages(AMINA)[-1]["method"] == "editMessageText"  # the menu replaces it
    pitstop.tap(AMINA, "m:book")
    pitstop.tap(AMINA, "svc:1")
    pitstop.tap(AMINA, "done")
    pitstop.say(AMINA, "kcb 123a")
    pitstop.tap(AMINA, "skip")
    days = pitstop.buttons(AMINA)
    pitstop.tap(AMINA, days[1][1])
    times = pitstop.buttons(AMINA)
    pitstop.tap(AMINA, times[0][1])
    assert "Please check your booking:" in pitstop.texts(AMINA)[-1]
    pitstop.tap_button(AMINA, "confirm:")
    assert pitstop.buttons(AMINA) == [("M-Pesa", "pay:mpesa"), ("Pay at the shop", "pay:cash")]
    pitstop.tap(AMINA, "pay:cash")

    assert pitstop.texts(AMINA)[-1].startswith("Booked! Your code is MM-1001.")
    with pitstop.runtime.db.uow() as uow:
        booking = uow.session.scalar(select(Booking))
        assert (booking.code, booking.status, booking.channel) == ("MM-1001", "confirmed", "telegram")
    # every tap was answered, so no button keeps spinning
    assert len(pitstop.telegram.answered_callbacks()) == 9
    assert count(pitstop, OutboxMessage, OutboxMessage.status != "sent") == 0


def test_the_same_update_delivered_five_times_gets_one_set_of_replies(pitstop):
    update = pitstop.telegram.update_text(77, AMINA, "/start")
    for _ in range(5):
        assert pitstop.telegram_post(update).status_code == 200
    assert len(pitstop.texts(AMINA)) == 1
    assert count(pitstop, InboxUpdate) == 1


def test_with_a_job_queue_a_tap_is_answered_in_the_webhooks_response(sqlite_url, redis_url):
    """Telegram carries out the answer's Bot API call: no outbox row, job or request of ours."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(sqlite_url, telegram, twilio, {"REDIS_URL": redis_url})
        pitstop.say(AMINA, "/start")
        tap = telegram.update_callback(next(pitstop.update_ids), AMINA, "lang:en", 1)
        response = pitstop.telegram_post(tap)
        tap_id = tap["callback_query"]["id"]
        assert response.get_json() == {"method": "answerCallbackQuery", "callback_query_id": tap_id}
        assert [a["callback_query_id"] for a in telegram.answered_callbacks()] == [tap_id]
        kinds = [kind for kind, in _outbox(pitstop, OutboxMessage.kind)]
        assert kinds == ["text", "text"]  # the welcome, and the menu in English: on their way through the queue

        assert pitstop.telegram_post(tap).get_json() == response.get_json()  # a repeat is answered again
        assert len(telegram.answered_callbacks()) == 2 and count(pitstop, OutboxMessage) == 2


def test_without_a_job_queue_a_tap_is_answered_first_through_the_outbox(pitstop):
    """Jobs run in-process before the response goes: the answer would wait for the replies."""
    pitstop.say(AMINA, "/start")
    tap = pitstop.tap(AMINA, "lang:en")
    assert [a["callback_query_id"] for a in pitstop.telegram.answered_callbacks()] == [tap["callback_query"]["id"]]
    assert [kind for kind, in _outbox(pitstop, OutboxMessage.kind)] == ["text", "callback_answer", "text"]


def _outbox(pitstop, *columns):
    with pitstop.runtime.db.uow() as uow:
        return list(uow.session.execute(select(*columns).order_by(OutboxMessage.id)))


def test_a_wrong_secret_is_refused_and_nothing_is_stored(pitstop):
    update = pitstop.telegram.update_text(78, AMINA, "/start")
    assert pitstop.telegram_post(update, secret="guess").status_code == 403
    assert pitstop.client.post("/webhooks/telegram/mwangaza-motors", json=update).status_code == 403
    assert count(pitstop, InboxUpdate) == 0
    assert pitstop.texts(AMINA) == []


def test_an_unknown_shop_is_404_and_a_non_update_is_400(pitstop):
    update = pitstop.telegram.update_text(79, AMINA, "/start")
    assert pitstop.telegram_post(update, slug="nobody").status_code == 404
    assert pitstop.telegram_post({"hello": "world"}).status_code == 400


def test_a_sticker_and_an_edited_message_get_a_polite_answer(pitstop):
    pitstop.say(AMINA, "/start")
    sticker = pitstop.telegram.update_text(80, AMINA, "x")
    sticker["message"].pop("text")
    sticker["message"]["sticker"] = {"file_id": "s", "file_unique_id": "u", "width": 1, "height": 1,
                                     "is_animated": False, "is_video": False, "type": "regular"}
    assert pitstop.telegram_post(sticker).status_code == 200
    assert pitstop.texts(AMINA)[-1].startswith("I can only read text and buttons here.")
    edited = pitstop.telegram.update_text(81, AMINA, "hello")
    message = edited.pop("message")
    edited["edited_message"] = message | {"edit_date": message["date"] + 5}
    assert pitstop.telegram_post(edited).status_code == 200
    assert pitstop.texts(AMINA)[-1].startswith("I saw that you edited a message.")


def test_in_a_group_chat_the_bot_asks_to_be_written_to_privately(pitstop):
    """A chat is one customer: in a family group every member would see and change the
    others' bookings, so nothing is done there."""
    group = {"id": -1001234567, "type": "supergroup", "title": "Family"}
    typed = pitstop.telegram.update_text(70, AMINA, "/start")
    typed["message"]["chat"] = group
    tapped = pitstop.telegram.update_callback(71, 5550002, "m:bookings", 1)
    tapped["callback_query"]["message"]["chat"] = group
    for update in (typed, tapped):
        assert pitstop.telegram_post(update).status_code == 200

    assert pitstop.texts(group["id"]) == ["I can only help in a private chat. Please write to me directly."] * 2
    assert [a["callback_query_id"] for a in pitstop.telegram.answered_callbacks()] == [tapped["callback_query"]["id"]]
    assert (pitstop.texts(AMINA), count(pitstop, Customer), count(pitstop, Conversation)) == ([], 0, 0)
    assert count(pitstop, InboxUpdate, InboxUpdate.outcome == "ignored: a group chat") == 2


def test_a_post_in_the_shops_channel_is_not_answered_there(pitstop):
    """An answer in a channel would go to every subscriber."""
    channel = {"id": -1009876543, "type": "channel", "title": "Mwangaza news"}
    post = {"update_id": 72, "channel_post": {"message_id": 5, "date": 1764000000, "chat": channel,
                                               "text": "Open on Saturday!"}}  # fmt: skip
    assert pitstop.telegram_post(post).status_code == 200
    assert pitstop.texts(channel["id"]) == []


def test_someone_elses_contact_is_refused_and_the_own_one_accepted(pitstop):
    pitstop.say(AMINA, "/start")
    foreign = pitstop.telegram.update_contact(90, AMINA, "+254712000999", contact_user_id=123)
    pitstop.telegram_post(foreign)
    assert pitstop.texts(AMINA)[-1].startswith("Please share your own number")


def test_a_step_that_fails_half_way_leaves_nothing_behind_and_says_sorry(pitstop, monkeypatch):
    from bot import runner
    from core import outbox
    from core.messages import Msg, Reply

    book_up_to_payment(pitstop)
    real_execute, jobs_before = runner.execute, len(pitstop.runtime.queue.ran)

    def fails_after_writing(session, ctx, command, channel):  # booking and a message written, then a failure
        real_execute(session, ctx, command, channel)
        outbox.send(session, shop_id=1, channel="telegram", address="5550999", language="en",
                    reply=Reply((Msg("New booking"),)))  # fmt: skip
        raise RuntimeError("the database went away mid-step")

    monkeypatch.setattr(runner, "execute", fails_after_writing)
    pitstop.tap(AMINA, "pay:cash")
    assert pitstop.texts(AMINA)[-1] == "Sorry, something went wrong on our side. Please try again in a moment."
    assert count(pitstop, Booking) == 0  # the hold the failed step made is undone
    delivered = [int(job.removeprefix("deliver-")) for job in pitstop.runtime.queue.ran[jobs_before:]]
    with pitstop.runtime.db.uow() as uow:  # no job was queued for a message the failure undid
        written = set(uow.session.scalars(select(OutboxMessage.id).where(OutboxMessage.id.in_(delivered))))
    assert len(delivered) == 2 and set(delivered) == written  # the tap's answer and the apology

    monkeypatch.setattr(runner, "execute", real_execute)
    pitstop.tap(AMINA, "pay:cash")  # the conversation kept its place: the same tap now books
    assert pitstop.texts(AMINA)[-1].startswith("Booked! Your code is MM-1001.")


def test_a_step_that_fails_before_writing_says_sorry_and_keeps_its_place(pitstop, monkeypatch):
    """Most steps only read and answer; they take no savepoint, and a failure in one
    has nothing to undo: the customer hears sorry, and the conversation stays put."""
    from bot import engine, runner

    pitstop.say(AMINA, "/start")
    pitstop.tap(AMINA, "lang:en")
    real_step = engine.step

    def fails(*args, **kwargs):
        raise RuntimeError("a bug in the dialogue")

    monkeypatch.setattr(runner.engine, "step", fails)
    pitstop.tap(AMINA, "m:book")
    assert pitstop.texts(AMINA)[-1] == "Sorry, something went wrong on our side. Please try again in a moment."
    monkeypatch.setattr(runner.engine, "step", real_step)
    pitstop.tap(AMINA, "m:book")
    assert pitstop.texts(AMINA)[-1] == "Which service do you need? You can choose several."


def test_a_step_whose_write_the_database_refuses_says_sorry_and_leaves_nothing_behind(pitstop, monkeypatch):
    """The failure is the database's own (a row it will not take), raised while the step
    writes: the savepoint is rolled back, and the apology still goes out."""
    from bot import runner

    book_up_to_payment(pitstop)
    real_execute = runner.execute

    def refused(session, ctx, command, channel):
        real_execute(session, ctx, command, channel)
        session.add(OutboxMessage(shop_id=1, channel="telegram"))  # no address: NOT NULL refuses it
        session.flush()

    monkeypatch.setattr(runner, "execute", refused)
    pitstop.tap(AMINA, "pay:cash")
    assert pitstop.texts(AMINA)[-1] == "Sorry, something went wrong on our side. Please try again in a moment."
    assert count(pitstop, Booking) == 0


def book_up_to_payment(pitstop) -> None:
    """Amina picks a service, a vehicle, a day and a time, and confirms: next comes payment."""
    pitstop.say(AMINA, "/start")
    for tap in ("lang:en", "m:book", "svc:1", "done"):
        pitstop.tap(AMINA, tap)
    pitstop.say(AMINA, "kcb 123a")
    pitstop.tap(AMINA, "skip")
    pitstop.tap(AMINA, pitstop.buttons(AMINA)[1][1])
    pitstop.tap(AMINA, pitstop.buttons(AMINA)[0][1])
    pitstop.tap_button(AMINA, "confirm:")


def test_an_update_is_stored_in_the_inbox_exactly_as_telegram_posted_it(pitstop):
    """The raw delivery is the record: the bytes Telegram sent, not a re-encoding of them."""
    body = json.dumps(update_text(77, AMINA, "Habari, nataka kubadilisha oili 🚗"), indent=1)  # escapes kept as sent

    response = pitstop.client.post("/webhooks/telegram/mwangaza-motors", data=body, content_type="application/json",
                                   headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})  # fmt: skip

    assert response.status_code == 200
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalar(select(InboxUpdate.payload).where(InboxUpdate.external_id.endswith(":77"))) == body
