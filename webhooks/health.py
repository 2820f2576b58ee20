"""GET /healthz for the load balancer: is the database reachable, is the queue."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    runtime = current_app.extensions["pitstop"]
    try:
        with runtime.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # the check's whole point is to report, not to raise
        database = f"unreachable: {type(exc).__name__}"
    queue = "in-process" if runtime.settings.jobs_in_process else (
        "ok" if runtime.queue.ping() else "unreachable")
    # Without Redis the web process still accepts and stores every update (the outbox
    # re-drive delivers later), so only the database decides whether it can serve.
    healthy = database == "ok"
    return jsonify(database=database, queue=queue), 200 if healthy else 503
