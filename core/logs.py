"""Log lines for every process (web, worker, cron, CLI): time, level, logger and message
on stderr, at the deployment's LOG_LEVEL. Phone numbers are masked where they are logged
(`core.customers.mask_phone`); secrets never reach a line (see `_HidingSecrets`)."""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
NOISY = ("alembic", "twilio.http_client")  # a line per migration step; ten per WhatsApp message sent
_BOT_TOKEN = re.compile(r"(?<!\d)\d{5,}:[\w-]{20,}")  # a Bot API token: the bot's id, a colon, a secret


def configure(level: str) -> None:
    """Send this process's log records to stderr from `level` up, unless logging is set
    up already (a test runner, a program that embeds the app): theirs is kept as it is,
    noisy libraries included."""
    if logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(_HidingSecrets(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    number = logging.getLevelName(level)
    for noisy in NOISY:  # their INFO lines are noise, except when debugging
        logging.getLogger(noisy).setLevel(number if number == logging.DEBUG else max(number, logging.WARNING))


class _HidingSecrets(logging.Formatter):
    """python-telegram-bot's HTTP client logs each request's URL at INFO, and a Bot API
    URL holds the bot's token (…/bot123456:AA…/sendMessage): a token is written as
    <token>, wherever it stands in the message or in a traceback. A phone number a
    library quotes (Twilio's "The 'To' number +2547… is not valid") is masked too."""

    def format(self, record: logging.LogRecord) -> str:
        from core.customers import mask_phones_in

        return mask_phones_in(_BOT_TOKEN.sub("<token>", super().format(record)))
