"""Staff in chat: mechanics and owners on the same bot and number as customers.

Every inbound message passes `handles` before the customer conversation:

- a recognised staff member of this shop talks to the staff dialogue (bot/staff_engine.py),
  whose state lives in the same conversation row (data["staff"]); its commands run
  against core in the message's transaction;
- recognition: on Telegram, a listed staff member proves their phone once by sharing
  their own contact through the request_contact button (Telegram marks whose contact it
  is; someone else's card is refused), and is known by their Telegram user id from then
  on; on WhatsApp the sender's number is the proof (Twilio vouches for it);
- anyone else who tries a staff command ("/jobs", "/digest", a forged staff button) is
  refused, politely, and the attempt is logged with the phone masked. Staff of one shop
  are nobody in another shop: recognition is always per shop;
- everything else goes on to the customer conversation (returns False).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import engine, staff_commands, staff_engine, staff_words, understand
from bot.model import Event
from bot.runner import conversation, save
from bot.speech import GLOBAL_WORDS
from bot.staff_context import DbStaffContext
from core import availability as av
from core import notices, outbox
from core.customers import customer_for, mask_phone, normalise_phone
from core.db import undoable
from core.i18n import N_
from core.messages import Msg, Reply
from core.models import Conversation, Staff

log = logging.getLogger(__name__)
MAX_ROUNDS = 6
# Commands a customer has too (the customer conversation answers them).
SHARED = {"menu", "help", "language", "staff"}
CUSTOMER_COMMANDS = ("menu", *GLOBAL_WORDS)  # the customer dialogue's own words


def handles(session: Session, shop_id: int, inbound, event: Event, now: datetime, inbox_id: int) -> bool:
    """True when the message was a staff member's (or a refused attempt at a staff
    command) and has been answered here."""
    staff, just_verified = _recognised(session, shop_id, inbound, now)
    if staff is not None:
        if just_verified:
            event = Event("verified", other_file=event.other_file) if event.kind == "choice" else \
                replace(inbound.photo_event(event), kind="verified")  # a PDF beside them is said not sent, as below
        elif inbound.photo and event.kind != "choice":  # its words are its caption, never a command; a PDF
            event = inbound.photo_event(event)  # beside it (other_file) is said not sent (staff_engine._file_left)
        elif event.kind == "text" and event.other_file:  # a PDF, a video: its words are no command either
            _write(session, shop_id, inbound.channel, inbound.chat_id, staff.language,
                   [Reply((Msg(staff_engine.FILE_NOT_SENT),))], now, inbox_id, inbound.callback_id)  # fmt: skip
            return True
        converse(session, shop_id, staff, inbound.channel, inbound.chat_id, event, now, inbox_id, inbound.callback_id,
                 inbound.tapped_message_id)  # fmt: skip
        return True
    return _gatekeeper(session, shop_id, inbound, event, now, inbox_id)


# -- who is this --------------------------------------------------------------------------


def _recognised(session: Session, shop_id: int, inbound, now: datetime) -> tuple[Staff | None, bool]:
    if inbound.channel == "telegram" and inbound.user_id and inbound.user_id.lstrip("-").isdigit():
        known = int(inbound.user_id) in av.shop_view(session, shop_id).staff_telegram_ids
        staff = session.scalar(select(Staff).where(
            Staff.shop_id == shop_id, Staff.telegram_user_id == int(inbound.user_id), Staff.active.is_(True),
            Staff.verified_at.is_not(None)).order_by(Staff.id)) if known else None  # fmt: skip
        if staff is not None:
            return staff, False
        if inbound.event is not None and inbound.event.kind == "contact" and inbound.phone:
            return _verify_telegram(session, shop_id, inbound, now)
        return None, False
    if inbound.channel == "whatsapp" and inbound.phone:
        phone = _phone(inbound.phone, av.shop_view(session, shop_id).spec.country)
        staff = session.scalar(select(Staff).where(
            Staff.shop_id == shop_id, Staff.phone == phone, Staff.active.is_(True))) if phone else None  # fmt: skip
        if staff is None:
            return None, False
        # Twilio's 24-hour window is tracked per channel identity: keep the staff member's open,
        # once the chat is locked (the lock order: the chat's row before a customer's).
        conversation(session, shop_id, inbound.channel, inbound.chat_id, now)
        customer_for(session, shop_id, "whatsapp", inbound.chat_id, language=staff.language, name=staff.name,
                     phone=phone, now=now)  # fmt: skip
        first = staff.verified_at is None
        if first:
            # The shop's view knows staff by their Telegram id only, so the shop's row is not
            # touched: a first message "/close 24.12" must take the day's lock before it.
            staff.verified_at = now
            log.info("staff %s (%s) of shop %s recognised on WhatsApp", staff.id, mask_phone(phone), shop_id)
        return staff, first
    return None, False


def _verify_telegram(session: Session, shop_id: int, inbound, now: datetime) -> tuple[Staff | None, bool]:
    """The sender shared their own contact: are they on this shop's staff list?"""
    phone = _phone(inbound.phone, av.shop_view(session, shop_id).spec.country)
    staff = session.scalar(select(Staff).where(
        Staff.shop_id == shop_id, Staff.phone == phone, Staff.active.is_(True))) if phone else None  # fmt: skip
    if staff is None:
        return None, False
    _flag(conversation(session, shop_id, inbound.channel, inbound.chat_id, now), None)  # the chat's lock first
    staff.telegram_user_id, staff.verified_at = int(inbound.user_id), now
    av.touch_shop(session, shop_id)  # every process now knows this Telegram user as staff
    log.info("staff %s (%s) of shop %s verified on Telegram", staff.id, mask_phone(phone), shop_id)
    return staff, True


def _phone(raw: str, country: str) -> str | None:
    """E.164 from a shared contact: Telegram often leaves out the "+" ("254711000001")."""
    found = normalise_phone(raw, country)
    digits = raw.strip().lstrip("+")
    if found is None and digits.isdigit() and len(digits) >= 10:
        found = normalise_phone(f"+{digits}", country)
    return found


# -- everybody else -----------------------------------------------------------------------


def _gatekeeper(session: Session, shop_id: int, inbound, event: Event, now: datetime, inbox_id: int) -> bool:
    spec = av.shop_view(session, shop_id).spec
    who = mask_phone(inbound.phone or (f"tg{inbound.user_id}" if inbound.user_id else inbound.chat_id))
    kind = event.kind
    conv = None
    if kind in ("contact", "foreign_contact", "text", "choice", "start", "unsupported", "location"):
        conv = conversation(session, shop_id, inbound.channel, inbound.chat_id, now)
    flagged = conv is not None and "staff_verify" in (conv.data or {})
    # words, a button or /start: they went on as a customer (a contact later is for M-Pesa)
    verifying = flagged and kind not in ("text", "choice", "start") and _asked_lately(conv.data["staff_verify"], now)
    if flagged and not verifying:
        _flag(conv, None)

    def answer(*texts: Msg, ask_contact: bool = False) -> bool:
        lang = conv.language if conv is not None and conv.language in spec.languages else \
            (inbound.language_hint if inbound.language_hint in spec.languages else spec.languages[0])  # fmt: skip
        if inbound.channel == "whatsapp":  # they wrote to us: WhatsApp's 24-hour window is open for the answer
            customer_for(session, shop_id, "whatsapp", inbound.chat_id, language=lang, name=inbound.name,
                         phone=_phone(inbound.phone or "", spec.country), now=now)  # fmt: skip
        _write(session, shop_id, inbound.channel, inbound.chat_id, lang, [Reply(tuple(texts), (), ask_contact)],
               now, inbox_id, inbound.callback_id)  # fmt: skip
        return True

    def refused(what: str, why: str) -> None:
        log.warning("refused %s from %s on %s (shop %s): %s", what, who, inbound.channel, shop_id, why)

    if kind == "contact" and verifying:  # their own number, but not on the staff list
        refused("staff verification", "the phone is not on the staff list")
        _flag(conv, None)
        return answer(Msg(N_("This number is not on the staff list of {shop}. Ask the owner to add you."),
                          {"shop": spec.name}))  # fmt: skip
    if kind == "foreign_contact" and verifying:
        refused("staff verification", "someone else's contact was shared")
        _flag(conv, now)  # asked again: the half-hour starts again
        return answer(Msg(N_("Please share your own number, using the button below.")), ask_contact=True)
    if verifying and kind in ("unsupported", "location") and not inbound.photo:  # a file, a sticker, a place
        _flag(conv, now)
        return answer(*_unread_while_verifying(event), _share_your_phone(spec.name), ask_contact=True)
    if kind == "choice" and event.choice.startswith("st:"):
        refused(f"staff button {event.choice!r}", "not verified staff of this shop")
        return answer(*_not_staff(spec.name))
    if kind != "text":
        return False
    parsed = staff_words.parse(event.text)
    if parsed is None:
        return False
    if parsed.name == "staff":
        if inbound.channel == "telegram":
            _flag(conv, now)
            return answer(_share_your_phone(spec.name), ask_contact=True)
        refused("staff verification", "the WhatsApp number is not on the staff list")
        return answer(Msg(N_("This number is not on the staff list of {shop}. Ask the owner to add you."),
                          {"shop": spec.name}))  # fmt: skip
    if parsed.slash and parsed.name not in SHARED and not _customer_command(event.text):
        refused(f"staff command /{parsed.name}", "not verified staff of this shop")
        return answer(*_not_staff(spec.name))
    return False


def _share_your_phone(shop: str) -> Msg:
    """What /staff asks on Telegram, and asks again until a contact or words answer it."""
    return Msg(N_("To confirm that you work at {shop}, share your phone number with the button below. "
                  "It must be the number the owner listed for you."), {"shop": shop})  # fmt: skip


def _unread_while_verifying(event: Event) -> list[Msg]:
    """What is said, before the question again, to someone asked for their phone after /staff
    who sends something with nothing to read (a PDF, a voice note, a sticker, a place, an
    edit): of a file, that it was not passed on; of an edit, that it was not read. Answered as a customer, they were greeted, or asked a
    customer's question (the button to share their number gone); their words, as ever, go on
    as a customer's."""
    if event.text == "edited":
        return [Msg(engine.EDITED)]
    return [Msg(engine.FILE_NOT_PASSED_ON_AT_FIRST)] if event.other_file else []


def _customer_command(text: str) -> bool:
    """/start, /menu, /stop...: a customer's own commands, however like a staff one (read
    only before a refusal, not for every message)."""
    return any(understand.looks_like(text, w) for w in CUSTOMER_COMMANDS)


def _not_staff(shop: str) -> list[Msg]:
    return [Msg(N_("That command is only for the staff of {shop}."), {"shop": shop}),
            Msg(N_("If you work here, send /staff to confirm your phone number."))]  # fmt: skip


def _flag(conv: Conversation, asked: datetime | None) -> None:
    """Remember when /staff asked for their phone (None: the question is over)."""
    data = {k: v for k, v in (conv.data or {}).items() if k != "staff_verify"}
    if asked is not None:
        data["staff_verify"] = asked.isoformat()
    conv.data = data


def _asked_lately(asked, now: datetime) -> bool:
    """/staff's question stands as long as a conversation in the middle of something
    does (engine.IDLE_AFTER, from when it was last asked): a file or a sticker days later
    is a customer's again."""
    try:
        return now - datetime.fromisoformat(asked) <= engine.IDLE_AFTER
    except (TypeError, ValueError):  # not a time (a flag from before it kept one)
        return False


# -- the staff dialogue -------------------------------------------------------------------


def converse(session: Session, shop_id: int, staff: Staff, channel: str, chat_id: str, event: Event, now: datetime,
             inbox_id: int | None = None, callback_id: str | None = None, tapped: int | None = None) -> list[Reply]:  # fmt: skip
    """Run one event through the staff engine and write the replies to the outbox."""
    conv = conversation(session, shop_id, channel, chat_id, now)
    ctx = DbStaffContext(session, staff, now)
    data = dict((conv.data or {}).get("staff") or {})
    replies: list[Reply] = []
    try:
        with undoable(session) as writing:  # a failure below undoes everything the step wrote
            for _ in range(MAX_ROUNDS):
                result = staff_engine.step(data, event, ctx)
                data = result.data
                replies += result.replies
                outcome = None
                for command in result.commands:
                    writing()
                    outcome = staff_commands.execute(session, ctx, command, channel, chat_id) or outcome
                if outcome is None:
                    break
                event = Event("outcome", outcome=outcome)
    except Exception:
        log.exception("staff step failed (shop %s, staff %s)", shop_id, staff.id)
        session.refresh(conv)
        session.refresh(staff)
        data = dict((conv.data or {}).get("staff") or {})
        replies = [Reply((Msg(N_("Sorry, something went wrong on our side. Please try again in a moment.")),))]
    if len(replies) > 1:  # one message per message: several could arrive out of order
        replies = [Reply(tuple(t for r in replies for t in r.texts), replies[-1].choices,
                         any(r.ask_contact for r in replies))]  # fmt: skip
    kept = dict(conv.data or {})
    again = kept.pop("show_again", None)  # they wrote, so the window is open: what a template cut short, whole
    save(session, conv, now, data={**kept, "staff": data})
    if again:  # first, so that the answer to their message, with its choices, is the last they read
        notices.show_again(session, again, now)
    lang = ctx.staff.language
    extra = {"edit_message_id": tapped} if tapped else None
    _write(session, shop_id, channel, chat_id, lang, replies, now, inbox_id, callback_id, extra)
    return replies


def _write(session: Session, shop_id: int, channel: str, chat_id: str, lang: str, replies: list[Reply], now: datetime,
           inbox_id: int | None, callback_id: str | None, first_extra: dict | None = None) -> None:  # fmt: skip
    outbox.answer(session, shop_id=shop_id, channel=channel, address=chat_id, language=lang, replies=replies,
                  now=now, reply_key=inbox_id, callback_id=callback_id, first_extra=first_extra)


