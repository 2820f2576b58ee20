"""M-Pesa callbacks applied on PostgreSQL: throughput and latency, duplicates included.

2,000 held bookings of one garage, spread over 20 days, each with a pending STK push.
First 200 callbacks one after another (latency with no contention); then the rest from
two processes of four threads each (as several web processes would; BENCH_PROCESSES
and BENCH_THREADS change that), every callback once and every fifth one a second time. Each delivery does what
POST /webhooks/mpesa/<token> does after parsing: record the raw body in the inbox (its
own transaction), then — unless it is a duplicate — apply it in one transaction under
the day, booking and payment locks, confirming the booking and writing the customer's
message to the outbox. Prints one figure a line. Run by hand:

    DATABASE_URL=postgresql://postgres@127.0.0.1/test .venv/bin/python bench/payments.py
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.scratch import scratch_database  # noqa: E402
from core import availability as av  # noqa: E402
from core import mpesa  # noqa: E402
from core.db import Database  # noqa: E402
from core.models import Booking, ChannelIdentity, Customer, OutboxMessage, Payment  # noqa: E402
from core.shopfile import read_shop_file  # noqa: E402
from pitstop.fakes.daraja import callback_body  # noqa: E402
from tests.integration.booking_helpers import loaded  # noqa: E402

BOOKINGS, DAYS, DUPLICATE_EVERY, SERIAL = 2000, 20, 5, 200
PROCESSES = int(os.environ.get("BENCH_PROCESSES", 2))
THREADS = int(os.environ.get("BENCH_THREADS", 4))


def main() -> None:
    with scratch_database() as url:
        run(url)


def open_days(session, shop_id: int, after: datetime) -> list[datetime]:
    """08:00 on each of the next DAYS days the shop opens: a hold is never on a closed
    day (and money for one on a day closed since goes back)."""
    view = av.shop_view(session, shop_id)
    day, found = view.local_day(after), []
    while len(found) < DAYS:
        if av.is_open(session, view, day):
            found.append(datetime.combine(day, dtime(8), view.tz).astimezone(UTC))
        day += timedelta(days=1)
    return found


def prepare(url: str) -> list[str]:
    """Held bookings with pending payments whose push Daraja accepted; the callbacks."""
    db = Database(url)
    garage = loaded(db, read_shop_file(ROOT / "examples" / "nairobi-garage.toml"))
    now = datetime.now(UTC)
    with db.uow() as uow:
        s = uow.session
        days = open_days(s, garage.id, now + timedelta(days=2))
        for i in range(BOOKINGS):
            customer = Customer(shop_id=garage.id, name=f"bench {i}", phone=f"+2547120{i:05d}", language="en")
            s.add(customer)
            s.flush()
            s.add(ChannelIdentity(shop_id=garage.id, customer_id=customer.id, channel="console", address=f"bench-{i}"))
            start = days[i % DAYS] + timedelta(minutes=(i // DAYS) % 600)
            booking = Booking(code=f"MM-{20000 + i}", shop_id=garage.id, customer_id=customer.id, starts_at=start,
                              ends_at=start + timedelta(minutes=45), blocks_until=start + timedelta(minutes=55),
                              status="held", hold_expires_at=now + timedelta(days=1), price_minor=350000,
                              deposit_minor=0, currency="KES", channel="console", created_at=now, updated_at=now)  # fmt: skip
            s.add(booking)
            s.flush()
            s.add(Payment(shop_id=garage.id, booking_id=booking.id, provider="mpesa", purpose="full",
                          amount_minor=350000, currency="KES", status="pending", provider_ref=f"ws_CO_BENCH_{i:06d}",
                          provider_status="sent", raw_callbacks=[], checks=1, requested_at=now,
                          next_check_at=now + mpesa.QUERY_AFTER, give_up_at=now + mpesa.GIVE_UP_AFTER,
                          created_at=now, updated_at=now))  # fmt: skip
    db.dispose()
    bodies = [json.dumps(callback_body(f"ws_CO_BENCH_{i:06d}", f"{i}-1-1", 0, amount=3500,
                                       receipt=f"B{i:09d}", phone=254712000000 + i))
              for i in range(BOOKINGS)]  # fmt: skip
    deliveries = bodies + bodies[::DUPLICATE_EVERY]
    deliveries.sort(key=lambda b: hash(b) % 997)  # duplicates arrive mixed in, not at the end
    return deliveries


def run(url: str) -> None:
    deliveries = prepare(url)
    serial, deliveries = deliveries[:SERIAL], deliveries[SERIAL:]
    alone = serial_phase(url, serial)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    per = -(-len(deliveries) // PROCESSES)
    barrier = ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=worker, args=(url, deliveries[p * per:(p + 1) * per], barrier, results))
             for p in range(PROCESSES)]  # fmt: skip
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=600) for _ in range(PROCESSES)]
    for p in procs:
        p.join()
    elapsed = max(o["ended"] for o in outcomes) - min(o["started"] for o in outcomes)
    latencies = [ms for o in outcomes for ms in o["latencies"]]
    applied = sum(o["applied"] for o in outcomes)
    duplicates = sum(o["duplicates"] for o in outcomes)
    errors = sum(o["errors"] for o in outcomes)
    db = Database(url)
    with db.uow() as uow:
        s = uow.session
        completed = s.scalar(select(func.count()).select_from(Payment).where(Payment.status == "completed"))
        confirmed = s.scalar(select(func.count()).select_from(Booking).where(Booking.status == "confirmed"))
        messages = s.scalar(select(func.count()).select_from(OutboxMessage))
    db.dispose()
    q = statistics.quantiles(latencies, n=100)
    a = statistics.quantiles(alone, n=100)
    print(f"cpus {os.cpu_count()}")
    print(f"mpesa_serial_callback_p50_ms {a[49]:.1f}")
    print(f"mpesa_serial_callback_p95_ms {a[94]:.1f}")
    print(f"mpesa_serial_callbacks_per_second {len(alone) / (sum(alone) / 1000):.0f}")
    print(f"mpesa_concurrent_workers {PROCESSES * THREADS}")
    print(f"mpesa_concurrent_deliveries {len(deliveries)}")
    print(f"mpesa_concurrent_callbacks_applied {applied}")
    print(f"mpesa_concurrent_duplicates_acknowledged_without_effect {duplicates}")
    print(f"mpesa_concurrent_callbacks_applied_per_second {applied / elapsed:.0f}")
    print(f"mpesa_concurrent_deliveries_per_second {len(deliveries) / elapsed:.0f}")
    print(f"mpesa_concurrent_callback_p50_ms {q[49]:.1f}")
    print(f"mpesa_concurrent_callback_p95_ms {q[94]:.1f}")
    print(f"mpesa_concurrent_callback_p99_ms {q[98]:.1f}")
    print(f"mpesa_payments_completed {completed}/{BOOKINGS}")
    print(f"mpesa_bookings_confirmed {confirmed}/{BOOKINGS}")
    print(f"mpesa_customer_messages {messages}/{BOOKINGS}")
    print(f"mpesa_errors {errors}")


def deliver_one(db: Database, raw: str) -> str:
    """What the webhook does after the token check: parse, record, apply unless a duplicate."""
    body = json.loads(raw)
    callback = mpesa.StkCallback.parse(body)
    now = datetime.now(UTC)
    recorded = mpesa.record(db, callback, body, raw.encode(), now)
    if recorded.duplicate:
        return "duplicates"
    outcome = mpesa.apply_callback(db, recorded.inbox_id, callback, now)
    return "applied" if outcome.startswith("applied") else "errors"


def serial_phase(url: str, deliveries: list[str]) -> list[float]:
    db = Database(url)
    latencies = []
    for raw in deliveries:
        t0 = time.perf_counter()
        assert deliver_one(db, raw) in ("applied", "duplicates")
        latencies.append((time.perf_counter() - t0) * 1000)
    db.dispose()
    return latencies


def worker(url: str, deliveries: list[str], barrier, results) -> None:
    db = Database(url, pool_size=THREADS, max_overflow=0)
    with db.engine.connect() as conn:  # a warm process: measure callbacks, not connecting
        conn.exec_driver_sql("SELECT 1")
    lock = threading.Lock()
    latencies: list[float] = []
    counts = {"applied": 0, "duplicates": 0, "errors": 0}
    chunks = [deliveries[i::THREADS] for i in range(THREADS)]
    barrier.wait()
    started = time.time()

    def deliver(chunk: list[str]) -> None:
        for raw in chunk:
            t0 = time.perf_counter()
            try:
                kind = deliver_one(db, raw)
            except Exception:
                kind = "errors"
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                counts[kind] += 1

    threads = [threading.Thread(target=deliver, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ended = time.time()
    db.dispose()
    results.put({"latencies": latencies, "started": started, "ended": ended, **counts})


if __name__ == "__main__":
    main()
