"""What of a chat's data outlives its dialogue starting over (core.chat_data)."""

from core.chat_data import start_over


def test_a_chat_starting_over_keeps_its_language_and_forgets_the_question():
    data = {"lang": "sw", "at": "2026-11-23T09:00:00+00:00", "services": [1], "day": "2026-11-25", "resume": ["day"],
            "offered": [["m:book", ["Book"]]], "show_again": [4]}  # fmt: skip

    assert start_over(data) == {"lang": "sw", "show_again": [4]}
    assert start_over(data, "offered") == {"lang": "sw", "show_again": [4], "offered": [["m:book", ["Book"]]]}


def test_a_chat_starting_over_before_a_language_was_chosen_has_none_yet():
    assert start_over({"deep_link": "book"}) == {"lang": None}
