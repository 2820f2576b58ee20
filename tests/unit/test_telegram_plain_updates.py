"""Typed words and button taps are read straight from the update's JSON (bot.telegram.
plain_update), not through python-telegram-bot's objects. These tests hold the short
reading to python-telegram-bot's (parsed_by_ptb): the same Inbound wherever it gives one,
for the real-format samples, for random updates of both shapes, and for each of them
with one field taken away or given a value of another type.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.telegram import parse, parsed_by_ptb, plain_update
from pitstop.fakes.telegram import update_callback, update_text

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "telegram"
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sample(name: str) -> dict:
    """A sample update without its `_comment` (Telegram sends none)."""
    return {k: v for k, v in json.loads((FIXTURES / name).read_text()).items() if not k.startswith("_")}


def both(update: dict):
    """The short reading and python-telegram-bot's, each of its own copy."""
    return plain_update(copy.deepcopy(update)), parsed_by_ptb(copy.deepcopy(update))


@pytest.mark.parametrize("name", ["update_message_start.json", "update_message_start_deeplink.json",
                                  "update_callback_query.json"])  # fmt: skip
def test_the_samples_of_words_and_taps_are_read_short_and_the_same(name):
    short, ptb = both(sample(name))
    assert short is not None
    assert short == ptb


def test_a_shared_contact_is_left_to_python_telegram_bot():
    short, ptb = both(sample("update_message_contact.json"))
    assert short is None
    assert ptb.event.kind == "contact"


def test_a_deep_link_start_and_a_tap_read_as_the_bot_needs_them():
    start = plain_update(sample("update_message_start_deeplink.json"))
    assert (start.event.kind, start.event.text, start.chat_id, start.user_id, start.language_hint) == \
        ("start", "book_42", "1111111", "1111111", "ru")  # fmt: skip
    tap = plain_update(sample("update_callback_query.json"))
    assert (tap.event.kind, tap.event.choice, tap.callback_id, tap.tapped_message_id, tap.update_id) == \
        ("choice", "slot:2026-03-14T10:00:svc7", "4382bfdwdsb323b2d9", 1367, "10002")  # fmt: skip


def test_a_group_chat_and_an_edited_message_are_left_to_python_telegram_bot():
    group = update_text(5, 42, "hello")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Fleet"}
    edited = {"update_id": 6, "edited_message": update_text(6, 42, "hello")["message"]}
    assert plain_update(group) is None and parse(group).group is True
    assert plain_update(edited) is None and parse(edited).note == "edited message"


# -------------------------------------------------------------------------- random updates

ids = st.integers(min_value=-(2**63), max_value=2**63)
# Unix times, with the edges: the short reading's own bound (2**32), and python-telegram-bot's (year 9999)
dates = st.integers(0, 2**31) | st.sampled_from([2**32 - 1, 2**32, 253402300799, 253402300800, 2**63])
names = st.text(max_size=20)
languages = st.none() | st.sampled_from(["en", "ru", "kk", "sw", "de", ""])


@st.composite
def users(draw) -> dict:
    user = {"id": draw(ids), "is_bot": draw(st.booleans()), "first_name": draw(names)}
    if (language := draw(languages)) is not None:
        user["language_code"] = language
    if draw(st.booleans()):
        user["username"] = draw(names)
    return user


@st.composite
def typed(draw) -> dict:
    text = draw(st.text(max_size=40) | st.builds(lambda p: "/start" + p, st.text(max_size=20)))
    message = {"message_id": draw(ids), "from": draw(users()), "date": draw(dates),
               "chat": {"id": draw(ids), "type": "private"}, "text": text}  # fmt: skip
    if draw(st.booleans()):
        message["entities"] = [{"offset": 0, "length": 6, "type": "bot_command"}]
    return {"update_id": draw(st.integers(0, 2**40)), "message": message}


@st.composite
def tapped(draw) -> dict:
    buttons = [[{"text": draw(names), "callback_data": draw(names)}] for _ in range(draw(st.integers(0, 3)))]
    message = {"message_id": draw(ids), "chat": {"id": draw(ids), "type": "private"}, "date": draw(dates),
               "from": {"id": 7000000001, "is_bot": True, "first_name": "Booking Bot"}, "text": draw(names),
               "reply_markup": {"inline_keyboard": buttons}}  # fmt: skip
    if draw(st.booleans()):
        message["edit_date"] = draw(dates)
    query = {"id": draw(st.text(min_size=1, max_size=20)), "from": draw(users()), "chat_instance": draw(names),
             "message": message}  # fmt: skip
    if (data := draw(st.none() | names)) is not None:
        query["data"] = data
    return {"update_id": draw(st.integers(0, 2**40)), "callback_query": query}


def paths(value, here=()):
    """Every place in the update: a key path to each value, nested ones too."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*here, key)
            yield from paths(inner, (*here, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield (*here, i)
            yield from paths(inner, (*here, i))


# Keys a user or chat may carry that python-telegram-bot cannot take (its own parameters) or knows
keys = st.sampled_from(["api_kwargs", "self", "is_premium", "title", "unknown_field", "bot"])
others = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=5) | \
    st.just([]) | st.just({}) | st.just([None]) | st.just({"id": 1})  # fmt: skip


@SETTINGS
@given(update=typed() | tapped())
def test_a_random_word_or_tap_is_read_the_same_and_short_unless_its_time_is_out_of_range(update):
    short, ptb = both(update)
    assert short == ptb or short is None
    message = update["message"] if "message" in update else update["callback_query"]["message"]
    assert (short is not None) == all(message[k] < 2**32 for k in ("date", "edit_date") if k in message)


def test_a_time_python_telegram_bot_refuses_is_left_to_it():
    update = update_text(5, 42, "hello")
    update["message"]["date"] = 253402300800  # after 9999-12-31
    assert plain_update(update) is None and parse(update) is None


@SETTINGS
@given(update=typed() | tapped(), data=st.data())
def test_a_field_taken_away_added_or_of_another_type_is_read_the_same_or_left_to_ptb(update, data):
    path = data.draw(st.sampled_from(list(paths(update))))
    *parents, last = path
    holder = update
    for step in parents:
        holder = holder[step]
    change = data.draw(st.sampled_from(["take away", "retype", "add a key"]))
    if change == "take away" and isinstance(holder, dict):
        del holder[last]
    elif change == "add a key" and isinstance(holder[last], dict):
        holder[last][data.draw(keys)] = data.draw(others)
    else:
        holder[last] = data.draw(others)
    short, ptb = both(update)
    assert short is None or short == ptb


@pytest.mark.parametrize("where", ["sender", "chat", "tapper", "tapped chat"])
@pytest.mark.parametrize("key", ["api_kwargs", "self"])
def test_a_user_or_chat_with_a_key_python_telegram_bot_cannot_take_is_refused_by_both(where, key):
    """Telegram sends neither; the short reading knows only the Bot API's own fields."""
    update = update_text(5, 42, "hello") if where in ("sender", "chat") else update_callback(5, 42, "m:book", 1)
    holder = {"sender": lambda: update["message"]["from"], "chat": lambda: update["message"]["chat"],
              "tapper": lambda: update["callback_query"]["from"],
              "tapped chat": lambda: update["callback_query"]["message"]["chat"]}[where]()  # fmt: skip
    holder[key] = 1
    assert both(update) == (None, None)
