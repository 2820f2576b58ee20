"""Benchmark for the free-slot engine (core/slots.py).

Why: "show me free times" runs on every customer message that asks for a day or a slot,
so it has to stay fast on a busy shop. The target: 10 mechanics with mixed skills, 6 bays,
60 days of hours, 5,000 existing bookings; the next 14 days for a 90-minute two-service
visit under 5 ms median. The shop is built deterministically (random.Random(42)), and the
bookings are passed as a plain list each time, as the booking service would.

Run from the repository root: python bench/slots.py
Prints one "name value" line per figure.
"""

from __future__ import annotations

import random
import statistics
import sys
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.slots import (  # noqa: E402
    Calendar,
    Mechanic,
    Occupied,
    OpeningHours,
    Slot,
    free_days,
    free_slots,
)

TZ = "Africa/Nairobi"
FIRST_DAY = date(2026, 6, 1)  # a Monday
DAYS = 60
BOOKINGS = 5000
BAYS = [1, 2, 3, 4, 5, 6]
SKILLS = ["oil", "brakes", "tyres", "electrics", "diagnostics", "aircon"]
VISIT_SKILLS = frozenset({"oil", "brakes"})
VISIT_DURATION = timedelta(minutes=90)


def build_shop(rng: random.Random) -> tuple[Calendar, list[Mechanic]]:
    """A long-hours shop open every day but Sunday afternoon, with a lunch break."""
    weekday = OpeningHours(time(7, 0), time(20, 0), ((time(13, 0), time(13, 30)),))
    week = {d: weekday for d in range(6)} | {6: OpeningHours(time(9, 0), time(15, 0))}
    cal = Calendar(
        timezone=TZ,
        week=week,
        closed_days=frozenset({FIRST_DAY + timedelta(days=30)}),
        slot_step=timedelta(minutes=15),
        buffer=timedelta(minutes=10),
        min_notice=timedelta(hours=2),
        horizon=timedelta(days=DAYS),
    )
    # Every mechanic does oil; half also do brakes, so 5 of 10 qualify for the visit.
    mechanics = [
        Mechanic(
            i,
            frozenset({"oil", *rng.sample(SKILLS[2:], rng.randint(1, 3))})
            | ({"brakes"} if i % 2 else set()),
        )
        for i in range(1, 11)
    ]
    return cal, mechanics


def build_bookings(rng: random.Random, cal: Calendar, mechanics: list[Mechanic]) -> list[Occupied]:
    """5,000 bookings that never overlap (with buffer) on a mechanic or a bay, placed at
    random grid times inside opening hours, as a real calendar would hold them.
    A third use no bay (diagnostics at the desk, road tests, call-outs)."""
    tz = ZoneInfo(cal.timezone)
    taken: dict[tuple[str, int, date], list[tuple[datetime, datetime]]] = {}
    bookings: list[Occupied] = []
    lengths = [15, 20, 30, 30, 45, 60]
    while len(bookings) < BOOKINGS:
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        hours = cal.week[day.weekday()]
        open_wall = datetime.combine(day, hours.open, tz)
        close_wall = datetime.combine(day, hours.close, tz)
        minutes = rng.choice(lengths)
        last = int((close_wall - open_wall).total_seconds() // 900) - minutes // 15
        start = (open_wall + timedelta(minutes=15 * rng.randrange(max(last, 1)))).astimezone(UTC)
        end = start + timedelta(minutes=minutes)
        mechanic = rng.choice(mechanics).id
        bay = rng.choice(BAYS) if rng.random() < 2 / 3 else None
        keys = [("m", mechanic, day)] + ([("b", bay, day)] if bay is not None else [])
        if all(_free(taken.get(k, []), start, end, cal.buffer) for k in keys):
            for k in keys:
                taken.setdefault(k, []).append((start, end))
            bookings.append(Occupied(start, end, mechanic, bay))
    rng.shuffle(bookings)
    return bookings


def _free(jobs, start, end, buffer) -> bool:
    """[start, end + buffer) misses every job's [s, e + buffer)."""
    return all(end + buffer <= s or e + buffer <= start for s, e in jobs)


def median_ms(fn, repeat: int) -> float:
    """Median wall time of ``fn()`` in milliseconds, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = clock.perf_counter()
        fn()
        samples.append((clock.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    rng = random.Random(42)
    cal, mechanics = build_shop(rng)
    bookings = build_bookings(rng, cal, mechanics)
    now = datetime.combine(FIRST_DAY, time(6, 0), ZoneInfo(TZ)).astimezone(UTC)
    last_14 = FIRST_DAY + timedelta(days=13)

    def fortnight() -> list[Slot]:
        return free_slots(
            cal, mechanics, BAYS, bookings, VISIT_DURATION, VISIT_SKILLS, FIRST_DAY, last_14, now
        )

    def one_day() -> list[Slot]:
        day = FIRST_DAY + timedelta(days=2)
        return free_slots(
            cal, mechanics, BAYS, bookings, VISIT_DURATION, VISIT_SKILLS, day, day, now
        )

    def fortnight_days() -> list[date]:
        return free_days(
            cal, mechanics, BAYS, bookings, VISIT_DURATION, VISIT_SKILLS, FIRST_DAY, last_14, now
        )

    print(f"slots_14_days_median_ms {median_ms(fortnight, 200):.2f}")
    print(f"slots_14_days_count {len(fortnight())}")
    print(f"slots_one_day_median_ms {median_ms(one_day, 500):.2f}")
    print(f"slots_one_day_count {len(one_day())}")
    print(f"free_days_14_days_median_ms {median_ms(fortnight_days, 200):.2f}")


if __name__ == "__main__":
    main()
