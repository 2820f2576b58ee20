"""LOG_LEVEL is what an operator turns to see more or less of a process: the web process
(gunicorn builds it with `create_app`, so nothing else sets up its logging) writes its
lines at that level, with time, level and logger, and never a bot's token."""

import os
import subprocess
import sys

from pitstop.fakes.telegram import FakeTelegram
from tests.conftest import ROOT
from tests.integration.booking_helpers import loaded

WEB_PROCESS = """
import sys

from pitstop.fakes.telegram import update_text
from webhooks import create_app

app = create_app()
answer = app.test_client().post("/webhooks/telegram/mwangaza-motors",
                                json=update_text(int(sys.argv[1]), 700001, "/start"),
                                headers={"X-Telegram-Bot-Api-Secret-Token": "log-secret"})
assert answer.status_code == 200, answer.data
"""


def web_process_log(sqlite_url: str, level: str, telegram: FakeTelegram, update_id: int) -> list[str]:
    """What a fresh web process writes while it answers one message (and, with jobs
    in-process, sends the answer)."""
    # REDIS_URL empty: jobs in-process, whatever a developer's .env says.
    env = dict(os.environ, DATABASE_URL=sqlite_url, LOG_LEVEL=level, MWANGAZA_TELEGRAM_TOKEN=telegram.token,
               MWANGAZA_TELEGRAM_SECRET="log-secret", TELEGRAM_API_BASE=telegram.url, REDIS_URL="")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", WEB_PROCESS, str(update_id)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()


def test_the_web_process_logs_at_the_deployments_level_without_the_bots_token(sqlite_url, sqlite_db, nairobi_spec):
    loaded(sqlite_db, nairobi_spec)
    with FakeTelegram() as telegram:
        at_info = web_process_log(sqlite_url, "info", telegram, 1)
        at_warning = web_process_log(sqlite_url, "WARNING", telegram, 2)
        assert len(telegram.sent_messages(700001)) == 2  # the greeting was sent both times
    answered = [line for line in at_info if " INFO bot.inbound: telegram update from " in line]
    assert len(answered) == 1 and answered[0].endswith("answered (start)"), at_info
    assert answered[0][:4].isdigit()  # the time comes first
    requests = [line for line in at_info if " INFO httpx: HTTP Request: POST " in line]
    assert [line.split("/bot<token>/")[1].split()[0] for line in requests] == ["getMe", "sendMessage"], at_info
    assert not any(telegram.token.split(":")[1] in line for line in at_info)
    assert [line for line in at_warning if " INFO " in line or " DEBUG " in line] == []
