"""Talk to the shop: the customer's words reach the owners, the owner's answer reaches the
customer, and the customer's reply reaches the shop again, on WhatsApp and Telegram."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.models import utcnow
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN, start_pitstop
from tests.integration.staff_helpers import ERLAN, WANJIRU, Clocked, verify_on_telegram

ASKAR = "+77015550001"  # an Atyrau customer writing in Kazakh on WhatsApp
AMINA, OWNER_TG = 5550001, 6000001
MONDAY_9 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@pytest.fixture
def story(sqlite_url, tmp_path):
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        story = Clocked(start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")}))
        yield story
        story.p.runtime.close()


def askar_writes_to_the_shop(story, words: str) -> None:
    for typed in ("Сәлем", "2", "4", words):  # Қазақша; Сервиске жазу; the message
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    assert story.wa_bodies(ASKAR)[-1].startswith("Сервиске жіберілді. Сізге осы жерде жауап береді.")


def owner_reads(story, phone: str) -> list[str]:
    """What the owner could read on WhatsApp: bodies, and the text a template carried."""
    return [m["params"].get("Body") or " ".join(json.loads(m["params"].get("ContentVariables") or "{}").values())
            for m in story.p.twilio.messages(f"whatsapp:{phone}")]  # fmt: skip


def test_an_owner_who_never_wrote_to_the_bot_answers_a_customer_on_whatsapp(story):
    """His first message both recognises him and answers the message that reached him."""
    askar_writes_to_the_shop(story, "Сәлеметсіз бе, 205/55 R16 дөңгелек бар ма?")
    assert "205/55 R16" in owner_reads(story, ERLAN)[-1]  # the staff template reached the owner

    story.wa(ERLAN, "1", utcnow(), slug="zhaiyk-auto", name="Ерлан")  # "Ответить: Асқар"
    assert story.wa_bodies(ERLAN)[-1].startswith("Спасибо, Ерлан! Теперь вы зарегистрированы в Жайық Авто как "
                                                 "владелец.\nНапишите ответ для Асқар")  # fmt: skip
    story.wa(ERLAN, "Да, есть Bridgestone, 32 000 за штуку.", utcnow(), slug="zhaiyk-auto", name="Ерлан")

    assert story.wa_bodies(ASKAR)[-1] == "«Жайық Авто» жауабы: Да, есть Bridgestone, 32 000 за штуку.\n1. Жауап беру"


def test_a_long_message_cut_short_by_the_owners_template_is_sent_whole_when_he_writes(story):
    story.wa(ERLAN, "привет", utcnow() - timedelta(days=2), slug="zhaiyk-auto", name="Ерлан")  # his window: closed
    words = "Сәлеметсіз бе! " + " ".join(f"Сұрақ {i}: 205/55 R16 дөңгелек бар ма?" for i in range(1, 13)) + \
        " Ертең 10:00-де келе аламын ба?"  # fmt: skip
    askar_writes_to_the_shop(story, words)
    assert not any("Ертең 10:00-де" in t for t in owner_reads(story, ERLAN))  # 300 characters of it

    story.wa(ERLAN, "1", utcnow(), slug="zhaiyk-auto", name="Ерлан")  # "Answer Асқар": the window is open now

    whole, asked = story.wa_bodies(ERLAN)[-2:]
    assert whole.startswith("Сообщение от Асқар (+77015550001): Сәлеметсіз бе!") and "Ертең 10:00-де" in whole
    assert asked.startswith("Напишите ответ для Асқар")  # last: its choices are the ones that answer


def test_the_customers_reply_to_the_shops_answer_reaches_the_shop(story):
    shop_answered(story)
    assert [data for _, data in story.buttons(AMINA)] == ["reply:shop"]

    story.say(AMINA, "175/65 R14, I need four", MONDAY_9 + timedelta(minutes=5))

    assert story.last(AMINA).startswith("Sent to the shop. They will answer you here.")
    assert story.last(OWNER_TG).startswith("Message from Amina (-): 175/65 R14, I need four")


def test_a_customer_in_the_middle_of_a_booking_replies_with_the_button_and_the_booking_goes_on(story):
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    for data in ("lang:en", "m:shop"):
        story.tap(AMINA, data, MONDAY_9)
    story.say(AMINA, "Do you fit tyres?", MONDAY_9)
    story.tap(AMINA, "m:book", MONDAY_9)  # she books meanwhile (the menu came back after her message)
    story.tap(OWNER_TG, story.buttons(OWNER_TG)[0][1], MONDAY_9 + timedelta(minutes=2))
    story.say(OWNER_TG, "Yes we do.", MONDAY_9 + timedelta(minutes=3))
    story.tap(AMINA, "svc:1", MONDAY_9 + timedelta(minutes=4))  # not taken for a message to the shop
    assert not story.last(OWNER_TG).startswith("Message from Amina")

    story.tap(AMINA, "reply:shop", MONDAY_9 + timedelta(minutes=5))
    story.say(AMINA, "Great, thanks", MONDAY_9 + timedelta(minutes=6))

    assert story.last(OWNER_TG).startswith("Message from Amina (-): Great, thanks")
    assert story.last(AMINA) == ("Sent to the shop. They will answer you here.\nAdded: Oil and filter change.\n"
                                 "Anything else? Choose another service, or continue.")  # the booking goes on


def shop_answered(story):
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    story.tap(AMINA, "lang:en", MONDAY_9)
    story.tap(AMINA, "m:shop", MONDAY_9)
    story.say(AMINA, "Do you have Michelin tyres for a Probox?", MONDAY_9)
    [(_, answer)] = story.buttons(OWNER_TG)
    story.tap(OWNER_TG, answer, MONDAY_9 + timedelta(minutes=2))
    story.say(OWNER_TG, "Yes, 9,500 each.", MONDAY_9 + timedelta(minutes=3))
    assert story.last(AMINA) == "Mwangaza Motors answers: Yes, 9,500 each."
    return len(story.texts(OWNER_TG))


@pytest.mark.parametrize("typed", ["book", "I want to book", "tomorrow 10am", "my bookings"])
def test_after_the_shops_answer_a_customer_who_types_to_book_is_not_sent_to_the_shop(story, typed):
    owner_had = shop_answered(story)
    story.say(AMINA, typed, MONDAY_9 + timedelta(minutes=10))
    assert len(story.texts(OWNER_TG)) == owner_had, f"{typed!r} went to the owner: {story.last(OWNER_TG)!r}"
    assert not story.last(AMINA).startswith("Sent to the shop")


def test_after_the_shops_answer_the_menus_book_button_still_books(story):
    shop_answered(story)
    story.post(story.p.telegram.update_callback(next(story.ids), AMINA, "m:book",
                                                story.p.telegram.sent_messages(AMINA)[0]["message_id"]),
               MONDAY_9 + timedelta(minutes=10))
    assert "Sorry" not in story.last(AMINA), story.last(AMINA)


@pytest.mark.parametrize("later", [timedelta(hours=3), timedelta(days=1)])
def test_the_next_day_book_books_although_the_shop_answered_her_question(story, later):
    """The shop's answer leaves her chat at the menu: a day later, 'book' books."""
    shop_answered(story)
    story.say(AMINA, "book", MONDAY_9 + later)
    assert "Welcome back" not in story.last(AMINA), story.last(AMINA)
    assert [d for _, d in story.buttons(AMINA)][0].startswith("svc:"), story.buttons(AMINA)
