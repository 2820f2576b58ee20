"""POST /webhooks/telegram/<shop>: updates from the shop's Telegram bot.

Authenticate (the secret token Telegram echoes, compared in constant time), parse,
record in the inbox under the update_id, answer through the conversation, acknowledge.
A wrong secret is refused with 403 and nothing is stored.

A tap on a button is acknowledged with the Bot API call that stops its spinner
(Telegram carries out one call given in a webhook's response), once the replies are
safely in the outbox: no outbox row, job or request of our own for it. Where jobs run
in-process (the embedded default), the replies are sent before the response goes, so
the tap is answered through the outbox as before, first; so does long polling, which
has no response to carry it.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import replace

from flask import Blueprint, current_app, jsonify, request

from bot import telegram
from bot.inbound import process
from core.settings import MissingSetting
from webhooks.shops import Found, afresh_if_the_shop_changed, find_shop

log = logging.getLogger(__name__)
blueprint = Blueprint("telegram", __name__)


@blueprint.post("/webhooks/telegram/<slug>")
@afresh_if_the_shop_changed
def update(slug: str, recent: bool):
    runtime = current_app.extensions["pitstop"]
    with runtime.db.uow() as uow:  # one transaction: find the shop, record the update, answer it
        shop = find_shop(uow.session, slug, "telegram", recent=recent)
        _authenticate(runtime, shop, slug)
        data = request.get_json(silent=True)
        inbound = telegram.parse(data) if isinstance(data, dict) else None
        if inbound is None:
            shop.afresh_before_answering()
            return jsonify(error="not a Telegram update"), 400
        tap = None if runtime.settings.jobs_in_process else inbound.callback_id
        result = process(uow.session, shop.shop_id, replace(inbound, callback_id=None) if tap else inbound,
                         request.get_data(as_text=True), runtime.now())  # stored as it came  # fmt: skip
    if tap:
        return jsonify(method="answerCallbackQuery", callback_query_id=tap)
    return jsonify(ok=True, duplicate=result.duplicate)


def _authenticate(runtime, shop: Found, slug: str) -> None:
    try:
        secret = runtime.settings.secret(shop.section["webhook_secret_env"], f"the Telegram webhook of {slug}")
    except MissingSetting as exc:
        shop.refuse(log.error, "%s", exc)
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        shop.refuse(log.warning, "telegram webhook of %s: wrong secret token from %s", slug, request.remote_addr)
