"""The web process: one Flask app, one blueprint per caller (Telegram, Twilio, Daraja, Kaspi)."""

from __future__ import annotations

from flask import Flask

from core.runtime import Runtime, build_runtime


def create_app(runtime: Runtime | None = None) -> Flask:
    """Build the Flask app for this deployment (gunicorn calls `webhooks:create_app()`)."""
    from webhooks.health import health

    app = Flask(__name__)
    app.extensions["pitstop"] = runtime or build_runtime()
    app.register_blueprint(health)
    return app
