"""What of a chat's data outlives its dialogue starting over (core.chat_data)."""

from core.chat_data import start_over


def test_a_chat_starting_over_keeps_its_language_and_forgets_the_question():
    data = {"lang": "sw", "at": "2026-11-23T09:00:00+00:00", "services": [1], "day": "2026-11-25", "resume": ["day"],
            "offered": [["m:book", ["Book"]]], "show_again": [4], "notice": {"offered": [["rate:5:5", ["5"]]]},
            "notices_waiting": [{"offered": [["extra:yes:7", ["Approve"]]]}], "shop_answered": "2026-11-23T08:59:00+00:00",
            "wrote_shop": "2026-11-23T08:58:00+00:00"}  # fmt: skip
    kept = {"lang": "sw", "show_again": [4], "notices_waiting": [{"offered": [["extra:yes:7", ["Approve"]]]}],
            "shop_answered": "2026-11-23T08:59:00+00:00", "wrote_shop": "2026-11-23T08:58:00+00:00"}  # fmt: skip

    assert start_over(data) == kept
    assert start_over(data, "offered") == kept | {"offered": [["m:book", ["Book"]]]}


def test_a_chat_starting_over_before_a_language_was_chosen_has_none_yet():
    assert start_over({"deep_link": "book"}) == {"lang": None}
