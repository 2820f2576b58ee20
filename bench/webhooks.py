"""Inbound throughput: real-format Telegram updates posted by concurrent clients to the app
served by gunicorn, on PostgreSQL and Redis. Each client plays one new customer after
another, in both shops: a new chat, menu taps, a complete booking (an oil change at a
time free for it, paid at the shop), then the booking found and cancelled, so its time is
free for the next. Prints updates/s and the p50/p95/p99 latency of a conversation step,
and the bookings made and cancelled and the messages not understood: a script that went
astray would measure something cheaper than booking. Run by hand (the machine's
PostgreSQL and Redis):

    .venv/bin/python bench/webhooks.py [--clients 16] [--seconds 20] [--workers 4] [--threads 1]

The load generator shares the machine's cores with the app, PostgreSQL and Redis, so it
is kept light (each request sent as prepared bytes on a bare socket, one kept-alive
connection per client where the server allows it), and the CPU each of them spent per
update is printed beside the figures: on a machine this small, those say where the next
update per second has to come from.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402  (waiting for the server only)
from sqlalchemy import String, cast, func, select  # noqa: E402

from bench.scratch import scratch_database  # noqa: E402
from core.availability import free_slots, shop_view_by_slug  # noqa: E402
from core.models import Booking, BookingStatus, OutboxMessage, Service  # noqa: E402
from core.runtime import build_runtime  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.shopfile import read_shop_file  # noqa: E402
from core.shops import load_shop  # noqa: E402
from pitstop.fakes.telegram import update_callback, update_text  # noqa: E402

BASE = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12")
SHOPS = {"mwangaza-motors": "MWANGAZA", "zhaiyk-auto": "ZHAIYK"}
SECRET = "bench-secret"


def visit(when: str) -> list[tuple[str, str]]:
    """One new customer's whole visit, as taps and typing: book an oil change at `when`
    ("10.12 09:00"), pay at the shop, find the booking and cancel it, back to the menu."""
    return [("text", "/start"), ("tap", "lang:en"), ("tap", "m:book"), ("text", "oil change"), ("tap", "done"),
            ("text", "KCB 123A"), ("tap", "skip"), ("text", when), ("text", "yes"), ("tap", "pay:cash"),
            ("tap", "m:bookings"), ("text", "1"), ("tap", "cancel"), ("text", "yes"), ("text", "menu")]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(url: str) -> dict[str, str]:
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=REDIS, PUBLIC_BASE_URL="http://127.0.0.1",
               TELEGRAM_API_BASE="http://127.0.0.1:9")  # fmt: skip
    env.setdefault("LOG_LEVEL", "WARNING")  # at INFO, a line per update would bury the figures
    for prefix in SHOPS.values():
        env |= {f"{prefix}_TELEGRAM_TOKEN": "1:bench", f"{prefix}_TELEGRAM_SECRET": SECRET}
    return env


class Poster:
    """A bare HTTP/1.1 client for one local server: the request is sent as prepared bytes
    and the answer read by its Content-Length, on one kept-alive connection, opened again
    whenever the server closes it (gunicorn's sync workers close every one). http.client
    spent about three times the CPU per request (its headers are parsed by the email
    package), and the load generator shares the machine's two cores with the app."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def post(self, request: bytes) -> tuple[int, bytes]:
        """The status and body of the answer to `request`; a kept-alive connection that the
        server closed meanwhile is opened again once."""
        for attempt in (1, 2):
            fresh = self.sock is None
            if fresh:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.sock.sendall(request)
                return self._answer()
            except (ConnectionError, EOFError):
                self.close()
                if fresh or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _answer(self) -> tuple[int, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        fields = dict(line.split(b":", 1) for line in lines[1:])
        length = int(fields[b"content-length"])
        while len(body) < length:
            body += self._recv()
        if fields.get(b"connection", b"").strip() == b"close":
            self.close()
        return int(lines[0].split()[1]), body

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        return chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def request_bytes(path: str, body: bytes) -> bytes:
    """A POST of `body` as Telegram makes it, ready to send."""
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip


def client(port: int, shop: str, first_user: int, when: str, deadline: float, latencies: list,
           lock: threading.Lock, ids) -> None:  # fmt: skip
    """New customers one after another, each chatting as fast as the bot answers, all
    booking the same time (`when`, which no other client books)."""
    poster = Poster(port)
    steps = visit(when)
    for n in itertools.count():
        if time.monotonic() > deadline:
            break
        kind, value = steps[n % len(steps)]
        user = first_user + n // len(steps)
        uid = next(ids)
        update = update_text(uid, user, value) if kind == "text" else update_callback(uid, user, value, 1)
        request = request_bytes(f"/webhooks/telegram/{shop}", json.dumps(update).encode())
        t0 = time.perf_counter()
        status, answer = poster.post(request)
        elapsed = (time.perf_counter() - t0) * 1000
        if status != 200:
            raise RuntimeError(f"{status}: {answer[:200]!r}")
        with lock:
            latencies.append(elapsed)
    poster.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (the Procfile runs 1)")
    args = parser.parse_args()

    with scratch_database(BASE) as url:
        serve_and_measure(url, args)


def serve_and_measure(url: str, args) -> None:
    env = environment(url)
    runtime = build_runtime(load_settings(environ=env, dotenv_path=None))
    for file in ("nairobi-garage.toml", "atyrau-service.toml"):
        load_shop(runtime.db, read_shop_file(ROOT / "examples" / file))
    times = {slug: times_to_book(runtime, slug, -(-args.clients // len(SHOPS))) for slug in SHOPS}
    try:
        serve_and_measure_app("webhooks:create_app()", env, args, times)
        print_what_was_done(runtime)
    finally:
        runtime.close()


def times_to_book(runtime, slug: str, count: int) -> list[str]:
    """`count` times free for an oil change at the shop, typed as a customer would
    ("10.12 09:00"), at least two hours apart (two clients never want one mechanic at
    once), on the first day they fit from three days ahead (so cancelling is free)."""
    with runtime.db.uow() as uow:
        s = uow.session
        view = shop_view_by_slug(s, slug)
        shop_id = view.shop_id
        oil = s.scalar(select(Service.id).where(Service.shop_id == shop_id, Service.code == "oil-change"))
        now = datetime.now(UTC)
        today = view.local_day(now)
        for ahead in range(3, 30):
            day = today + timedelta(days=ahead)
            chosen: list[datetime] = []
            for slot in free_slots(s, shop_id, [oil], day, day, now):
                if all(abs(slot.start - t) >= timedelta(hours=2) for t in chosen):
                    chosen.append(slot.start)
            if len(chosen) >= count:
                return [t.astimezone(view.tz).strftime("%d.%m %H:%M") for t in chosen[:count]]
    raise SystemExit(f"{slug}: no day in the next month has {count} times two hours apart; use fewer clients")


def print_what_was_done(runtime) -> None:
    """The bookings made and cancelled and the answers that did not understand: the
    figures above are a booking's only if every visit went as scripted."""
    with runtime.db.uow() as uow:
        made = uow.session.scalar(select(func.count()).select_from(Booking))
        cancelled = uow.session.scalar(select(func.count()).where(Booking.status == BookingStatus.CANCELLED))
        puzzled = uow.session.scalar(select(func.count()).where(cast(OutboxMessage.body, String).contains("Sorry, I did not get that")))
    print(f"webhooks_bookings_made {made}")
    print(f"webhooks_bookings_cancelled {cancelled}")
    print(f"webhooks_answers_not_understood {puzzled}")


def serve_and_measure_app(app: str, env: dict[str, str], args, times: dict[str, list[str]] | None = None) -> None:
    """Serve `app` with gunicorn as the Procfile does (the app built once, workers forked
    from it; workers and threads from `args`), measure it with clients booking `times`
    (by shop), stop it."""
    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "--preload", "--workers", str(args.workers), "--threads", str(args.threads),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app], cwd=ROOT, env=env)  # fmt: skip
    try:
        measure(port, server.pid, args, times or {slug: ["tomorrow 10am"] * args.clients for slug in SHOPS})
    finally:
        server.terminate()
        server.wait(10)


def measure(port: int, server_pid: int, args, times: dict[str, list[str]]) -> None:
    for _ in range(300):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            break
        except requests.RequestException:
            time.sleep(0.1)
    latencies: list[float] = []
    lock, ids = threading.Lock(), itertools.count(1)
    deadline = time.monotonic() + args.seconds
    cpu_before = cpu_seconds(server_pid)
    started = time.monotonic()
    shops = list(SHOPS)
    threads = [threading.Thread(target=client, args=(port, shops[i % len(shops)], 1_000_000 * (i + 1),
                                                     times[shops[i % len(shops)]][i // len(shops)],
                                                     deadline, latencies, lock, ids))
               for i in range(args.clients)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    cpu_after = cpu_seconds(server_pid)
    q = statistics.quantiles(latencies, n=100)
    print(f"webhooks_updates {len(latencies)}")
    print(f"webhooks_updates_per_second {len(latencies) / took:.0f}")
    print(f"webhooks_step_p50_ms {q[49]:.1f}")
    print(f"webhooks_step_p95_ms {q[94]:.1f}")
    print(f"webhooks_step_p99_ms {q[98]:.1f}")
    for part, spent in cpu_per_part(cpu_before, cpu_after).items() if cpu_after else ():
        print(f"webhooks_cpu_ms_per_update_{part} {spent / len(latencies) * 1000:.2f}")
    print(f"webhooks_clients {args.clients} gunicorn_workers {args.workers} threads {args.threads}")


def cpu_seconds(server_pid: int) -> dict[tuple[str, int], tuple[float, float]]:
    """CPU seconds so far of each process of the app (gunicorn and its workers), of
    PostgreSQL and Redis (every process of theirs on the machine, so nothing else should
    use them meanwhile) and of this load generator, read from /proc (Linux): by (part,
    pid), its own and that of the children it has reaped (a backend that ended). Empty
    where there is no /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    spent = {("load_generator", os.getpid()): (sum(os.times()[:2]), 0.0)}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, _, rest = (entry / "stat").read_text().rpartition(")")
            fields = rest.split()
        except OSError:  # the process ended meanwhile
            continue
        command, pid, parent = name.split("(", 1)[1], int(entry.name), int(fields[1])
        part = "web" if server_pid in (pid, parent) else "postgres" if command.startswith("postgres") \
            else "redis" if command.startswith("redis") else None  # fmt: skip
        if part:
            own, reaped = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
            spent[(part, pid)] = (own / tick, reaped / tick)
    return spent


def cpu_per_part(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds each part spent between two readings: what each process spent since
    the first (all of it, for one started since), plus what its children that ended
    meanwhile had spent (all their life: a little too much, never too little)."""
    parts = {"web": 0.0, "postgres": 0.0, "redis": 0.0, "load_generator": 0.0}
    for (part, pid), (own, reaped) in after.items():
        own_before, reaped_before = before.get((part, pid), (0.0, 0.0))
        parts[part] += own - own_before + reaped - reaped_before
    return parts

if __name__ == "__main__":
    main()
