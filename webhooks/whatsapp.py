"""POST /webhooks/whatsapp/<shop> (messages) and .../status (delivery status), from Twilio.

Authenticate with twilio's RequestValidator against PUBLIC_BASE_URL plus the path and
query (the URL Twilio signed, not the one a proxy shows us); anything unsigned or forged gets 403
and nothing is stored. Messages are deduplicated on MessageSid.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot import whatsapp
from bot.inbound import process
from core.models import OutboxMessage
from core.settings import MissingSetting
from webhooks.shops import find_shop

log = logging.getLogger(__name__)
blueprint = Blueprint("whatsapp", __name__)
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _verified(runtime, section: dict, slug: str) -> dict[str, str]:
    try:
        token = runtime.settings.secret(section["auth_token_env"], f"WhatsApp for {slug}")
        base = runtime.settings.require("public_base_url", "checking Twilio signatures")
    except MissingSetting as exc:
        log.error("%s", exc)
        abort(403)
    form = request.form.to_dict()
    signature = request.headers.get("X-Twilio-Signature", "")
    query = request.query_string.decode("latin-1")
    signed_url = base + request.path + (f"?{query}" if query else "")  # Twilio signs the whole URL it was given
    if not signature or not RequestValidator(token).validate(signed_url, form, signature):
        log.warning("whatsapp webhook of %s: bad signature from %s", slug, request.remote_addr)
        abort(403)
    return form


@blueprint.post("/webhooks/whatsapp/<slug>")
def message(slug: str):
    runtime = current_app.extensions["pitstop"]
    with runtime.db.uow() as uow:  # one transaction: find the shop, record the message, answer it
        shop_id, section = find_shop(uow.session, slug, "whatsapp")
        form = _verified(runtime, section, slug)
        inbound = whatsapp.parse(form)
        if inbound is None:
            return jsonify(error="not a WhatsApp message"), 400
        process(uow.session, shop_id, inbound, json.dumps(form, ensure_ascii=False), runtime.now())
    return TWIML_EMPTY, 200, {"Content-Type": "text/xml"}


@blueprint.post("/webhooks/whatsapp/<slug>/status")
def status(slug: str):
    runtime = current_app.extensions["pitstop"]
    with runtime.db.uow() as uow:
        shop_id, section = find_shop(uow.session, slug, "whatsapp")
        form = _verified(runtime, section, slug)
        sid, new = form.get("MessageSid", ""), form.get("MessageStatus", "")
        row = uow.session.scalar(select(OutboxMessage).where(
            OutboxMessage.shop_id == shop_id, OutboxMessage.provider_message_id == sid).with_for_update())  # fmt: skip
        moved = row is not None and whatsapp.record_status(uow.session, row, new, form.get("ErrorCode"))
    return jsonify(ok=True, applied=moved)
