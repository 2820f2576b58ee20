"""Telegram without a public URL: long polling through the same inbox and engine, and
registering the webhook (with its secret) when there is one."""

from __future__ import annotations

import json
import logging
import time

from sqlalchemy import select
from telegram.error import InvalidToken

from bot import telegram
from bot.inbound import process
from core.availability import shop_view
from core.models import Shop
from core.runtime import Runtime
from core.settings import MissingSetting

log = logging.getLogger(__name__)


class UnknownShop(LookupError):
    """No shop with that slug in this database (a set-up mistake, not worth retrying)."""


def _shop(runtime: Runtime, slug: str):
    with runtime.db.uow() as uow:
        shop = uow.session.scalar(select(Shop).where(Shop.slug == slug))
        if shop is None:
            raise UnknownShop(f"no shop {slug!r}; load it with `pitstop shop load`")
        return shop, telegram.bot_for(runtime, shop, uow.session), shop_view(uow.session, shop.id).spec


def register_webhook(runtime: Runtime, slug: str) -> str:
    shop, bot, spec = _shop(runtime, slug)
    base = runtime.settings.require("public_base_url", "the Telegram webhook address")
    secret = runtime.settings.secret(spec.providers["telegram"]["webhook_secret_env"], f"the webhook of {slug}")
    url = f"{base}/webhooks/telegram/{slug}"

    telegram.run(bot.set_webhook(url, secret_token=secret, allowed_updates=telegram.ALLOWED_UPDATES))
    return url


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
    offset = None
    log.info("polling Telegram for %s", slug)
    while True:
        try:
            offset = poll_once(runtime, slug, offset, timeout)
        except (MissingSetting, UnknownShop, InvalidToken):
            raise  # a set-up mistake: trying again changes nothing
        except Exception:
            log.exception("polling failed; trying again in 5 s")
            time.sleep(5)
