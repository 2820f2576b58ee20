"""Local fake of the Telegram Bot API (``https://api.telegram.org/bot<token>/<method>``).

Imitates the Bot API closely enough that python-telegram-bot 22.x works against it unchanged::

    from telegram import Bot
    from pitstop.fakes.telegram import FakeTelegram

    with FakeTelegram() as fake:
        bot = Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)
        # == Bot(token, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot")
        # ApplicationBuilder().token(t).base_url(fake.base_url).base_file_url(fake.base_file_url)

Follows PROTOCOLS.md section 4 ("Telegram Bot API and python-telegram-bot v22"): 4.1 (webhook
facts: secret_token charset/length, max_connections, 24 h update retention, retry on non-2xx,
rate limits and the 429 ``parameters.retry_after`` shape that PTB raises as ``RetryAfter``),
4.5 (PTB's own limiter only limits groups; the per-chat 1 msg/s is up to us) and 4.6 (PTB
posts form-encoded parameters; answers are ``{"ok": true, "result": ...}``).

Methods: getMe, sendMessage, sendPhoto, sendDocument (multipart, file_id or URL),
editMessageText, editMessageReplyMarkup, answerCallbackQuery, getFile (+ file download under
``/file/bot<token>/<file_path>``), setWebhook, deleteWebhook, getWebhookInfo, getUpdates
(long poll capped by ``max_long_poll`` seconds), plus deleteMessage / sendChatAction /
setMyCommands / getChat answered minimally. Unknown methods answer 404 "Not Found" like Telegram.

Behaviour worth knowing:

* Any token is accepted unless ``tokens=`` restricts them (others get 401 "Unauthorized"). State
  (message ids, webhook, update queue) is kept per token; the bot's id is the numeric token prefix.
* ``message_id`` increases per chat and never goes below ids seen in queued/pushed updates.
* ``Message.reply_markup`` is echoed only for inline keyboards (as Telegram does); the full
  ``reply_markup`` that was sent (reply keyboards, remove, force reply) is in ``sent_messages()``.
* Editing a message the fake knows with identical text and markup answers 400 "Bad Request:
  message is not modified: ..." (a real Telegram behaviour bots hit on double taps). Editing an
  unknown message is accepted unless ``strict_edits=True`` ("message to edit not found").
* Text > 4096, caption > 1024, empty text, callback_data > 64 bytes, answerCallbackQuery text >
  200 and bad ``secret_token`` answer 400 with Telegram's descriptions.
* getUpdates while a webhook is set answers 409 Conflict (as Telegram).

Misbehaviour: ``fail_next(n, status=429, retry_after=3)`` (also any 4xx/5xx with a
``description``), ``block_chat(chat_id)`` (403 "Forbidden: bot was blocked by the user"), and
``enable_rate_limit()``: sliding windows of 30 messages/s per bot, 1 message/s per private chat
and 20 messages/min per group (all configurable), answering 429 with ``retry_after``;
``rate_limited_total`` counts the 429s the limiter sent, ``rate_limited_by_chat`` those for
a chat's own limit and ``rate_limited_by_bot`` those for the bot's 30 a second, and
``count_429`` counts all 429s (limiter + ``fail_next``).

Update builders (module functions and same-named methods on the fake that use its bot identity
and the messages it sent): ``update_text``, ``update_callback``, ``update_contact``. They produce
exactly the shape of ``/work/shared/fixtures/telegram/*.json`` and parse with
``telegram.Update.de_json``. Feed them with ``queue_update`` (served by getUpdates) or
``push_update`` (POSTed to the webhook set with setWebhook, with the
``X-Telegram-Bot-Api-Secret-Token`` header, like Telegram does). A webhook that answers
with a Bot API call (``{"method": "answerCallbackQuery", ...}``) has it carried out, as
Telegram does: ``push_update`` does so itself, and ``webhook_reply(body)`` does it for a
response the test got some other way (a Flask test client).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import requests as _requests
from werkzeug.wrappers import Request, Response

from .server import Failure, FakeServer, RecordedRequest, json_response

__all__ = [
    "DEFAULT_BOT_ID",
    "FakeTelegram",
    "update_callback",
    "update_contact",
    "update_text",
]

DEFAULT_BOT_ID = 7000000001
DEFAULT_BOT_FIRST_NAME = "Booking Bot"
DEFAULT_BOT_USERNAME = "example_booking_bot"

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER = 200
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_JSON_PARAMS = {"reply_markup", "entities", "caption_entities", "allowed_updates",
                "link_preview_options", "reply_parameters", "commands", "scope"}
SEND_METHODS = {"sendmessage", "sendphoto", "senddocument", "sendvideo", "sendaudio",
                "sendvoice", "sendanimation", "sendsticker", "sendlocation", "sendcontact",
                "sendmediagroup", "copymessage", "forwardmessage", "sendpoll", "sendvenue"}
EDIT_METHODS = {"editmessagetext", "editmessagereplymarkup", "editmessagecaption"}
UPDATE_TYPES = ("message", "edited_message", "channel_post", "edited_channel_post",
                "business_connection", "business_message", "edited_business_message",
                "deleted_business_messages", "message_reaction", "message_reaction_count",
                "inline_query", "chosen_inline_result", "callback_query", "shipping_query",
                "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer",
                "my_chat_member", "chat_member", "chat_join_request", "chat_boost",
                "removed_chat_boost")
_DEFAULT_EXCLUDED_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}

_message_ids = itertools.count(1)


class TelegramApiError(Exception):
    """Raised inside the fake to answer ``{"ok": false, ...}``."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


# --------------------------------------------------------------------------- builders
def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _user(user_id: int, first_name: str, last_name: str | None, username: str | None,
          language_code: str | None) -> dict:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name is not None:
        user["last_name"] = last_name
    if username is not None:
        user["username"] = username
    if language_code is not None:
        user["language_code"] = language_code
    return user


def _private_chat(user_id: int, first_name: str, last_name: str | None,
                  username: str | None) -> dict:
    chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": first_name}
    if last_name is not None:
        chat["last_name"] = last_name
    if username is not None:
        chat["username"] = username
    return chat


def _bot_user(bot_id: int, first_name: str, username: str) -> dict:
    return {"id": bot_id, "is_bot": True, "first_name": first_name, "username": username}


def _command_entities(text: str) -> list[dict] | None:
    if not text.startswith("/"):
        return None
    command = text.split(maxsplit=1)[0] if text.strip() else text
    return [{"offset": 0, "length": _utf16_len(command), "type": "bot_command"}]


def chat_instance_for(user_id: int, bot_id: int = DEFAULT_BOT_ID) -> str:
    """A stable, real-looking ``chat_instance`` (a signed 64-bit integer as a string)."""
    digest = hashlib.sha256(f"{bot_id}:{user_id}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big", signed=True))


def update_text(update_id: int, user_id: int, text: str, language_code: str | None = "en",
                first_name: str = "Test Firstname", last_name: str | None = None,
                username: str | None = None, message_id: int | None = None,
                date: int | None = None) -> dict:
    """A private-chat text message update (``/commands`` get a ``bot_command`` entity).

    Shape of fixtures/telegram/update_message_start.json and update_message_start_deeplink.json.
    """
    message: dict[str, Any] = {
        "message_id": next(_message_ids) if message_id is None else message_id,
        "from": _user(user_id, first_name, last_name, username, language_code),
        "chat": _private_chat(user_id, first_name, last_name, username),
        "date": int(time.time()) if date is None else date,
        "text": text,
    }
    entities = _command_entities(text)
    if entities:
        message["entities"] = entities
    return {"update_id": update_id, "message": message}


def update_callback(update_id: int, user_id: int, data: str, message_id: int,
                    message_text: str = "Choose:", reply_markup: dict | None = None,
                    callback_id: str | None = None, chat_instance: str | None = None,
                    language_code: str | None = "en", first_name: str = "Test Firstname",
                    last_name: str | None = None, username: str | None = None,
                    message_date: int | None = None, bot_id: int = DEFAULT_BOT_ID,
                    bot_first_name: str = DEFAULT_BOT_FIRST_NAME,
                    bot_username: str = DEFAULT_BOT_USERNAME) -> dict:
    """A callback_query update: the user tapped an inline button on the bot's message.

    Shape of fixtures/telegram/update_callback_query.json. ``reply_markup`` defaults to a
    one-button keyboard carrying ``data`` (the tapped button must exist on the message).
    """
    if reply_markup is None:
        reply_markup = {"inline_keyboard": [[{"text": data, "callback_data": data}]]}
    message = {
        "message_id": message_id,
        "from": _bot_user(bot_id, bot_first_name, bot_username),
        "chat": _private_chat(user_id, first_name, last_name, username),
        "date": int(time.time()) - 1 if message_date is None else message_date,
        "text": message_text,
        "reply_markup": reply_markup,
    }
    return {
        "update_id": update_id,
        "callback_query": {
            "id": callback_id or str(random.randrange(10**17, 10**19)),
            "from": _user(user_id, first_name, last_name, username, language_code),
            "chat_instance": chat_instance or chat_instance_for(user_id, bot_id),
            "data": data,
            "message": message,
        },
    }


_SAME = object()


def update_contact(update_id: int, user_id: int, phone: str, contact_user_id: Any = _SAME,
                   language_code: str | None = "en", first_name: str = "Test Firstname",
                   last_name: str | None = None, username: str | None = None,
                   contact_first_name: str | None = None,
                   contact_last_name: str | None = None,
                   message_id: int | None = None, date: int | None = None,
                   reply_to_message: dict | None = None) -> dict:
    """A message update sharing a contact (ReplyKeyboard button with ``request_contact``).

    ``contact_user_id`` defaults to ``user_id`` (the user shared their own number); pass another
    id for a forwarded card or ``None`` to omit it. Shape of update_message_contact.json.
    ``reply_to_message`` is included when given (a Message dict, e.g. the bot's prompt).
    """
    contact: dict[str, Any] = {
        "phone_number": phone,
        "first_name": contact_first_name if contact_first_name is not None else first_name,
    }
    if contact_last_name is not None:
        contact["last_name"] = contact_last_name
    cuid = user_id if contact_user_id is _SAME else contact_user_id
    if cuid is not None:
        contact["user_id"] = cuid
    message: dict[str, Any] = {
        "message_id": next(_message_ids) if message_id is None else message_id,
        "from": _user(user_id, first_name, last_name, username, language_code),
        "chat": _private_chat(user_id, first_name, last_name, username),
        "date": int(time.time()) if date is None else date,
    }
    if reply_to_message is not None:
        message["reply_to_message"] = reply_to_message
    message["contact"] = contact
    return {"update_id": update_id, "message": message}


# --------------------------------------------------------------------------- state
class _Window:
    """Sliding window: at most ``limit`` events in any ``period`` seconds."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.events: deque[float] = deque()

    def wait_needed(self, now: float) -> float:
        while self.events and now - self.events[0] >= self.period:
            self.events.popleft()
        if len(self.events) < self.limit:
            return 0.0
        return self.events[0] + self.period - now

    def take(self, now: float) -> None:
        self.events.append(now)


@dataclass
class RateLimit:
    overall_per_second: int = 30
    per_chat_per_second: int = 1
    group_per_minute: int = 20
    count_edits: bool = False
    overall: _Window | None = None
    chats: dict[Any, _Window] = field(default_factory=dict)


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_name: str | None
    mime_type: str | None


@dataclass
class _BotState:
    token: str
    user: dict
    next_ids: dict[Any, int] = field(default_factory=dict)
    messages: dict[tuple[Any, int], dict] = field(default_factory=dict)
    updates: list[dict] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    allowed_updates: list[str] | None = None
    commands: list = field(default_factory=list)


class FakeTelegram(FakeServer):
    """Fake Bot API server. See the module docstring.

    :param token: the default bot token (generated if omitted); builders/queues use it when no
        token is given. Any other well-formed token is accepted too unless ``tokens`` is given.
    :param tokens: if given, the only tokens accepted (401 "Unauthorized" otherwise).
    :param strict_edits: answer 400 "message to edit not found" for unknown messages.
    :param max_long_poll: cap, in seconds, on how long getUpdates waits for ``timeout``.
    :param rate_limit: ``True`` to enable the limiter with defaults (see ``enable_rate_limit``).
    """

    name = "fake-telegram"

    def __init__(self, token: str | None = None, tokens: list[str] | None = None,
                 bot_first_name: str = DEFAULT_BOT_FIRST_NAME,
                 bot_username: str = DEFAULT_BOT_USERNAME, strict_edits: bool = False,
                 max_long_poll: float = 1.0, rate_limit: bool = False,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.token = token or f"{DEFAULT_BOT_ID}:AAFakeTokenForLocalTests_{random.randrange(10**8)}"
        self.allowed_tokens = set(tokens) if tokens else None
        if self.allowed_tokens is not None:
            self.allowed_tokens.add(self.token)
        self.bot_first_name = bot_first_name
        self.bot_username = bot_username
        self.strict_edits = strict_edits
        self.max_long_poll = max_long_poll
        self._bots: dict[str, _BotState] = {}
        self._files: dict[str, _File] = {}
        self._chats: dict[Any, dict] = {}
        self._blocked: set[Any] = set()
        self._sent: list[dict] = []
        self._callback_answers: list[dict] = []
        self._webhook_deliveries: list[dict] = []
        self._file_counter = itertools.count(1)
        self.rate: RateLimit | None = None
        self.rate_limited_total = 0
        self.rate_limited_by_chat: Counter = Counter()
        self.rate_limited_by_bot = 0
        if rate_limit:
            self.enable_rate_limit()

    # ------------------------------------------------------------------ config
    @property
    def base_url(self) -> str:
        """Pass as ``Bot(..., base_url=...)``; PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def bot_id(self) -> int:
        return self._bot(self.token).user["id"]

    def enable_rate_limit(self, overall_per_second: int = 30, per_chat_per_second: int = 1,
                          group_per_minute: int = 20, count_edits: bool = False) -> None:
        """Turn on Telegram-like flood limits, as sliding windows: at most
        ``overall_per_second`` messages in any second for the bot, ``per_chat_per_second`` in
        any second per private chat, ``group_per_minute`` in any minute per group/channel.
        Exceeding one answers 429 with ``retry_after`` (whole seconds until a slot frees up).
        Sends count (send*/copy/forward); edits only with ``count_edits=True``."""
        with self._lock:
            self.rate = RateLimit(overall_per_second, per_chat_per_second, group_per_minute,
                                  count_edits, overall=_Window(overall_per_second, 1.0))

    def disable_rate_limit(self) -> None:
        with self._lock:
            self.rate = None

    def fail_next(self, n: int = 1, status: int = 429, retry_after: int | None = 3,
                  description: str | None = None, methods: list[str] | None = None,
                  **options: Any) -> None:
        """Answer the next ``n`` API calls (optionally only ``methods``) with an error.

        429 → ``{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after
        N", "parameters": {"retry_after": N}}``; other statuses use ``description`` or the
        usual Telegram text ("Internal Server Error", "Bad Gateway", ...).
        """
        wanted = {m.lower() for m in methods} if methods else None

        def match(rec: RecordedRequest) -> bool:
            method = rec.meta.get("api_method")
            if method is None:
                return False
            return wanted is None or method.lower() in wanted

        super().fail_next(n, status=status, match=match, retry_after=retry_after,
                          description=description, **options)

    def block_chat(self, chat_id: Any) -> None:
        """Sends to this chat answer 403 "Forbidden: bot was blocked by the user"."""
        with self._lock:
            self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: Any) -> None:
        with self._lock:
            self._blocked.discard(chat_id)

    @property
    def count_429(self) -> int:
        return self.rate_limited_total + self.failures_served.get(429, 0)

    # ------------------------------------------------------------------ accessors
    def sent_messages(self, chat_id: Any = None, token: str | None = None) -> list[dict]:
        """Successful sendMessage/sendPhoto/sendDocument/edit* calls, in order.

        Each item: ``method``, ``kind`` ("send"/"edit"), ``chat_id``, ``message_id``, ``text``
        (or the caption), ``caption``, ``parse_mode``, ``reply_markup`` (as sent, parsed),
        ``keyboard`` (rows of buttons from inline_keyboard/keyboard, or None), ``file`` (for
        photo/document: file_id, file_name, mime_type, size, content) and ``params`` (raw).
        """
        with self._lock:
            out = list(self._sent)
        if token is not None:
            out = [m for m in out if m["token"] == token]
        if chat_id is not None:
            out = [m for m in out if m["chat_id"] == chat_id or str(m["chat_id"]) == str(chat_id)]
        return out

    def last_message(self, chat_id: Any = None) -> dict | None:
        sent = self.sent_messages(chat_id)
        return sent[-1] if sent else None

    def answered_callbacks(self) -> list[dict]:
        with self._lock:
            return list(self._callback_answers)

    def api_calls(self, method: str | None = None) -> list[RecordedRequest]:
        """Recorded Bot API calls (any outcome), optionally for one method (case-insensitive)."""
        calls = [r for r in self.requests() if r.meta.get("api_method")]
        if method is not None:
            calls = [r for r in calls if r.meta["api_method"].lower() == method.lower()]
        return calls

    def webhook_info(self, token: str | None = None) -> dict:
        with self._lock:
            return dict(self._bot(token or self.token).webhook)

    def pending_updates(self, token: str | None = None) -> list[dict]:
        with self._lock:
            return list(self._bot(token or self.token).updates)

    def webhook_deliveries(self) -> list[dict]:
        with self._lock:
            return list(self._webhook_deliveries)

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            return self._files[file_id].content

    # ------------------------------------------------------------------ updates in
    def _note_update(self, state: _BotState, update: dict) -> None:
        """Remember chats and message ids seen in an inbound update."""
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            msg = update.get(key)
            if msg:
                self._note_message(state, msg)
        cq = update.get("callback_query")
        if cq and cq.get("message"):
            self._note_message(state, cq["message"])

    def _note_message(self, state: _BotState, msg: dict) -> None:
        chat = msg.get("chat") or {}
        if "id" in chat:
            self._chats.setdefault(chat["id"], chat)
            mid = msg.get("message_id", 0)
            state.next_ids[chat["id"]] = max(state.next_ids.get(chat["id"], 1), mid + 1)

    def queue_update(self, update: Any, token: str | None = None) -> dict:
        """Queue an update (dict or ``telegram.Update``) for getUpdates. Returns the dict."""
        if hasattr(update, "to_dict"):
            update = update.to_dict()
        update = {k: v for k, v in update.items() if not k.startswith("_")}
        with self._cond:
            state = self._bot(token or self.token)
            self._note_update(state, update)
            state.updates.append(update)
            state.updates.sort(key=lambda u: u["update_id"])
            self._cond.notify_all()
        return update

    def push_update(self, update: Any, token: str | None = None, url: str | None = None,
                    secret_token: str | None = None, timeout: float = 10) -> _requests.Response:
        """POST an update to the webhook (set via setWebhook, or ``url``) like Telegram does.

        Sends ``Content-Type: application/json`` and, when a secret is set (or given),
        ``X-Telegram-Bot-Api-Secret-Token``. Returns the ``requests.Response``.
        """
        if hasattr(update, "to_dict"):
            update = update.to_dict()
        update = {k: v for k, v in update.items() if not k.startswith("_")}
        with self._lock:
            state = self._bot(token or self.token)
            self._note_update(state, update)
            target = url or state.webhook.get("url")
            secret = secret_token if secret_token is not None else state.webhook.get("secret_token")
        if not target:
            raise RuntimeError("no webhook set: call setWebhook first or pass url=")
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        resp = _requests.post(target, data=json.dumps(update).encode(), headers=headers,
                              timeout=timeout)
        with self._lock:
            self._webhook_deliveries.append({"url": target, "update": update,
                                             "headers": headers, "status": resp.status_code})
        if resp.status_code == 200 and resp.headers.get("Content-Type", "").startswith("application/json"):
            self.webhook_reply(resp.json(), token)
        return resp

    def webhook_reply(self, body: Any, token: str | None = None) -> None:
        """Carry out the Bot API call a webhook gave in its response, as Telegram does:
        like a request of the bot's own, whose result nobody sees. Any other body is
        just an acknowledgement."""
        if not isinstance(body, dict) or not isinstance(body.get("method"), str):
            return
        params = {k: v for k, v in body.items() if k != "method"}
        try:  # its outcome reaches nobody (fail_next and the rate limit apply, as to any call)
            _requests.post(f"{self.url}/bot{token or self.token}/{body['method']}", json=params, timeout=10)
        except _requests.RequestException:
            pass

    def update_text(self, update_id: int, user_id: int, text: str, **kw: Any) -> dict:
        """Like the module function; ``message_id`` defaults to the chat's next id."""
        with self._lock:
            state = self._bot(self.token)
            kw.setdefault("message_id", state.next_ids.get(user_id, 1))
            upd = update_text(update_id, user_id, text, **kw)
            self._note_update(state, upd)
        return upd

    def update_photo(self, update_id: int, user_id: int, content: bytes = b"\xff\xd8\xff\xe0a-photo",
                     caption: str | None = None, album: str | None = None, file_id: str | None = None,
                     **kw: Any) -> dict:  # fmt: skip
        """A photo from the user's phone, as the Bot API posts it: ``content`` stored here as
        if uploaded (or ``file_id``, one stored before or none at all), with words under it
        (``caption``); one photo of an album is a message of its own carrying the album's
        ``media_group_id``."""
        if file_id is None:
            file_id = self._store_file(content, "photo", None, "image/jpeg").file_id
        upd = self.update_text(update_id, user_id, "x", **kw)
        message = upd["message"]
        del message["text"]
        message["photo"] = [{"file_id": file_id, "file_unique_id": file_id[-8:], "width": 90, "height": 90}]
        if caption is not None:
            message["caption"] = caption
        if album is not None:
            message["media_group_id"] = album
        return upd

    def update_contact(self, update_id: int, user_id: int, phone: str,
                       contact_user_id: Any = _SAME, **kw: Any) -> dict:
        """Like the module function; ``message_id`` defaults to the chat's next id."""
        with self._lock:
            state = self._bot(self.token)
            kw.setdefault("message_id", state.next_ids.get(user_id, 1))
            upd = update_contact(update_id, user_id, phone, contact_user_id, **kw)
            self._note_update(state, upd)
        return upd

    def update_callback(self, update_id: int, user_id: int, data: str, message_id: int,
                        **kw: Any) -> dict:
        """Like the module function, but uses the message the fake actually sent (text, markup,
        date) when it knows ``(user_id, message_id)``, and this bot's identity."""
        with self._lock:
            state = self._bot(self.token)
            known = state.messages.get((user_id, message_id))
        if known is not None:
            kw.setdefault("message_text", known.get("text") or known.get("caption") or "")
            if "reply_markup" in known:
                kw.setdefault("reply_markup", known["reply_markup"])
            kw.setdefault("message_date", known["date"])
        kw.setdefault("bot_id", state.user["id"])
        kw.setdefault("bot_first_name", state.user["first_name"])
        kw.setdefault("bot_username", state.user["username"])
        return update_callback(update_id, user_id, data, message_id, **kw)

    # ------------------------------------------------------------------ internals
    def _bot(self, token: str) -> _BotState:
        state = self._bots.get(token)
        if state is None:
            prefix = token.split(":", 1)[0]
            bot_id = int(prefix) if prefix.isdigit() else DEFAULT_BOT_ID
            username = self.bot_username if token == self.token else f"bot{bot_id}_bot"
            state = _BotState(token=token,
                              user=_bot_user(bot_id, self.bot_first_name, username))
            self._bots[token] = state
        return state

    def on_stop(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @staticmethod
    def _params(rec: RecordedRequest) -> dict[str, Any]:
        params = dict(rec.params)
        for key in _JSON_PARAMS:
            value = params.get(key)
            if isinstance(value, str):
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    pass
        return params

    @staticmethod
    def _chat_id(value: Any) -> Any:
        if value is None:
            raise TelegramApiError(400, "Bad Request: chat_id is empty")
        if isinstance(value, int):
            return value
        text = str(value)
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if text.startswith("@"):
            return text
        raise TelegramApiError(400, "Bad Request: chat not found")

    def _chat(self, chat_id: Any) -> dict:
        known = self._chats.get(chat_id)
        if known is not None:
            return dict(known)
        if isinstance(chat_id, str):
            digest = int(hashlib.sha1(chat_id.encode()).hexdigest()[:8], 16)
            return {"id": -1000000000000 - digest % 10**9, "type": "channel",
                    "title": chat_id[1:], "username": chat_id[1:]}
        if chat_id < 0:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            return {"id": chat_id, "type": kind, "title": "Group"}
        return {"id": chat_id, "type": "private"}

    @staticmethod
    def _int(params: dict, key: str, default: Any = None) -> Any:
        value = params.get(key, default)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise TelegramApiError(400, f"Bad Request: invalid {key} specified") from exc

    @staticmethod
    def _bool(params: dict, key: str) -> bool:
        value = params.get(key)
        return value is True or str(value).lower() in ("true", "1")

    @staticmethod
    def _check_markup(markup: Any) -> None:
        if not isinstance(markup, dict):
            return
        for row in markup.get("inline_keyboard") or []:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not (
                        0 < len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES):
                    raise TelegramApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise TelegramApiError(400, "Bad Request: text buttons are unallowed in "
                                                "the inline keyboard")

    def _rate_check(self, method: str, chat_id: Any) -> None:
        rate = self.rate
        if rate is None:
            return
        if method not in SEND_METHODS and not (rate.count_edits and method in EDIT_METHODS):
            return
        now = time.monotonic()
        window = rate.chats.get(chat_id)
        if window is None:
            is_group = isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0)
            window = (_Window(rate.group_per_minute, 60.0) if is_group
                      else _Window(rate.per_chat_per_second, 1.0))
            rate.chats[chat_id] = window
        bot_wait, chat_wait = rate.overall.wait_needed(now), window.wait_needed(now)
        wait = max(bot_wait, chat_wait)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            self.rate_limited_total += 1
            if chat_wait > 0:
                self.rate_limited_by_chat[chat_id] += 1
            else:
                self.rate_limited_by_bot += 1
            raise TelegramApiError(429, f"Too Many Requests: retry after {retry_after}",
                                   {"retry_after": retry_after})
        rate.overall.take(now)
        window.take(now)

    def _new_message(self, state: _BotState, chat_id: Any, **content: Any) -> dict:
        chat = self._chat(chat_id)
        key = chat_id
        mid = state.next_ids.get(key, 1)
        state.next_ids[key] = mid + 1
        message = {"message_id": mid, "from": dict(state.user), "chat": chat,
                   "date": int(time.time())}
        message.update({k: v for k, v in content.items() if v is not None})
        state.messages[(chat_id, mid)] = message
        return message

    @staticmethod
    def _echo_markup(markup: Any) -> dict | None:
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            return markup
        return None

    @staticmethod
    def _keyboard(markup: Any) -> list | None:
        if not isinstance(markup, dict):
            return None
        return markup.get("inline_keyboard") or markup.get("keyboard")

    def _record_sent(self, state: _BotState, method: str, kind: str, chat_id: Any,
                     message: dict | None, params: dict, markup: Any,
                     file: dict | None = None) -> None:
        text = params.get("text")
        caption = params.get("caption")
        self._sent.append({
            "token": state.token, "method": method, "kind": kind, "chat_id": chat_id,
            "message_id": (message or {}).get("message_id", self._int(params, "message_id")),
            "inline_message_id": params.get("inline_message_id"),
            "text": text if text is not None else caption, "caption": caption,
            "parse_mode": params.get("parse_mode"), "reply_markup": markup,
            "keyboard": self._keyboard(markup), "file": file, "params": params,
            "at": time.time(),
        })

    def _store_file(self, content: bytes, kind: str, file_name: str | None,
                    mime_type: str | None) -> _File:
        n = next(self._file_counter)
        uid = hashlib.sha1(content + str(n).encode()).hexdigest()[:16]
        file_id = f"{'AgAC' if kind == 'photo' else 'BQAC'}AgIfake{n:06d}{uid}"
        ext = ""
        if file_name and "." in file_name:
            ext = file_name.rsplit(".", 1)[1]
        elif kind == "photo":
            ext = "jpg"
        folder = "photos" if kind == "photo" else "documents"
        path = f"{folder}/file_{n}{'.' + ext if ext else ''}"
        f = _File(file_id, f"AQAD{uid}", path, content, file_name, mime_type)
        self._files[file_id] = f
        return f

    def _input_file(self, rec: RecordedRequest, params: dict, name: str) -> tuple[_File, bool]:
        """Resolve a photo/document parameter: multipart upload, attach://, file_id or URL."""
        value = params.get(name)
        upload = rec.files.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = rec.files.get(value[len("attach://"):])
        if upload is not None:
            return self._store_file(upload.content, name, upload.filename,
                                    upload.content_type), True
        if not value:
            raise TelegramApiError(400, f"Bad Request: there is no {name} in the request")
        value = str(value)
        if value in self._files:
            return self._files[value], False
        if value.startswith(("http://", "https://")):
            name_part = value.rsplit("/", 1)[-1] or None
            return self._store_file(value.encode(), name, name_part, None), True
        raise TelegramApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    # ------------------------------------------------------------------ HTTP
    def annotate(self, rec: RecordedRequest) -> None:
        m = re.match(r"^/bot([^/]+)/([A-Za-z]+)$", rec.path)
        if m:
            rec.meta["api_method"] = m.group(2)
            rec.meta["token"] = m.group(1)

    def error_response(self, failure: Failure, rec: RecordedRequest) -> Response:
        status = failure.status
        opts = failure.options
        if status == 429:
            retry_after = opts.get("retry_after") or 3
            return self._error(429, opts.get("description")
                               or f"Too Many Requests: retry after {retry_after}",
                               {"retry_after": retry_after})
        default = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                   404: "Not Found", 409: "Conflict", 500: "Internal Server Error",
                   502: "Bad Gateway", 503: "Service Unavailable",
                   504: "Gateway Timeout"}.get(status, "Error")
        return self._error(status, opts.get("description") or default, opts.get("parameters"))

    @staticmethod
    def _error(code: int, description: str, parameters: dict | None = None) -> Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return json_response(body, status=code)

    @staticmethod
    def _ok(result: Any, description: str | None = None) -> Response:
        body: dict[str, Any] = {"ok": True, "result": result}
        if description:
            body["description"] = description
        return json_response(body)

    def handle(self, rec: RecordedRequest, request: Request) -> Response:
        m = re.match(r"^/file/bot([^/]+)/(.+)$", rec.path)
        if m:
            return self._serve_file(m.group(1), m.group(2))
        m = re.match(r"^/bot([^/]+)/([A-Za-z]+)$", rec.path)
        if not m:
            return self._error(404, "Not Found")
        token, method = m.group(1), m.group(2)
        if not _TOKEN_RE.match(token):
            return self._error(404, "Not Found")
        if self.allowed_tokens is not None and token not in self.allowed_tokens:
            return self._error(401, "Unauthorized")
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            return self._error(404, "Not Found")
        params = self._params(rec)
        rec.meta["params"] = params
        try:
            with self._lock:
                state = self._bot(token)
            return handler(state, params, rec)
        except TelegramApiError as err:
            return self._error(err.code, err.description, err.parameters)

    def _serve_file(self, token: str, path: str) -> Response:
        with self._lock:
            for f in self._files.values():
                if f.file_path == path:
                    return Response(f.content, mimetype=f.mime_type or "application/octet-stream")
        return self._error(404, "Not Found")

    # ------------------------------------------------------------------ API methods
    def _api_getme(self, state: _BotState, params: dict, rec: RecordedRequest) -> Response:
        user = dict(state.user)
        user.update({"can_join_groups": True, "can_read_all_group_messages": False,
                     "supports_inline_queries": False, "can_connect_to_business": False,
                     "has_main_web_app": False})
        return self._ok(user)

    def _api_logout(self, state: _BotState, params: dict, rec: RecordedRequest) -> Response:
        return self._ok(True)

    def _check_send(self, state: _BotState, method: str, chat_id: Any) -> None:
        if chat_id in self._blocked:
            raise TelegramApiError(403, "Forbidden: bot was blocked by the user")
        self._rate_check(method, chat_id)

    def _api_sendmessage(self, state: _BotState, params: dict, rec: RecordedRequest) -> Response:
        with self._lock:
            chat_id = self._chat_id(params.get("chat_id"))
            text = params.get("text")
            if text is None or str(text).strip() == "":
                raise TelegramApiError(400, "Bad Request: message text is empty")
            text = str(text)
            if _utf16_len(text) > MAX_TEXT:  # Telegram counts UTF-16 units
                raise TelegramApiError(400, "Bad Request: message is too long")
            markup = params.get("reply_markup")
            self._check_markup(markup)
            self._check_send(state, "sendmessage", chat_id)
            message = self._new_message(state, chat_id, text=text,
                                        entities=params.get("entities")
                                        if isinstance(params.get("entities"), list) else None,
                                        reply_markup=self._echo_markup(markup))
            self._record_sent(state, "sendMessage", "send", chat_id, message, params, markup)
            return self._ok(self._public(message))

    @staticmethod
    def _public(message: dict) -> dict:
        return {k: v for k, v in message.items() if not k.startswith("_")}

    def _send_media(self, state: _BotState, params: dict, rec: RecordedRequest,
                    kind: str) -> Response:
        with self._lock:
            chat_id = self._chat_id(params.get("chat_id"))
            caption = params.get("caption")
            if caption is not None and len(str(caption)) > MAX_CAPTION:
                raise TelegramApiError(400, "Bad Request: message caption is too long")
            markup = params.get("reply_markup")
            self._check_markup(markup)
            stored, _new = self._input_file(rec, params, kind)
            self._check_send(state, f"send{kind}", chat_id)
            size = len(stored.content)
            if kind == "photo":
                media: Any = [
                    {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id + "s",
                     "file_size": max(1, size // 10), "width": 90, "height": 90},
                    {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                     "file_size": size, "width": 800, "height": 600},
                ]
            else:
                media = {"file_name": stored.file_name or "document",
                         "mime_type": stored.mime_type or "application/octet-stream",
                         "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                         "file_size": size}
            message = self._new_message(state, chat_id, caption=caption,
                                        reply_markup=self._echo_markup(markup), **{kind: media})
            method = "sendPhoto" if kind == "photo" else "sendDocument"
            self._record_sent(state, method, "send", chat_id, message, params, markup, file={
                "file_id": stored.file_id, "file_name": stored.file_name,
                "mime_type": stored.mime_type, "size": size, "content": stored.content})
            return self._ok(self._public(message))

    def _api_sendphoto(self, state: _BotState, params: dict, rec: RecordedRequest) -> Response:
        return self._send_media(state, params, rec, "photo")

    def _api_senddocument(self, state: _BotState, params: dict,
                          rec: RecordedRequest) -> Response:
        return self._send_media(state, params, rec, "document")

    def _api_sendchataction(self, state: _BotState, params: dict,
                            rec: RecordedRequest) -> Response:
        self._chat_id(params.get("chat_id"))
        return self._ok(True)

    def _edit_target(self, state: _BotState, params: dict) -> tuple[Any, int | None, dict | None]:
        inline_id = params.get("inline_message_id")
        if inline_id:
            return None, None, None
        chat_id = self._chat_id(params.get("chat_id"))
        message_id = self._int(params, "message_id")
        if message_id is None:
            raise TelegramApiError(400, "Bad Request: message identifier is not specified")
        message = state.messages.get((chat_id, message_id))
        if message is None:
            if self.strict_edits:
                raise TelegramApiError(400, "Bad Request: message to edit not found")
            message = {"message_id": message_id, "from": dict(state.user),
                       "chat": self._chat(chat_id), "date": int(time.time()), "text": "",
                       "_synthetic": True}
            state.messages[(chat_id, message_id)] = message
        return chat_id, message_id, message

    def _api_editmessagetext(self, state: _BotState, params: dict,
                             rec: RecordedRequest) -> Response:
        with self._lock:
            text = params.get("text")
            if text is None or str(text).strip() == "":
                raise TelegramApiError(400, "Bad Request: message text is empty")
            text = str(text)
            if len(text) > MAX_TEXT:
                raise TelegramApiError(400, "Bad Request: MESSAGE_TOO_LONG")
            markup = params.get("reply_markup")
            self._check_markup(markup)
            chat_id, _mid, message = self._edit_target(state, params)
            if self.rate is not None and self.rate.count_edits and chat_id is not None:
                self._check_send(state, "editmessagetext", chat_id)
            if message is None:
                self._record_sent(state, "editMessageText", "edit", None, None, params, markup)
                return self._ok(True)
            synthetic = message.pop("_synthetic", False)
            if not synthetic and message.get("text") == text and \
                    message.get("reply_markup") == self._echo_markup(markup):
                raise TelegramApiError(
                    400, "Bad Request: message is not modified: specified new message content "
                         "and reply markup are exactly the same as a current content and reply "
                         "markup of the message")
            message["text"] = text
            message.pop("entities", None)
            echoed = self._echo_markup(markup)
            if echoed is None:
                message.pop("reply_markup", None)
            else:
                message["reply_markup"] = echoed
            message["edit_date"] = int(time.time())
            self._record_sent(state, "editMessageText", "edit", chat_id, message, params, markup)
            return self._ok(self._public(message))

    def _api_editmessagereplymarkup(self, state: _BotState, params: dict,
                                    rec: RecordedRequest) -> Response:
        with self._lock:
            markup = params.get("reply_markup")
            self._check_markup(markup)
            chat_id, _mid, message = self._edit_target(state, params)
            if message is None:
                self._record_sent(state, "editMessageReplyMarkup", "edit", None, None, params,
                                  markup)
                return self._ok(True)
            echoed = self._echo_markup(markup)
            synthetic = message.pop("_synthetic", False)
            if not synthetic and message.get("reply_markup") == echoed:
                raise TelegramApiError(
                    400, "Bad Request: message is not modified: specified new message content "
                         "and reply markup are exactly the same as a current content and reply "
                         "markup of the message")
            if echoed is None:
                message.pop("reply_markup", None)
            else:
                message["reply_markup"] = echoed
            message["edit_date"] = int(time.time())
            self._record_sent(state, "editMessageReplyMarkup", "edit", chat_id, message, params,
                              markup)
            return self._ok(self._public(message))

    def _api_deletemessage(self, state: _BotState, params: dict,
                           rec: RecordedRequest) -> Response:
        with self._lock:
            chat_id = self._chat_id(params.get("chat_id"))
            message_id = self._int(params, "message_id")
            if state.messages.pop((chat_id, message_id), None) is None and self.strict_edits:
                raise TelegramApiError(400, "Bad Request: message to delete not found")
            return self._ok(True)

    def _api_answercallbackquery(self, state: _BotState, params: dict,
                                 rec: RecordedRequest) -> Response:
        cq_id = params.get("callback_query_id")
        if not cq_id:
            raise TelegramApiError(400, "Bad Request: query is too old and response timeout "
                                        "expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER:
            raise TelegramApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        with self._lock:
            self._callback_answers.append({
                "callback_query_id": str(cq_id), "text": text,
                "show_alert": self._bool(params, "show_alert"), "url": params.get("url"),
                "cache_time": self._int(params, "cache_time"), "at": time.time()})
        return self._ok(True)

    def _api_getfile(self, state: _BotState, params: dict, rec: RecordedRequest) -> Response:
        file_id = params.get("file_id")
        with self._lock:
            f = self._files.get(str(file_id))
        if f is None:
            raise TelegramApiError(400, "Bad Request: invalid file_id")
        return self._ok({"file_id": f.file_id, "file_unique_id": f.file_unique_id,
                         "file_size": len(f.content), "file_path": f.file_path})

    def _api_setmycommands(self, state: _BotState, params: dict,
                           rec: RecordedRequest) -> Response:
        with self._lock:
            state.commands = params.get("commands") or []
        return self._ok(True)

    def _api_getmycommands(self, state: _BotState, params: dict,
                           rec: RecordedRequest) -> Response:
        with self._lock:
            return self._ok(list(state.commands))

    def _api_getchat(self, state: _BotState, params: dict, rec: RecordedRequest) -> Response:
        chat_id = self._chat_id(params.get("chat_id"))
        with self._lock:
            chat = self._chat(chat_id)
        chat.setdefault("accent_color_id", 0)
        chat.setdefault("max_reaction_count", 11)
        return self._ok(chat)

    def _api_setwebhook(self, state: _BotState, params: dict, rec: RecordedRequest) -> Response:
        url = params.get("url") or ""
        secret = params.get("secret_token")
        if secret is not None and secret != "" and not _SECRET_RE.match(str(secret)):
            raise TelegramApiError(400, "Bad Request: secret token contains unallowed characters")
        max_conn = self._int(params, "max_connections", 40)
        if not 1 <= max_conn <= 100:
            raise TelegramApiError(400, "Bad Request: bad webhook: max_connections must be "
                                        "between 1 and 100")
        if url and not url.startswith(("http://", "https://")):
            raise TelegramApiError(400, "Bad Request: bad webhook: An HTTPS URL must be "
                                        "provided for webhook")
        with self._lock:
            had = bool(state.webhook.get("url"))
            if self._bool(params, "drop_pending_updates"):
                state.updates.clear()
            if "allowed_updates" in params:
                state.allowed_updates = params.get("allowed_updates") or None
            if not url:
                state.webhook = {}
                return self._ok(True, "Webhook was deleted" if had
                                else "Webhook is already deleted")
            state.webhook = {"url": url, "secret_token": secret or None,
                             "max_connections": max_conn,
                             "allowed_updates": params.get("allowed_updates"),
                             "ip_address": params.get("ip_address")}
        return self._ok(True, "Webhook was set")

    def _api_deletewebhook(self, state: _BotState, params: dict,
                           rec: RecordedRequest) -> Response:
        with self._lock:
            had = bool(state.webhook.get("url"))
            state.webhook = {}
            if self._bool(params, "drop_pending_updates"):
                state.updates.clear()
        return self._ok(True, "Webhook was deleted" if had else "Webhook is already deleted")

    def _api_getwebhookinfo(self, state: _BotState, params: dict,
                            rec: RecordedRequest) -> Response:
        with self._lock:
            info: dict[str, Any] = {"url": state.webhook.get("url", ""),
                                    "has_custom_certificate": False,
                                    "pending_update_count": len(state.updates)}
            if state.webhook.get("url"):
                info["max_connections"] = state.webhook["max_connections"]
                info["ip_address"] = state.webhook.get("ip_address") or "149.154.167.220"
                if state.webhook.get("allowed_updates"):
                    info["allowed_updates"] = state.webhook["allowed_updates"]
        return self._ok(info)

    def _allowed(self, state: _BotState, update: dict, allowed: list | None) -> bool:
        types = [t for t in UPDATE_TYPES if t in update]
        if not allowed:
            return not any(t in _DEFAULT_EXCLUDED_UPDATES for t in types)
        return any(t in allowed for t in types)

    def _api_getupdates(self, state: _BotState, params: dict, rec: RecordedRequest) -> Response:
        offset = self._int(params, "offset")
        limit = self._int(params, "limit", 100)
        limit = max(1, min(100, limit))
        timeout = self._int(params, "timeout", 0) or 0
        if "allowed_updates" in params:
            with self._lock:
                state.allowed_updates = params.get("allowed_updates") or None
        deadline = time.monotonic() + min(max(timeout, 0), self.max_long_poll)
        with self._cond:
            if state.webhook.get("url"):
                raise TelegramApiError(409, "Conflict: can't use getUpdates method while "
                                            "webhook is active; use deleteWebhook to delete "
                                            "the webhook first")
            while True:
                if offset is not None and offset > 0:
                    state.updates[:] = [u for u in state.updates if u["update_id"] >= offset]
                pending = [u for u in state.updates
                           if self._allowed(state, u, state.allowed_updates)]
                if offset is not None and offset < 0:
                    pending = pending[offset:]
                if pending:
                    return self._ok(pending[:limit])
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    return self._ok([])
                self._cond.wait(left)

