"""How a reply's choices become Telegram's inline buttons: short labels two to a row,
long ones alone, and always in the order the reply gives them, in every language."""

from bot.telegram import markup
from core.messages import Choice, Msg, Reply


def buttons(reply: Reply, lang: str = "en") -> list[list[str]]:
    return [[button.text for button in row] for row in markup(reply, lang).inline_keyboard]


def test_short_labels_go_two_to_a_row():
    reply = Reply((Msg("Pick one"),), (Choice("a", "Oil"), Choice("b", "Tyres"), Choice("c", "Brakes")))

    assert buttons(reply) == [["Oil", "Tyres"], ["Brakes"]]


def test_a_long_label_after_a_short_one_keeps_its_place():
    # The owner's menu in Russian: "Сегодня" is short, "Все заказы на сегодня" is not.
    reply = Reply((Msg("Menu"),), (Choice("st:today", "Сегодня"), Choice("st:jobs", "Все заказы на сегодня"),
                                   Choice("st:digest", "Сводка сейчас"), Choice("st:week", "Неделя")))  # fmt: skip

    assert buttons(reply, "ru") == [["Сегодня"], ["Все заказы на сегодня"], ["Сводка сейчас", "Неделя"]]


def test_callback_data_is_the_choice_id_cut_to_64_bytes():
    reply = Reply((Msg("Pick"),), (Choice("x" * 70, "Long id"),))

    assert markup(reply, "en").inline_keyboard[0][0].callback_data == "x" * 64
