"""GET /media/<outbox id>/<token>: Twilio fetches the file of a WhatsApp message here
(a receipt PDF, the digest chart, a CSV export, a photo of extra work).

WhatsApp cannot take an upload: it needs a public address. The address names the
outbox row and carries the random token stored on it when the message was sent;
anything else is 404. The file comes from the database (`core.files`), so any web
process can serve it, whichever machine made it.
"""

from __future__ import annotations

import hmac
import io

from flask import Blueprint, abort, current_app, send_file

from core import files
from core.models import OutboxMessage

blueprint = Blueprint("media", __name__)


@blueprint.get("/media/<int:outbox_id>/<token>")
def media(outbox_id: int, token: str):
    runtime = current_app.extensions["pitstop"]
    with runtime.db.uow() as uow:
        row = uow.session.get(OutboxMessage, outbox_id)
        body = dict(row.body) if row is not None else {}
        stored = str(body.get("media_token") or "")
        if not stored or not hmac.compare_digest(stored.encode(), token.encode()):
            abort(404)
        found = files.read(uow.session, body, runtime.settings.var_dir)
    if found is None:
        abort(404)
    data, name = found
    return send_file(io.BytesIO(data), download_name=name)
