"""A running Pitstop wired to the fake Telegram and Twilio servers, for channel stories."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sqlalchemy import event

from core.migrate import upgrade
from core.runtime import build_runtime
from core.shopfile import read_shop_file
from core.shops import load_shop
from pitstop.fakes import twilio as fake_twilio
from tests.conftest import ATYRAU, NAIROBI, make_settings
from webhooks import create_app

SECRET = "nairobi-webhook-secret"
PUBLIC = "https://pitstop.example"
TWILIO_SID, TWILIO_TOKEN = "AC" + "1" * 32, "twilio-auth-token-for-tests"


def shop_env(fake_telegram, fake_twilio_server) -> dict[str, str]:
    # Stories type faster than people: no pause between two messages to one chat here
    # (the pacing itself is tested in test_pacing.py and measured in bench/delivery.py).
    env = {"PUBLIC_BASE_URL": PUBLIC, "TELEGRAM_CHAT_INTERVAL": "0"}
    for prefix in ("MWANGAZA", "ZHAIYK"):
        env |= {
            f"{prefix}_TELEGRAM_TOKEN": fake_telegram.token,
            f"{prefix}_TELEGRAM_SECRET": SECRET,
            f"{prefix}_TWILIO_ACCOUNT_SID": TWILIO_SID,
            f"{prefix}_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            f"{prefix}_WHATSAPP_FROM": "whatsapp:+14155238886",
        }
    env["TELEGRAM_API_BASE"] = fake_telegram.url
    env["TWILIO_API_BASE"] = fake_twilio_server.url
    return env


@dataclass
class Pitstop:
    """The app under test, with helpers that post exactly what Telegram and Twilio post."""

    app: object
    runtime: object
    telegram: object
    twilio: object
    update_ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    @property
    def client(self):
        return self.app.test_client()

    def telegram_post(self, update: dict, slug="mwangaza-motors", secret=SECRET):
        """Post as Telegram does, and carry out a Bot API call given in the answer, as
        Telegram does too."""
        response = self.client.post(f"/webhooks/telegram/{slug}", json=update,
                                    headers={"X-Telegram-Bot-Api-Secret-Token": secret})  # fmt: skip
        if response.status_code == 200:
            self.telegram.webhook_reply(response.get_json(silent=True))
        return response

    def say(self, user_id: int, text: str, lang="en", slug="mwangaza-motors"):
        update = self.telegram.update_text(next(self.update_ids), user_id, text, language_code=lang)
        response = self.telegram_post(update, slug)
        assert response.status_code == 200, response.data
        return update

    def tap(self, user_id: int, data: str, slug="mwangaza-motors"):
        last = self.telegram.last_message(user_id)
        update = self.telegram.update_callback(next(self.update_ids), user_id, data, last["message_id"])
        response = self.telegram_post(update, slug)
        assert response.status_code == 200, response.data
        return update

    def tap_button(self, user_id: int, prefix: str, slug="mwangaza-motors"):
        """Tap the button under the last message whose id starts with `prefix` ("confirm:",
        whose id names the question asked), as the person would."""
        return self.tap(user_id, next(data for _, data in self.buttons(user_id) if data.startswith(prefix)), slug)

    def whatsapp(self, phone: str, body: str, slug="mwangaza-motors", name="Amina W", sid=None):
        """Post what Twilio posts when the customer writes `body` on WhatsApp."""
        params = fake_twilio.inbound_text_params(f"whatsapp:{phone}", body, profile_name=name, message_sid=sid)
        response = self._post_signed(f"/webhooks/whatsapp/{slug}", params)
        assert response.status_code == 200, response.data
        return params

    def _post_signed(self, path: str, params: dict):
        headers, form = fake_twilio.signed_inbound(PUBLIC + path, TWILIO_TOKEN, params)
        return self.client.post(path, data=form, headers=headers)

    def texts(self, chat_id) -> list[str]:
        return [m["text"] for m in self.telegram.sent_messages(chat_id) if m.get("text")]

    def buttons(self, chat_id) -> list[tuple[str, str]]:
        last = self.telegram.last_message(chat_id)
        rows = (last.get("reply_markup") or {}).get("inline_keyboard", [])
        return [(b["text"], b["callback_data"]) for row in rows for b in row]


def start_pitstop(database_url: str, fake_telegram, fake_twilio_server, extra_env=None) -> Pitstop:
    settings = make_settings(database_url, **shop_env(fake_telegram, fake_twilio_server) | (extra_env or {}))
    upgrade(database_url)
    runtime = build_runtime(settings)
    for file in (NAIROBI, ATYRAU):
        load_shop(runtime.db, read_shop_file(file))
    return Pitstop(create_app(runtime), runtime, fake_telegram, fake_twilio_server)


def to_an_oil_changes_payment(pitstop: Pitstop, user: int, when: str) -> None:
    """A new Telegram customer's way to an oil change at `when` ("tomorrow 10am"), up to
    the payment's question: services, car, no make, the time, confirmed."""
    pitstop.say(user, "/start")
    for data in ("lang:en", "m:book", "svc:1", "done"):
        pitstop.tap(user, data)
    pitstop.say(user, "KCB 123A")
    pitstop.tap(user, "skip")
    pitstop.say(user, when)
    pitstop.tap_button(user, "confirm:")


# How a message's transaction begins: the shop's stamp, and the call of migration 0008
STAMP = "SELECT shops.id, shops.updated_at"
TAKE = "SELECT t.t_current, t.t_inbox,"


def statements_of_the_message(pitstop, send, words: int = 3) -> list[str]:
    """The statements the message's own transaction ran (its deliveries, which run
    in-process after the commit here, are not part of it), by their first `words`."""
    seen, committed = [], []
    engine = pitstop.runtime.db.engine

    def statement(conn, cursor, text, params, context, executemany):
        if not committed and not text.startswith("BEGIN"):
            seen.append(" ".join(text.split()[:words]))

    def commit(conn):
        committed.append(True)

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        send()
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    return seen
