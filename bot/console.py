"""The terminal channel: `pitstop chat` talks to the same engine as the bots, with
numbered choices, so a person can try a shop without Telegram or WhatsApp."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from bot.model import Event
from bot.runner import handle, pending_for
from core.messages import Reply, render_reply
from core.models import utcnow
from core.runtime import Runtime

CHANNEL = "console"


def show(reply: Reply, lang: str, out: TextIO) -> None:
    """A reply as the terminal shows it: the text, then the choices numbered from 1."""
    text, choices = render_reply(reply, lang)
    out.write(text + "\n")
    for number, (_cid, label) in enumerate(choices, 1):
        out.write(f"  {number}. {label}\n")
    out.write("\n")


def chat(runtime: Runtime, shop_id: int, chat_id: str, lang: str | None, inp: TextIO = sys.stdin,
         out: TextIO = sys.stdout, clock: Callable[[], datetime] = utcnow) -> None:  # fmt: skip
    """Read lines until end of input; every line is what the customer typed."""
    interactive = inp.isatty()
    _send(runtime, shop_id, chat_id, Event("start"), lang, out, clock())
    while True:
        if interactive:
            out.write("you> ")
            out.flush()
        line = inp.readline()
        if not line:
            out.write("\n")
            return
        if line.strip():
            if not interactive:
                out.write(f"you> {line.strip()}\n")
            _send(runtime, shop_id, chat_id, Event.typed(line.strip()), lang, out, clock())


def _send(runtime: Runtime, shop_id: int, chat_id: str, event: Event, lang: str | None, out: TextIO,
          now: datetime) -> None:  # fmt: skip
    handle(runtime.db, shop_id=shop_id, channel=CHANNEL, chat_id=chat_id, event=event,
           now=now.astimezone(UTC), language_hint=lang)  # fmt: skip
    with runtime.db.uow() as uow:  # the terminal is its own delivery: show and mark sent
        for row in pending_for(uow.session, shop_id, CHANNEL, chat_id):
            show(Reply.from_json(row.body), row.language, out)
            row.status, row.sent_at = "sent", now
