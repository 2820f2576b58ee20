"""What of a chat's data outlives its dialogue starting over.

A conversation row's data (one JSON object) holds two kinds of keys. Most belong to the
question being answered: a booking half made, the choices offered, a notice's open
question, the questions set aside under it (data.resume). The others belong to the chat,
whatever it is asked: ALWAYS_KEPT. Every place that starts a chat over (a booking made,
moved or cancelled, a car removed, "stop", a command refused, a long pause, a notice coming
after one) keeps these and forgets the rest, but for what it names itself (`keep`). "stop"
ends her writing to the shop as well (wrote_shop: a photo after it reaches nobody), not the
two hours after the shop's answer (shop_answered), which are the shop's. "menu" and a new
booking forget less: only the booking half made (bot.engine.forget_half_made).
The staff dialogue's data (data.staff, bot.staff) shares the row; the customer's dialogue
never runs for staff, so only a notice coming after a pause names it to keep.
"""

from __future__ import annotations

ALWAYS_KEPT = (
    "lang",  # the language they chose
    "notices_waiting",  # notices still to answer under the one asked, each asked again in turn (core.notices)
    "shop_answered",  # the talk with the shop: for two hours after its answer, words not understood are a reply
    "wrote_shop",  # and for minutes after her own words to it, what follows (an album) is for it too, unless "stop"
    "show_again",  # notices only a WhatsApp template carried, sent whole when they next write (bot.runner)
)


def start_over(data: dict, *keep: str) -> dict:
    """The data of a chat starting over: its language (None when not chosen yet), the rest
    of ALWAYS_KEPT, and `keep`, what the step that follows still reads (the choices an
    answer is read by, the booking whose card is shown); the rest is forgotten."""
    return {"lang": data.get("lang")} | {key: data[key] for key in (*ALWAYS_KEPT, *keep) if key in data}
