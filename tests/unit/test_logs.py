"""core.logs.configure on a process whose logging nobody has set up yet."""

import logging
from contextlib import contextmanager

from core import logs


@contextmanager
def bare_logging():
    """The root logger as gunicorn leaves it for the app (no handlers), restored after."""
    root = logging.getLogger()
    kept = root.handlers[:], root.level, {name: logging.getLogger(name).level for name in logs.NOISY}
    root.handlers = []
    try:
        yield root
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers, root.level = kept[0], kept[1]
        for name, level in kept[2].items():
            logging.getLogger(name).setLevel(level)


TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # the shape of a Bot API token


def record(name: str, message: str, *args) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)


def test_info_quiets_the_noisy_libraries_and_hides_bot_tokens_wherever_they_stand():
    with bare_logging() as root:
        logs.configure("INFO")
        levels = root.level, [logging.getLogger(name).level for name in logs.NOISY]
        lines = [root.handlers[0].format(r) for r in (
            record("httpx", "HTTP Request: POST %s", f"https://api.telegram.org/bot{TOKEN}/sendMessage"),
            record("httpx", "HTTP Request: GET %s", f"https://api.telegram.org/file/bot{TOKEN}/photos/1.jpg"),
            record("bot.delivery", "failed: InvalidToken: The token `%s` was rejected", TOKEN))]  # fmt: skip
    assert levels == (logging.INFO, [logging.WARNING, logging.WARNING])
    assert [line.split(" INFO ")[1] for line in lines] == [
        "httpx: HTTP Request: POST https://api.telegram.org/bot<token>/sendMessage",
        "httpx: HTTP Request: GET https://api.telegram.org/file/bot<token>/photos/1.jpg",
        "bot.delivery: failed: InvalidToken: The token `<token>` was rejected"]  # fmt: skip


def test_debug_shows_everything():
    with bare_logging():
        logs.configure("DEBUG")
        levels = [logging.getLogger(name).level for name in (*logs.NOISY, "")]
    assert levels == [logging.DEBUG] * 3


def test_logging_set_up_by_someone_else_is_kept():
    theirs = logging.NullHandler()
    with bare_logging() as root:
        root.addHandler(theirs)
        logs.configure("DEBUG")
        handlers = root.handlers[:]
    assert handlers == [theirs]


def test_a_phone_number_a_library_quotes_is_masked():
    """Twilio's refusal quotes the number: "The 'To' number whatsapp:+254722111222 ..."."""
    with bare_logging() as root:
        logs.configure("INFO")
        line = root.handlers[0].format(record("bot.delivery", "outbox %s cannot be delivered: %s", 7,
                                              "Twilio refused the message: 21211 The 'To' number "
                                              "whatsapp:+254722111222 is not a valid phone number."))  # fmt: skip
    assert line.endswith("The 'To' number whatsapp:+254••••••222 is not a valid phone number.")
