"""The web process: one Flask app, one blueprint per caller (Telegram, Twilio, Daraja, Kaspi,
and Twilio fetching the files we send on WhatsApp)."""

from __future__ import annotations

import functools
import importlib
import logging

from flask import Flask, jsonify, request
from sqlalchemy.exc import DBAPIError

from core import logs
from core.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)

# Module name -> blueprint attribute; each module is one caller's page of code.
BLUEPRINTS = ["health", "telegram", "whatsapp", "mpesa", "kaspi", "media"]
MAX_BODY = 256 * 1024  # no honest webhook is bigger


def create_app(runtime: Runtime | None = None) -> Flask:
    """Build the Flask app for this deployment (gunicorn calls `webhooks:create_app()`)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["pitstop"] = runtime = runtime or build_runtime()
    logs.configure(runtime.settings.log_level)
    for name in BLUEPRINTS:
        module = importlib.import_module(f"webhooks.{name}")
        app.register_blueprint(module.blueprint)
    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = _again_if_connection_dropped(view)

    @app.errorhandler(Exception)
    def _unexpected(exc):  # invariant 6 for machines: an answer, never a stack trace
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return jsonify(error=exc.name), exc.code
        log.exception("unhandled error in a webhook")
        return jsonify(error="internal error"), 500

    return app


def _again_if_connection_dropped(view):
    """Run a request once more if the database had ended its connection.

    The pool checks a connection by listening for the server's goodbye (core.db), and a
    connection ended a moment ago may not have said it yet: the first statement then
    fails, and the pool is renewed. Every handler is idempotent (a delivery is recorded
    under its provider's id), so running it again is safe even if a commit did get
    through before the connection went. The body is read and kept first, so the second
    run sees it too.
    """

    @functools.wraps(view)
    def run(*args, **kwargs):
        request.get_data()  # kept for a second run (a handler may read it uncached)
        try:
            return view(*args, **kwargs)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            log.warning("the database connection was gone; running the request again")
            return view(*args, **kwargs)

    return run


def runtime_of(app: Flask) -> Runtime:
    return app.extensions["pitstop"]
