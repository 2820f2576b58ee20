"""Telegram without a public URL: long polling through the same inbox and engine, and
registering the webhook (with its secret) when there is one."""

from __future__ import annotations

import json
import logging
import re
import time

from sqlalchemy import select
from telegram.error import Conflict, InvalidToken

from bot import telegram
from bot.inbound import process
from core.availability import shop_view
from core.models import Shop
from core.runtime import Runtime
from core.settings import MissingSetting

log = logging.getLogger(__name__)

SECRET_CHARACTERS = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram allows in secret_token
CONFLICTS_IN_A_ROW = 3  # a 409 this often in a row is someone else using the bot, not a blip


class UnknownShop(LookupError):
    """No shop with that slug in this database (a set-up mistake, not worth retrying)."""


class NotOnTelegram(LookupError):
    """The shop's file has no [telegram] table: it has no bot to poll or point at us."""


class BadSecret(ValueError):
    """The webhook secret has characters (or a length) Telegram refuses."""


class PollingConflict(RuntimeError):
    """Telegram keeps answering getUpdates with 409 Conflict: another poller, or a webhook
    set again, is using the bot."""


def _shop(runtime: Runtime, slug: str):
    with runtime.db.uow() as uow:
        shop = uow.session.scalar(select(Shop).where(Shop.slug == slug))
        if shop is None:
            raise UnknownShop(f"no shop {slug!r}; load it with `pitstop shop load`")
        spec = shop_view(uow.session, shop.id).spec
        if "telegram" not in spec.providers:
            raise NotOnTelegram(f"shop {slug} has no [telegram] table in its file, so it has no "
                                "Telegram bot; add one and load the file again")  # fmt: skip
        return shop, telegram.bot_for(runtime, shop, uow.session), spec


def register_webhook(runtime: Runtime, slug: str) -> str:
    shop, bot, spec = _shop(runtime, slug)
    base = runtime.settings.require("public_base_url", "the Telegram webhook address")
    name = spec.providers["telegram"]["webhook_secret_env"]
    secret = runtime.settings.secret(name, f"the webhook of {slug}")
    if not SECRET_CHARACTERS.fullmatch(secret):  # said here without the value, not as a 400
        raise BadSecret(f"the value of {name} cannot be a Telegram webhook secret: "
                        "use 1 to 256 characters of A-Z a-z 0-9 _ -")  # fmt: skip
    url = f"{base}/webhooks/telegram/{slug}"

    telegram.run(bot.set_webhook(url, secret_token=secret, allowed_updates=telegram.ALLOWED_UPDATES))
    return url


def forget_webhook(runtime: Runtime, slug: str) -> None:
    """Before polling: check the shop can be polled at all (a set-up mistake raises here,
    once) and remove its bot's webhook, as python-telegram-bot's run_polling does;
    Telegram answers getUpdates with 409 Conflict while a webhook is set."""
    _, bot, _ = _shop(runtime, slug)
    telegram.run(bot.delete_webhook())


def poll_once(runtime: Runtime, slug: str, offset: int | None, timeout: int) -> int | None:
    """Fetch one batch of updates and handle each; returns the next offset."""
    shop, bot, _ = _shop(runtime, slug)

    updates = telegram.run(bot.get_updates(offset=offset, timeout=timeout, allowed_updates=telegram.ALLOWED_UPDATES))
    for update in updates:
        data = update.to_dict()
        inbound = telegram.parse(data)
        if inbound is not None:
            process(runtime.db, shop.id, inbound, json.dumps(data, ensure_ascii=False), runtime.now())
        offset = update.update_id + 1
    return offset


def poll_forever(runtime: Runtime, slug: str, timeout: int = 30) -> None:
    """Poll until stopped; call `forget_webhook` first. A failed batch is tried again in
    5 s; a set-up mistake, or a Conflict that persists, stops it."""
    offset, conflicts = None, 0
    log.info("polling Telegram for %s", slug)
    while True:
        try:
            offset = poll_once(runtime, slug, offset, timeout)
            conflicts = 0
        except (MissingSetting, UnknownShop, NotOnTelegram, InvalidToken):
            raise  # a set-up mistake: trying again changes nothing
        except Conflict as exc:
            conflicts += 1
            if conflicts >= CONFLICTS_IN_A_ROW:
                raise PollingConflict(
                    f"Telegram refuses to give the updates of {slug} to this process ({exc.message}): "
                    "another `pitstop poll` is running for this bot, or a webhook was set again "
                    "(`pitstop set-webhook`); run only one of them") from None
            log.warning("Telegram answered 409 Conflict (%s); trying again in 5 s", exc.message)
            time.sleep(5)
        except Exception:
            log.exception("polling failed; trying again in 5 s")
            time.sleep(5)
