"""Faults a production deployment meets: a worker killed in the middle of a delivery, and
the database dropping the app's connections. Nothing is lost; nothing needs a restart."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import select, text

import core.db
from bot import schedule
from core.db import Database
from core.models import OutboxMessage
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.conftest import ROOT
from tests.integration.channel_helpers import shop_env, start_pitstop
from tests.integration.lock_probes import another_writer_can_go
from tests.services import libpq

AMINA = 5550001


def statuses(pitstop):
    with pitstop.runtime.db.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)))


def worker(env: dict, burst: bool) -> subprocess.Popen:
    args = [sys.executable, "-m", "pitstop.cli", "worker"] + (["--burst"] if burst else [])
    return subprocess.Popen(args, cwd=ROOT, env=dict(os.environ, **env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def test_a_worker_killed_mid_delivery_leaves_the_message_to_the_retry(pg_url, pg_db, redis_url):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(pg_url, telegram, twilio, {"REDIS_URL": redis_url})
        pitstop.say(AMINA, "/start")
        pitstop.say(AMINA, "hello")  # two replies queued for one chat
        env = shop_env(telegram, twilio) | {"DATABASE_URL": pg_url, "REDIS_URL": redis_url,
                                            "TELEGRAM_CHAT_INTERVAL": "4"}  # fmt: skip
        slow = worker(env, burst=False)
        try:
            telegram.wait_for_request(lambda r: r.meta.get("api_method") == "sendMessage", timeout=30)
            time.sleep(1.5)  # the second message now waits for the chat's turn
            assert statuses(pitstop) == ["sent", "pending"]
        finally:
            slow.send_signal(signal.SIGKILL)
            slow.wait(10)
        assert statuses(pitstop) == ["sent", "pending"]  # killed while waiting for its turn, it had changed nothing

        assert schedule.redrive_outbox(min_age=timedelta(0)) == 1
        retry = worker(env | {"TELEGRAM_CHAT_INTERVAL": "0"}, burst=True)
        assert retry.wait(60) == 0
        assert statuses(pitstop) == ["sent", "sent"]
        assert len(pitstop.texts(AMINA)) == 2  # delivered once each


def test_a_worker_killed_while_its_send_hangs_rolls_back_and_the_retry_sends_once(pg_url, pg_db, redis_url):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(pg_url, telegram, twilio, {"REDIS_URL": redis_url})
        pitstop.say(AMINA, "/start")  # one reply queued
        telegram.fail_next(1, status=502, methods=["sendMessage"], delay=5)  # hangs, then never accepts it
        env = shop_env(telegram, twilio) | {"DATABASE_URL": pg_url, "REDIS_URL": redis_url}
        hung = worker(env, burst=False)
        try:
            telegram.wait_for_request(lambda r: r.meta.get("api_method") == "sendMessage", timeout=30)
            time.sleep(0.3)  # the worker now waits for the answer, its row locked
            assert not another_writer_can_go(pg_url)
        finally:
            hung.send_signal(signal.SIGKILL)
            hung.wait(10)
        assert statuses(pitstop) == ["pending"]  # the killed job's transaction rolled back
        with pitstop.runtime.db.uow() as uow:
            assert uow.session.scalar(select(OutboxMessage.attempts)) == 0

        assert schedule.redrive_outbox(min_age=timedelta(0)) == 1
        retry = worker(env, burst=True)
        assert retry.wait(60) == 0
        assert statuses(pitstop) == ["sent"]
        assert len(pitstop.texts(AMINA)) == 1


@pytest.mark.parametrize("goodbye_heard", [True, False])
def test_the_app_recovers_when_the_database_drops_its_connections(pg_url, pg_db, goodbye_heard, monkeypatch, caplog):
    """Heard: the pool sees the ended connections and replaces them. Not heard yet (the
    server ended them a moment before the request): the first statement fails, and the
    request runs again on a new connection."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(pg_url, telegram, twilio)
        pitstop.say(AMINA, "/start")
        name = pg_url.rsplit("/", 1)[1]
        base = libpq(pg_url).rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(base, autocommit=True) as conn:
            killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()[0]
        assert killed >= 1
        time.sleep(0.3)  # the ended backends say their last word
        if not goodbye_heard:
            monkeypatch.setattr(core.db, "_readable", lambda fd: False)
        for text_ in ("hello", "menu"):
            response = pitstop.telegram_post(telegram.update_text(9000 + len(text_), AMINA, text_))
            assert response.status_code == 200
        assert len(pitstop.texts(AMINA)) == 3
        assert pitstop.client.get("/healthz").status_code == 200
    assert ("running the request again" in caplog.text) is (not goodbye_heard)


def test_a_pooled_connection_is_checked_by_listening_and_replaced_once_dropped(pg_url):
    """The pre-ping asks the server nothing while a connection sits quietly in the pool;
    once the server has ended the connection, the next unit of work gets a new one."""
    db = Database(pg_url, pool_size=1, max_overflow=0)
    try:
        with db.engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with db.engine.connect() as conn, psycopg.connect(libpq(pg_url), autocommit=True) as watcher:
            last = watcher.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]
            assert last == "ROLLBACK"  # the pool's reset when it was given back; no "SELECT 1" since
            assert watcher.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
        time.sleep(0.5)  # the backend says its last word and closes the socket
        with db.uow() as uow:
            assert uow.session.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        db.dispose()


