"""Invariant 1 over HTTP: 200 customers, each one tap away from booking, race for 20 slots
through the Procfile's web command (gunicorn, 4 worker processes) from 4 client processes. Afterwards no two live
bookings share a mechanic or a bay at the same time, and every customer got a clear
answer: booked, or sorry-and-other-times."""

import multiprocessing
import os
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import func, select, text

from core.customers import customer_for
from core.models import Booking, Conversation, Service
from core.runtime import build_runtime
from core.shopfile import read_shop_file
from core.shops import load_shop
from pitstop.fakes.telegram import update_callback
from tests.conftest import NAIROBI, ROOT, make_settings, procfile_command
from tests.integration.booking_helpers import MONDAY_9AM_NAIROBI
from tests.integration.test_no_double_booking import overlapping_pairs

SECRET = "race-secret"
CUSTOMERS, PROCESSES = 200, 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def starts(garage_tz_at):
    """Ten hourly starts: an oil change (45 min + 10 min buffer) never overlaps the next."""
    hours = [(24, h) for h in (8, 9, 10, 11, 12, 14, 15, 16, 17)] + [(25, 8)]
    return [garage_tz_at(d, h) for d, h in hours]


def tap_all(app: str, users: list[int]) -> list[tuple[int, int]]:
    def tap(user: int):
        update = update_callback(user * 10, user, "pay:cash", 1)
        response = requests.post(f"{app}/webhooks/telegram/mwangaza-motors", json=update, timeout=60,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})  # fmt: skip
        return user, response.status_code

    with ThreadPoolExecutor(len(users)) as pool:
        return list(pool.map(tap, users))


def test_two_hundred_customers_race_for_twenty_slots_over_http(pg_url, pg_db, redis_url, tmp_path):
    env = {"TELEGRAM_API_BASE": "http://127.0.0.1:9", "MWANGAZA_TELEGRAM_TOKEN": "1:race",
           "MWANGAZA_TELEGRAM_SECRET": SECRET, "REDIS_URL": redis_url,
           "PITSTOP_NOW": MONDAY_9AM_NAIROBI.isoformat()}  # fmt: skip
    runtime = build_runtime(make_settings(pg_url, **env))
    load_shop(runtime.db, read_shop_file(NAIROBI))
    def at(day, hour):
        return datetime(2026, 11, day, hour, tzinfo=ZoneInfo("Africa/Nairobi")).astimezone(UTC)

    slots = starts(at)
    with runtime.db.uow() as uow:  # 200 customers, each at the last step: choosing how to pay
        s = uow.session
        oil = s.scalar(select(Service.id).where(Service.code == "oil-change"))
        for i in range(CUSTOMERS):
            user = 700000 + i
            customer_for(s, 1, "telegram", str(user), language="en")
            s.add(Conversation(shop_id=1, channel="telegram", chat_id=str(user), state="payment", version=1,
                               language="en", updated_at=MONDAY_9AM_NAIROBI,
                               data={"lang": "en", "services": [oil], "start": slots[i % 10].isoformat(),
                                     "at": MONDAY_9AM_NAIROBI.isoformat(),
                                     "offered": [["pay:cash", ["Pay at the shop"]]]}))  # fmt: skip
    runtime.close()

    port = free_port()
    server_env = dict(os.environ, DATABASE_URL=pg_url, PUBLIC_BASE_URL="http://127.0.0.1", **env)
    web = procfile_command("web", {"WEB_CONCURRENCY": "4", "PORT": str(port)})  # as deployed: --preload
    server = subprocess.Popen([*web, "--log-level", "warning"], cwd=ROOT, env=server_env)
    try:
        app = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                requests.get(f"{app}/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        users = [700000 + i for i in range(CUSTOMERS)]
        chunks = [users[p::PROCESSES] for p in range(PROCESSES)]
        with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
            answers = [a for chunk in pool.starmap(tap_all, [(app, c) for c in chunks]) for a in chunk]
    finally:
        server.terminate()
        server.wait(20)

    assert sorted(code for _, code in answers) == [200] * CUSTOMERS
    with pg_db.uow() as uow:
        s = uow.session
        live = s.scalar(select(func.count()).select_from(Booking).where(Booking.status == "confirmed"))
        replies = dict(s.execute(text(
            "SELECT address, string_agg(body::text, ' ') FROM outbox_messages GROUP BY address")).all())
    assert live == 20
    assert overlapping_pairs(pg_db) == 0
    booked = [u for u in users if "Booked! Your code is" in _english(replies.get(str(u), ""))]
    sorry = [u for u in users if "was taken by someone else" in _english(replies.get(str(u), ""))]
    assert len(booked) == 20 and len(sorry) == 180


def _english(body_json: str) -> str:
    return body_json  # message ids are the English text; rendering is not needed to tell them apart
