"""A mechanic's photo of extra work, passed on to the customer.

The photo arrives as a Telegram file id (or a Twilio media URL); this job, run after the
proposal committed, fetches it into the var directory and writes it to the customer's
outbox as a photo, once (keyed on the extra-work item). Network work stays out of the
message's transaction.
"""

from __future__ import annotations

import logging
from pathlib import Path

import requests
from sqlalchemy import select

from core import files, notices
from core.i18n import N_
from core.messages import Msg, Reply
from core.models import Booking, BookingItem, OutboxMessage, Shop
from core.runtime import current_runtime

log = logging.getLogger(__name__)


def send_extra_photo(item_id: int, ref: str) -> None:
    runtime = current_runtime()
    key = f"extra-photo:{item_id}"
    with runtime.db.uow() as uow:
        s = uow.session
        if s.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
            return
        item = s.get(BookingItem, item_id)
        booking = s.get(Booking, item.booking_id)
        shop = s.get(Shop, booking.shop_id)
        path = Path(runtime.settings.var_dir) / "photos" / f"extra-{item_id}.jpg"
        try:
            fetch(runtime, shop, s, ref, path)
        except Exception as exc:  # the proposal stands without its photo
            log.warning("photo of extra work %s could not be fetched: %s", item_id, exc)
            return
        caption = Reply((Msg(N_("Photo of the extra work on {code}: {work}"), {"code": booking.code, "work": item.description}),))
        notices.notify_customer(s, booking, caption, key, runtime.now(), kind="photo",  # on WhatsApp outside the
                                extra=files.keep(s, booking.shop_id, path, runtime.now()) | {"show_later": True})  # window: when they write  # fmt: skip


def fetch(runtime, shop: Shop, session, ref: str, path: Path) -> None:
    """Download a photo someone sent the shop's bot or number to `path`, with the shop's
    own credentials (a Telegram file id, or a Twilio media URL)."""
    kind, _, value = ref.partition(":")
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "telegram":
        from bot.telegram import bot_for, run

        bot = bot_for(runtime, shop, session)  # this thread's warm Bot, on its own loop

        async def download():
            file = await bot.get_file(value)
            await file.download_to_drive(str(path))

        run(download())
    elif kind == "whatsapp":
        from bot.whatsapp import api_url, client_for

        client, _sender, token = client_for(runtime, shop, session)
        answer = requests.get(api_url(runtime.settings.twilio_api_base, value), auth=(client.username, token),
                              timeout=20)  # fmt: skip
        answer.raise_for_status()
        path.write_bytes(answer.content)
    else:
        raise ValueError(f"unknown photo reference {ref!r}")
