"""Photos people send the shop's bot or number, passed on through the outbox.

A photo arrives as a reference that only the shop's credentials open: a Telegram file id
or a Twilio media URL ("telegram:<file_id>", "whatsapp:<media URL>", as Inbound.photo).
The outbox row passing it on (a mechanic's photo of extra work to the customer, a
customer's photo to each owner, an owner's photo to the customer he answers) is written
in the message's own transaction carrying that reference; the first time the row is
delivered, the photo is fetched and kept (core.files) under a name made from the
reference, which the other rows of the same photo then find (two workers at the same
moment may each keep a copy), and the row goes as any photo does. So the outbox's retries and the re-drive carry the fetch too: a photo is not lost
when Redis was down as the message came. A photo gone for good (the provider no longer
has it) is not sent; the row's `unfetched` words, if it has any, are sent instead.
"""

from __future__ import annotations

import logging
from datetime import datetime
from hashlib import sha1

import requests
from sqlalchemy import select

from core import files, outbox
from core.messages import Reply
from core.models import OutboxMessage, Shop
from core.runtime import Runtime

log = logging.getLogger(__name__)
GONE_STATUSES = (400, 404, 410)  # Twilio's answers for media it no longer has (401 and 403: the credentials)


class Gone(Exception):
    """The provider no longer has the photo (or never had it): asking again will not help."""


def passed_on(ref: str, unfetched: Reply | None = None) -> dict:
    """The outbox body fields of a photo row for the photo `ref`, fetched when it is
    first sent; `unfetched`: what to say instead should the photo be gone for good. A
    template cannot carry a photo: outside WhatsApp's window it waits for their next
    message (show_later)."""
    return {"photo": ref, "show_later": True} | ({"unfetched": unfetched.to_json()} if unfetched is not None else {})


def dedupe_key(kind: str, customer_id: int, ref: str, now: datetime) -> str:
    """The outbox key of one photo passed on: a photo sent twice is two photos, a
    delivery of it repeated is one (its `now` is the message's)."""
    return f"{kind}-{customer_id}-{now:%Y%m%d%H%M%S%f}-{sha1(ref.encode()).hexdigest()[:12]}"


def awaited(row: OutboxMessage) -> bool:
    """Is this row a photo still to be fetched before it can be sent?"""
    return row.kind == "photo" and bool(row.body.get("photo")) and not files.attached(row.body)


def take_in(runtime: Runtime, outbox_id: int) -> Exception | None:
    """Fetch and keep the photo of an outbox row about to be sent (the one kept for
    another row of the same photo, if there is one). None once the row has its file, or
    has failed because the photo is gone (its `unfetched` words then written to send
    instead); otherwise the passing trouble, to be recorded on the row as a failed send
    is, and tried again with it. The download holds no lock."""
    with runtime.db.reading() as uow:
        s = uow.session
        row = s.get(OutboxMessage, outbox_id)
        ref, name = row.body["photo"], kept_name(row.body["photo"])
        kept, data, trouble = files.named(s, row.shop_id, name), None, None
        if kept is None:
            try:
                data = fetch(runtime, s.get(Shop, row.shop_id), s, ref)
            except Exception as exc:
                trouble = exc
    if trouble is not None and not isinstance(trouble, Gone):
        return trouble
    now = runtime.now()
    with runtime.db.uow() as uow:
        s = uow.session
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.id == outbox_id).with_for_update())
        if row.status != "pending" or files.attached(row.body):
            return None
        if trouble is not None:
            _gone(s, row, trouble, now)
            return None
        row.body = row.body | (kept or files.store(s, row.shop_id, data, name, now))
    return None


def kept_name(ref: str) -> str:
    """The name a photo is kept under: the same for every row passing it on."""
    return f"photo-{sha1(ref.encode()).hexdigest()[:20]}.jpg"


def _gone(session, row: OutboxMessage, why: Gone, now) -> None:
    """The photo cannot be had: the row fails, and its `unfetched` words go instead (on
    WhatsApp under the row's template, should the window be closed)."""
    row.attempts += 1
    row.status, row.last_error = "failed", f"the photo could not be fetched: {why}"[:500]
    log.warning("outbox %s: the photo could not be fetched: %s", row.id, why)
    if row.body.get("unfetched"):
        outbox.send(session, shop_id=row.shop_id, channel=row.channel, address=row.address, language=row.language,
                    reply=Reply.from_json(row.body["unfetched"]), dedupe_key=f"{row.dedupe_key or row.id}:unfetched",
                    now=now, extra={k: row.body[k] for k in ("template", "variables", "whole_later", "show_later") if k in row.body})  # fmt: skip


def fetch(runtime: Runtime, shop: Shop, session, ref: str) -> bytes:
    """Download a photo someone sent the shop's bot or number, with the shop's own
    credentials; `Gone` when the provider no longer has it."""
    kind, _, value = ref.partition(":")
    if kind == "telegram":
        from telegram.error import BadRequest, Forbidden

        from bot.telegram import bot_for, run

        bot = bot_for(runtime, shop, session)  # this thread's warm Bot, on its own loop

        async def download() -> bytes:
            file = await bot.get_file(value)
            return bytes(await file.download_as_bytearray())

        try:
            return run(download())
        except (BadRequest, Forbidden) as exc:  # an unknown file id, a file too big for a bot
            raise Gone(f"Telegram: {exc.message}") from exc
    if kind == "whatsapp":
        from bot.whatsapp import api_url, client_for

        client, _sender, token = client_for(runtime, shop, session)
        answer = requests.get(api_url(runtime.settings.twilio_api_base, value), auth=(client.username, token),
                              timeout=20)  # fmt: skip
        if answer.status_code in GONE_STATUSES:
            raise Gone(f"Twilio answered {answer.status_code}")
        answer.raise_for_status()
        return answer.content
    raise Gone(f"unknown photo reference {ref!r}")
