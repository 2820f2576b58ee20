"""The owner's photo in answer to a customer, passed on to the customer.

The photo arrives as a Telegram file id (or a Twilio media URL) that only the shop's
credentials open; this job, run after the owner's answer committed, fetches it as a
mechanic's photo of extra work is fetched (bot.staff_photos), keeps it in the database
and writes it to the customer's outbox, once (keyed on the answer). The owner's words,
if any, went before it in the answer's own transaction.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from bot.staff_photos import fetch
from core import files, outbox
from core.messages import Reply
from core.models import OutboxMessage, Shop
from core.runtime import current_runtime

log = logging.getLogger(__name__)


def send_to_customer(shop_id: int, channel: str, address: str, language: str, caption: dict, ref: str,
                     key: str) -> None:  # fmt: skip
    """The job: the photo `ref` under `caption` (a Reply as JSON) to the customer's chat."""
    runtime = current_runtime()
    with runtime.db.uow() as uow:
        s = uow.session
        if s.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
            return
        path = Path(runtime.settings.var_dir) / "photos" / f"{key}.jpg"
        try:
            fetch(runtime, s.get(Shop, shop_id), s, ref, path)
        except Exception as exc:  # the owner's words, if any, went all the same
            log.warning("the owner's photo for chat %s could not be fetched: %s", key, exc)
            return
        kept = files.keep(s, shop_id, path, runtime.now())
        path.unlink(missing_ok=True)
        outbox.send(s, shop_id=shop_id, channel=channel, address=address, language=language,
                    reply=Reply.from_json(caption), dedupe_key=key, kind="photo", extra=kept, now=runtime.now())  # fmt: skip
