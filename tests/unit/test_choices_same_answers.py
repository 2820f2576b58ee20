"""Reading a menu answer faster changed no answer (issue #9).

`pick_choice` runs on every typed message while buttons are offered, so it was made
cheaper; these stories hold it, and `pick_choices`, to the answers of the code as it was
before (tests/unit/choices_before.py), on the choices the bot really offers (the example
shops' services in every language, the menu, the buttons of the steps) and on answers
made of their words with typos, stems, case endings, filler, numbers, separators, plates,
times and other scripts. Set CHOICES_EXAMPLES to try more random answers than usual.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine import MENU, MENU_WORDS, REPLY_WORDS
from bot.flows_account import REMOVE_WORDS
from bot.flows_booking import DONE_WORDS
from bot.staff_engine import SKIP_WORDS
from bot.understand import pick_choice, pick_choices
from bot.understand.choices import (
    CAR_WORDS,
    CHANGE_WORDS,
    DOING_WORDS,
    FILLER,
    KAZAKH_CASE_ENDINGS,
    NUMBERS,
)
from core import messages as m
from core.i18n import N_
from core.messages import Choice, Msg, remembered_choices

from . import choices_before as before

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _shops() -> list[dict]:
    return [tomllib.loads(path.read_text()) for path in sorted(EXAMPLES.glob("*.toml"))]


def _services_step(shop: dict, lang: str, chosen: bool) -> list[list]:
    """The services as `prompt_services` offers them: name, minutes and price in every
    language, the names alone as other words for them, and "That's all" once one is chosen."""
    choices = [Choice(f"svc:{s['code']}", Msg(N_("{name} · {minutes} min · {price}"),
                                               {"name": m.names(s["names"]), "minutes": s["duration_minutes"],
                                                "price": m.money(s["price"] * 100, shop["currency"])}))
               for s in shop["services"]]  # fmt: skip
    aliases = {f"svc:{s['code']}": list(s["names"].values()) for s in shop["services"]}
    if chosen:
        choices.insert(0, Choice("done", Msg(N_("That's all, continue"))))
        aliases["done"] = DONE_WORDS
    return remembered_choices(choices, lang, aliases)


BUTTONS = [
    (Choice("back", Msg(N_("Back"))), []),
    (Choice("menu", Msg(N_("Main menu"))), []),
    (Choice("skip", Msg(N_("Skip"))), SKIP_WORDS),
    (Choice("cancel", Msg(N_("Cancel the booking"))), []),
    (Choice("resched", Msg(N_("Change the time"))), []),
    (Choice("veh:new", Msg(N_("Another vehicle"))), []),
    (Choice("remove", Msg(N_("Remove this car"))), REMOVE_WORDS),
    (Choice("reply", Msg(N_("Reply"))), REPLY_WORDS),
    (Choice("day", Msg(N_("Another day"))), []),
]
TABLES = [
    *(_services_step(shop, lang, chosen) for shop in _shops() for lang in ("en", "ru", "kk", "sw")
      for chosen in (False, True)),  # fmt: skip
    *(remembered_choices([Choice(cid, Msg(label)) for cid, label in MENU], lang, MENU_WORDS)
      for lang in ("en", "ru", "kk", "sw")),  # fmt: skip
    *([[f"s:{i}", list(s["names"].values())] for i, s in enumerate(shop["services"])] for shop in _shops()),
    remembered_choices([button for button, _ in BUTTONS], "en", {b.id: words for b, words in BUTTONS}),
    [["oil", ["Oil change", "Замена масла", "Майды ауыстыру", "Kubadilisha oili"]],
     ["brakes", ["Brake pads", "Тормозные колодки", "Тежегіш қалыптары", "Pedi za breki"]],
     ["wash", ["Wash and vacuum", "Мойка", "Жуу", "Kuosha gari"]],
     ["tyres", ["Tyre rotation", "Перестановка шин", "Дөңгелектерді ауыстыру", "Kuzungusha magurudumu"]]],
    # labels of nothing but filler ("Just one", "Мне"): judged whole against any answer
    [["one", ["Just one", "I would like just one"]], ["me", ["Мне", "For me", "Kwa yangu"]], ["all", ["All of them"]]],
]  # fmt: skip
# One of each kind for the sweep below (the other languages' tables hold the same labels).
SWEPT = [TABLES[1], TABLES[9], TABLES[16], *TABLES[20:]]
EVERY_CHOICE = [tuple(choice) for table in TABLES for choice in table]
EVERY_WORD = sorted({word for _, labels in EVERY_CHOICE for label in labels for word in label.split()})
OTHER_WORDS = ["KCB 123A", "10.12 09:00", "yes", "no", "menu", "ok", "да", "ndio", "иә", "завтра в 10",
               "kesho saa nne", "tomorrow at 3pm", "⭐⭐⭐", "👍", "2", "#2", "№3", "no. 1", "2)", "0", "22",
               "Oil", "масло", "майды", "майға", "поменять", "replace", "check", "проверить", "ремонт",
               "записаться", "my", "мои", "nataka", "tafadhali", "please", "пожалуйста"]  # fmt: skip
SEPARATORS = [" ", "  ", ", ", " and ", " и ", " na ", " және ", "/", " & ", "; ", "+", "\t", ". ", "-"]


def _typo(word: str, place: int, letter: str, kind: int) -> str:
    """One slip of the finger: a letter dropped, doubled, changed or two swapped; or a
    stem, or a Kazakh case ending, or a plural."""
    i = place % (len(word) + 1)
    return [word[:i] + word[i + 1:], word[:i] + letter + word[i:], word[:i] + letter + word[i + 1:],
            word[:i] + word[i + 1:i + 2] + word[i:i + 1] + word[i + 2:], word[:max(3, i)],
            word + KAZAKH_CASE_ENDINGS[place % len(KAZAKH_CASE_ENDINGS)], word + "s", word.upper()][kind]  # fmt: skip


@st.composite
def a_word(draw, table: list) -> str:
    """A word someone types at these buttons: one of theirs, slipped or not, or another."""
    own = sorted({word for _, labels in table for label in labels if isinstance(label, str) for word in label.split()})
    word = draw(st.one_of(
        st.sampled_from(own), st.sampled_from(own), st.sampled_from(EVERY_WORD),
        st.sampled_from([label for _, labels in table for label in labels if isinstance(label, str)]),
        st.sampled_from(sorted(FILLER | NUMBERS | CAR_WORDS)), st.sampled_from(OTHER_WORDS),
        st.sampled_from(CHANGE_WORDS + DOING_WORDS), st.integers(0, 30).map(str),
        st.text(max_size=8), st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщыьэюяәғқңөұүһі", min_size=1, max_size=9),
    ))  # fmt: skip
    if word and draw(st.booleans()):
        word = _typo(word, draw(st.integers(0, 40)), draw(st.sampled_from("aeiosnrtлаоеиыу1 ")), draw(st.integers(0, 7)))
    return word


@st.composite
def an_answer(draw, table: list) -> str:
    """Words of the buttons and others, put together with spaces or separators, in any case."""
    parts = draw(st.lists(a_word(table), min_size=1, max_size=draw(st.sampled_from([1, 2, 2, 5]))))
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + part
    case = draw(st.sampled_from([str, str.lower, str.upper, str.title, str.casefold]))
    return draw(st.sampled_from(["", " ", "  "])) + case(text) + draw(st.sampled_from(["", " ", ".", "?", "!"]))


@st.composite
def buttons_and_answer(draw) -> tuple[list, str]:
    """A table of real choices, drawn from every step's (some twice, under other ids: two
    alike are never guessed between), now and then with a label that is no string (from
    a broken caller), and an answer to it."""
    if draw(st.booleans()):
        table = draw(st.sampled_from(TABLES))
    else:
        drawn = draw(st.lists(st.sampled_from(EVERY_CHOICE), min_size=1, max_size=9))
        table = [(f"{i}:{cid}", list(labels)) for i, (cid, labels) in enumerate(drawn)]
    if draw(st.integers(0, 9)) == 0:
        junk = draw(st.sampled_from([None, 42, b"Back", ["Back"], {"en": "Back"}]))
        table = [(cid, [*labels, junk]) for cid, labels in table]
    return table, draw(an_answer(table))


@settings(max_examples=int(os.environ.get("CHOICES_EXAMPLES", 1500)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(buttons_and_answer())
def test_any_answer_to_any_buttons_picks_what_it_picked_before(table_and_answer):
    table, text = table_and_answer
    assert pick_choice(text, table) == before.pick_choice(text, table)
    assert pick_choices(text, table) == before.pick_choices(text, table)


@pytest.mark.parametrize("table", SWEPT, ids=lambda table: table[-1][0])
def test_every_word_of_every_label_and_its_slips_pick_what_they_picked_before(table):
    own = sorted({word for _, labels in table for label in labels for word in label.split()})
    typed = {f"{word} {other}" for word in own for other in own[::11]}
    typed |= {_typo(word, place, "a", kind) for word in own for place in (0, 3) for kind in range(8)}
    typed |= {f"{change} {word[1:]}" for change in ("swap", "поменять") for word in own}  # "swap ime": "Change the time"
    labels = {label for _, labels in table for label in labels}
    typed |= {_typo(label, place, "a", kind) for label in labels for place in (2, 7) for kind in range(4)}
    typed |= {" ".join(_typo(word, 1, "a", kind) for word in label.split()) for label in labels for kind in (1, 3)}
    typed |= labels | set(OTHER_WORDS)
    for text in sorted(typed):
        assert pick_choice(text, table) == before.pick_choice(text, table), text
        assert pick_choices(text, table) == before.pick_choices(text, table), text


def test_answers_to_the_buttons_are_still_read_as_they_should_be():
    """The oracle itself reads as the stories in test_understand say (it is no copy of
    a broken thing): a sample of them."""
    services = TABLES[23]  # test_understand's SERVICES
    assert before.pick_choice("oil chnge", services) == "oil"
    assert before.pick_choice("KCB 123A", services) is None
    assert before.pick_choices("1 и 3", services) == ["oil", "wash"]


def test_the_same_buttons_offered_for_another_booking_answer_with_that_bookings_ids():
    """The reading of labels is kept by the labels alone (`_shaped`) and shared by every
    booking's yes/no: each list still answers with its own ids, typed or by number."""
    for booking in (41, 42, 41):
        offered = [(f"yes:cancel-{booking}", ["Yes, cancel", "Да, отменить"]), (f"no:cancel-{booking}", ["No", "Нет"])]
        assert pick_choice("yes cancel", offered) == f"yes:cancel-{booking}"  # a label whole
        assert pick_choice("cancel", offered) == f"yes:cancel-{booking}"  # a word of one
        assert pick_choice("yes cancle", offered) == f"yes:cancel-{booking}"  # one like it
        assert pick_choice("нет", offered) == f"no:cancel-{booking}"
        assert pick_choice("2", offered) == f"no:cancel-{booking}"
        assert pick_choices("1", offered) == [f"yes:cancel-{booking}"]
