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


def test_info_quiets_the_noisy_libraries_and_hides_bot_tokens():
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: POST %s", (
        "https://api.telegram.org/bot123456:AA-secret_part/sendMessage",), None)  # fmt: skip
    with bare_logging() as root:
        logs.configure("INFO")
        levels = root.level, [logging.getLogger(name).level for name in logs.NOISY]
        line = root.handlers[0].format(record)
    assert levels == (logging.INFO, [logging.WARNING, logging.WARNING])
    assert line.endswith(" INFO httpx: HTTP Request: POST https://api.telegram.org/bot<token>/sendMessage")


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
