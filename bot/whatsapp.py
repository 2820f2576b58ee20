"""WhatsApp through Twilio: inbound form posts into events, replies into Messages API calls.

Choices are written as a numbered list (WhatsApp has no inline buttons in a plain
session message); the customer answers with the number or the words. Outside the
24-hour customer window WhatsApp only lets a business send approved templates, so a
notification then goes as the shop's template (ContentSid + ContentVariables) or not
at all — never as a message WhatsApp would reject.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bot import whatsapp_status
from bot.delivery import Outgoing, TryLater, Undeliverable
from bot.inbound import Inbound
from bot.model import BURST, Event
from core import files, notices
from core.availability import shop_view
from core.customers import mask_phones_in
from core.db import defer
from core.messages import Reply, render_reply
from core.models import OutboxMessage, Shop
from core.runtime import Runtime

log = logging.getLogger(__name__)
REFUSED_CREDENTIALS = (20003, 20005)  # Twilio: authentication failed, account not active


def parse(form: dict[str, str]) -> Inbound | None:
    """A Twilio inbound-message webhook as an Inbound message: its images (a message may
    carry several) go where a photo goes, its words the first one's caption. Photos sent
    together come a message each, nothing saying they are one send: each is one of a
    possible burst (model.BURST), answered once as a Telegram album is."""
    sid, sender = form.get("MessageSid", ""), form.get("From", "")
    if not sid or not sender.startswith("whatsapp:"):
        return None
    phone = sender.removeprefix("whatsapp:")
    photos = _photos(form)
    photo, *more_photos = photos or [None]
    base = dict(name=form.get("ProfileName") or None, phone=phone, user_id=form.get("WaId"), photo=photo,
                more_photos=tuple(more_photos), album=BURST if photo else None)  # fmt: skip
    if form.get("ButtonPayload"):  # a quick reply of the shop's template: its id is the template's, not ours
        words = form.get("ButtonText") or form.get("Body") or form["ButtonPayload"]
        return Inbound("whatsapp", sid, sender, Event.typed(words), replied_to=form.get("OriginalRepliedMessageSid"),
                       **base)  # fmt: skip
    if form.get("Latitude") and form.get("Longitude"):
        return Inbound("whatsapp", sid, sender, Event("location", text=f"{form['Latitude']},{form['Longitude']}"), **base)
    body = form.get("Body", "")
    other_file = _media_count(form) > len(photos)  # a PDF, a video: not passed on, and they are told
    if body.strip() or (photo and other_file):  # its words are read (the caption of its photos, if any)
        return Inbound("whatsapp", sid, sender, Event("text", text=body, other_file=other_file), **base)
    if other_file:  # a PDF alone, no words: nothing to read, and it is said not passed on (a first contact too)
        return Inbound("whatsapp", sid, sender, Event("unsupported", other_file=True), note="a file only", **base)
    if photo:
        return Inbound("whatsapp", sid, sender, None, note="a message with media only", **base)
    return Inbound("whatsapp", sid, sender, None, note="an empty message", **base)


MAX_MEDIA = 10  # the most files Twilio posts with one message


def _media_count(form: dict[str, str]) -> int:
    count = form.get("NumMedia") or "0"
    return min(int(count), MAX_MEDIA) if count.isdigit() else 0


def _photos(form: dict[str, str]) -> list[str]:
    """The images attached, in their order (Twilio names them MediaUrl0, MediaUrl1...)."""
    return [f"whatsapp:{form[f'MediaUrl{i}']}" for i in range(_media_count(form))
            if form.get(f"MediaContentType{i}", "").startswith("image/") and form.get(f"MediaUrl{i}")]  # fmt: skip


BODY_LIMIT = 1600  # the longest WhatsApp body Twilio takes


def pieces(text: str, limit: int = BODY_LIMIT, size: Callable[[str], int] = len) -> list[str]:
    """The text as bodies WhatsApp takes, cut between lines (inside a line only when it
    alone is too long, between words where it can be): a busy day's digest arrives
    whole, in parts, instead of stopping mid-line. `size`: how the channel counts
    (Telegram counts UTF-16 units: an emoji is two)."""
    if size(text) <= limit:  # most messages: measured once
        return [text]
    parts, current = [], None
    for line in text.split("\n"):
        while size(line) > limit:
            fits = fitting(line, limit, size)
            cut = line.rfind(" ", 0, fits + 1)
            cut = cut if cut > 0 else fits
            if current is not None:
                parts.append(current)
                current = None
            parts.append(line[:cut])
            line = line[cut:].lstrip(" ")
        if current is None:
            current = line
        elif size(current) + 1 + size(line) <= limit:
            current = f"{current}\n{line}"
        else:
            parts.append(current)
            current = line
    parts.append(current or "")
    return parts


def fitting(line: str, limit: int, size: Callable[[str], int]) -> int:
    """How many characters of `line` fit in `limit` as the channel counts."""
    if size is len:
        return limit
    fits, used = 0, 0
    while fits < len(line) and used + size(line[fits]) <= limit:
        used += size(line[fits])
        fits += 1
    return fits


def text_of(reply: Reply, lang: str) -> str:
    """The reply as WhatsApp shows it: the text, then the choices numbered from 1."""
    text, choices = render_reply(reply, lang)
    lines = [text] if text else []
    lines += [f"{n}. {label}" for n, (_cid, label) in enumerate(choices, 1)]
    return "\n".join(lines)


class BaseUrlHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client with its host replaced by TWILIO_API_BASE (a local fake
    in tests and the demo); everything else is the real library."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        return super().request(method, api_url(self.base_url, url), *args, **kwargs)


def api_url(base_url: str, url: str) -> str:
    """A Twilio address (an API call, an inbound photo's media) at TWILIO_API_BASE, so
    that the demo and tests reach their local fake, and production Twilio itself."""
    if base_url and base_url.rstrip("/") != "https://api.twilio.com" and "twilio.com/" in url:
        return base_url.rstrip("/") + "/" + url.split("twilio.com/", 1)[1]
    return url


def client_for(runtime: Runtime, shop: Shop, session: Session) -> tuple[Client, str, str]:
    """A Twilio client for the shop, its WhatsApp sender, and its auth token."""
    section = shop_view(session, shop.id).spec.providers["whatsapp"]
    settings = runtime.settings
    sid = settings.secret(section["account_sid_env"], f"WhatsApp for {shop.slug}")
    token = settings.secret(section["auth_token_env"], f"WhatsApp for {shop.slug}")
    sender = settings.secret(section["from_env"], f"WhatsApp for {shop.slug}")
    http = None if settings.twilio_api_base == "https://api.twilio.com" else BaseUrlHttpClient(settings.twilio_api_base)
    sender = sender if sender.startswith("whatsapp:") else f"whatsapp:{sender}"
    return Client(sid, token, http_client=http), sender, token


def prepare(runtime: Runtime, row: OutboxMessage, shop: Shop, session: Session) -> Outgoing:
    """Twilio paces WhatsApp itself (it queues what we send), so a row needs no turn and is
    built when it is sent, from the locked row: the 24-hour window is judged then."""
    return Outgoing(None, lambda row, session: send(runtime, row, session.get(Shop, row.shop_id), session),
                    reported=lambda row, session: whatsapp_status.apply_reported(session, row, runtime.now()))


def send(runtime: Runtime, row: OutboxMessage, shop: Shop, session: Session) -> str | None:
    """Deliver one outbox row through Twilio's Messages API; returns the MessageSid."""
    from twilio.base.exceptions import TwilioRestException

    if row.kind == "callback_answer":
        return None
    client, sender, _ = client_for(runtime, shop, session)
    params = {"from_": sender, "to": row.address}
    if runtime.settings.public_base_url:
        params["status_callback"] = f"{runtime.settings.public_base_url}/webhooks/whatsapp/{shop.slug}/status"
    inside = _inside_window(session, row, runtime.now())
    reply = Reply.from_json(row.body)
    first_parts: list[str] = []
    if inside:
        *first_parts, params["body"] = pieces(text_of(reply, row.language))
        if row.kind in ("document", "photo") and files.attached(row.body):
            params["media_url"] = [media_url(runtime, row)]
    else:
        template = shop_view(session, shop.id).spec.templates.get(row.body.get("template", ""))
        if template is None and row.body.get("show_later"):  # no template carries it: it waits for their next word
            defer(session, notices.show_whole_later, row.shop_id, row.address, row.id, row.language)
            raise Undeliverable("outside WhatsApp's 24-hour window: sent again when the customer next writes")
        if template is None:
            raise Undeliverable("outside WhatsApp's 24-hour window and no approved template for this message")
        values = row.body.get("variables", {})
        params["content_sid"] = template["content_sid"]
        params["content_variables"] = json.dumps(
            {str(i): notices.template_text(str(values.get(name, ""))) for i, name in enumerate(template.get("variables", []), 1)})
    try:  # a long text's first parts go first (a retry goes on after those sent); the last has the choices
        sent = row.body.get("parts_sent", 0)
        for n, part in enumerate(first_parts[sent:], sent + 1):
            client.messages.create(from_=sender, to=row.address, body=part)
            row.body = row.body | {"parts_sent": n}  # written down with the failure, should a later part fail
        sid = client.messages.create(**params).sid
    except TwilioRestException as exc:
        if exc.status == 429:
            raise TryLater(5) from exc
        if exc.status == 401 or exc.code in REFUSED_CREDENTIALS:  # the operator's to mend: kept for the re-drive
            log.error("Twilio refused the credentials of %s (%s %s): WhatsApp replies wait until they work",
                      shop.slug, exc.status, exc.code)  # fmt: skip
            raise
        if exc.status and 400 <= exc.status < 500:
            raise Undeliverable(f"Twilio refused the message: {exc.code} {mask_phones_in(exc.msg)}") from exc
        raise
    whole = row.body.get("whole")
    if whole and inside:  # the customer has seen what the choices are about: an answer counts now
        defer(session, notices.remember_choices, row.shop_id, "whatsapp", row.address, whole["offered"],
              runtime.now().isoformat(), False, row.language, reply.to_json(), row.id)  # fmt: skip
    elif whole or (row.body.get("whole_later") and not inside):  # only its template went: whole when they write
        defer(session, notices.show_whole_later, row.shop_id, row.address, row.id, row.language)
    return sid


def media_url(runtime: Runtime, row: OutboxMessage) -> str:
    """Where Twilio fetches a file we send (a receipt PDF, the digest chart): an address
    that names this outbox row and a random token stored on it, so it cannot be guessed."""
    base = runtime.settings.require("public_base_url", "sending files on WhatsApp")
    token = row.body.get("media_token") or secrets.token_urlsafe(24)
    row.body = {**row.body, "media_token": token}
    return f"{base}/media/{row.id}/{token}"


def _inside_window(session: Session, row: OutboxMessage, now: datetime) -> bool:
    """Has the customer written to us in the last 24 hours (by Pitstop's clock, which
    recorded when they wrote; a staging clock may run days behind the wall)?"""
    last = notices.last_wrote(session, row.shop_id, row.address)
    return last is not None and now - last < notices.WHATSAPP_WINDOW

