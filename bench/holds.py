"""Contended holds on PostgreSQL: 50 customers at once for the one slot that fits.

Five processes of ten threads each (as several web processes would). Prints the
latency of a hold under contention (p50, p95, p99), how many rounds each
had exactly one winner, and errors (deadlocks would show here). Run by hand:

    DATABASE_URL=postgresql://postgres@127.0.0.1/test .venv/bin/python bench/holds.py
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.scratch import scratch_database  # noqa: E402
from core import booking  # noqa: E402
from core.booking import Held  # noqa: E402
from core.db import Database  # noqa: E402
from core.shopfile import read_shop_file  # noqa: E402
from tests.integration.booking_helpers import MONDAY_9AM_NAIROBI as NOW  # noqa: E402
from tests.integration.booking_helpers import loaded, new_customer  # noqa: E402

RACERS, ROUNDS = 50, 20
WARM_HOLDS = 6


def main() -> None:
    with scratch_database() as url:
        run(url)


PROCESSES = 5  # several web processes, as in production, each with RACERS/PROCESSES threads


def run(url: str) -> None:
    db = Database(url)
    garage = loaded(db, read_shop_file(ROOT / "examples" / "nairobi-garage.toml"))
    customers = [new_customer(db, garage, f"bench-{i}") for i in range(RACERS)]
    db.dispose()
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    latencies: list[float] = []
    errors = single_winner = 0
    for r in range(ROUNDS):
        day, hour = divmod(r, 8)
        start = garage.at(2026, 11, 24 + day, 8 + hour if hour < 5 else 9 + hour)
        barrier, finished = ctx.Barrier(RACERS), ctx.Barrier(PROCESSES)
        per = RACERS // PROCESSES
        procs = [ctx.Process(target=racer, args=(url, garage, customers[p * per:(p + 1) * per], start, barrier, finished, results))
                 for p in range(PROCESSES)]  # fmt: skip
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in range(RACERS)]
        for p in procs:
            p.join()
        errors += sum(kind == "error" for kind, _ in outcomes)
        latencies += [ms for kind, ms in outcomes if kind != "error"]
        single_winner += sum(kind == "won" for kind, _ in outcomes) == 1
    q = statistics.quantiles(latencies, n=100)
    print(f"holds_contended_attempts {len(latencies) + errors}")
    print(f"holds_contended_p50_ms {q[49]:.1f}")
    print(f"holds_contended_p95_ms {q[94]:.1f}")
    print(f"holds_contended_p99_ms {q[98]:.1f}")
    print(f"holds_rounds_with_exactly_one_winner {single_winner}/{ROUNDS}")
    print(f"holds_errors {errors}")


def racer(url, garage, customers, start, barrier, finished, results) -> None:
    db = Database(url, pool_size=len(customers), max_overflow=0)
    service = (garage.services["wheel-alignment"],)
    warm = threading.Barrier(len(customers))
    outcomes: list[tuple[str, float]] = []

    def attempt(customer: int) -> None:
        with db.engine.connect() as conn:  # one pooled connection per thread, warmed up
            warm_up(conn, garage, customer, service, start)
            warm.wait()
        barrier.wait(timeout=60)
        t0 = time.perf_counter()
        try:
            outcome = booking.hold(db, shop_id=garage.id, customer_id=customer,
                                   service_ids=service, start=start, now=NOW)  # fmt: skip
        except Exception:
            outcomes.append(("error", 0.0))
            return
        outcomes.append(("won" if isinstance(outcome, Held) else "lost", (time.perf_counter() - t0) * 1000))

    threads = [threading.Thread(target=attempt, args=(c,)) for c in customers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Report and close connections only when every process has finished racing: a
    # backend shutting down costs CPU the racers of other processes would be short of.
    finished.wait(timeout=120)
    for outcome in outcomes:
        results.put(outcome)
    db.dispose()


def warm_up(conn, garage, customer, service, start) -> None:
    """A web process that has served a few requests: its connections have read these
    tables and prepared these statements (psycopg prepares on the fifth use). The warm
    holds are a week later and rolled back."""
    for i in range(WARM_HOLDS):
        with Session(bind=conn) as session:
            booking.hold_in_session(session, garage.id, customer, service, start + timedelta(days=7 + i % 3),
                                    NOW, None, None, None, None, None)  # fmt: skip
            session.rollback()


if __name__ == "__main__":
    main()
