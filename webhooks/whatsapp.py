"""POST /webhooks/whatsapp/<shop> (messages) and .../status (delivery status), from Twilio.

Authenticate with twilio's RequestValidator against PUBLIC_BASE_URL plus the path and
query (the URL Twilio signed, not the one a proxy shows us); anything unsigned or forged gets 403
and nothing is stored. Messages are deduplicated on MessageSid, status reports on their
sid and status (bot/whatsapp_status.py).
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request
from twilio.request_validator import RequestValidator

from bot import whatsapp, whatsapp_status
from bot.inbound import process
from core.settings import MissingSetting
from webhooks.shops import Found, afresh_if_the_shop_changed, find_shop

log = logging.getLogger(__name__)
blueprint = Blueprint("whatsapp", __name__)
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _verified(runtime, shop: Found, slug: str) -> dict[str, str]:
    try:
        token = runtime.settings.secret(shop.section["auth_token_env"], f"WhatsApp for {slug}")
        base = runtime.settings.require("public_base_url", "checking Twilio signatures")
    except MissingSetting as exc:
        shop.refuse(log.error, "%s", exc)
    form = request.form.to_dict()
    signature = request.headers.get("X-Twilio-Signature", "")
    query = request.query_string.decode("latin-1")
    signed_url = base + request.path + (f"?{query}" if query else "")  # Twilio signs the whole URL it was given
    if not signature or not RequestValidator(token).validate(signed_url, form, signature):
        shop.refuse(log.warning, "whatsapp webhook of %s: bad signature from %s", slug, request.remote_addr)
    return form


@blueprint.post("/webhooks/whatsapp/<slug>")
@afresh_if_the_shop_changed
def message(slug: str, recent: bool):
    runtime = current_app.extensions["pitstop"]
    with runtime.db.uow() as uow:  # one transaction: find the shop, record the message, answer it
        shop = find_shop(uow.session, slug, "whatsapp", recent=recent)
        form = _verified(runtime, shop, slug)
        inbound = whatsapp.parse(form)
        if inbound is None:
            shop.afresh_before_answering()
            return jsonify(error="not a WhatsApp message"), 400
        process(uow.session, shop.shop_id, inbound, json.dumps(form, ensure_ascii=False), runtime.now())
    return TWIML_EMPTY, 200, {"Content-Type": "text/xml"}


@blueprint.post("/webhooks/whatsapp/<slug>/status")
def status(slug: str):
    runtime = current_app.extensions["pitstop"]
    with runtime.db.uow() as uow:
        shop = find_shop(uow.session, slug, "whatsapp")
        form = _verified(runtime, shop, slug)
        report = whatsapp_status.parse(form)
        if report is None:
            return jsonify(error="not a status report: MessageSid or MessageStatus missing"), 400
        moved = whatsapp_status.report(uow.session, shop.shop_id, report, json.dumps(form, ensure_ascii=False),
                                       runtime.now())  # fmt: skip
    return jsonify(ok=True, applied=moved)
