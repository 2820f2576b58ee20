"""A whole Pitstop on one machine, driven the way the real services drive it.

`World` starts the webhook app on a free local port together with fake Telegram,
Twilio, Daraja and Kaspi servers, and points the real client libraries at them.
Actors (a Telegram user, a WhatsApp number) post exactly what Telegram and Twilio post,
and `Transcript` prints each line said, with the buttons offered. Used by `pitstop
demo` and by the end-to-end tests.
"""

from __future__ import annotations

import itertools
import re
import secrets
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import requests
from werkzeug.serving import make_server

from core.migrate import upgrade
from core.runtime import Runtime, build_runtime
from core.settings import load_settings
from core.shopfile import read_shop_file
from core.shops import load_shop
from pitstop.fakes import twilio as fake_twilio
from pitstop.fakes.daraja import FakeDaraja
from pitstop.fakes.kaspi import FakeKaspi
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WHATSAPP_SENDER = "whatsapp:+14155238886"
TWILIO_SID, TWILIO_TOKEN = "AC" + "d" * 32, "demo-twilio-auth-token"
MPESA_SHORTCODE, MPESA_PASSKEY = "174379", "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


class StoryBroke(RuntimeError):
    """The story did not go as written; the message says where."""


@dataclass
class Transcript:
    """Prints the story as it happens: time, channel, who, what was said, buttons."""

    out: TextIO = field(default_factory=lambda: sys.stdout)  # the stdout of when it is made, not of import
    timezone: str = "UTC"
    clock: object = None
    lines: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self._write(f"\n== {text}")

    def note(self, text: str) -> None:
        self._write(f"   ({text})")

    def said(self, channel: str, who: str, text: str, buttons: list[str] | None = None) -> None:
        at = self.clock.now().astimezone(ZoneInfo(self.timezone)).strftime("%H:%M") if self.clock else "--:--"
        first, *rest = (text or "").split("\n") or [""]
        self._write(f"{at}  {channel:<8} {who:<16} {first}")
        for line in rest:
            self._write(f"{'':>33}{line}")
        if buttons:
            self._write(f"{'':>33}" + "  ".join(f"[{b}]" for b in buttons))

    def _write(self, line: str) -> None:
        self.lines.append(line)
        self.out.write(line + "\n")
        self.out.flush()


class World:
    """The app and the fakes, wired together through environment-style settings."""

    def __init__(self, out_dir: Path, transcript: Transcript, start: datetime | None = None):
        self.out_dir, self.transcript = out_dir, transcript
        self.telegram = FakeTelegram(tokens=None)
        self.twilio = FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
        self.daraja = FakeDaraja(passkeys={MPESA_SHORTCODE: MPESA_PASSKEY}, callback_delay=0.05)
        self.kaspi = FakeKaspi(status_polling_interval=1)
        self.start_time = start
        self.runtime: Runtime | None = None
        self.server = None
        self.url = ""
        self.tokens = {slug: f"{700000000 + i}:{secrets.token_hex(8)}" for i, slug in
                       enumerate(("mwangaza-motors", "zhaiyk-auto"))}  # fmt: skip
        self.callback_token = secrets.token_urlsafe(16)
        self.people: dict[str, object] = {}  # actors later chapters come back to
        self.files: list[Path] = []  # what the story wrote (chart, CSV)

    def __enter__(self) -> World:
        for fake in (self.telegram, self.twilio, self.daraja, self.kaspi):
            fake.start()
        self.server = make_server("127.0.0.1", 0, _lazy_app(self), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        settings = load_settings(environ=self.environment(), dotenv_path=None)
        upgrade(settings.database_url)
        self.runtime = build_runtime(settings)
        self.transcript.clock = self.runtime.clock
        for file in sorted(EXAMPLES.glob("*.toml")):
            load_shop(self.runtime.db, read_shop_file(file))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self.server is not None:
            self.server.shutdown()
        for fake in (self.telegram, self.twilio, self.daraja, self.kaspi):
            fake.stop()
        if self.runtime is not None:
            self.runtime.close()

    def environment(self) -> dict[str, str]:
        env = {
            "DATABASE_URL": f"sqlite:///{self.out_dir / 'pitstop.db'}",
            "PITSTOP_VAR_DIR": str(self.out_dir),
            "PUBLIC_BASE_URL": self.url,
            "TELEGRAM_API_BASE": self.telegram.url,
            "TWILIO_API_BASE": self.twilio.url,
            "MPESA_API_BASE": self.daraja.url,
            "MPESA_CALLBACK_TOKEN": self.callback_token,
            "KASPI_API_BASE": self.kaspi.base_url("r1"),
            "TELEGRAM_CHAT_INTERVAL": "0",
        }
        if self.start_time is not None:
            env["PITSTOP_NOW"] = self.start_time.isoformat()
        for prefix, slug in (("MWANGAZA", "mwangaza-motors"), ("ZHAIYK", "zhaiyk-auto")):
            env |= {
                f"{prefix}_TELEGRAM_TOKEN": self.tokens[slug],
                f"{prefix}_TELEGRAM_SECRET": f"{prefix.lower()}-secret",
                f"{prefix}_TWILIO_ACCOUNT_SID": TWILIO_SID,
                f"{prefix}_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                f"{prefix}_WHATSAPP_FROM": WHATSAPP_SENDER,
            }
        env |= {
            "MWANGAZA_MPESA_SHORTCODE": MPESA_SHORTCODE, "MWANGAZA_MPESA_PASSKEY": MPESA_PASSKEY,
            "MWANGAZA_MPESA_CONSUMER_KEY": self.daraja.consumer_key,
            "MWANGAZA_MPESA_CONSUMER_SECRET": self.daraja.consumer_secret,
            "ZHAIYK_KASPI_API_KEY": self.kaspi.api_key, "ZHAIYK_KASPI_BIN": self.kaspi.organization_bin,
            "ZHAIYK_KASPI_DEVICE_TOKEN": self.kaspi.device_token,
            "ZHAIYK_KASPI_CLASSIC_LOGIN": "zhaiyk", "ZHAIYK_KASPI_CLASSIC_PASSWORD": secrets.token_hex(8),
        }  # fmt: skip
        return env


def _lazy_app(world: World):
    """The Flask app, built once the runtime exists (the server must know its port first)."""
    app = None

    def wsgi(environ, start_response):
        nonlocal app
        if app is None:
            from webhooks import create_app

            app = create_app(world.runtime)
        return app(environ, start_response)

    return wsgi


# -- people ---------------------------------------------------------------------------------


@dataclass
class TelegramUser:
    """Someone writing to a shop's bot; posts real-format updates to the webhook."""

    world: World
    shop: str
    user_id: int
    name: str
    language: str = "en"
    seen: int = 0
    updates: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def bot_name(self) -> str:
        return SHOP_NAMES[self.shop]

    def _post(self, update: dict) -> None:
        secret = f"{'mwangaza' if self.shop == 'mwangaza-motors' else 'zhaiyk'}-secret"
        response = requests.post(f"{self.world.url}/webhooks/telegram/{self.shop}", json=update, timeout=30,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": secret})  # fmt: skip
        if response.status_code != 200:
            raise StoryBroke(f"the Telegram webhook answered {response.status_code}: {response.text[:200]}")
        self.world.telegram.webhook_reply(response.json(), self.world.tokens[self.shop])  # as Telegram does

    def _uid(self) -> int:
        return self.user_id * 1000 + next(self.updates)

    def says(self, text: str) -> list[dict]:
        self.world.transcript.said("Telegram", self.name, text)
        update = self.world.telegram.update_text(self._uid(), self.user_id, text, language_code=self.language,
                                                 first_name=self.name)  # fmt: skip
        self._post(update)
        return self.replies()

    def taps(self, label_or_id: str) -> list[dict]:
        last = self._last_with_buttons()
        buttons = _inline(last)
        data = next((d for text, d in buttons if text == label_or_id or d == label_or_id), None)
        if data is None:
            raise StoryBroke(f"{self.name} wanted to tap {label_or_id!r} but the buttons were {[t for t, _ in buttons]}")
        label = next(t for t, d in buttons if d == data)
        self.world.transcript.said("Telegram", self.name, f"(taps) {label}")
        update = self.world.telegram.update_callback(self._uid(), self.user_id, data, last["message_id"])
        self._post(update)
        return self.replies()

    def taps_first(self, prefix: str, containing: str = "") -> str:
        """Tap the first button whose id starts with `prefix` (and whose label contains
        `containing`): a service, a day, a time. Returns its label."""
        buttons = _inline(self._last_with_buttons())
        label = next((t for t, d in buttons if d.startswith(prefix) and containing in t), None)
        if label is None:
            raise StoryBroke(f"{self.name} found no {prefix!r} {containing!r} button among {[t for t, _ in buttons]}")
        self.taps(label)
        return label

    def proves_staff(self, phone: str) -> list[dict]:
        """A listed mechanic or owner asks for the staff menu and shares their own number."""
        self.says("/staff")
        return self.shares_contact(phone.lstrip("+"))

    def shares_contact(self, phone: str) -> list[dict]:
        self.world.transcript.said("Telegram", self.name, f"(shares contact) {phone}")
        self._post(self.world.telegram.update_contact(self._uid(), self.user_id, phone))
        return self.replies()

    def _last_with_buttons(self) -> dict:
        sent = self.world.telegram.sent_messages(self.user_id)
        for message in reversed(sent):
            if _inline(message):
                return message
        raise StoryBroke(f"no message with buttons was sent to {self.name}")

    def replies(self) -> list[dict]:
        sent = self.world.telegram.sent_messages(self.user_id)
        new, self.seen = sent[self.seen:], len(sent)
        for message in new:
            if message.get("text") or message.get("caption"):
                self.world.transcript.said("Telegram", self.bot_name, message.get("text") or message.get("caption"),
                                           [t for t, _ in _inline(message)])  # fmt: skip
        return new

    def last_text(self) -> str:
        texts = [m.get("text") or m.get("caption") or "" for m in self.world.telegram.sent_messages(self.user_id)]
        return texts[-1] if texts else ""


def _inline(message: dict) -> list[tuple[str, str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class WhatsAppUser:
    """Someone writing to a shop's WhatsApp number; posts Twilio-signed form posts."""

    world: World
    shop: str
    phone: str
    name: str
    seen: int = 0

    @property
    def address(self) -> str:
        return f"whatsapp:{self.phone}"

    def says(self, text: str) -> list[str]:
        self.world.transcript.said("WhatsApp", self.name, text)
        params = fake_twilio.inbound_text_params(self.address, text, to=WHATSAPP_SENDER, profile_name=self.name)
        path = f"/webhooks/whatsapp/{self.shop}"
        headers, form = fake_twilio.signed_inbound(self.world.url + path, TWILIO_TOKEN, params)
        response = requests.post(self.world.url + path, data=form, headers=headers, timeout=30)
        if response.status_code != 200:
            raise StoryBroke(f"the WhatsApp webhook answered {response.status_code}: {response.text[:200]}")
        return self.replies()

    def replies(self) -> list[str]:
        sent = [m["params"].get("Body", "") for m in self.world.twilio.messages(to=self.address)]
        new, self.seen = sent[self.seen:], len(sent)
        for body in new:
            self.world.transcript.said("WhatsApp", SHOP_NAMES[self.shop], body)
        return new

    def last_text(self) -> str:
        sent = [m["params"].get("Body", "") for m in self.world.twilio.messages(to=self.address)]
        return sent[-1] if sent else ""

    def number_of(self, label_start: str) -> str:
        """The number of the option in the last message that starts with `label_start`."""
        for line in self.last_text().splitlines():
            match = re.match(r"(\d+)\. (.*)", line)
            if match and match.group(2).startswith(label_start):
                return match.group(1)
        raise StoryBroke(f"no option starting with {label_start!r} in: {self.last_text()!r}")


SHOP_NAMES = {"mwangaza-motors": "Mwangaza Motors", "zhaiyk-auto": "Жайық Авто"}


def wait_for(person, fragment: str, timeout: float = 15.0) -> str:
    """Wait until `person` is sent a message containing `fragment` (an answer that comes
    later, e.g. after a payment callback); print it and return it."""
    import time

    deadline = time.monotonic() + timeout
    seen: list = []
    while time.monotonic() < deadline:
        for message in person.replies():
            text = message if isinstance(message, str) else (message.get("text") or message.get("caption") or "")
            seen.append(text)
            if fragment in text:
                return text
        time.sleep(0.1)
    raise StoryBroke(f"{person.name} waited for a message with {fragment!r}; got {seen!r}")
