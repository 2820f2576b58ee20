"""The operator's `pitstop` commands: Telegram polling and webhooks, Redis, migrations,
`serve` and `chat`, each set-up mistake said in one sentence, and the README's word on
the example shop files."""

import re
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from bot import polling
from pitstop.cli import main
from pitstop.fakes.telegram import FakeTelegram
from tests.conftest import ATYRAU, EXAMPLES, NAIROBI, ROOT

HOOK = "https://garage.example/webhooks/telegram/mwangaza-motors"
ANOTHER_POLLER = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"


def pitstop(*args, tmp_path, database="ops.db", timeout=60, **env):
    """`pitstop ARGS` as an operator runs it, in a folder of its own (no .env of ours)."""
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
            "PITSTOP_VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": f"sqlite:///{tmp_path / database}"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "pitstop.cli", *args], cwd=tmp_path, env=base | env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def whatsapp_only(tmp_path):
    """The Nairobi file without its [telegram] table: a shop on WhatsApp alone."""
    raw = NAIROBI.read_text()
    path = tmp_path / "whatsapp-only.toml"
    path.write_text(raw[: raw.index("[telegram]")] + raw[raw.index("[whatsapp]") :])
    return path


# -- pitstop poll ---------------------------------------------------------------------------


def test_poll_after_set_webhook_removes_the_webhook_and_answers_the_customer(tmp_path):
    with FakeTelegram() as telegram:
        env = {"TELEGRAM_API_BASE": telegram.url, "MWANGAZA_TELEGRAM_TOKEN": telegram.token,
               "MWANGAZA_TELEGRAM_SECRET": "s3cret", "PUBLIC_BASE_URL": "https://garage.example"}  # fmt: skip
        assert pitstop("shop", "load", str(NAIROBI), tmp_path=tmp_path, **env).returncode == 0
        hooked = pitstop("set-webhook", "--shop", "mwangaza-motors", tmp_path=tmp_path, **env)
        assert (hooked.returncode, hooked.stdout) == (0, f"webhook of mwangaza-motors set to {HOOK}\n")
        assert telegram.webhook_info()["url"] == HOOK
        telegram.queue_update(telegram.update_text(901, 5151, "/start"))

        base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'ops.db'}", "PITSTOP_VAR_DIR": str(tmp_path / "var")}  # fmt: skip
        poller = subprocess.Popen([sys.executable, "-m", "pitstop.cli", "poll", "--shop", "mwangaza-motors",
                                   "--timeout", "1"], cwd=tmp_path, env=base | env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not telegram.sent_messages(5151) and time.monotonic() < deadline and poller.poll() is None:
                time.sleep(0.1)
        finally:
            poller.terminate()
            poller.wait(timeout=10)
        answered = telegram.sent_messages(5151)
        assert answered and answered[0]["text"] == ("Hello! This is Mwangaza Motors. I can book your car in and keep you posted.\n"
                                       "Which language do you prefer?")  # fmt: skip
        assert telegram.webhook_info() == {}
        assert len(telegram.api_calls("deleteWebhook")) == 1


def test_poll_waits_out_a_passing_conflict_and_stops_in_a_sentence_when_it_persists(sqlite_url, tmp_path,
                                                                                      monkeypatch):  # fmt: skip
    """A 409 now and then (a poller being restarted) is tried again; three in a row mean
    another process uses the bot, and polling stops saying so instead of trying forever."""
    naps = []

    def nap(seconds):
        naps.append(seconds)
        if len(naps) > 20:
            raise RuntimeError("polling tries again forever")

    monkeypatch.setattr(polling, "time", SimpleNamespace(sleep=nap))  # polling's pauses only
    with FakeTelegram() as telegram:
        for name, value in {"DATABASE_URL": sqlite_url, "TELEGRAM_API_BASE": telegram.url,
                            "MWANGAZA_TELEGRAM_TOKEN": telegram.token, "PITSTOP_VAR_DIR": str(tmp_path / "var")}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.chdir(tmp_path)
        assert CliRunner().invoke(main, ["shop", "load", str(NAIROBI)]).exit_code == 0

        real_poll_once = polling.poll_once

        def poll_once(runtime, slug, offset, timeout):
            offset = real_poll_once(runtime, slug, offset, timeout)
            if offset is not None and not telegram.pending_failures:  # then another poller starts
                telegram.fail_next(3, status=409, description=ANOTHER_POLLER, methods=["getUpdates"])
            return offset

        monkeypatch.setattr(polling, "poll_once", poll_once)
        telegram.fail_next(2, status=409, description=ANOTHER_POLLER, methods=["getUpdates"])
        telegram.queue_update(telegram.update_text(901, 5151, "/start"))
        result = CliRunner().invoke(main, ["poll", "--shop", "mwangaza-motors", "--timeout", "0"])

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Telegram refuses to give the updates of mwangaza-motors to this process ({ANOTHER_POLLER}): "
        "another `pitstop poll` is running for this bot, or a webhook was set again (`pitstop set-webhook`); "
        "run only one of them\n")  # fmt: skip
    assert len(telegram.sent_messages(5151)) == 1  # the customer was answered between the two
    assert naps == [5, 5, 5, 5]
    assert len(telegram.api_calls("getUpdates")) == 6


def test_poll_on_a_database_not_migrated_says_run_db_upgrade_first(tmp_path):
    result = pitstop("poll", "--shop", "mwangaza-motors", tmp_path=tmp_path, timeout=30,
                     MWANGAZA_TELEGRAM_TOKEN="123456:AAxxxxxxxxxxxxxxxxxxxxxx")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (f"Error: the database at sqlite:///{tmp_path / 'ops.db'} has no Pitstop tables yet "
                             "(no such table: shops): run `pitstop db upgrade` first\n")  # fmt: skip


def test_a_shop_without_telegram_is_told_so_by_poll_and_set_webhook(tmp_path):
    assert pitstop("shop", "load", str(whatsapp_only(tmp_path)), tmp_path=tmp_path).returncode == 0
    no_bot = ("Error: shop mwangaza-motors has no [telegram] table in its file, so it has no Telegram bot; "
              "add one and load the file again\n")  # fmt: skip
    hook = pitstop("set-webhook", "--shop", "mwangaza-motors", tmp_path=tmp_path, PUBLIC_BASE_URL="https://g.example")
    poll = pitstop("poll", "--shop", "mwangaza-motors", tmp_path=tmp_path, timeout=30)
    assert (hook.returncode, hook.stderr) == (1, no_bot)
    assert (poll.returncode, poll.stderr) == (1, no_bot)


# -- pitstop set-webhook ----------------------------------------------------------------------


GOOD_TOKEN = "123456:AAgoodgoodgoodgoodgoodgood"


@pytest.mark.parametrize(("mistake", "said"), [
    ({"MWANGAZA_TELEGRAM_TOKEN": "654321:AAbadbadbadbadbadbadbadbad"},
     "Error: Telegram rejected the token in MWANGAZA_TELEGRAM_TOKEN (the bot of mwangaza-motors)"),
    ({"MWANGAZA_TELEGRAM_SECRET": "my secret"},
     "Error: the value of MWANGAZA_TELEGRAM_SECRET cannot be a Telegram webhook secret: "
     "use 1 to 256 characters of A-Z a-z 0-9 _ -"),
    ({"TELEGRAM_API_BASE": "http://127.0.0.1:{port}"},
     "Error: Telegram at http://127.0.0.1:{port} cannot be reached (httpx.ConnectError: All connection attempts "
     "failed); check TELEGRAM_API_BASE"),
], ids=["mistyped token", "secret with a space", "telegram unreachable"])  # fmt: skip
def test_set_webhook_says_in_a_sentence_what_went_wrong(tmp_path, mistake, said):
    port = closed_port()
    with FakeTelegram(token=GOOD_TOKEN, tokens=[GOOD_TOKEN]) as telegram:
        env = {"TELEGRAM_API_BASE": telegram.url, "PUBLIC_BASE_URL": "https://garage.example",
               "MWANGAZA_TELEGRAM_TOKEN": GOOD_TOKEN, "MWANGAZA_TELEGRAM_SECRET": "s3cret"}  # fmt: skip
        env |= {name: value.format(port=port) for name, value in mistake.items()}
        assert pitstop("shop", "load", str(NAIROBI), tmp_path=tmp_path, **env).returncode == 0
        result = pitstop("set-webhook", "--shop", "mwangaza-motors", tmp_path=tmp_path, **env)
        assert telegram.api_calls("setWebhook") == []  # nothing half done
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == said.format(port=port)


# -- worker and cron without Redis --------------------------------------------------------------


@pytest.mark.parametrize("command", [["worker", "--burst"], ["cron"]])
def test_worker_and_cron_say_redis_cannot_be_reached_without_showing_its_password(tmp_path, command):
    assert pitstop("shop", "load", str(ATYRAU), tmp_path=tmp_path).returncode == 0
    port = closed_port()
    result = pitstop(*command, tmp_path=tmp_path, REDIS_URL=f"redis://:hunter2@127.0.0.1:{port}/0")
    assert result.returncode == 1
    assert result.stderr == (f"Error: Redis at redis://:***@127.0.0.1:{port}/0 cannot be reached "
                             f"(Error 111 connecting to 127.0.0.1:{port}. Connection refused.); check REDIS_URL\n")  # fmt: skip


# -- pitstop db upgrade ---------------------------------------------------------------------------


def test_db_upgrade_says_the_revision_the_database_is_really_at(tmp_path):
    where = f"sqlite:///{tmp_path / 'ops.db'}"
    latest = pitstop("db", "upgrade", tmp_path=tmp_path)
    assert latest.stdout == f"database at {where} is at 0008\n"
    older = pitstop("db", "upgrade", "--revision", "0001", tmp_path=tmp_path)  # upgrading never goes back
    assert (older.returncode, older.stdout) == (0, f"database at {where} is at 0008\n")
    part = pitstop("db", "upgrade", "--revision", "0002", tmp_path=tmp_path, database="part.db")
    assert part.stdout == f"database at sqlite:///{tmp_path / 'part.db'} is at 0002\n"
    unknown = pitstop("db", "upgrade", "--revision", "nonsense", tmp_path=tmp_path)
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == "Error: cannot upgrade to 'nonsense': Can't locate revision identified by 'nonsense'\n"


# -- pitstop serve ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bind", ["0.0.0.0", "0.0.0.0:http", "0.0.0.0:70000"])
def test_serve_with_a_bind_that_is_not_host_and_port_says_so(bind):
    result = CliRunner().invoke(main, ["serve", "--bind", bind])
    assert result.exit_code == 2 and result.exception is not None and not isinstance(result.exception, ValueError)
    assert result.stderr.splitlines()[-1] == (f"Error: Invalid value for '--bind': must be HOST:PORT, "
                                              f"e.g. 0.0.0.0:8000, not {bind!r}")  # fmt: skip


# -- pitstop chat -----------------------------------------------------------------------------------


def test_chat_offers_the_days_from_pitstop_now_like_the_other_processes(tmp_path):
    assert pitstop("shop", "load", str(NAIROBI), tmp_path=tmp_path).returncode == 0
    result = subprocess.run([sys.executable, "-m", "pitstop.cli", "chat", "--shop", "mwangaza-motors", "--lang", "en",
                             "--phone", "+254700111444"],
                            input="1\n1\n1\n1\nKCB 123A\n1\n", cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
                                             "PITSTOP_VAR_DIR": str(tmp_path / "var"),
                                             "DATABASE_URL": f"sqlite:///{tmp_path / 'ops.db'}",
                                             "PITSTOP_NOW": "2026-11-23T07:00:00Z"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    days = result.stdout.split("Which day suits you?", 1)[1].splitlines()[1:8]
    assert days == ["  1. Mon 23 Nov", "  2. Tue 24 Nov", "  3. Wed 25 Nov", "  4. Thu 26 Nov", "  5. Fri 27 Nov",
                    "  6. Sat 28 Nov", "  7. Mon 30 Nov"]  # fmt: skip


# -- README ---------------------------------------------------------------------------------------


def test_the_readme_names_the_fields_the_example_files_leave_out():
    readme = (ROOT / "README.md").read_text()
    examples = "".join(path.read_text() for path in sorted(EXAMPLES.glob("*.toml")))
    sentence = re.search(r"The two files in `examples/` [^.]*\.", readme).group(0)
    left_out = re.findall(r"`([^`]+)`", sentence)[1:]
    assert left_out == ["closed = false", "till_number_env", "client_cert_env", "client_key_env",
                        "trust_forwarded_for"]  # fmt: skip
    for field in left_out:
        assert field not in examples
        assert readme.count(field) >= 2, field  # described where it belongs, not only named here
