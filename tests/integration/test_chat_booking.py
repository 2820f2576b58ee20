"""Booking in chat against the real database, on both backends: what the customer is
told when the day or the time they want cannot be had."""

from datetime import timedelta

import pytest

from bot import runner
from bot.model import Event
from core.messages import render_reply
from tests.integration.booking_helpers import MONDAY_9AM_NAIROBI as NOW
from tests.integration.booking_helpers import loaded


@pytest.fixture
def garage(db, nairobi_spec):
    return loaded(db, nairobi_spec)


def chatting(db, garage, chat_id: str):
    """A customer's chat: say(text, minutes later) -> what the bot answered."""

    def say(text: str, minutes: int = 0, event: Event | None = None) -> str:
        handled = runner.handle(db, shop_id=garage.id, channel="telegram", chat_id=chat_id,
                                event=event or Event.typed(text), now=NOW + timedelta(minutes=minutes),
                                language_hint="en")  # fmt: skip
        return "\n".join(render_reply(reply, "en")[0] for reply in handled.replies)

    say("", event=Event("start"))
    for line in ("english", "book", "oil change", "that's all", "kcb 123a", "skip"):
        say(line)
    return say


def test_a_closed_day_or_a_public_holiday_is_called_closed(db, garage):
    say = chatting(db, garage, "4401")
    assert say("sunday").startswith("We are closed on Sun 29 Nov.\nWhich day suits you?")
    assert say("12.12").startswith("We are closed on Sat 12 Dec.")  # Jamhuri Day
    assert say("1.12") == "Free times on Tue 1 Dec:"  # an ordinary Tuesday


def test_a_time_that_became_too_soon_while_the_customer_read_is_called_too_soon(db, garage):
    say = chatting(db, garage, "4402")
    assert say("today 10:00").startswith("Please check your booking:")  # at 09:00, with an hour's notice
    answer = say("yes", minutes=25)
    assert answer.endswith("How would you like to pay?")
    answer = say("pay at the shop", minutes=25)
    assert answer.startswith("Sorry, 10:00 is too soon now to be booked.\nHere are the nearest free times.")


@pytest.fixture
def zhaiyk(db, atyrau_spec):
    return loaded(db, atyrau_spec)


def customer_of(db, shop, chat_id: str):
    """A new customer's chat with `shop`: say(text) -> the answer, in the chat's language."""

    def say(text: str, event: Event | None = None) -> str:
        handled = runner.handle(db, shop_id=shop.id, channel="whatsapp", chat_id=chat_id,
                                event=event or Event.typed(text), now=NOW)  # fmt: skip
        return "\n".join(render_reply(reply, handled.language)[0] for reply in handled.replies)

    return say


def test_a_first_message_asking_for_an_oil_change_is_booked_once_the_language_is_chosen(db, zhaiyk):
    say = customer_of(db, zhaiyk, "+77015550042")

    assert say("Здравствуйте! Хочу записаться на замену масла").endswith("На каком языке вам удобнее общаться?")
    assert say("1") == ("Отлично, будем общаться по-русски.\nДобавлено: Замена масла и фильтра.\n"
                        "Что-нибудь ещё? Выберите ещё одну услугу или продолжайте.")  # fmt: skip
    assert say("это всё").startswith("Напишите госномер машины, например 123 ABC 06.")


@pytest.mark.parametrize("typed, language, answer", [
    ("нужна замена масла", "1", "Добавлено: Замена масла и фильтра."),
    ("май ауыстыруға жазылу", "2", "Қосылды: Май мен сүзгіні ауыстыру."),
    ("book an oil change", "3", "Added: Oil and filter change."),
])  # fmt: skip
def test_an_oil_change_asked_for_at_the_menu_starts_its_booking_in_each_language(db, zhaiyk, typed, language, answer):
    say = customer_of(db, zhaiyk, f"+7701555004{language}")
    say("", event=Event("start"))
    say(language)  # the language question's place in the list: ru, kk, en

    assert say(typed).startswith(answer + "\n")


def test_a_service_asked_for_in_swahili_at_the_menu_starts_its_booking(db, garage):
    say = customer_of(db, garage, "+254712000042")
    say("", event=Event("start"))
    say("Kiswahili")

    assert say("weka nafasi ya kubadilisha oili").startswith("Nimeongeza: Kubadilisha oili na chujio.\n")


def test_an_oil_change_asked_for_tomorrow_at_ten_is_offered_at_ten_once_the_car_is_known(db, zhaiyk):
    say = customer_of(db, zhaiyk, "+77015550050")
    say("", event=Event("start"))
    say("1")  # Русский

    assert say("замена масла завтра в 10") == ("Добавлено: Замена масла и фильтра.\n"
                                              "Что-нибудь ещё? Выберите ещё одну услугу или продолжайте.")  # fmt: skip
    assert say("это всё").startswith("Напишите госномер машины, например 123 ABC 06.")
    say("123 ABC 06")
    summary = say("пропустить")

    assert summary.startswith("Машина 123 ABC 06 сохранена.\nПожалуйста, проверьте запись:\n"
                              "Услуги: Замена масла и фильтра\nКогда: вт 24 нояб., 10:00\n")  # fmt: skip
