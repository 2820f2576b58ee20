"""The web process: one Flask app, one blueprint per caller (Telegram, Twilio, Daraja, Kaspi,
and Twilio fetching the files we send on WhatsApp)."""

from __future__ import annotations

import importlib
import logging

from flask import Flask, jsonify

from core.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)

# Module name -> blueprint attribute; each module is one caller's page of code.
BLUEPRINTS = ["health", "telegram", "whatsapp", "mpesa", "kaspi", "media"]
MAX_BODY = 256 * 1024  # no honest webhook is bigger


def create_app(runtime: Runtime | None = None) -> Flask:
    """Build the Flask app for this deployment (gunicorn calls `webhooks:create_app()`)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["pitstop"] = runtime or build_runtime()
    for name in BLUEPRINTS:
        module = importlib.import_module(f"webhooks.{name}")
        app.register_blueprint(module.blueprint)

    @app.errorhandler(Exception)
    def _unexpected(exc):  # invariant 6 for machines: an answer, never a stack trace
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return jsonify(error=exc.name), exc.code
        log.exception("unhandled error in a webhook")
        return jsonify(error="internal error"), 500

    return app


def runtime_of(app: Flask) -> Runtime:
    return app.extensions["pitstop"]
