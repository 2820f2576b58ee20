"""Talk to the shop: the customer's words reach the owners, the owner's answer reaches the
customer, and the customer's reply reaches the shop again, on WhatsApp and Telegram."""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot import schedule, whatsapp
from bot.inbound import process
from core import files, notices
from core.messages import Choice, Msg, Reply
from core.models import Customer, OutboxMessage, Staff, StoredFile, utcnow
from pitstop.fakes import twilio as fake_twilio
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import PUBLIC, TWILIO_SID, TWILIO_TOKEN, start_pitstop
from tests.integration.staff_helpers import (
    A_ROUND_VIDEO,
    A_VOICE_NOTE,
    ERLAN,
    FILE_LEFT,
    OTIENO,
    SERGEY,
    WANJIRU,
    Clocked,
    verify_on_telegram,
)

ASKAR = "+77015550001"  # an Atyrau customer writing in Kazakh on WhatsApp
AMINA, OWNER_TG, OTIENO_TG = 5550001, 6000001, 6000002
MONDAY_9 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@contextmanager
def a_story(url: str, tmp_path, **env: str) -> Iterator[Clocked]:
    """Pitstop on `url` with the fake Bot API and Twilio, its files under `tmp_path`."""
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        story = Clocked(start_pitstop(url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var"), **env}))
        yield story
        story.p.runtime.close()


@pytest.fixture
def story(sqlite_url, tmp_path):
    with a_story(sqlite_url, tmp_path) as story:
        yield story


@pytest.fixture
def paced_story(sqlite_url, tmp_path):
    """A story whose messages keep Telegram's pace: one a second to a chat."""
    with a_story(sqlite_url, tmp_path, TELEGRAM_CHAT_INTERVAL="1") as story:
        yield story


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


def test_her_reply_to_the_shop_reaches_it_though_a_reminder_came_after_a_pause(story):
    """The shop answers her; 40 minutes after her last message a reminder with a button
    comes (her chat starts over: she was away). Her words five minutes later, within two
    hours of the shop's answer, still reach it, and the reminder is asked again. The
    reminder's start over forgot the talk with the shop: "Sorry, I did not get that"."""
    owner_had = shop_answered(story)
    reminder = Reply((Msg("Reminder: your visit is tomorrow at 10:00."),), (Choice("rm:cancel:5", "Cancel"),))
    notices.remember_choices(story.shop_id("mwangaza-motors"), "telegram", str(AMINA), [["rm:cancel:5", ["Cancel"]]],
                             (MONDAY_9 + timedelta(minutes=40)).isoformat(), False, "en", reminder.to_json(), 77)  # fmt: skip

    story.say(AMINA, "175/65 R14, I need four", MONDAY_9 + timedelta(minutes=45))

    assert story.last(AMINA) == "Sent to the shop. They will answer you here.\nReminder: your visit is tomorrow at 10:00."
    assert len(story.texts(OWNER_TG)) == owner_had + 1
    assert story.last(OWNER_TG).startswith("Message from Amina (-): 175/65 R14, I need four")


@pytest.mark.parametrize("typed", ["book", "I want to book", "tomorrow 10am", "my bookings", "book an oil change"])
def test_after_the_shops_answer_a_customer_who_types_to_book_is_not_sent_to_the_shop(story, typed):
    owner_had = shop_answered(story)
    story.say(AMINA, typed, MONDAY_9 + timedelta(minutes=10))
    assert len(story.texts(OWNER_TG)) == owner_had, f"{typed!r} went to the owner: {story.last(OWNER_TG)!r}"
    assert not story.last(AMINA).startswith("Sent to the shop")


@pytest.mark.parametrize("typed", ["Oil change too, when?", "oil change"])
def test_after_the_shops_answer_a_service_named_without_asking_to_book_is_her_reply(story, typed):
    """Words about a service, two hours after the shop's answer, are talk with the shop;
    "book an oil change" is a booking (above)."""
    shop_answered(story)
    story.say(AMINA, typed, MONDAY_9 + timedelta(minutes=10))
    assert story.last(AMINA).startswith("Sent to the shop. They will answer you here.")
    assert story.last(OWNER_TG).startswith(f"Message from Amina (-): {typed}")


def test_after_the_shops_answer_asking_to_book_an_oil_change_books_it(story):
    shop_answered(story)
    story.say(AMINA, "book an oil change", MONDAY_9 + timedelta(minutes=10))
    assert story.last(AMINA) == ("Added: Oil and filter change.\n"
                                 "Anything else? Choose another service, or continue.")  # fmt: skip


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


# -- photos ----------------------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0customer-photo"


def amina_sends_a_photo(story, at: datetime, caption: str | None = None, file_id: str | None = None,
                        album: str | None = None) -> dict:  # fmt: skip
    """A photo from Amina's phone on Telegram, as the Bot API posts it (with words under it, or none;
    one of an album: a message a photo, all with the album's media_group_id)."""
    update = story.p.telegram.update_photo(next(story.ids), AMINA, JPEG, caption, album, file_id)
    story.post(update, at)
    return update


def askar_sends_a_photo(story, words: str = "") -> None:
    """A photo from Асқар's phone on WhatsApp, as Twilio posts it (its words are the Body)."""
    params = fake_twilio.inbound_media_params(f"whatsapp:{ASKAR}", words, story.p.twilio.add_media(
        JPEG, account_sid=TWILIO_SID), profile_name="Асқар")  # fmt: skip
    process(story.db, story.shop_id("zhaiyk-auto"), whatsapp.parse(params), json.dumps(params), utcnow())


def sent_photos(story, chat) -> list[dict]:
    return [m for m in story.p.telegram.sent_messages(chat) if m["method"] == "sendPhoto"]


def amina_id(story) -> int:
    with story.db.uow() as uow:
        return uow.session.scalar(select(Customer.id).where(Customer.name == "Amina"))


def amina_talks_to_the_shop(story, name: str = "Amina") -> None:
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.say(AMINA, "/start", MONDAY_9, first_name=name)
    story.tap(AMINA, "lang:en", MONDAY_9)
    story.tap(AMINA, "m:shop", MONDAY_9)


def test_a_customers_photo_reaches_the_owner_as_a_photo_with_her_words_and_the_answer_button(story):
    amina_talks_to_the_shop(story)

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), "Is this tyre still safe?")

    [photo] = sent_photos(story, OWNER_TG)
    assert photo["caption"] == "Photo from Amina (-): Is this tyre still safe?"
    assert photo["file"]["content"] == JPEG
    assert story.buttons(OWNER_TG) == [("Answer Amina", f"st:answer:{amina_id(story)}")]
    assert story.last(AMINA) == "Sent to the shop. They will answer you here.\nWhat would you like to do?"

    story.tap(OWNER_TG, f"st:answer:{amina_id(story)}", MONDAY_9 + timedelta(minutes=2))
    story.say(OWNER_TG, "No, the tread is worn. Come in today.", MONDAY_9 + timedelta(minutes=3))
    assert story.last(AMINA) == "Mwangaza Motors answers: No, the tread is worn. Come in today."


def test_a_photo_without_words_after_the_shops_answer_reaches_the_shop(story):
    shop_answered(story)

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=10))

    [photo] = sent_photos(story, OWNER_TG)
    assert (photo["caption"], photo["file"]["content"]) == ("Photo from Amina (-)", JPEG)
    assert story.last(AMINA).startswith("Sent to the shop. They will answer you here.")


def test_a_photo_at_the_menu_says_how_to_send_it_to_the_shop_and_reaches_nobody(story):
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    story.tap(AMINA, "lang:en", MONDAY_9)

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), "My car")

    assert story.last(AMINA) == ("This photo was not sent to anyone. To send a photo to the shop, choose \"Talk to "
                                 "the shop\" in the menu, then send the photo.\nWhat would you like to do?")  # fmt: skip
    assert sent_photos(story, OWNER_TG) == [] and not story.last(OWNER_TG).startswith("Message from Amina")


@pytest.mark.parametrize("stop", ["stop", "отмена"])
def test_a_photo_sent_after_she_typed_stop_to_her_talk_with_the_shop_reaches_nobody(story, stop):
    """Amina writes to the shop, then types "stop": she is done with it. A photo of her
    car a minute later went to the owners all the same (for ten minutes after her
    words); now it reaches nobody, and she is told how to send one."""
    amina_talks_to_the_shop(story)
    story.say(AMINA, "My front tyre looks flat", MONDAY_9 + timedelta(minutes=1))
    story.say(AMINA, stop, MONDAY_9 + timedelta(minutes=2))
    assert story.last(AMINA) == "Stopped. Nothing was changed.\nWhat would you like to do?"
    owner_had = len(story.texts(OWNER_TG))

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=3))

    assert story.last(AMINA) == ("This photo was not sent to anyone. To send a photo to the shop, choose \"Talk to "
                                 "the shop\" in the menu, then send the photo.\nWhat would you like to do?")  # fmt: skip
    assert sent_photos(story, OWNER_TG) == [] and len(story.texts(OWNER_TG)) == owner_had


def test_a_photo_in_the_middle_of_a_booking_is_answered_and_the_booking_goes_on(story):
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    story.tap(AMINA, "lang:en", MONDAY_9)
    story.tap(AMINA, "m:book", MONDAY_9)
    asked = story.last(AMINA)

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1))

    assert story.last(AMINA) == ("This photo was not sent to anyone. To send a photo to the shop, choose \"Talk to "
                                 "the shop\" in the menu, then send the photo.\n" + asked)  # fmt: skip
    story.tap(AMINA, "svc:1", MONDAY_9 + timedelta(minutes=2))
    assert story.last(AMINA).startswith("Added: Oil and filter change.")


def test_a_photo_whose_delivery_to_the_owner_failed_is_sent_again(story):
    amina_talks_to_the_shop(story)
    story.p.telegram.fail_next(1, status=502, methods=["sendPhoto"])

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), "The noise comes from here")
    assert sent_photos(story, OWNER_TG) == []
    time.sleep(2.1)  # the first try is followed by another after 2 s
    schedule.redrive_outbox(min_age=timedelta(0))

    [photo] = sent_photos(story, OWNER_TG)
    assert (photo["caption"], photo["file"]["content"]) == ("Photo from Amina (-): The noise comes from here", JPEG)


def test_a_photo_telegram_could_not_give_for_a_moment_reaches_the_owner_on_the_next_try(story):
    """A passing fault of the Bot API while the photo was fetched told the owner it
    could not be received: it is fetched again as a failed send is tried again."""
    amina_talks_to_the_shop(story)
    story.p.telegram.fail_next(1, status=502, methods=["getFile"])

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), "The noise comes from here")
    assert sent_photos(story, OWNER_TG) == [] and not story.last(OWNER_TG).startswith("Amina (-) sent a photo")
    time.sleep(2.1)  # the first try is followed by another after 2 s
    schedule.redrive_outbox(min_age=timedelta(0))

    [photo] = sent_photos(story, OWNER_TG)
    assert (photo["caption"], photo["file"]["content"]) == ("Photo from Amina (-): The noise comes from here", JPEG)


def test_a_photo_is_fetched_once_for_all_the_owners(story):
    with story.db.uow() as uow:  # Otieno is an owner of the garage too
        uow.session.scalar(select(Staff).where(Staff.phone == OTIENO)).role = "owner"
    verify_on_telegram(story, OTIENO_TG, OTIENO, MONDAY_9)
    amina_talks_to_the_shop(story)

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), "Is this tyre still safe?")

    (wanjiru,), (otieno,) = sent_photos(story, OWNER_TG), sent_photos(story, OTIENO_TG)
    assert (wanjiru["caption"], wanjiru["file"]["content"]) == ("Photo from Amina (-): Is this tyre still safe?", JPEG)
    assert (otieno["caption"], otieno["file"]["content"]) == ("Picha kutoka kwa Amina (-): Is this tyre still safe?",
                                                              JPEG)  # fmt: skip
    assert len(story.p.telegram.api_calls("getFile")) == 1
    with story.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(StoredFile)) == 1


def test_the_owner_hears_of_a_photo_that_could_not_be_fetched_with_her_words(story):
    amina_talks_to_the_shop(story)

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), "Is this tyre still safe?", file_id="AgACgone")

    assert sent_photos(story, OWNER_TG) == []
    assert story.last(OWNER_TG) == ("Amina (-) sent a photo, but it could not be received. Ask them to send it again.\n"
                                    "Message from Amina (-): Is this tyre still safe?")  # fmt: skip
    assert story.buttons(OWNER_TG) == [("Answer Amina", f"st:answer:{amina_id(story)}")]


def test_a_whatsapp_customers_photo_reaches_an_owner_whose_window_was_closed_when_he_writes(story):
    for typed in ("Сәлем", "2", "4"):  # Қазақша; Сервиске жазу. The owner never wrote to the bot: only templates reach him
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    askar_sends_a_photo(story, "Бұл дөңгелекті ауыстыру керек пе?")
    assert story.wa_bodies(ASKAR)[-1].startswith("Сервиске жіберілді. Сізге осы жерде жауап береді.")
    assert owner_reads(story, ERLAN)[-1] == "Ерлан Фото от Асқар (+77015550001): Бұл дөңгелекті ауыстыру керек пе?"

    story.wa(ERLAN, "1", utcnow(), slug="zhaiyk-auto", name="Ерлан")  # "Ответить: Асқар": his window opens

    photo, asked = [m["params"] for m in story.p.twilio.messages(f"whatsapp:{ERLAN}")][-2:]
    assert photo["Body"] == "Фото от Асқар (+77015550001): Бұл дөңгелекті ауыстыру керек пе?\n1. Ответить: Асқар"
    served = story.p.client.get(photo["MediaUrl"].removeprefix(PUBLIC))
    assert (served.status_code, served.data) == (200, JPEG)
    assert asked["Body"].startswith("Спасибо, Ерлан!") and "Напишите ответ для Асқар" in asked["Body"]


def test_a_whatsapp_photo_at_the_menu_is_answered_in_the_customers_language(story):
    for typed in ("Сәлем", "2"):  # Қазақша: the menu
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")

    askar_sends_a_photo(story)

    assert story.wa_bodies(ASKAR)[-1].startswith("Бұл фото ешкімге жіберілген жоқ. Сервиске фото жіберу үшін мәзірден "
                                                 "«Сервиске жазу» бөлімін таңдап, содан кейін фотоны жіберіңіз.\n")  # fmt: skip
    assert story.p.twilio.messages(f"whatsapp:{ERLAN}") == []
    with story.db.uow() as uow:
        assert uow.session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "photo")) is None


def owner_sends_a_photo(story, at: datetime, caption: str) -> None:
    """A photo from the owner's phone on Telegram, with words under it."""
    update = story.p.telegram.update_photo(next(story.ids), OWNER_TG, OWNERS_JPEG, caption)
    story.post(update, at)


OWNERS_JPEG = b"\xff\xd8\xff\xe0owner-quote"


def test_an_owners_photo_in_answer_to_a_customer_reaches_her_after_his_words(story):
    amina_talks_to_the_shop(story)
    story.say(AMINA, "How much for new front pads?", MONDAY_9 + timedelta(minutes=1))
    story.tap(OWNER_TG, f"st:answer:{amina_id(story)}", MONDAY_9 + timedelta(minutes=2))

    owner_sends_a_photo(story, MONDAY_9 + timedelta(minutes=3), "Here is the quote")

    assert story.texts(AMINA)[-2:] == ["Mwangaza Motors answers: Here is the quote", "Photo from Mwangaza Motors"]
    [photo] = sent_photos(story, AMINA)
    assert photo["file"]["content"] == OWNERS_JPEG and story.buttons(AMINA) == [("Reply", "reply:shop")]
    assert story.last(OWNER_TG).startswith("Sent to Amina.")

    story.say(AMINA, "Is fitting included?", MONDAY_9 + timedelta(minutes=5))  # her reply goes to the shop
    assert story.last(OWNER_TG) == "Message from Amina (-): Is fitting included?"


def test_an_owners_photo_captioned_like_a_command_is_not_run_as_one_and_goes_to_nobody(story):
    amina_talks_to_the_shop(story)
    said = len(story.texts(OWNER_TG))

    owner_sends_a_photo(story, MONDAY_9 + timedelta(minutes=3), "jobs today")

    [told] = story.texts(OWNER_TG)[said:]
    assert told.startswith("This photo was not sent to anyone.\nTo send a photo of extra work, first choose the job "
                           "and \"Extra work found\".\nTo send a photo to a customer, tap \"Answer\" under their "
                           "message first.\n")  # fmt: skip
    assert "No jobs today" not in told and sent_photos(story, AMINA) == []


def test_a_long_message_under_a_photo_reaches_the_owner_whole(story):
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina Wanjiku Mwangi-Otieno")
    story.tap(AMINA, "lang:en", MONDAY_9)
    story.tap(AMINA, "m:shop", MONDAY_9)
    words = ("The noise starts at 60 km/h. " * 40)[:990] + " END"

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), words)

    [photo] = sent_photos(story, OWNER_TG)
    rest = story.last(OWNER_TG)
    assert photo["caption"].endswith("…") and rest.startswith("…") and rest.endswith(" END")
    assert photo["caption"][:-1] + " " + rest[1:] == "Photo from Amina Wanjiku Mwangi-Otieno (-): " + words
    [(label, answer)] = story.buttons(OWNER_TG)  # under the words' end
    assert label == "Answer Amina" and answer.startswith("st:answer:")


def sends_a_file(story, chat: int, content: bytes, name: str, mime: str, caption: str | None, at) -> None:
    """What Telegram posts when someone sends a file (a document) with words under it, or none."""
    sent = story.p.telegram._store_file(content, "document", name, mime)
    story.sends_without_words(chat, {"document": {"file_id": sent.file_id, "file_unique_id": f"d{sent.file_id[-4:]}",
                                                  "file_name": name, "mime_type": mime}}, at, caption)  # fmt: skip


def test_an_image_sent_as_a_file_in_talk_to_the_shop_reaches_the_owner_as_a_photo(story):
    """Telegram's "send as file" (uncompressed): a document of type image/jpeg."""
    amina_talks_to_the_shop(story)
    sends_a_file(story, AMINA, JPEG, "tyre.jpg", "image/jpeg", "Is this tyre still safe?", MONDAY_9 + timedelta(minutes=1))

    [photo] = sent_photos(story, OWNER_TG)
    assert (photo["caption"], photo["file"]["content"]) == ("Photo from Amina (-): Is this tyre still safe?", JPEG)
    assert story.last(AMINA) == "Sent to the shop. They will answer you here.\nWhat would you like to do?"


def test_a_whatsapp_file_that_is_no_photo_is_said_not_passed_on_and_its_words_reach_the_shop(story):
    for typed in ("Сәлем", "2", "4"):  # Қазақша; Сервиске жазу
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    pdf = story.p.twilio.add_media(b"%PDF-1.4", "application/pdf", account_sid=TWILIO_SID)
    params = fake_twilio.inbound_media_params(f"whatsapp:{ASKAR}", "Өткен жылғы шот", pdf, "application/pdf",
                                              "document", profile_name="Асқар")  # fmt: skip

    process(story.db, story.shop_id("zhaiyk-auto"), whatsapp.parse(params), json.dumps(params), utcnow())

    assert story.wa_bodies(ASKAR)[-1].startswith("Сервиске жіберілді. Сізге осы жерде жауап береді.\n"
                                                 "Файлыңыз жіберілмеді: сервиске тек хабарлама мен фото жетеді.\n")  # fmt: skip
    assert owner_reads(story, ERLAN)[-1] == "Ерлан Сообщение от Асқар (+77015550001): Өткен жылғы шот"


def test_a_whatsapp_plate_under_a_photo_of_the_car_answers_the_plate_question(story):
    for typed in ("Сәлем", "2", "1", "1", "1"):  # Қазақша; Жазылу; the first service; that is all
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    assert story.wa_bodies(ASKAR)[-1].startswith("Көліктің мемлекеттік нөмірін жазыңыз")

    askar_sends_a_photo(story, "123 ABC 06")

    assert story.wa_bodies(ASKAR)[-1] == ("Бұл фото ешкімге жіберілген жоқ. Сервиске фото жіберу үшін мәзірден «Сервиске "
                                          "жазу» бөлімін таңдап, содан кейін фотоны жіберіңіз.\nКөліктің маркасы мен "
                                          "моделі, мысалы, Toyota Camry? Немесе бұл қадамды өткізіп жіберіңіз.\n"
                                          "1. Өткізіп жіберу")  # the plate taken, the car's make asked  # fmt: skip


# -- an album, a photo at a time -------------------------------------------------------------


def test_every_photo_of_an_album_sent_in_talk_to_the_shop_reaches_the_owner(story):
    """A Telegram album comes as one message a photo, the words under the first: the
    chat was back at the menu after the first, and the second was 'sent to nobody'."""
    amina_talks_to_the_shop(story)

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), "The tyre, both sides")
    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1, seconds=1))

    assert [p["caption"] for p in sent_photos(story, OWNER_TG)] == ["Photo from Amina (-): The tyre, both sides",
                                                                    "Photo from Amina (-)"]  # fmt: skip
    assert story.last(AMINA) == "Sent to the shop. They will answer you here.\nWhat would you like to do?"


SENT = "Sent to the shop. They will answer you here.\nWhat would you like to do?"
NOT_SENT = "This photo was not sent to anyone."


def amina_sends_an_album(story, at: datetime, album: str, caption: str, photos: int = 3) -> list[dict]:
    """An album from Amina's phone: Telegram posts a message a photo, a second apart, the words under the first."""
    return [amina_sends_a_photo(story, at + timedelta(seconds=i), caption if i == 0 else None, album=album)
            for i in range(photos)]  # fmt: skip


def test_an_album_sent_to_the_shop_reaches_every_owner_whole_and_is_said_sent_once(story):
    """Each photo of an album was answered "Sent to the shop" and the menu: five photos, five times."""
    with story.db.uow() as uow:  # Otieno is an owner of the garage too
        uow.session.scalar(select(Staff).where(Staff.phone == OTIENO)).role = "owner"
    verify_on_telegram(story, OTIENO_TG, OTIENO, MONDAY_9)
    amina_talks_to_the_shop(story)
    told_before = len(story.texts(AMINA))

    first = amina_sends_an_album(story, MONDAY_9 + timedelta(minutes=1), "13579", "The tyre, three sides")
    story.post(first[1], MONDAY_9 + timedelta(minutes=1, seconds=5))  # Telegram delivers one again: nothing more
    amina_sends_an_album(story, MONDAY_9 + timedelta(minutes=2), "24680", "And the spare")

    assert [p["caption"] for p in sent_photos(story, OWNER_TG)] == [
        "Photo from Amina (-): The tyre, three sides", "Photo from Amina (-)", "Photo from Amina (-)",
        "Photo from Amina (-): And the spare", "Photo from Amina (-)", "Photo from Amina (-)"]  # fmt: skip
    assert len(sent_photos(story, OTIENO_TG)) == 6
    assert story.texts(AMINA)[told_before:] == [SENT, SENT]  # one for each album
    assert story.buttons(AMINA)[0] == ("Book a service", "m:book")

    story.say(AMINA, "The front left one is the worst", MONDAY_9 + timedelta(minutes=3))  # words after: as ever

    assert story.last(OWNER_TG) == "Message from Amina (-): The front left one is the worst"
    assert story.texts(AMINA)[told_before:] == [SENT, SENT, SENT]


def test_an_album_sent_at_the_menu_is_said_to_have_reached_nobody_once(story):
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    story.tap(AMINA, "lang:en", MONDAY_9)
    told_before = len(story.texts(AMINA))

    amina_sends_an_album(story, MONDAY_9 + timedelta(minutes=1), "13579", "My car")

    assert [t.split("\n")[0] for t in story.texts(AMINA)[told_before:]] == [NOT_SENT + " To send a photo to the "
                                                                           "shop, choose \"Talk to the shop\" in the "
                                                                           "menu, then send the photo."]  # fmt: skip
    assert sent_photos(story, OWNER_TG) == []


def test_an_albums_photos_taken_in_another_order_reach_the_owner_with_its_words_and_are_said_sent_once(story):
    """Telegram posts an album's photos at once: the one with the words may be taken second."""
    amina_talks_to_the_shop(story)
    told_before = len(story.texts(AMINA))

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), album="13579")
    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), "The tyre, both sides", album="13579")

    assert [p["caption"] for p in sent_photos(story, OWNER_TG)] == ["Photo from Amina (-)",
                                                                    "Photo from Amina (-): The tyre, both sides"]
    assert story.texts(AMINA)[told_before:] == [SENT]


def test_a_photo_and_more_words_minutes_after_her_words_to_the_shop_reach_it_too(story):
    amina_talks_to_the_shop(story)
    story.say(AMINA, "My tyre looks flat, here is a photo", MONDAY_9 + timedelta(minutes=1))

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=2))
    story.say(AMINA, "It is the front left one", MONDAY_9 + timedelta(minutes=11))

    assert [p["caption"] for p in sent_photos(story, OWNER_TG)] == ["Photo from Amina (-)"]
    assert story.last(OWNER_TG) == "Message from Amina (-): It is the front left one"
    assert story.last(AMINA) == "Sent to the shop. They will answer you here.\nWhat would you like to do?"


def test_a_photo_more_than_ten_minutes_after_her_words_to_the_shop_reaches_nobody(story):
    amina_talks_to_the_shop(story)
    story.say(AMINA, "My tyre looks flat", MONDAY_9 + timedelta(minutes=1))

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=12))

    assert sent_photos(story, OWNER_TG) == []
    assert story.last(AMINA).startswith("This photo was not sent to anyone.")


def test_a_photo_for_the_shop_in_the_middle_of_a_booking_is_followed_by_the_rest_of_its_album(story):
    """Written from the middle of a booking (Reply under the shop's answer), the album's
    second photo came at the booking's question: 'sent to nobody'. The booking goes on."""
    shop_answered(story)
    story.tap(AMINA, "m:book", MONDAY_9 + timedelta(minutes=4))
    story.tap(AMINA, "reply:shop", MONDAY_9 + timedelta(minutes=5))

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=6), "This one")
    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=6, seconds=1))

    assert len(sent_photos(story, OWNER_TG)) == 2
    assert story.last(AMINA).startswith("Sent to the shop. They will answer you here.\nWhich service do you need?")
    story.tap(AMINA, "svc:1", MONDAY_9 + timedelta(minutes=7))
    assert story.last(AMINA).startswith("Added: Oil and filter change.")


def the_owner_answers_amina_with_a_photo(story) -> None:
    """Amina asked about front pads; the owner taps Answer and sends a photo of the quote."""
    amina_talks_to_the_shop(story)
    story.say(AMINA, "How much for new front pads?", MONDAY_9 + timedelta(minutes=1))
    story.tap(OWNER_TG, f"st:answer:{amina_id(story)}", MONDAY_9 + timedelta(minutes=2))
    owner_sends_a_photo(story, MONDAY_9 + timedelta(minutes=3), "Here is the quote")


def test_every_photo_of_an_owners_album_in_answer_to_a_customer_reaches_her(story):
    """His answer took the chat home: the album's second photo was 'sent to nobody'."""
    the_owner_answers_amina_with_a_photo(story)
    owner_sends_a_photo(story, MONDAY_9 + timedelta(minutes=3, seconds=1), "")

    assert len(sent_photos(story, AMINA)) == 2
    assert story.last(OWNER_TG).startswith("Sent to Amina.")


def test_an_owners_photo_long_after_his_answer_reaches_nobody(story):
    the_owner_answers_amina_with_a_photo(story)

    owner_sends_a_photo(story, MONDAY_9 + timedelta(minutes=14), "")

    assert len(sent_photos(story, AMINA)) == 1
    assert story.last(OWNER_TG).startswith("This photo was not sent to anyone.")


# -- a photo's words ---------------------------------------------------------------------------

LONG_WORDS = ("The noise starts at 60 km/h. " * 40)[:990] + " END"


def long_named_amina_talks_to_the_shop(story) -> None:
    amina_talks_to_the_shop(story, "Amina Wanjiku Mwangi-Otieno")


def test_words_under_a_photo_that_fit_a_caption_reach_the_owner_whole(story):
    """They were cut at 1000 characters before the owner's caption was even made."""
    amina_talks_to_the_shop(story)
    words = ("The noise starts at 60 km/h. " * 40)[:1016] + " END"  # 1020: a caption Telegram takes

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), words)

    [photo] = sent_photos(story, OWNER_TG)
    assert photo["caption"][:-1] + " " + story.last(OWNER_TG)[1:] == "Photo from Amina (-): " + words


def test_a_photo_whose_words_failed_to_follow_it_is_not_sent_again(story):
    """The photo went, the rest of its words failed: the retry sent the photo again."""
    long_named_amina_talks_to_the_shop(story)
    story.p.telegram.fail_next(1, status=502, methods=["sendMessage"])  # the words' end, after the photo

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), LONG_WORDS)
    assert len(sent_photos(story, OWNER_TG)) == 1 and not story.last(OWNER_TG).endswith(" END")
    time.sleep(2.1)  # the first try is followed by another after 2 s
    schedule.redrive_outbox(min_age=timedelta(0))

    assert len(sent_photos(story, OWNER_TG)) == 1
    assert story.last(OWNER_TG).startswith("…") and story.last(OWNER_TG).endswith(" END")


def test_the_words_after_a_photo_wait_for_the_chats_next_turn(paced_story):
    """They went at once after the photo: Telegram's one message a second per chat
    answered 429, and each retry sent the photo again, and the words never."""
    story = paced_story
    long_named_amina_talks_to_the_shop(story)
    story.p.telegram.enable_rate_limit(per_chat_per_second=1)

    amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), LONG_WORDS)

    assert len(sent_photos(story, OWNER_TG)) == 1
    assert story.last(OWNER_TG).startswith("…") and story.last(OWNER_TG).endswith(" END")
    with story.db.uow() as uow:
        assert uow.session.scalar(select(OutboxMessage.status).where(OutboxMessage.kind == "photo")) == "sent"


# -- an owner's first message, a photo ---------------------------------------------------------


def erlan_sends_a_photo(story, words: str) -> None:
    """A photo from Ерлан's phone on WhatsApp, with `words` under it."""
    params = fake_twilio.inbound_media_params(f"whatsapp:{ERLAN}", words, story.p.twilio.add_media(
        OWNERS_JPEG, account_sid=TWILIO_SID), profile_name="Ерлан")  # fmt: skip
    process(story.db, story.shop_id("zhaiyk-auto"), whatsapp.parse(params), json.dumps(params), utcnow())


@pytest.mark.parametrize("words", ["Прайс-лист", "/jobs"])
def test_an_owners_first_message_being_a_photo_is_greeted_and_said_to_have_reached_nobody(story, words):
    """He was recognised and the photo dropped unmentioned; "/jobs" under it was run."""
    askar_writes_to_the_shop(story, "Сәлеметсіз бе, бағасы қанша?")

    erlan_sends_a_photo(story, words)

    assert story.wa_bodies(ERLAN)[-1].startswith(
        "Спасибо, Ерлан! Теперь вы зарегистрированы в Жайық Авто как владелец.\nЭто фото никуда не отправлено.\n"
        "Чтобы отправить фото доп. работы, сначала выберите заказ и нажмите «Нужна доп. работа».\n"
        "Чтобы отправить фото клиенту, сначала нажмите «Ответить» под его сообщением.\nЕрлан, чем могу помочь?\n")


# -- photos that wait ---------------------------------------------------------------------------


def without_the_staff_template(monkeypatch) -> None:
    """The shop's staff template is not there to send (not approved yet, say): news for
    an owner whose window is closed waits for his next message."""
    real = whatsapp.shop_view

    def shop_view(session, shop_id):
        view = real(session, shop_id)
        templates = {name: t for name, t in view.spec.templates.items() if name != "staff_notice"}
        return replace(view, spec=replace(view.spec, templates=templates))

    monkeypatch.setattr(whatsapp, "shop_view", shop_view)


def test_a_photo_that_could_not_be_fetched_is_told_to_an_owner_without_the_template_when_he_writes(story, monkeypatch):
    """Its 'could not be received' words failed for good: the owner never heard of it."""
    without_the_staff_template(monkeypatch)
    for typed in ("Сәлем", "2", "4"):  # Қазақша; Сервиске жазу; Ерлан never wrote: his window is closed
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    gone = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages/MM9/Media/MEgone"
    params = fake_twilio.inbound_media_params(f"whatsapp:{ASKAR}", "Бұл дөңгелек қалай?", gone, profile_name="Асқар")
    process(story.db, story.shop_id("zhaiyk-auto"), whatsapp.parse(params), json.dumps(params), utcnow())
    assert owner_reads(story, ERLAN) == []

    story.wa(ERLAN, "Привет", utcnow(), slug="zhaiyk-auto", name="Ерлан")  # his window opens

    assert ("Фото от Асқар (+77015550001) не удалось получить. Попросите прислать его ещё раз.\n"
            "Сообщение от Асқар (+77015550001): Бұл дөңгелек қалай?\n1. Ответить: Асқар") in story.wa_bodies(ERLAN)


def test_a_photo_waiting_for_the_owner_a_month_still_has_its_file(story):
    """Kept files were dropped after 30 days, whatever still named them: the photo
    shown again had no file (Twilio failed the whole message, her words with it)."""
    for typed in ("Сәлем", "2", "4"):
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    askar_sends_a_photo(story, "Бұл дөңгелекті ауыстыру керек пе?")
    with story.db.uow() as uow:
        assert files.forget_old(uow.session, utcnow() + timedelta(days=31)) == 0  # the hourly cron, a month on

    story.wa(ERLAN, "1", utcnow(), slug="zhaiyk-auto", name="Ерлан")  # he writes at last: shown again whole

    photo = [m["params"] for m in story.p.twilio.messages(f"whatsapp:{ERLAN}") if m["params"].get("MediaUrl")][-1]
    served = story.p.client.get(photo["MediaUrl"].removeprefix(PUBLIC))
    assert (served.status_code, served.data) == (200, JPEG)
    with story.db.uow() as uow:  # once shown, nothing waits for it: it goes a month on
        assert files.forget_old(uow.session, utcnow() + timedelta(days=31)) == 1


def test_a_message_to_the_shop_longer_than_telegram_takes_reaches_the_owner_whole_in_two(story):
    """The words are kept up to 4,096 characters, but the header made the owner's message
    longer than Telegram takes, and its end was cut off."""
    amina_talks_to_the_shop(story)
    words = ("The noise starts at 60 km/h. " * 200)[:4092] + " END"

    story.say(AMINA, words, MONDAY_9 + timedelta(minutes=1))

    told = [m["text"] for m in story.p.telegram.sent_messages(OWNER_TG) if m.get("text")][-2:]
    assert told[0].startswith("Message from Amina") and told[1].endswith(" END")
    assert story.p.telegram.sent_messages(OWNER_TG)[-1].get("reply_markup")  # the Answer button under the end


def test_an_owners_pdf_with_words_under_it_is_said_to_reach_nobody_and_its_words_are_no_command(story):
    """The words went to Amina as an answer and the PDF was dropped unsaid; under a video,
    "ready 1002" would have been run as a command."""
    amina_talks_to_the_shop(story)
    story.say(AMINA, "How much for new front pads?", MONDAY_9 + timedelta(minutes=1))
    story.tap(OWNER_TG, f"st:answer:{amina_id(story)}", MONDAY_9 + timedelta(minutes=2))
    before = len(story.texts(AMINA))
    sends_a_file(story, OWNER_TG, b"%PDF-1.4 quote", "quote.pdf", "application/pdf", "Here is the quote",
                 MONDAY_9 + timedelta(minutes=3))  # fmt: skip

    assert story.last(OWNER_TG).startswith("That file was not sent to anyone: only words and photos go through here.")
    assert len(story.texts(AMINA)) == before


# -- several files in one WhatsApp message --------------------------------------------------------

TYRE_JPEGS = (b"\xff\xd8\xff\xe0tyre-front", b"\xff\xd8\xff\xe0tyre-side", b"\xff\xd8\xff\xe0tyre-tread")
PDF = b"%PDF-1.4 last year's invoice"


@pytest.fixture
def pg_story(pg_only, tmp_path):
    """A story on PostgreSQL, its WhatsApp messages posted over HTTP, signed as Twilio signs."""
    with a_story(pg_only, tmp_path) as story:
        yield story


def one_whatsapp_message(story, phone: str, name: str, words: str, *files: tuple[bytes, str]) -> dict:
    """What Twilio posts when `phone` sends `files` (content, type) in one message, `words`
    under them: MediaUrl0, MediaUrl1..., in that order. The form, to post again."""
    media = [(story.p.twilio.add_media(content, kind, account_sid=TWILIO_SID), kind) for content, kind in files]
    params = fake_twilio.inbound_media_params(f"whatsapp:{phone}", words, media, profile_name=name)
    post_again(story, params)
    return params


def post_again(story, params: dict) -> None:
    assert story.p._post_signed("/webhooks/whatsapp/zhaiyk-auto", params).status_code == 200


def photos_received(story, phone: str) -> list[tuple[str, bytes]]:
    """The photos `phone` got on WhatsApp: the words with each, and the file Twilio fetched."""
    sent = [m["params"] for m in story.p.twilio.messages(f"whatsapp:{phone}") if m["params"].get("MediaUrl")]
    return [(p["Body"], story.p.client.get(p["MediaUrl"].removeprefix(PUBLIC)).data) for p in sent]


def erlan_and_askar_talk(story) -> None:
    """Ерлан (the owner) has written to the bot today, and Асқар is at "Сервиске жазу"."""
    story.wa(ERLAN, "Привет", utcnow(), slug="zhaiyk-auto", name="Ерлан")
    for typed in ("Сәлем", "2", "4"):  # Қазақша; Сервиске жазу
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")


def erlan_answers_askar(story) -> None:
    """Асқар asks the shop a question, and Ерлан taps "Ответить: Асқар" under it: what he
    sends next goes to her."""
    erlan_and_askar_talk(story)
    story.wa(ASKAR, "Қай дөңгелек жақсы?", utcnow(), slug="zhaiyk-auto", name="Асқар")
    story.wa(ERLAN, "1", utcnow(), slug="zhaiyk-auto", name="Ерлан")  # Ответить: Асқар


ASKARS_PHOTO = "Фото от Асқар (+77015550001)"
TO_ERLAN = "\n1. Ответить: Асқар"
SENT_TO_THE_SHOP = "Сервиске жіберілді. Сізге осы жерде жауап береді."


def test_customer_sends_three_photos_in_one_whatsapp_message_and_the_shop_gets_all_three(pg_story):
    """Only the first image (MediaUrl0) was passed on: the other two were lost."""
    story = pg_story
    erlan_and_askar_talk(story)
    told = len(story.wa_bodies(ASKAR))

    one_whatsapp_message(story, ASKAR, "Асқар", "Алдыңғы сол жақ дөңгелек",
                         *[(jpeg, "image/jpeg") for jpeg in TYRE_JPEGS])  # fmt: skip

    assert photos_received(story, ERLAN) == [(f"{ASKARS_PHOTO}: Алдыңғы сол жақ дөңгелек{TO_ERLAN}", TYRE_JPEGS[0]),
                                             (ASKARS_PHOTO + TO_ERLAN, TYRE_JPEGS[1]),
                                             (ASKARS_PHOTO + TO_ERLAN, TYRE_JPEGS[2])]  # fmt: skip
    [answer] = story.wa_bodies(ASKAR)[told:]  # one message, one answer
    assert answer.startswith(SENT_TO_THE_SHOP + "\n")


def test_a_whatsapp_message_of_three_photos_retried_by_twilio_sends_each_photo_once(pg_story):
    story = pg_story
    erlan_and_askar_talk(story)
    told = len(story.wa_bodies(ASKAR))
    params = one_whatsapp_message(story, ASKAR, "Асқар", "", *[(jpeg, "image/jpeg") for jpeg in TYRE_JPEGS])

    post_again(story, params)  # Twilio did not hear our 200 in time: the same MessageSid again
    post_again(story, params)

    assert [content for _, content in photos_received(story, ERLAN)] == list(TYRE_JPEGS)
    assert len(story.wa_bodies(ASKAR)[told:]) == 1
    with story.db.uow() as uow:
        keys = uow.session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.kind == "photo")).all()
    assert len(keys) == len(set(keys)) == 3  # a key of its own for each photo


def test_a_pdf_and_two_photos_in_one_whatsapp_message_the_photos_and_words_reach_the_shop_and_the_pdf_is_said_not_to(
        pg_story):  # fmt: skip
    """The first file was the PDF: the photos after it were lost, only the words went."""
    story = pg_story
    erlan_and_askar_talk(story)
    told = len(story.wa_bodies(ASKAR))

    one_whatsapp_message(story, ASKAR, "Асқар", "Шот пен дөңгелек", (PDF, "application/pdf"),
                         (TYRE_JPEGS[0], "image/jpeg"), (TYRE_JPEGS[1], "image/png"))  # fmt: skip

    assert photos_received(story, ERLAN) == [(f"{ASKARS_PHOTO}: Шот пен дөңгелек{TO_ERLAN}", TYRE_JPEGS[0]),
                                             (ASKARS_PHOTO + TO_ERLAN, TYRE_JPEGS[1])]  # fmt: skip
    [answer] = story.wa_bodies(ASKAR)[told:]
    assert answer.startswith(f"{SENT_TO_THE_SHOP}\nФайлыңыз жіберілмеді: сервиске тек хабарлама мен фото жетеді.\n")


def test_a_photo_and_a_pdf_without_words_the_photo_reaches_the_shop_and_the_pdf_is_said_not_to(pg_story):
    """Without words, the PDF beside the photo was dropped and nobody was told."""
    story = pg_story
    erlan_and_askar_talk(story)
    told = len(story.wa_bodies(ASKAR))

    one_whatsapp_message(story, ASKAR, "Асқар", "", (TYRE_JPEGS[0], "image/jpeg"), (PDF, "application/pdf"))

    assert photos_received(story, ERLAN) == [(ASKARS_PHOTO + TO_ERLAN, TYRE_JPEGS[0])]
    [answer] = story.wa_bodies(ASKAR)[told:]
    assert answer.startswith(f"{SENT_TO_THE_SHOP}\nФайлыңыз жіберілмеді: сервиске тек хабарлама мен фото жетеді.\n")


def test_an_owner_answers_a_customer_with_three_photos_in_one_whatsapp_message_and_she_gets_all_three(pg_story):
    story = pg_story
    erlan_answers_askar(story)
    told = len(story.wa_bodies(ERLAN))

    one_whatsapp_message(story, ERLAN, "Ерлан", "Вот три варианта", *[(jpeg, "image/jpeg") for jpeg in TYRE_JPEGS])

    shop = "«Жайық Авто» жіберген фото\n1. Жауап беру"
    assert story.wa_bodies(ASKAR)[-4] == "«Жайық Авто» жауабы: Вот три варианта\n1. Жауап беру"
    assert photos_received(story, ASKAR) == [(shop, TYRE_JPEGS[0]), (shop, TYRE_JPEGS[1]), (shop, TYRE_JPEGS[2])]
    [answer] = story.wa_bodies(ERLAN)[told:]  # said sent once
    assert answer.startswith("Отправлено: Асқар.\nЕрлан, чем могу помочь?")


FILE_LEFT_RU = "Этот файл никому не отправлен: здесь проходят только сообщения и фото."


def test_an_owner_answering_with_a_pdf_two_photos_and_words_is_told_the_pdf_did_not_go(pg_story):
    """He was told only "Sent to Асқар.": he believed she had the invoice too."""
    story = pg_story
    erlan_answers_askar(story)
    told = len(story.wa_bodies(ERLAN))

    one_whatsapp_message(story, ERLAN, "Ерлан", "Счёт и два варианта", (PDF, "application/pdf"),
                         (TYRE_JPEGS[0], "image/jpeg"), (TYRE_JPEGS[1], "image/jpeg"))  # fmt: skip

    shop = "«Жайық Авто» жіберген фото\n1. Жауап беру"
    assert story.wa_bodies(ASKAR)[-3] == "«Жайық Авто» жауабы: Счёт и два варианта\n1. Жауап беру"
    assert photos_received(story, ASKAR) == [(shop, TYRE_JPEGS[0]), (shop, TYRE_JPEGS[1])]
    [answer] = story.wa_bodies(ERLAN)[told:]
    assert answer.startswith(f"Отправлено: Асқар.\n{FILE_LEFT_RU}\nЕрлан, чем могу помочь?")


def test_an_owner_whose_window_is_closed_gets_one_paid_template_for_three_photos_and_all_three_when_he_writes(
        pg_story):  # fmt: skip
    """Each photo of the message came with a template of its own: three photos, three paid templates."""
    story = pg_story
    story.wa(ERLAN, "Привет", utcnow() - timedelta(days=2), slug="zhaiyk-auto", name="Ерлан")  # his window: closed
    for typed in ("Сәлем", "2", "4"):  # Қазақша; Сервиске жазу
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    before = len(story.p.twilio.messages(f"whatsapp:{ERLAN}"))

    one_whatsapp_message(story, ASKAR, "Асқар", "Дөңгелек", *[(jpeg, "image/jpeg") for jpeg in TYRE_JPEGS])

    sent = [m["params"] for m in story.p.twilio.messages(f"whatsapp:{ERLAN}")[before:]]
    assert [json.loads(p["ContentVariables"]) for p in sent] == [{"1": "Ерлан", "2": f"{ASKARS_PHOTO}: Дөңгелек"}]
    story.wa(ERLAN, "1", utcnow(), slug="zhaiyk-auto", name="Ерлан")  # "Ответить: Асқар": his window is open now
    assert photos_received(story, ERLAN) == [(f"{ASKARS_PHOTO}: Дөңгелек{TO_ERLAN}", TYRE_JPEGS[0]),
                                             (ASKARS_PHOTO + TO_ERLAN, TYRE_JPEGS[1]),
                                             (ASKARS_PHOTO + TO_ERLAN, TYRE_JPEGS[2])]  # fmt: skip


BOTA = "+77015550002"  # another Atyrau customer on WhatsApp


def a_photo_from(story, phone: str, name: str, jpeg: bytes, words: str = "", at: datetime | None = None) -> None:
    """One photo from `phone`, as Twilio posts each photo of a WhatsApp send: WhatsApp carries
    one file a message, so three photos sent together are three webhooks."""
    params = fake_twilio.inbound_media_params(f"whatsapp:{phone}", words, story.p.twilio.add_media(
        jpeg, account_sid=TWILIO_SID), profile_name=name)  # fmt: skip
    process(story.db, story.shop_id("zhaiyk-auto"), whatsapp.parse(params), json.dumps(params), at or utcnow())


def templates_to(story, phone: str) -> list[dict]:
    """The paid templates `phone` was sent, as their variables."""
    return [json.loads(m["params"]["ContentVariables"]) for m in story.p.twilio.messages(f"whatsapp:{phone}")
            if m["params"].get("ContentSid")]  # fmt: skip


def erlan_last_wrote_days_ago_and_askar_writes_to_the_shop(story, at: datetime | None = None) -> int:
    """Ерлан's window is closed; Асқар is at "Сервиске жазу". The templates Ерлан had so far."""
    story.wa(ERLAN, "Привет", utcnow() - timedelta(days=3), slug="zhaiyk-auto", name="Ерлан")
    for typed in ("Сәлем", "2", "4"):  # Қазақша; Сервиске жазу
        story.wa(ASKAR, typed, at or utcnow(), slug="zhaiyk-auto", name="Асқар")
    return len(templates_to(story, ERLAN))


def test_three_photos_sent_together_on_whatsapp_cost_an_owner_whose_window_is_closed_one_template(pg_story):
    """Twilio posts each photo of a send on its own: each came with a paid template of its own."""
    story = pg_story
    before = erlan_last_wrote_days_ago_and_askar_writes_to_the_shop(story)

    for n, jpeg in enumerate(TYRE_JPEGS):
        a_photo_from(story, ASKAR, "Асқар", jpeg, "" if n else "Дөңгелек")

    assert templates_to(story, ERLAN)[before:] == [{"1": "Ерлан", "2": f"{ASKARS_PHOTO}: Дөңгелек"}]
    story.wa(ERLAN, "1", utcnow(), slug="zhaiyk-auto", name="Ерлан")  # "Ответить: Асқар": his window is open now
    assert photos_received(story, ERLAN) == [(f"{ASKARS_PHOTO}: Дөңгелек{TO_ERLAN}", TYRE_JPEGS[0]),
                                             (ASKARS_PHOTO + TO_ERLAN, TYRE_JPEGS[1]),
                                             (ASKARS_PHOTO + TO_ERLAN, TYRE_JPEGS[2])]  # fmt: skip


NOT_SENT_KK = "Бұл фото ешкімге жіберілген жоқ."


def askar_sends_photos_together(story, at: datetime, *words: str) -> None:
    """Асқар picks photos in WhatsApp and sends them (`words` under each, or none): Twilio
    posts a message a photo, a second or two apart, with nothing saying they went together."""
    for n, caption in enumerate(words):
        a_photo_from(story, ASKAR, "Асқар", TYRE_JPEGS[n], caption, at + timedelta(seconds=2 * n))


def test_three_whatsapp_photos_sent_together_to_the_shop_are_said_sent_once_and_reach_every_owner(story):
    """Each photo was answered "Сервиске жіберілді" and the menu: three photos, three answers."""
    with story.db.uow() as uow:  # Сергей is an owner of the garage too
        uow.session.scalar(select(Staff).where(Staff.phone == SERGEY)).role = "owner"
    story.wa(SERGEY, "Привет", utcnow(), slug="zhaiyk-auto", name="Сергей")
    erlan_and_askar_talk(story)
    told = len(story.wa_bodies(ASKAR))

    askar_sends_photos_together(story, utcnow(), "Алдыңғы сол жақ дөңгелек", "", "")

    [answer] = story.wa_bodies(ASKAR)[told:]
    assert answer.startswith(SENT_TO_THE_SHOP + "\n")
    for owner in (ERLAN, SERGEY):
        assert [content for _, content in photos_received(story, owner)] == list(TYRE_JPEGS)
    assert photos_received(story, ERLAN)[0][0] == f"{ASKARS_PHOTO}: Алдыңғы сол жақ дөңгелек{TO_ERLAN}"


def test_three_whatsapp_photos_sent_together_at_the_menu_are_said_to_reach_nobody_once(story):
    for typed in ("Сәлем", "2"):  # Қазақша: the menu
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    told = len(story.wa_bodies(ASKAR))

    askar_sends_photos_together(story, utcnow(), "", "", "")

    assert [body.split("\n")[0].split(" Сервиске")[0] for body in story.wa_bodies(ASKAR)[told:]] == [NOT_SENT_KK]
    assert photos_received(story, ERLAN) == []


def test_a_whatsapp_photo_two_minutes_after_the_last_is_answered_again(story):
    """Photos sent together are answered once; one sent later is a message of its own."""
    erlan_and_askar_talk(story)
    told = len(story.wa_bodies(ASKAR))
    sent = utcnow()
    askar_sends_photos_together(story, sent, "", "")

    a_photo_from(story, ASKAR, "Асқар", TYRE_JPEGS[2], at=sent + timedelta(seconds=2, minutes=2))

    assert [body.split("\n")[0] for body in story.wa_bodies(ASKAR)[told:]] == [SENT_TO_THE_SHOP, SENT_TO_THE_SHOP]
    assert [content for _, content in photos_received(story, ERLAN)] == list(TYRE_JPEGS)


def test_words_under_the_second_of_whatsapp_photos_sent_together_are_read(story):
    """The plate under the second photo answers the plate question; the third, without
    words, goes where the second went without a word."""
    at = utcnow()
    for typed in ("Сәлем", "2", "1", "1", "1"):  # Қазақша; Жазылу; the first service; that is all
        story.wa(ASKAR, typed, at, slug="zhaiyk-auto", name="Асқар")
    told = len(story.wa_bodies(ASKAR))

    askar_sends_photos_together(story, at, "", "123 ABC 06", "")

    first, second = story.wa_bodies(ASKAR)[told:]
    assert first.startswith(f"{NOT_SENT_KK} Сервиске фото жіберу үшін") and "мемлекеттік нөмірін" in first
    assert second.split("\n")[1:] == ["Көліктің маркасы мен моделі, мысалы, Toyota Camry? Немесе бұл қадамды "
                                      "өткізіп жіберіңіз.", "1. Өткізіп жіберу"]  # the plate taken  # fmt: skip
    assert photos_received(story, ERLAN) == []


def test_an_owner_answering_with_three_whatsapp_photos_sent_together_is_told_sent_once_and_she_gets_all_three(story):
    """Each photo of his answer was answered "Отправлено: Асқар." and his menu: three times."""
    erlan_answers_askar(story)
    told = len(story.wa_bodies(ERLAN))

    sent = utcnow()
    for n, jpeg in enumerate(TYRE_JPEGS):
        a_photo_from(story, ERLAN, "Ерлан", jpeg, "" if n else "Вот три варианта", sent + timedelta(seconds=2 * n))

    assert [content for _, content in photos_received(story, ASKAR)] == list(TYRE_JPEGS)
    [answer] = story.wa_bodies(ERLAN)[told:]
    assert answer.startswith("Отправлено: Асқар.\nЕрлан, чем могу помочь?")


def test_words_after_a_photo_wait_with_it_for_the_owner_and_another_customers_photo_too(story):
    """Her words after the photo, and Бота's photo after hers, each paid for a template of their own."""
    before = erlan_last_wrote_days_ago_and_askar_writes_to_the_shop(story)
    a_photo_from(story, ASKAR, "Асқар", TYRE_JPEGS[0], "Дөңгелек")
    story.wa(ASKAR, "Бағасы қанша?", utcnow(), slug="zhaiyk-auto", name="Асқар")
    for typed in ("Сәлем", "2", "4"):  # Қазақша; Сервиске жазу
        story.wa(BOTA, typed, utcnow(), slug="zhaiyk-auto", name="Бота")
    a_photo_from(story, BOTA, "Бота", TYRE_JPEGS[1])

    assert templates_to(story, ERLAN)[before:] == [{"1": "Ерлан", "2": f"{ASKARS_PHOTO}: Дөңгелек"}]
    told = len(owner_reads(story, ERLAN))
    story.wa(ERLAN, "Привет", utcnow(), slug="zhaiyk-auto", name="Ерлан")  # his window is open now
    assert owner_reads(story, ERLAN)[told:-1] == [f"{ASKARS_PHOTO}: Дөңгелек{TO_ERLAN}",
                                                  f"Сообщение от Асқар (+77015550001): Бағасы қанша?{TO_ERLAN}",
                                                  f"Фото от Бота ({BOTA})\n1. Ответить: Бота"]  # fmt: skip
    assert [content for _, content in photos_received(story, ERLAN)] == list(TYRE_JPEGS[:2])


def test_a_photo_after_a_template_twilio_refused_comes_with_a_template_of_its_own(story):
    """Had it waited behind the refused one, nothing would have told the owner it came."""
    before = erlan_last_wrote_days_ago_and_askar_writes_to_the_shop(story)
    story.p.twilio.fail_next(1, status=400, code=21656, match=lambda rec: rec.path.endswith("/Messages.json"))

    a_photo_from(story, ASKAR, "Асқар", TYRE_JPEGS[0], "Дөңгелек")  # its template refused
    a_photo_from(story, ASKAR, "Асқар", TYRE_JPEGS[1])

    assert templates_to(story, ERLAN)[before:] == [{"1": "Ерлан", "2": ASKARS_PHOTO}]


def test_a_template_waiting_since_yesterday_does_not_hold_back_a_photo_today(story):
    """An owner who did not write for a day is told again: one template holds the next back a day at most."""
    yesterday = utcnow() - timedelta(hours=25)
    before = erlan_last_wrote_days_ago_and_askar_writes_to_the_shop(story, yesterday)
    a_photo_from(story, ASKAR, "Асқар", TYRE_JPEGS[0], "Дөңгелек", yesterday)
    for typed in ("Сәлем", "2", "4"):  # Қазақша; Сервиске жазу
        story.wa(BOTA, typed, utcnow(), slug="zhaiyk-auto", name="Бота")

    a_photo_from(story, BOTA, "Бота", TYRE_JPEGS[1])

    assert templates_to(story, ERLAN)[before:] == [{"1": "Ерлан", "2": f"{ASKARS_PHOTO}: Дөңгелек"},
                                                   {"1": "Ерлан", "2": f"Фото от Бота ({BOTA})"}]  # fmt: skip


def test_a_telegram_album_to_an_owner_reached_on_whatsapp_costs_one_template_and_reaches_her_whole(story):
    """Telegram brings an album a photo at a time: Wanjiru, reached on WhatsApp only, paid a template a photo."""
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    story.tap(AMINA, "lang:en", MONDAY_9)
    story.tap(AMINA, "m:shop", MONDAY_9)

    amina_sends_an_album(story, MONDAY_9 + timedelta(minutes=1), "13579", "The tyre, three sides")

    assert templates_to(story, WANJIRU) == [{"1": "Wanjiru", "2": "Photo from Amina (-): The tyre, three sides"}]
    story.wa(WANJIRU, "Hello", utcnow(), name="Wanjiru")  # her first message: her window is open now
    assert [body.split("\n")[0] for body, _ in photos_received(story, WANJIRU)] == [
        "Photo from Amina (-): The tyre, three sides", "Photo from Amina (-)", "Photo from Amina (-)"]  # fmt: skip


def test_two_photos_and_a_pdf_reaching_nobody_are_said_so_the_photos_as_several_and_the_pdf_too(pg_story):
    """"This photo was not sent to anyone" alone: one photo of two, and the PDF unmentioned."""
    story = pg_story
    for typed in ("Сәлем", "2"):  # Қазақша: the menu
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    told = len(story.wa_bodies(ASKAR))

    one_whatsapp_message(story, ASKAR, "Асқар", "", (TYRE_JPEGS[0], "image/jpeg"), (PDF, "application/pdf"),
                         (TYRE_JPEGS[1], "image/jpeg"))  # fmt: skip

    [answer] = story.wa_bodies(ASKAR)[told:]
    assert answer.startswith("Бұл фотолар ешкімге жіберілген жоқ. Сервиске фото жіберу үшін мәзірден «Сервиске жазу» "
                             "бөлімін таңдап, содан кейін фотоларды жіберіңіз.\n"
                             "Файлыңыз жіберілмеді: сервиске тек хабарлама мен фото жетеді.\n")  # fmt: skip
    assert photos_received(story, ERLAN) == []


def test_an_owners_first_message_being_photos_and_a_pdf_is_greeted_and_the_pdf_said_not_sent_too(story):
    askar_writes_to_the_shop(story, "Сәлеметсіз бе, бағасы қанша?")

    one_whatsapp_message(story, ERLAN, "Ерлан", "Прайс-лист", (OWNERS_JPEG, "image/jpeg"), (PDF, "application/pdf"),
                         (OWNERS_JPEG, "image/jpeg"))  # fmt: skip

    assert story.wa_bodies(ERLAN)[-1].startswith(
        f"Спасибо, Ерлан! Теперь вы зарегистрированы в Жайық Авто как владелец.\nЭти фото никуда не отправлены.\n"
        f"{FILE_LEFT_RU}\nЧтобы отправить фото доп. работы, сначала выберите заказ и нажмите «Нужна доп. работа».\n")


def test_an_owners_first_message_being_a_pdf_with_a_command_under_it_is_greeted_and_the_command_not_run(story):
    """"/jobs" under his PDF was run, the PDF dropped unmentioned: under a PDF, later, it is not."""
    askar_writes_to_the_shop(story, "Сәлеметсіз бе, бағасы қанша?")

    one_whatsapp_message(story, ERLAN, "Ерлан", "/jobs", (PDF, "application/pdf"))

    assert story.wa_bodies(ERLAN)[-1].startswith(
        "Спасибо, Ерлан! Теперь вы зарегистрированы в Жайық Авто как владелец.\nЭтот файл никому не отправлен: здесь "
        "проходят только сообщения и фото. Если слова предназначались кому-то, отправьте их ещё раз отдельно.\n"
        "Ерлан, чем могу помочь?\n")


def test_an_owners_first_message_being_a_pdf_alone_is_greeted_and_the_pdf_said_not_sent(story):
    """Only the greeting came: the PDF was dropped without a word."""
    askar_writes_to_the_shop(story, "Сәлеметсіз бе, бағасы қанша?")

    one_whatsapp_message(story, ERLAN, "Ерлан", "", (PDF, "application/pdf"))

    assert story.wa_bodies(ERLAN)[-1].startswith(
        f"Спасибо, Ерлан! Теперь вы зарегистрированы в Жайық Авто как владелец.\n{FILE_LEFT_RU}\nЕрлан, чем могу помочь?\n")


def test_a_photo_after_the_shops_answer_came_between_is_answered_though_sent_with_the_one_before(story):
    """Her first photo at the menu was said to reach nobody; the shop's answer came; her
    next photo, seconds later, was taken for one more of the first's and went to the shop
    without a word, though she had been told her photos reached nobody."""
    erlan_and_askar_talk(story)
    at = utcnow()
    story.wa(ASKAR, "Дөңгелек бар ма?", at, slug="zhaiyk-auto", name="Асқар")
    story.wa(ASKAR, "stop", at + timedelta(seconds=20), slug="zhaiyk-auto", name="Асқар")  # her talk to it ends
    told = len(story.wa_bodies(ASKAR))
    a_photo_from(story, ASKAR, "Асқар", TYRE_JPEGS[0], at=at + timedelta(seconds=40))
    story.wa(ERLAN, "1", at + timedelta(seconds=45), slug="zhaiyk-auto", name="Ерлан")  # Ответить: Асқар
    story.wa(ERLAN, "Иә, бар.", at + timedelta(seconds=50), slug="zhaiyk-auto", name="Ерлан")

    a_photo_from(story, ASKAR, "Асқар", TYRE_JPEGS[1], at=at + timedelta(seconds=55))

    answers = [body.split("\n")[0] for body in story.wa_bodies(ASKAR)[told:]]
    assert [answers[0].split(" Сервиске")[0], answers[-1]] == [NOT_SENT_KK, SENT_TO_THE_SHOP]
    assert [content for _, content in photos_received(story, ERLAN)] == [TYRE_JPEGS[1]]


def a_photo_and_a_pdf_from(story, phone: str, name: str, jpeg: bytes, at: datetime) -> None:
    """One WhatsApp message carrying a photo and a PDF, no words."""
    twilio = story.p.twilio
    media = [(twilio.add_media(jpeg, account_sid=TWILIO_SID), "image/jpeg"),
             (twilio.add_media(PDF, "application/pdf", account_sid=TWILIO_SID), "application/pdf")]  # fmt: skip
    params = fake_twilio.inbound_media_params(f"whatsapp:{phone}", "", media, profile_name=name)
    process(story.db, story.shop_id("zhaiyk-auto"), whatsapp.parse(params), json.dumps(params), at)


def test_a_pdf_beside_the_second_of_whatsapp_photos_sent_together_is_said_not_passed_on(story):
    """The second photo went on without a word, and the PDF beside it stayed behind unsaid."""
    erlan_and_askar_talk(story)
    told = len(story.wa_bodies(ASKAR))
    sent = utcnow()
    a_photo_from(story, ASKAR, "Асқар", TYRE_JPEGS[0], at=sent)

    a_photo_and_a_pdf_from(story, ASKAR, "Асқар", TYRE_JPEGS[1], sent + timedelta(seconds=3))

    assert [content for _, content in photos_received(story, ERLAN)] == list(TYRE_JPEGS[:2])
    first, second = story.wa_bodies(ASKAR)[told:]
    assert first.split("\n")[0] == second.split("\n")[0] == SENT_TO_THE_SHOP
    assert second.split("\n")[1] == "Файлыңыз жіберілмеді: сервиске тек хабарлама мен фото жетеді."


def test_an_owner_whose_second_photo_sent_together_has_a_pdf_beside_it_is_told_the_pdf_stayed(story):
    erlan_answers_askar(story)
    told = len(story.wa_bodies(ERLAN))
    sent = utcnow()
    a_photo_from(story, ERLAN, "Ерлан", TYRE_JPEGS[0], "Вот", sent)

    a_photo_and_a_pdf_from(story, ERLAN, "Ерлан", TYRE_JPEGS[1], sent + timedelta(seconds=3))

    assert [content for _, content in photos_received(story, ASKAR)] == list(TYRE_JPEGS[:2])
    first, second = story.wa_bodies(ERLAN)[told:]
    assert first.split("\n")[0] == second.split("\n")[0] == "Отправлено: Асқар."
    assert second.split("\n")[1] == "Этот файл никому не отправлен: здесь проходят только сообщения и фото."


def test_a_staff_members_very_first_whatsapp_message_being_photos_sent_together_is_answered_once(story):
    """The greeting answered the first photo, and the second was answered again."""
    sent = utcnow()
    for n, jpeg in enumerate(TYRE_JPEGS):
        a_photo_from(story, SERGEY, "Сергей", jpeg, at=sent + timedelta(seconds=2 * n))

    [answer] = story.wa_bodies(SERGEY)
    assert answer.split("\n")[:2] == ["Спасибо, Сергей! Теперь вы зарегистрированы в Жайық Авто как механик.",
                                       "Это фото никуда не отправлено."]


# -- a file alone, or under words at a step: said not passed on --------------------------------

FILE_NOT_PASSED_ON = "Your file was not passed on: only words and photos reach the shop."
FILE_NOT_PASSED_ON_AT_FIRST = "Your file was not passed on."  # the greeting answers the rest of a first message


def test_an_owners_pdf_alone_while_answering_a_customer_on_telegram_is_said_to_reach_nobody(story):
    """"I can read text, buttons and photos of extra work": he could believe Amina got the quote."""
    amina_talks_to_the_shop(story)
    story.say(AMINA, "How much for new front pads?", MONDAY_9 + timedelta(minutes=1))
    story.tap(OWNER_TG, f"st:answer:{amina_id(story)}", MONDAY_9 + timedelta(minutes=2))
    before = len(story.texts(AMINA))

    sends_a_file(story, OWNER_TG, b"%PDF-1.4 quote", "quote.pdf", "application/pdf", None,
                 MONDAY_9 + timedelta(minutes=3))  # fmt: skip

    assert story.last(OWNER_TG) == f"{FILE_LEFT}\nType your answer to Amina: it goes to them as you write it."
    assert len(story.texts(AMINA)) == before


def test_a_recognised_owners_pdf_alone_on_whatsapp_is_said_not_sent(story):
    """Ерлан, who wrote to the bot before, was told "Я понимаю текст, кнопки и фото доп. работ"."""
    erlan_and_askar_talk(story)

    one_whatsapp_message(story, ERLAN, "Ерлан", "", (PDF, "application/pdf"))

    assert story.wa_bodies(ERLAN)[-1].startswith(f"{FILE_LEFT_RU}\nЕрлан, чем могу помочь?\n1. Сегодня\n")


def test_a_mechanics_first_telegram_message_being_a_pdf_alone_is_greeted_and_the_pdf_said_not_passed_on(story):
    """Telegram knows staff by a shared contact only, so his first message is anyone's
    first: it was greeted, the PDF never mentioned (Telegram's caption-less document came
    as a message without text). After /staff, asked for his number, he is asked it again
    (tests/integration/test_staff.py)."""
    said = len(story.texts(OTIENO_TG))

    sends_a_file(story, OTIENO_TG, b"%PDF-1.4 job card", "card.pdf", "application/pdf", None, MONDAY_9)

    assert story.texts(OTIENO_TG)[said:] == [f"{FILE_NOT_PASSED_ON_AT_FIRST}\nHello! This is Mwangaza Motors. I can "
                                             "book your car in and keep you posted.\nWhich language do you prefer?"]


def test_a_whatsapp_plate_typed_under_a_pdf_answers_the_plate_question_and_the_pdf_is_said_not_passed_on(story):
    """The plate was taken and the make asked; nothing said the PDF (her logbook) went nowhere."""
    for typed in ("Сәлем", "2", "1", "1", "1"):  # Қазақша; Жазылу; the first service; that is all
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    assert story.wa_bodies(ASKAR)[-1].startswith("Көліктің мемлекеттік нөмірін жазыңыз")

    one_whatsapp_message(story, ASKAR, "Асқар", "123 ABC 06", (PDF, "application/pdf"))

    assert story.wa_bodies(ASKAR)[-1] == ("Файлыңыз жіберілмеді: сервиске тек хабарлама мен фото жетеді.\nКөліктің "
                                          "маркасы мен моделі, мысалы, Toyota Camry? Немесе бұл қадамды өткізіп "
                                          "жіберіңіз.\n1. Өткізіп жіберу")  # the plate taken, the car's make asked  # fmt: skip


def test_a_service_named_under_a_telegram_pdf_is_chosen_and_the_pdf_said_not_passed_on_once(story):
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    story.tap(AMINA, "lang:en", MONDAY_9)
    story.tap(AMINA, "m:book", MONDAY_9)
    said = len(story.texts(AMINA))

    sends_a_file(story, AMINA, b"%PDF-1.4 last service", "service.pdf", "application/pdf", "oil change",
                 MONDAY_9 + timedelta(minutes=1))  # fmt: skip

    [told] = story.texts(AMINA)[said:]
    assert told == (f"{FILE_NOT_PASSED_ON}\nAdded: Oil and filter change.\n"
                    "Anything else? Choose another service, or continue.")  # fmt: skip


# -- the note in the one answer a message gets, and nothing said of a greeted message's words --


def test_a_make_typed_under_a_pdf_on_whatsapp_is_answered_in_one_message_the_note_first(story):
    """The make's step only saves the car, the answer coming from the round after it: the note
    went alone, and "Saved" in a second WhatsApp message."""
    for typed in ("Сәлем", "2", "1", "1", "1", "123 ABC 06"):  # Қазақша; Жазылу; a service; that is all; the plate
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    said = len(story.wa_bodies(ASKAR))

    one_whatsapp_message(story, ASKAR, "Асқар", "Toyota Camry", (PDF, "application/pdf"))

    [told] = story.wa_bodies(ASKAR)[said:]
    assert told.startswith("Файлыңыз жіберілмеді: сервиске тек хабарлама мен фото жетеді.\n123 ABC 06 көлігі "
                           "сақталды.\nҚай күн ыңғайлы? "), told  # the days offered follow  # fmt: skip
    assert told.count("Файлыңыз жіберілмеді") == 1


def amina_is_asked_how_to_pay(story) -> None:
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    for data in ("lang:en", "m:book", "svc:1", "done"):
        story.tap(AMINA, data, MONDAY_9)
    story.say(AMINA, "kcb 123a", MONDAY_9)
    story.tap(AMINA, "skip", MONDAY_9)
    story.tap(AMINA, story.buttons(AMINA)[1][1], MONDAY_9)  # a day
    story.tap(AMINA, story.buttons(AMINA)[0][1], MONDAY_9)  # its first time
    story.tap_button(AMINA, "confirm:", MONDAY_9)
    assert story.buttons(AMINA) == [("M-Pesa", "pay:mpesa"), ("Pay at the shop", "pay:cash")]


def test_pay_at_the_shop_typed_under_a_telegram_pdf_holds_the_time_in_one_message_the_note_first(story):
    amina_is_asked_how_to_pay(story)
    said = len(story.texts(AMINA))

    sends_a_file(story, AMINA, b"%PDF-1.4 insurance", "insurance.pdf", "application/pdf", "pay at the shop",
                 MONDAY_9 + timedelta(minutes=1))  # fmt: skip

    [told] = story.texts(AMINA)[said:]
    assert told.startswith(f"{FILE_NOT_PASSED_ON}\nBooked! Your code is "), told


def test_a_make_under_a_photo_on_whatsapp_is_answered_in_one_message_the_photo_said_not_sent_first(story):
    """The same for the photo's note: a message of its own, then "Saved"."""
    for typed in ("Сәлем", "2", "1", "1", "1", "123 ABC 06"):
        story.wa(ASKAR, typed, utcnow(), slug="zhaiyk-auto", name="Асқар")
    said = len(story.wa_bodies(ASKAR))

    one_whatsapp_message(story, ASKAR, "Асқар", "Toyota Camry", (b"\x89PNG fake", "image/png"))

    [told] = story.wa_bodies(ASKAR)[said:]
    assert told.startswith("Бұл фото ешкімге жіберілген жоқ. Сервиске фото жіберу үшін мәзірден «Сервиске жазу» "
                           "бөлімін таңдап, содан кейін фотоны жіберіңіз.\n123 ABC 06 көлігі сақталды.\n"
                           "Қай күн ыңғайлы? "), told  # fmt: skip


def test_words_under_a_pdf_as_a_first_telegram_message_are_greeted_the_pdf_said_not_passed_on_and_no_more(story):
    """She was told "only words and photos reach the shop": these words reached nobody."""
    sends_a_file(story, AMINA, b"%PDF-1.4 quote", "quote.pdf", "application/pdf",
                 "My brakes squeal, here is the quote from the last garage", MONDAY_9)  # fmt: skip

    assert story.texts(AMINA) == [f"{FILE_NOT_PASSED_ON_AT_FIRST}\nHello! This is Mwangaza Motors. I can book your car "
                                  "in and keep you posted.\nWhich language do you prefer?"]


def test_a_photo_and_a_pdf_as_a_first_whatsapp_message_are_greeted_the_pdf_said_not_passed_on_and_no_more(story):
    """He was told photos reach the shop: this one reached nobody."""
    one_whatsapp_message(story, ASKAR, "Асқар", "", (b"\x89PNG fake", "image/png"), (PDF, "application/pdf"))

    assert story.wa_bodies(ASKAR) == ["Файл не передан.\nЗдравствуйте! Это Жайық Авто. Я могу записать вашу машину "
                                      "на обслуживание и держать вас в курсе.\nНа каком языке вам удобнее общаться?"
                                      "\n1. Русский\n2. Қазақша\n3. English"]  # fmt: skip
    assert photos_received(story, ERLAN) == []


def sends_a_round_video(story, chat: int, at) -> None:
    """What Telegram posts for a video note: the round video recorded in the chat, no words."""
    story.sends_without_words(chat, A_ROUND_VIDEO, at)


def test_a_customers_round_video_on_telegram_is_said_not_passed_on_as_a_video_is(story):
    """It came as a message without text, as a sticker: "I can only read text", nothing of the video."""
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    story.tap(AMINA, "lang:en", MONDAY_9)
    said = len(story.texts(AMINA))

    sends_a_round_video(story, AMINA, MONDAY_9 + timedelta(minutes=1))

    assert story.texts(AMINA)[said:] == [f"{FILE_NOT_PASSED_ON}\nWhat would you like to do?"]


# -- a customer's file alone, later in a chat: the note, then the question again, nothing more --


def sends_a_voice_note(story, chat: int, at) -> None:
    """What Telegram posts for a voice message: the recording, no words."""
    story.sends_without_words(chat, A_VOICE_NOTE, at)


def sends_a_pdf(story, chat: int, at) -> None:
    sends_a_file(story, chat, b"%PDF-1.4 quote", "quote.pdf", "application/pdf", None, at)


@pytest.mark.parametrize("sends", [sends_a_pdf, sends_a_voice_note], ids=["a PDF", "a voice note"])
def test_a_customers_file_alone_in_talk_to_the_shop_on_telegram_is_said_not_passed_on_and_she_is_asked_again(
        story, sends):  # fmt: skip
    """"Only words and photos reach the shop", then "I can only read text and buttons here":
    the second denied the photos the first had just said reach it."""
    amina_talks_to_the_shop(story)
    said, owner_read = len(story.texts(AMINA)), len(story.texts(OWNER_TG))

    sends(story, AMINA, MONDAY_9 + timedelta(minutes=1))

    assert story.texts(AMINA)[said:] == [f"{FILE_NOT_PASSED_ON}\nWrite your message and the shop will answer you here."]
    assert story.buttons(AMINA) == [("Back", "back")]
    assert len(story.texts(OWNER_TG)) == owner_read


@pytest.mark.parametrize("sends", [sends_a_pdf, sends_a_voice_note], ids=["a PDF", "a voice note"])
def test_a_customers_file_alone_at_a_booking_step_on_telegram_is_said_not_passed_on_and_the_step_asked_again(
        story, sends):  # fmt: skip
    story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
    for data in ("lang:en", "m:book", "svc:1", "done"):
        story.tap(AMINA, data, MONDAY_9)
    said = len(story.texts(AMINA))

    sends(story, AMINA, MONDAY_9 + timedelta(minutes=1))

    assert story.texts(AMINA)[said:] == [f"{FILE_NOT_PASSED_ON}\nType the registration plate of the vehicle, for "
                                         "example KCB 123A."]  # fmt: skip


KK_FILE_NOT_PASSED_ON = "Файлыңыз жіберілмеді: сервиске тек хабарлама мен фото жетеді."
WHATSAPP_FILES = [(PDF, "application/pdf"), (b"OggS voice", "audio/ogg"), (b"\x00\x00\x00 ftypmp4", "video/mp4")]


@pytest.mark.parametrize("at_step, typed, asked", [
    ("the menu", ("Сәлем", "2"), "Не істегіңіз келеді?\n1. Қызметке жазылу\n2. Менің жазылуларым\n"
                                 "3. Менің көліктерім\n4. Сервиске жазу\n5. Тіл\n6. Көмек"),
    ("Talk to the shop", ("Сәлем", "2", "4"), "Хабарламаңызды жазыңыз, сервис сізге осы жерде жауап береді.\n"
                                              "1. Артқа"),
], ids=["menu", "talk to the shop"])  # fmt: skip
@pytest.mark.parametrize("file", WHATSAPP_FILES, ids=["a PDF", "a voice note", "a video"])
def test_a_customers_file_alone_on_whatsapp_is_said_not_passed_on_and_the_question_asked_again(
        story, at_step, typed, asked, file):  # fmt: skip
    for words in typed:  # Қазақша; (Сервиске жазу)
        story.wa(ASKAR, words, utcnow(), slug="zhaiyk-auto", name="Асқар")
    said = len(story.wa_bodies(ASKAR))

    one_whatsapp_message(story, ASKAR, "Асқар", "", file)

    [told] = story.wa_bodies(ASKAR)[said:]
    assert told == f"{KK_FILE_NOT_PASSED_ON}\n{asked}"  # not "Мұнда тек мәтінді түсінемін" between


def test_an_owners_round_video_while_answering_a_customer_on_telegram_is_said_to_reach_nobody(story):
    amina_talks_to_the_shop(story)
    story.say(AMINA, "How much for new front pads?", MONDAY_9 + timedelta(minutes=1))
    story.tap(OWNER_TG, f"st:answer:{amina_id(story)}", MONDAY_9 + timedelta(minutes=2))
    before = len(story.texts(AMINA))

    sends_a_round_video(story, OWNER_TG, MONDAY_9 + timedelta(minutes=3))

    assert story.last(OWNER_TG) == f"{FILE_LEFT}\nType your answer to Amina: it goes to them as you write it."
    assert len(story.texts(AMINA)) == before
