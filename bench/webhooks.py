"""Inbound throughput: real-format Telegram updates posted by concurrent clients to the app
served by gunicorn, on PostgreSQL and Redis. A mix of new chats, menu taps and complete
bookings across both shops' customers. Prints updates/s and the p50/p95/p99 latency of a
conversation step. Run by hand (the machine's PostgreSQL and Redis):

    .venv/bin/python bench/webhooks.py [--clients 16] [--seconds 20] [--workers 4]
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.scratch import scratch_database  # noqa: E402
from core.runtime import build_runtime  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.shopfile import read_shop_file  # noqa: E402
from core.shops import load_shop  # noqa: E402
from pitstop.fakes.telegram import update_callback, update_text  # noqa: E402

BASE = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12")
SHOPS = {"mwangaza-motors": "MWANGAZA", "zhaiyk-auto": "ZHAIYK"}
SECRET = "bench-secret"
# One customer's whole booking, as taps and typing; then they start over.
SCRIPT = [("text", "/start"), ("tap", "lang:en"), ("tap", "m:book"), ("text", "oil change"), ("tap", "done"),
          ("text", "KCB 123A"), ("tap", "skip"), ("text", "tomorrow 10am"), ("tap", "confirm"), ("tap", "pay:cash"),
          ("tap", "m:bookings"), ("text", "menu")]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(url: str) -> dict[str, str]:
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=REDIS, PUBLIC_BASE_URL="http://127.0.0.1",
               TELEGRAM_API_BASE="http://127.0.0.1:9")  # fmt: skip
    for prefix in SHOPS.values():
        env |= {f"{prefix}_TELEGRAM_TOKEN": "1:bench", f"{prefix}_TELEGRAM_SECRET": SECRET}
    return env


def client(url: str, shop: str, user: int, deadline: float, latencies: list, lock: threading.Lock, ids) -> None:
    session = requests.Session()
    for kind, value in itertools.cycle(SCRIPT):
        if time.monotonic() > deadline:
            return
        uid = next(ids)
        update = update_text(uid, user, value) if kind == "text" else update_callback(uid, user, value, 1)
        t0 = time.perf_counter()
        response = session.post(f"{url}/webhooks/telegram/{shop}", json=update, timeout=30,
                                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})  # fmt: skip
        elapsed = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
        with lock:
            latencies.append(elapsed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    with scratch_database(BASE) as url:
        serve_and_measure(url, args)


def serve_and_measure(url: str, args) -> None:
    env = environment(url)
    runtime = build_runtime(load_settings(environ=env, dotenv_path=None))
    for file in ("nairobi-garage.toml", "atyrau-service.toml"):
        load_shop(runtime.db, read_shop_file(ROOT / "examples" / file))
    runtime.close()

    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "webhooks:create_app()"], cwd=ROOT, env=env)  # fmt: skip
    try:
        measure(f"http://127.0.0.1:{port}", args)
    finally:
        server.terminate()
        server.wait(10)


def measure(app: str, args) -> None:
    for _ in range(300):
        try:
            requests.get(f"{app}/healthz", timeout=5)
            break
        except requests.RequestException:
            time.sleep(0.1)
    latencies: list[float] = []
    lock, ids = threading.Lock(), itertools.count(1)
    deadline = time.monotonic() + args.seconds
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(app, list(SHOPS)[i % 2], 900000 + i, deadline, latencies, lock, ids))
               for i in range(args.clients)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100)
    print(f"webhooks_updates {len(latencies)}")
    print(f"webhooks_updates_per_second {len(latencies) / took:.0f}")
    print(f"webhooks_step_p50_ms {q[49]:.1f}")
    print(f"webhooks_step_p95_ms {q[94]:.1f}")
    print(f"webhooks_step_p99_ms {q[98]:.1f}")
    print(f"webhooks_clients {args.clients} gunicorn_workers {args.workers}")


if __name__ == "__main__":
    main()
