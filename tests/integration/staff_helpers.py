"""Helpers for shop-floor stories: a clock-controlled way to post exactly what Telegram
and Twilio post, staff verification, and bookings made the way customers make them."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from bot import telegram, whatsapp
from bot.inbound import process
from core import booking
from core.customers import customer_for
from core.models import Booking, OutboxMessage, Service, Shop, Staff
from pitstop.fakes import twilio as fake_twilio

# The phones of the example shops' staff (examples/*.toml).
WANJIRU, OTIENO, KIPRONO, ACHIENG = "+254711000001", "+254722000002", "+254733000003", "+254700000004"
ERLAN, SERGEY = "+77012000001", "+77472000003"

# What Telegram posts for a message with no words in it: a PDF, a voice note, a sticker, a place.
A_PDF = {"document": {"file_id": "BQADcard", "file_unique_id": "dcard", "file_name": "card.pdf",
                      "mime_type": "application/pdf"}}
A_VOICE_NOTE = {"voice": {"file_id": "AwADvoice", "file_unique_id": "dvoice", "duration": 3, "mime_type": "audio/ogg"}}
A_STICKER = {"sticker": {"file_id": "CAADsticker", "file_unique_id": "dsticker", "width": 512, "height": 512,
                         "is_animated": False, "is_video": False, "type": "regular"}}
A_PLACE = {"location": {"latitude": -1.2921, "longitude": 36.8219}}
A_ROUND_VIDEO = {"video_note": {"file_id": "DQADround", "file_unique_id": "dround", "length": 240, "duration": 4}}
# What a staff member is told of a file that goes nowhere.
FILE_LEFT = "That file was not sent to anyone: only words and photos go through here."


class Clocked:
    """Posts updates through the same path as the webhooks (inbox, staff, conversation,
    outbox, delivery to the fakes), at a time the story chooses."""

    def __init__(self, pitstop):
        self.p = pitstop
        self.db = pitstop.runtime.db
        self.ids = pitstop.update_ids

    def shop_id(self, slug: str) -> int:
        with self.db.uow() as uow:
            return uow.session.scalar(select(Shop.id).where(Shop.slug == slug))

    def post(self, update: dict, at: datetime, slug: str = "mwangaza-motors"):
        inbound = telegram.parse(update)
        return process(self.db, self.shop_id(slug), inbound, json.dumps(update), at)

    def sends_without_words(self, user: int, what: dict, at: datetime, caption: str | None = None):
        """What Telegram posts for a message with no text: `what` is its file, sticker or
        place (A_PDF, A_VOICE_NOTE, ...), `caption` any words under it."""
        update = self.p.telegram.update_text(next(self.ids), user, "x")
        update["message"].pop("text")
        update["message"].update(what)
        if caption is not None:
            update["message"]["caption"] = caption
        return self.post(update, at)

    def say(self, user: int, text: str, at: datetime, slug: str = "mwangaza-motors", lang: str = "en", **kw):
        return self.post(self.p.telegram.update_text(next(self.ids), user, text, language_code=lang, **kw), at, slug)

    def tap(self, user: int, data: str, at: datetime, slug: str = "mwangaza-motors"):
        last = self.p.telegram.last_message(user)
        return self.post(self.p.telegram.update_callback(next(self.ids), user, data, last["message_id"]), at, slug)

    def tap_button(self, user: int, prefix: str, at: datetime, slug: str = "mwangaza-motors"):
        """Tap the button under the last message whose id starts with `prefix` (answers'
        ids name the question asked: "confirm:book-...", "st:yes:paid-3"), as the person would."""
        return self.tap(user, next(data for _, data in self.buttons(user) if data.startswith(prefix)), at, slug)

    def answer(self, user: int, yes: bool, at: datetime, slug: str = "mwangaza-motors"):
        """A staff member taps Yes (or No) under the question last asked."""
        return self.tap_button(user, "st:yes:" if yes else "st:no:", at, slug)

    def contact(self, user: int, phone: str, at: datetime, slug: str = "mwangaza-motors", **kw):
        return self.post(self.p.telegram.update_contact(next(self.ids), user, phone, **kw), at, slug)

    def photo(self, user: int, at: datetime, caption: str | None = None, album: str | None = None,
              content: bytes = b"\xff\xd8\xff\xe0a-photo") -> dict:  # fmt: skip
        """A photo from the user's phone, as the Bot API posts it (one of an album is a
        message of its own with the album's media_group_id); the update, to post again."""
        update = self.p.telegram.update_photo(next(self.ids), user, content, caption, album)
        self.post(update, at)
        return update

    def wa(self, phone: str, body: str, at: datetime, slug: str = "mwangaza-motors", name: str = "Test"):
        params = fake_twilio.inbound_text_params(f"whatsapp:{phone}", body, profile_name=name)
        return process(self.db, self.shop_id(slug), whatsapp.parse(params), json.dumps(params), at)

    # -- reading what people were sent ----------------------------------------------------

    def texts(self, chat) -> list[str]:
        return [m["text"] for m in self.p.telegram.sent_messages(chat) if m.get("text")]

    def last(self, chat) -> str:
        return self.texts(chat)[-1]

    def buttons(self, chat) -> list[tuple[str, str]]:
        return self.p.buttons(chat)

    def wa_bodies(self, phone: str) -> list[str]:
        return [m["params"]["Body"] for m in self.p.twilio.messages(f"whatsapp:{phone}") if m["params"].get("Body")]


def verify_on_telegram(story: Clocked, user: int, phone: str, at: datetime, slug: str = "mwangaza-motors") -> str:
    """A listed staff member proves their phone: /staff, then their own contact."""
    story.say(user, "/staff", at, slug)
    story.contact(user, phone.lstrip("+"), at, slug)
    return story.last(user)


def book(db, shop_id: int, address: str, services: list[str], start: datetime, now: datetime, *,
         channel: str = "telegram", name: str = "Amina", language: str = "en", method: str = "cash",
         plate: str | None = None, confirm: bool = True) -> Booking:  # fmt: skip
    """A confirmed booking, as the customer conversation makes one (hold, then confirm);
    with `confirm=False`, a hold not yet paid."""
    from core.customers import add_vehicle

    with db.uow() as uow:
        s = uow.session
        customer = customer_for(s, shop_id, channel, address, language=language, name=name,
                                phone=address.removeprefix("whatsapp:") if channel == "whatsapp" else None, now=now)  # fmt: skip
        vehicle = add_vehicle(s, customer, plate or f"KC{address[-4:]}A") if plate != "" else None
        ids = tuple(s.scalar(select(Service.id).where(Service.shop_id == shop_id, Service.code == c)) for c in services)
        held = booking.hold(s, shop_id=shop_id, customer_id=customer.id, service_ids=ids, start=start, now=now,
                            vehicle_id=vehicle.id if vehicle else None, channel=channel, payment_method=method)  # fmt: skip
        assert isinstance(held, booking.Held), held
        if confirm:
            booking.confirm(s, held.booking_id, f"customer:{customer.id}", now, "pays at the shop")
        return s.get(Booking, held.booking_id)


def staff_id(db, phone: str) -> int:
    with db.uow() as uow:
        return uow.session.scalar(select(Staff.id).where(Staff.phone == phone))


def outbox_keys(db, prefix: str) -> list[str]:
    with db.uow() as uow:
        return sorted(uow.session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like(f"{prefix}%"))))


def said(lang: str, msgid: str, **params) -> str:
    """A message as a reader of `lang` sees it (staff are answered in their own language)."""
    from core.i18n import gettext

    return gettext(lang, msgid, **params)
