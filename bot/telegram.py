"""Telegram: turning Bot API updates into events, and replies into Bot API calls.

Parsing uses python-telegram-bot's own Update class; sending uses its Bot, pointed at
TELEGRAM_API_BASE (a local fake in tests and the demo). Choices become inline buttons
whose callback_data is the choice id (at most 64 bytes); an answered menu is edited in
place rather than followed by a new message; "share my phone" is a contact button.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from collections.abc import Awaitable, Callable

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter

from bot.delivery import Outgoing, PartSent, TryLater, Undeliverable
from bot.inbound import Inbound
from bot.model import Event
from bot.whatsapp import fitting, pieces
from core import files
from core.availability import shop_view
from core.i18n import N_
from core.messages import Msg, Reply, render, render_reply
from core.models import OutboxMessage, Shop
from core.runtime import Runtime

log = logging.getLogger(__name__)
CALLBACK_LIMIT = 64
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


def parse(data: dict) -> Inbound | None:
    """An update as an Inbound message, or None when it is not an update at all."""
    try:
        update = Update.de_json(data, None)
    except Exception:
        return None
    if update is None or update.update_id is None:
        return None
    uid = str(update.update_id)
    if (group := _group_chat(update)) is not None:
        user, tap = update.effective_user, update.callback_query
        return Inbound("telegram", uid, group, None, str(user.id) if user else None,
                       language_hint=user.language_code if user else None, callback_id=tap.id if tap else None,
                       note="a group chat", group=True)  # fmt: skip
    if update.callback_query is not None:
        q = update.callback_query
        chat = q.message.chat.id if q.message else q.from_user.id
        return Inbound("telegram", uid, str(chat), Event.tapped(q.data or ""), str(q.from_user.id),
                       q.from_user.first_name, q.from_user.language_code, callback_id=q.id,
                       tapped_message_id=q.message.message_id if q.message else None)  # fmt: skip
    if update.edited_message is not None:
        m = update.edited_message
        return Inbound("telegram", uid, str(m.chat.id), Event("unsupported", text="edited"),
                       str(m.from_user.id) if m.from_user else None, note="edited message")  # fmt: skip
    m = update.message
    if m is None or m.from_user is None:  # nobody wrote to us (a channel's post...): nobody to answer
        kind = next((k for k, v in data.items() if k != "update_id" and v), "unknown")
        return Inbound("telegram", uid, "", None, note=f"update of kind {kind}")
    base = dict(user_id=str(m.from_user.id), name=m.from_user.first_name, language_hint=m.from_user.language_code)
    chat = str(m.chat.id)
    if m.contact is not None:
        own = m.contact.user_id == m.from_user.id
        event = Event("contact", phone=m.contact.phone_number) if own else Event("foreign_contact")
        return Inbound("telegram", uid, chat, event, phone=m.contact.phone_number if own else None, **base)
    if m.location is not None:
        return Inbound("telegram", uid, chat, Event("location", text=f"{m.location.latitude},{m.location.longitude}"), **base)
    if m.text is not None:
        if m.text.startswith("/start"):
            payload = m.text.removeprefix("/start").strip()
            return Inbound("telegram", uid, chat, Event("start", text=payload), **base)
        return Inbound("telegram", uid, chat, Event.typed(m.text), **base)
    photo, album = _photo(m), m.media_group_id
    if (m.caption or "").strip():  # its words, as WhatsApp's Body under a photo or a file (which is not passed on)
        other_file = photo is None and any(x is not None for x in (m.document, m.video, m.audio, m.voice, m.animation))
        return Inbound("telegram", uid, chat, Event("text", text=m.caption, other_file=other_file), photo=photo,
                       album=album, **base)  # fmt: skip
    return Inbound("telegram", uid, chat, None, note="a message without text (photo, sticker, voice...)", photo=photo,
                   album=album, **base)  # fmt: skip


def _photo(m) -> str | None:
    """The photo a message carries: its largest size, or an image sent as a file (whole,
    uncompressed), which is a photo all the same."""
    if m.photo:
        return f"telegram:{m.photo[-1].file_id}"
    if m.document is not None and (m.document.mime_type or "").startswith("image/"):
        return f"telegram:{m.document.file_id}"
    return None


def _group_chat(update: Update) -> str | None:
    """The id of the group an update comes from; None for a private chat (or a channel's
    post, which is ignored: an answer there would go to every subscriber). A chat is one
    customer, so a group would make its members one customer too."""
    chat = update.effective_chat
    return str(chat.id) if chat is not None and chat.type in ("group", "supergroup") else None


# -- rendering ----------------------------------------------------------------------------


def markup(reply: Reply, lang: str):
    """Inline buttons for the choices in their order (two short ones side by side, a long
    one alone), or a contact button."""
    if reply.ask_contact:
        label = render(Msg(N_("Share my phone number")), lang)
        return ReplyKeyboardMarkup([[KeyboardButton(label, request_contact=True)]], one_time_keyboard=True,
                                   resize_keyboard=True)  # fmt: skip
    _, choices = render_reply(reply, lang)
    if not choices:
        return None
    rows, row = [], []
    for cid, label in choices:
        button = InlineKeyboardButton(label[:64], callback_data=cid.encode()[:CALLBACK_LIMIT].decode(errors="ignore"))
        if len(label) > 18 or len(choices) > 8:
            rows += [row, [button]] if row else [[button]]
            row = []
            continue
        row.append(button)
        if len(row) == 2:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    return InlineKeyboardMarkup(rows)


# -- sending ------------------------------------------------------------------------------


def bot_for(runtime: Runtime, shop: Shop, session) -> Bot:
    """The shop's Bot, pointed at TELEGRAM_API_BASE; one per thread, kept warm (its HTTP
    connections and event loop are reused from one message to the next)."""
    token_env = shop_view(session, shop.id).spec.providers["telegram"]["token_env"]
    token = runtime.settings.secret(token_env, f"the Telegram bot of {shop.slug}")
    base = runtime.settings.telegram_api_base
    _loop()  # a Bot's HTTP client belongs to this thread's loop
    bots = _LOCAL.__dict__.setdefault("bots", {})
    if (token, base) not in bots:
        bot = Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")
        try:
            run(bot.initialize())  # connects (getMe) now, not in the first message's turn
        except InvalidToken:  # its message quotes the token, and would reach logs and last_error
            raise InvalidToken(f"Telegram rejected the token in {token_env} (the bot of {shop.slug})") from None
        bots[(token, base)] = bot
    return bots[(token, base)]


_LOCAL = threading.local()


def run(coroutine):
    """Run a Bot API call on this thread's event loop, where its warm Bot lives. If it is
    interrupted (a job's timeout), the call is cancelled, not left to finish unseen
    during the next job's call."""
    loop = _loop()
    task = loop.create_task(coroutine)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        task.cancel()
        raise


def _loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_LOCAL, "loop", None)
    if loop is None or loop.is_closed():
        loop = _LOCAL.loop = asyncio.new_event_loop()
        _LOCAL.bots = {}  # clients belong to their loop
    return loop


def prepare(runtime: Runtime, row: OutboxMessage, shop: Shop, session) -> Outgoing:
    """One outbox row as a Bot API call, rendered and ready to go the moment its turn comes:
    rendering under load takes milliseconds that Telegram would see as two messages
    bunched together. Answering a tap is not a message, so it waits for no turn."""
    bot = bot_for(runtime, shop, session)
    attachment = None
    if row.kind in ("document", "photo"):
        attachment = files.read(session, row.body, runtime.settings.var_dir)
        if attachment is None:
            raise Undeliverable("the file of this message is gone")
    call = _prepared(bot, row, attachment)
    pace = None if row.kind == "callback_answer" else (f"tg{bot.token.split(':')[0]}", row.address)
    return Outgoing(pace, lambda row, session: run(_sent(call(row))))


def _prepared(bot: Bot, row: OutboxMessage, attachment: tuple[bytes, str] | None = None) -> Callable[[OutboxMessage], Awaitable[str | None]]:
    """The Bot API call for this row, rendered; of the locked row it is given later it
    reads and writes only whether its file went already (`file_sent`)."""
    body, kind = row.body, row.kind
    chat = int(row.address) if row.address.lstrip("-").isdigit() else row.address
    if kind == "callback_answer":
        async def answer(_row: OutboxMessage) -> None:
            await bot.answer_callback_query(body["callback_id"])

        return answer
    reply = Reply.from_json(body)
    text, _ = render_reply(reply, row.language)
    keyboard = markup(reply, row.language)

    filed = kind in ("document", "photo")
    caption, rest = captioned(text) if filed else ("", text)  # worked out before the chat's turn comes
    parts = pieces(rest, TEXT_LIMIT, _utf16_len)

    async def call(locked: OutboxMessage) -> str:
        if filed and not locked.body.get("file_sent"):
            data, name = attachment
            send = bot.send_document if kind == "document" else bot.send_photo
            msg = await send(chat, data, caption=caption or None, filename=name, reply_markup=None if rest else keyboard)
            if not rest:
                return str(msg.message_id)
            locked.body = locked.body | {"file_sent": str(msg.message_id)}  # never sent twice
            raise PartSent()
        sent = locked.body.get("parts_sent", 0)
        if sent < len(parts) - 1:  # a long text in parts, each on the chat's own turn; a retry goes on after those sent
            await bot.send_message(chat, parts[sent])
            locked.body = locked.body | {"parts_sent": sent + 1}
            raise PartSent()
        edit = body.get("edit_message_id")
        if edit and not filed and len(parts) == 1 and not reply.ask_contact:
            try:
                msg = await bot.edit_message_text(text, chat_id=chat, message_id=edit, reply_markup=keyboard)
                return str(getattr(msg, "message_id", edit))
            except BadRequest as exc:  # too old to edit, or unchanged: send it new instead
                log.info("edit of message %s refused (%s); sending a new one", edit, exc.message)
        msg = await bot.send_message(chat, parts[-1], reply_markup=keyboard or ReplyKeyboardRemove())  # the choices last
        return str(msg.message_id)

    return call


CAPTION_LIMIT = 1024  # Telegram counts a caption in UTF-16 code units (an emoji is two)
TEXT_LIMIT = 4096  # a message, counted as a caption is


def captioned(text: str) -> tuple[str, str]:
    """A file's words as its caption, and the rest that does not fit there, to follow as a
    message: a long message from a customer reaches the owner whole. Cut between words."""
    if _utf16_len(text) <= CAPTION_LIMIT:
        return text, ""
    fits = fitting(text, CAPTION_LIMIT - 1, _utf16_len)  # room for the "…" that says the words go on
    space = text.rfind(" ", 0, fits + 1)
    cut = space if space > fits // 2 else fits
    return text[:cut].rstrip() + "…", "…" + text[cut:].lstrip()


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def _sent(call: Awaitable[str | None]) -> str | None:
    try:
        return await call
    except (Forbidden, BadRequest) as exc:  # blocked by the user, a chat gone: asking again will not help
        raise Undeliverable(f"Telegram refused it: {exc.message}") from exc
    except RetryAfter as exc:
        with warnings.catch_warnings():  # PTB 22 warns that retry_after will become a timedelta
            warnings.simplefilter("ignore")
            retry = exc.retry_after
        raise TryLater(retry.total_seconds() if hasattr(retry, "total_seconds") else float(retry)) from exc

