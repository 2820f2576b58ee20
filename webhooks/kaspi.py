"""GET or POST /webhooks/kaspi/<shop>: Kaspi's classic check/pay provider protocol.

A thin adapter: authenticate (the shop's allowed source addresses and its login and
password from the shop file), record the raw request in the inbox, answer check or
apply pay in one transaction (core.kaspi), and reply in the shop's format (XML or
JSON). Protocol answers are HTTP 200 with a result code, errors included; a caller
that is not Kaspi gets 403 and nothing is recorded.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, request

from core import kaspi
from core.settings import MissingSetting

log = logging.getLogger(__name__)

blueprint = Blueprint("kaspi", __name__)


@blueprint.route("/webhooks/kaspi/<shop_slug>", methods=["GET", "POST"])
def check_or_pay(shop_slug: str):
    runtime = current_app.extensions["pitstop"]
    shop = kaspi.classic_shop(runtime.db, shop_slug)
    if shop is None:
        abort(404)
    params = {k: v for k, v in request.values.items()}
    txn_id = (params.get("txn_id") or "")[:20]
    address = kaspi.source_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                                   bool(shop.table.get("trust_forwarded_for")))  # fmt: skip
    auth = request.authorization
    try:  # 1. authenticate
        denied = kaspi.classic_denied(runtime.settings, shop, address, auth.username if auth else None,
                                      auth.password if auth else None)  # fmt: skip
    except MissingSetting as exc:
        log.error("Kaspi check/pay of %s cannot check callers: %s", shop.slug, exc)
        return _answer(kaspi.ClassicAnswer(txn_id, kaspi.Result.TEMPORARY, "temporarily unavailable"), shop, 503)
    if denied:
        log.warning("Kaspi check/pay of %s refused from %s: %s", shop.slug, address, denied)
        return _answer(kaspi.ClassicAnswer(txn_id, kaspi.Result.OTHER, "access denied"), shop, 403)
    now = runtime.now()
    raw = request.query_string.decode("latin-1") or request.get_data(as_text=True)
    inbox_id = kaspi.classic_record(runtime.db, shop, params, raw, now)  # 2. record raw
    try:  # 3. parse, then check or pay in one transaction
        answer = kaspi.classic_handle(runtime.db, shop, params, inbox_id, now)
    except Exception:  # result 1: Kaspi asks again later, and pay is idempotent
        log.exception("Kaspi %s of %s failed", params.get("command"), shop.slug)
        answer = kaspi.ClassicAnswer(txn_id, kaspi.Result.TEMPORARY, "temporary error, try again")
    return _answer(answer, shop)  # 4. answer


def _answer(answer: kaspi.ClassicAnswer, shop: kaspi.ClassicShop, status: int = 200) -> Response:
    body, content_type = kaspi.render(answer, shop.format)
    return Response(body, status=status, content_type=content_type)
