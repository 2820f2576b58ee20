"""A customer's photo to the shop, passed on to its owners.

The photo arrives as a Telegram file id (or a Twilio media URL) that only our credentials
open; this job, run after the customer's message committed, fetches it as a mechanic's
photo of extra work is fetched (bot.staff_photos), keeps it in the database, and writes
it to every owner's outbox as a photo under the customer's words, once (keyed on the
message). From there the outbox delivers it and tries again until it goes; on WhatsApp
outside the owner's 24-hour window the staff template says it came, and the photo
follows when the owner next writes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from bot.commands import to_owners
from bot.staff_photos import fetch
from core import files, notices
from core.customers import mask_phone
from core.i18n import N_
from core.messages import Msg, Reply
from core.models import Customer, OutboxMessage, Shop
from core.runtime import current_runtime

log = logging.getLogger(__name__)


def send_to_owners(shop_id: int, customer_id: int, ref: str, caption: str, key: str) -> None:
    """The job: the photo `ref` with its caption to every owner of the shop."""
    runtime = current_runtime()
    with runtime.db.uow() as uow:
        s = uow.session
        if s.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key.like(f"{key}:%")).limit(1)):
            return
        customer, now = s.get(Customer, customer_id), runtime.now()
        path = Path(runtime.settings.var_dir) / "photos" / f"{key}.jpg"
        try:
            fetch(runtime, s.get(Shop, shop_id), s, ref, path)
        except Exception as exc:  # the owners still hear that a photo came, and the words with it
            log.warning("photo from customer %s could not be fetched: %s", mask_phone(customer.phone), exc)
            notices.tell_owners(s, shop_id, _not_received(customer, caption), key, now)
            return
        kept = files.keep(s, shop_id, path, now)
        path.unlink(missing_ok=True)
        sent = notices.tell_owners(s, shop_id, to_owners(customer, caption, photo=True), key, now, kind="photo",
                                   extra=kept | {"whole_later": True, "show_later": True})  # fmt: skip
        log.info("photo from customer %s forwarded to %d owner(s)", mask_phone(customer.phone), sent)


def _not_received(customer: Customer, caption: str) -> Reply:
    """What the owners read when the photo could not be fetched: that it came, and from whom."""
    said = Msg(N_("{name} ({phone}) sent a photo, but it could not be received. Ask them to send it again."),
               {"name": customer.name or "-", "phone": customer.phone or "-"})  # fmt: skip
    reply = to_owners(customer, caption)
    return Reply((said, *reply.texts) if caption else (said,), reply.choices)
