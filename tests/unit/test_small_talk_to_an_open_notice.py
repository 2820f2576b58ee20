"""Thanks or hello to an open notice is answered in kind, and the notice asked again with
its own numbers."""

import pytest

from core import notices
from core.messages import Choice, Msg, Reply, remembered_choices
from tests.unit.test_engine import chat_in


@pytest.mark.parametrize("lang, typed", [("en", "thanks"), ("sw", "asante"), ("ru", "спасибо"), ("sw", "habari")])
def test_thanks_to_an_open_extra_work_question_keeps_it_open(lang, typed):
    extra = Reply((Msg("Extra work found on MM-1001: discs, Ksh 6,500. Do you approve this work?"),),
                  (Choice("extra:yes:7", Msg("Approve")), Choice("extra:no:7", Msg("Decline"))))  # fmt: skip
    offered = remembered_choices(extra.choices, lang, {"extra:yes:7": notices.YES_ALIASES,
                                                       "extra:no:7": notices.NO_ALIASES})  # fmt: skip
    chat = chat_in(lang)
    chat.data |= {"offered": offered, "notice": {"reply": extra.to_json(), "offered": offered, "outbox_id": 1}}

    chat.type(typed)

    assert chat.data["offered"] == offered, chat.text  # "1" still approves (WhatsApp), not "Book a service"
