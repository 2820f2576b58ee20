"""Telegram: turning Bot API updates into events, and replies into Bot API calls.

Parsing uses python-telegram-bot's own Update class, but for typed words and button taps
in a private chat, read straight from the JSON (`plain_update`, held to the same answers
by tests); sending uses its Bot, pointed at
TELEGRAM_API_BASE (a local fake in tests and the demo). Choices become inline buttons
whose callback_data is the choice id (at most 64 bytes); an answered menu is edited in
place rather than followed by a new message; "share my phone" is a contact button.
"""

from __future__ import annotations

import asyncio
import logging
import threading
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
    return plain_update(data) or parsed_by_ptb(data)


def plain_update(data: dict) -> Inbound | None:
    """Words typed or a button tapped in a private chat, read straight from the update's
    JSON: nearly every update is one of the two, and building python-telegram-bot's
    objects for them cost 80 to 115 µs, a few per cent of a web worker's time per update
    (bench/webhooks.py). None for anything else, or anything not exactly as the Bot API
    sends these two: `parsed_by_ptb` then has the last word, and the two give the same
    answer wherever this one gives one (tests/unit/test_telegram_plain_updates.py)."""
    if not _is_int(data.get("update_id")):
        return None
    keys = data.keys()
    if keys == _MESSAGE_UPDATE:
        return _typed(str(data["update_id"]), data["message"])
    if keys == _TAP_UPDATE:
        return _tapped(str(data["update_id"]), data["callback_query"])
    return None


_MESSAGE_UPDATE, _TAP_UPDATE = {"update_id", "message"}, {"update_id", "callback_query"}
_TYPED_KEYS = {"message_id", "from", "chat", "date", "text", "entities"}
_TAPPED_ON_KEYS = _TYPED_KEYS | {"reply_markup", "edit_date"}
_ENTITY_KEYS = {"offset", "length", "type", "url", "language", "custom_emoji_id"}
# The Bot API's fields of a user and of a message's chat: one it adds later goes to python-telegram-bot.
_USER_KEYS = {"id", "is_bot", "first_name", "last_name", "username", "language_code", "is_premium",
              "added_to_attachment_menu", "can_join_groups", "can_read_all_group_messages", "supports_inline_queries",
              "can_connect_to_business", "has_main_web_app"}  # fmt: skip
_CHAT_KEYS = {"id", "type", "title", "username", "first_name", "last_name", "is_forum", "is_direct_messages"}


def _typed(uid: str, m) -> Inbound | None:
    if not (_is_message(m, _TYPED_KEYS) and isinstance(m.get("text"), str) and _is_user(m.get("from"))):
        return None
    user, text = m["from"], m["text"]
    return Inbound("telegram", uid, str(m["chat"]["id"]), _text_event(text), str(user["id"]), user["first_name"],
                   user.get("language_code"))  # fmt: skip


def _text_event(text: str) -> Event:
    """Typed words as the dialogue's event; /start with what a deep link put after it."""
    return Event("start", text=text.removeprefix("/start").strip()) if text.startswith("/start") else Event.typed(text)


def _tapped(uid: str, q) -> Inbound | None:
    if not (isinstance(q, dict) and q.keys() <= {"id", "from", "chat_instance", "data", "message"}
            and isinstance(q.get("id"), str) and isinstance(q.get("chat_instance"), str)
            and isinstance(q.get("data", ""), str) and _is_user(q.get("from"))):  # fmt: skip
        return None
    m = q.get("message")
    if not (_is_message(m, _TAPPED_ON_KEYS) and ("from" not in m or _is_user(m["from"]))
            and isinstance(m.get("text", ""), str) and _is_time(m.get("edit_date", 0))
            and _is_keyboard(m.get("reply_markup", {"inline_keyboard": []}))):  # fmt: skip
        return None
    user = q["from"]
    return Inbound("telegram", uid, str(m["chat"]["id"]), Event.tapped(q.get("data") or ""), str(user["id"]),
                   user["first_name"], user.get("language_code"), callback_id=q["id"],
                   tapped_message_id=m["message_id"])  # fmt: skip


def _is_message(m, allowed: set[str]) -> bool:
    """A message of a private chat with only `allowed` keys, each of the type the Bot API gives it."""
    chat = m.get("chat") if isinstance(m, dict) else None
    return (isinstance(chat, dict) and m.keys() <= allowed and chat.keys() <= _CHAT_KEYS
            and _is_int(m.get("message_id")) and _is_time(m.get("date"))
            and _is_int(chat.get("id")) and chat.get("type") == "private"
            and all(isinstance(e, dict) and e.keys() <= _ENTITY_KEYS and _is_int(e.get("offset"))
                    and _is_int(e.get("length")) and isinstance(e.get("type"), str)
                    for e in _list(m.get("entities", []))))  # fmt: skip


def _is_user(user) -> bool:
    return (isinstance(user, dict) and user.keys() <= _USER_KEYS and _is_int(user.get("id"))
            and isinstance(user.get("is_bot"), bool)
            and isinstance(user.get("first_name"), str) and isinstance(user.get("language_code", ""), str))  # fmt: skip


def _is_keyboard(markup) -> bool:
    return (isinstance(markup, dict) and markup.keys() == {"inline_keyboard"}
            and all(isinstance(b, dict) and b.keys() <= {"text", "callback_data"} and isinstance(b.get("text"), str)
                    and isinstance(b.get("callback_data", ""), str)
                    for row in _list(markup["inline_keyboard"]) for b in _list(row)))  # fmt: skip


def _list(value) -> list:
    """The value if it is a list, else a list that fails every check (one None)."""
    return value if isinstance(value, list) else [None]


def _is_time(value) -> bool:
    """A Unix time python-telegram-bot can make a datetime of (any later, it refuses the update)."""
    return _is_int(value) and 0 <= value < 2**32


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parsed_by_ptb(data: dict) -> Inbound | None:
    """`parse` for any update, through python-telegram-bot's Update; None for one whose
    fields are not of the types the Bot API gives them, which python-telegram-bot does not
    check (a text that is a list, a tap without its sender): refused, not a crash."""
    try:
        return _read_by_ptb(data)
    except (AttributeError, TypeError, ValueError) as exc:  # logged: a bug of ours would show here too
        log.warning("telegram update %r refused: %s: %s", data.get("update_id"), type(exc).__name__, exc)
        return None


def _read_by_ptb(data: dict) -> Inbound | None:
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
        return Inbound("telegram", uid, chat, _text_event(m.text), **base)
    photo, album = _photo(m), m.media_group_id
    files = (m.document, m.video, m.video_note, m.audio, m.voice, m.animation)  # a round video (video_note) too
    other_file = photo is None and any(x is not None for x in files)
    if (m.caption or "").strip():  # its words, as WhatsApp's Body under a photo or a file (which is not passed on)
        return Inbound("telegram", uid, chat, Event("text", text=m.caption, other_file=other_file), photo=photo,
                       album=album, **base)  # fmt: skip
    if other_file:  # a PDF alone, no words: nothing to read, and it is said not passed on (a first contact too)
        return Inbound("telegram", uid, chat, Event("unsupported", other_file=True), note="a file only", **base)
    return Inbound("telegram", uid, chat, None, note="a message without text (photo, sticker...)", photo=photo,
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
    except RetryAfter as exc:  # seconds in PTB 22 (which warns, once, that it will be a timedelta), or a timedelta
        retry = exc.retry_after
        raise TryLater(retry.total_seconds() if hasattr(retry, "total_seconds") else float(retry)) from exc

