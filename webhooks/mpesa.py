"""POST /webhooks/mpesa/<token>[/<payment_id>]: Safaricom Daraja's STK callback.

A thin adapter, four steps: authenticate (the unguessable path token, compared in
constant time — Safaricom signs nothing), parse, record the raw body in the inbox,
apply it in one transaction (core.mpesa), and acknowledge at once. A duplicate
delivery is recorded once and acknowledged every time. The payment id in the path is
the reference we chose (the body carries none); callbacks without it still work.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request

from core import mpesa

log = logging.getLogger(__name__)

blueprint = Blueprint("mpesa", __name__)


@blueprint.post("/webhooks/mpesa/<token>")
@blueprint.post("/webhooks/mpesa/<token>/<int:payment_id>")
def stk_callback(token: str, payment_id: int | None = None):
    runtime = current_app.extensions["pitstop"]
    if not mpesa.token_ok(runtime.settings, token):  # 1. authenticate
        return jsonify(error="not found"), 404
    now = runtime.now()
    raw = request.get_data(cache=False)
    try:  # 2. parse
        body = json.loads(raw)
        callback = mpesa.StkCallback.parse(body)
    except ValueError as exc:  # BadCallback, bad JSON, bad UTF-8
        mpesa.record_malformed(runtime.db, raw, str(exc)[:100], now)
        return jsonify(mpesa.REJECTED), 400
    recorded = mpesa.record(runtime.db, callback, body, raw, now, payment_id)  # 3. record raw
    if not recorded.duplicate:
        try:  # 4. apply once, in one transaction
            mpesa.apply_callback(runtime.db, recorded.inbox_id, callback, now, payment_id)
        except Exception:  # recorded: the reconciliation job applies it again
            log.exception("M-Pesa callback (inbox %s) not applied yet", recorded.inbox_id)
    return jsonify(mpesa.ACK)  # 5. acknowledge
