"""Outbound delivery against Telegram's limits: 1,000 messages to 1,000 chats, then 20 to
one chat, through the real sender (python-telegram-bot) and the pacer, against the fake
Bot API enforcing 30 messages/s per bot and 1/s per chat. Prints the achieved rate as a
share of each limit and the number of 429 answers. Run by hand:

    .venv/bin/python bench/delivery.py            # embedded SQLite, in-process pacing
    DATABASE_URL=postgresql://postgres@127.0.0.1/test .venv/bin/python bench/delivery.py
    REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/delivery.py   # shared pacing

By default the bench's own threads call the sender (WORKERS of them). With PROCESSES=N
(and DATABASE_URL and REDIS_URL) the jobs go through Redis to N `pitstop worker`
processes, as the Procfile runs them; the clock starts once the rows are committed and
their jobs enqueued (the time that takes is printed too).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_database  # noqa: E402
from bot.delivery import channels, deliver  # noqa: E402
from core import outbox  # noqa: E402
from core.messages import Msg, Reply  # noqa: E402
from pitstop.fakes.telegram import FakeTelegram  # noqa: E402
from pitstop.fakes.twilio import FakeTwilio  # noqa: E402
from tests.integration.channel_helpers import shop_env  # noqa: E402

WORKERS = int(os.environ.get("WORKERS", "4"))
PROCESSES = int(os.environ.get("PROCESSES", "0"))


def write(pitstop, chats: list[str]) -> list[int]:
    """One outbox message for each chat, in one transaction; their ids."""
    with pitstop.runtime.db.uow() as uow:
        return [outbox.send(uow.session, shop_id=1, channel="telegram", address=chat, language="en",
                            reply=Reply((Msg("Your car is ready for pickup."),))).id for chat in chats]  # fmt: skip


def run(pitstop, chats: list[str]) -> float:
    """Deliver a message to each of `chats` from WORKERS threads; the seconds it took from
    the moment every thread's sender was ready."""
    todo = write(pitstop, chats)
    lock = threading.Lock()
    ready = threading.Barrier(WORKERS + 1)

    def worker():
        warm(pitstop.runtime)
        ready.wait()
        while True:
            with lock:
                if not todo:
                    return
                outbox_id = todo.pop(0)
            deliver(outbox_id)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    ready.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def warm(runtime) -> None:
    """This thread's Bot made and connected, as a `pitstop worker`'s is from its first
    message on: making one (its HTTP client, event loop and getMe) took 200-300 ms per
    fresh thread here, which the clock would otherwise count as slow pacing."""
    from bot.telegram import bot_for
    from core.models import Shop

    with runtime.db.reading() as uow:
        bot_for(runtime, uow.session.get(Shop, 1), uow.session)


def run_through_workers(pitstop, chats: list[str]) -> float:
    """The rows are committed, their jobs go to Redis, running workers send them."""
    before = len(pitstop.telegram.sent_messages())
    committing = time.perf_counter()
    write(pitstop, chats)
    started = time.perf_counter()  # the jobs are on the queue: the workers' clock starts
    print(f"delivery_commit_and_enqueue_{len(chats)}_seconds {started - committing:.2f}")
    refused_before = pitstop.telegram.count_429
    deadline = started + 10 + 2 * len(chats)  # a message refused with 429 waits for the re-drive
    while len(pitstop.telegram.sent_messages()) - before + pitstop.telegram.count_429 - refused_before < len(chats):
        if time.perf_counter() > deadline:
            raise SystemExit(f"the workers stopped sending; see {tempfile.gettempdir()}/pitstop-bench-workers.log")
        time.sleep(0.02)  # gently: the fake Bot API shares this process
    return time.perf_counter() - started


@contextmanager
def worker_processes(env: dict[str, str], redis_url: str):
    """PROCESSES `pitstop worker` processes, started and idle before the clock starts."""
    from redis import Redis
    from rq import Worker

    redis = Redis.from_url(redis_url)

    def forget() -> None:  # only the queue's and the pacer's keys: REDIS_URL may hold more
        for pattern in ("rq:*", "pace:*"):
            for key in redis.scan_iter(pattern):
                redis.delete(key)

    forget()
    log = open(Path(tempfile.gettempdir()) / "pitstop-bench-workers.log", "w")  # RQ logs every job
    procs = [subprocess.Popen([sys.executable, "-m", "pitstop.cli", "worker"], cwd=ROOT, env=os.environ | env,
                              stdout=log, stderr=subprocess.STDOUT) for _ in range(PROCESSES)]  # fmt: skip
    try:
        while len(Worker.all(connection=redis)) < PROCESSES:
            time.sleep(0.1)
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
        forget()
        log.close()


def main() -> None:
    from core.migrate import upgrade
    from core.runtime import build_runtime
    from core.shopfile import read_shop_file
    from core.shops import load_shop
    from tests.conftest import NAIROBI, make_settings
    from tests.integration.channel_helpers import Pitstop

    postgres = (os.environ.get("DATABASE_URL") or "").startswith("postgres")
    with tempfile.TemporaryDirectory() as tmp, FakeTelegram(rate_limit=True) as telegram, FakeTwilio() as twilio, \
            (scratch_database() if postgres else nullcontext(f"sqlite:///{tmp}/bench.db")) as url:  # fmt: skip
        upgrade(url)
        env = shop_env(telegram, twilio) | {"TELEGRAM_CHAT_INTERVAL": "1.0"}
        if os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
        runtime = build_runtime(make_settings(url, **env))
        load_shop(runtime.db, read_shop_file(NAIROBI))
        pitstop = Pitstop(None, runtime, telegram, twilio)
        if PROCESSES:
            with worker_processes(env | {"DATABASE_URL": url}, os.environ["REDIS_URL"]):
                many = run_through_workers(pitstop, [str(100000 + i) for i in range(1000)])
                one = run_through_workers(pitstop, ["4242"] * 20)
        else:
            runtime.db.queue = None  # no delivery jobs on commit: the bench's threads deliver
            channels()  # the senders imported before the clock starts, as `pitstop worker` does
            many = run(pitstop, [str(100000 + i) for i in range(1000)])
            one = run(pitstop, ["4242"] * 20)
        sent_many = len([m for m in telegram.sent_messages() if m["chat_id"] != 4242])
        print(f"delivery_1000_chats_seconds {many:.2f}")
        print(f"delivery_1000_chats_per_second {sent_many / many:.1f}")
        print(f"delivery_1000_chats_share_of_30_per_second {sent_many / many / 30 * 100:.1f}%")
        print(f"delivery_one_chat_20_messages_seconds {one:.2f}")
        print(f"delivery_one_chat_share_of_1_per_second {19 / one * 100:.1f}%")
        print(f"delivery_429_answers {telegram.count_429}")
        print(f"delivery_429_for_the_bot_limit {telegram.rate_limited_by_bot}")
        print(f"delivery_429_for_a_chat_limit {sum(telegram.rate_limited_by_chat.values())}")


if __name__ == "__main__":
    main()
