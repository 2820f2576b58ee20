"""What a chat remembers of the notices it was sent: a notice that never reached the
phone is forgotten, and the one waiting under it is the question again."""

from core.notices import without_notice

EXTRA = [["extra:approve:7", ["Approve", "1"]], ["extra:decline:7", ["Decline", "2"]]]
OFFER = [["offer:take:9", ["Yes, I'll take it", "1"]], ["offer:decline:9", ["No, thanks", "2"]]]
RATE = [["rate:4:5", ["5", "1"]]]


def test_a_notice_never_seen_is_no_longer_the_question_and_the_one_under_it_is_again():
    data = {"lang": "sw", "offered": OFFER, "notice": {"reply": {}, "offered": OFFER},
            "notices_waiting": [{"reply": {}, "offered": RATE}, {"reply": {"x": 1}, "offered": EXTRA}]}  # fmt: skip

    assert without_notice(data, OFFER) == {"lang": "sw", "offered": EXTRA, "notice": {"reply": {"x": 1}, "offered": EXTRA},
                                           "notices_waiting": [{"reply": {}, "offered": RATE}]}  # fmt: skip


def test_a_notice_never_seen_with_none_under_it_leaves_no_choices_to_answer():
    data = {"lang": "en", "offered": OFFER, "notice": {"reply": {}, "offered": OFFER}, "show_again": [3]}
    assert without_notice(data, OFFER) == {"lang": "en", "show_again": [3]}


def test_a_notice_never_seen_gives_back_the_choices_shown_before_it():
    """The menu was on his screen when the offer never arrived: his "1" is "Book"."""
    menu = [["m:book", ["Book a service", "1"]], ["m:bookings", ["My bookings", "2"]]]
    data = {"lang": "sw", "offered": OFFER, "notice": {"reply": {}, "offered": OFFER, "before": menu}}
    assert without_notice(data, OFFER) == {"lang": "sw", "offered": menu}


def test_a_notice_never_seen_after_the_customer_moved_on_leaves_their_choices_as_they_are():
    """He had gone on to choose a time when Twilio reported the offer undelivered: his
    numbers answer the times, not the menu he saw before the offer."""
    menu = [["m:book", ["Book a service", "1"]]]
    times = [["time:2026-11-24T07:00:00+00:00", ["10:00", "1"]]]
    data = {"offered": times, "notice": {"reply": {}, "offered": OFFER, "before": menu}}
    assert without_notice(data, OFFER) == {"offered": times}


def test_a_notice_never_seen_that_was_waiting_is_dropped_and_the_question_stays():
    data = {"offered": OFFER, "notice": {"reply": {}, "offered": OFFER}, "notices_waiting": [{"reply": {}, "offered": EXTRA}]}
    assert without_notice(data, EXTRA) == {"offered": OFFER, "notice": {"reply": {}, "offered": OFFER}}


def test_a_notice_already_answered_changes_nothing():
    data = {"lang": "ru", "offered": [["m:book", ["Book", "1"]]]}
    assert without_notice(data, OFFER) == data
