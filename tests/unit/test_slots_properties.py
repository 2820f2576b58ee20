"""Property tests for the free-slot engine (core/slots.py).

Random shops (hours that may run past midnight, breaks, closures, steps, buffers, notice,
horizon), random crews and bays, random existing jobs, and dates that straddle the Berlin
clock changes. The checks use their own small oracle for wall-clock arithmetic rather
than the engine's helpers, so a shared mistake cannot hide.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.slots import Calendar, Mechanic, Occupied, OpeningHours, fits, free_days, free_slots

# Each zone with first days that straddle its clock changes (Lord Howe moves by 30
# minutes), and zones without any.
FIRST_DAYS = {
    "Europe/Berlin": [date(2026, 3, 27), date(2026, 10, 23)],
    "America/New_York": [date(2026, 3, 6), date(2026, 10, 30)],
    "Australia/Lord_Howe": [date(2026, 4, 3), date(2026, 10, 2)],
    "Africa/Nairobi": [date(2026, 6, 10)],
    "UTC": [date(2026, 6, 10)],
}
SKILLS = ["oil", "brakes", "tyres"]
MINUTE = timedelta(minutes=1)

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------- strategies


def clock_time(minute_of_day: int) -> time:
    return time(minute_of_day // 60 % 24, minute_of_day % 60)


@st.composite
def opening_hours(draw) -> OpeningHours:
    """Hours of 1 to 24 h (so often past midnight), up to two breaks. Half the time they
    start in the evening or small hours, so that they cover the clock changes."""
    start = draw(st.one_of(st.integers(0, 47), st.integers(36, 51).map(lambda n: n % 48))) * 30
    length = draw(st.integers(2, 48)) * 30
    breaks = []
    for _ in range(draw(st.integers(0, 2))):
        offset = draw(st.integers(0, length // 15 - 1)) * 15
        pause = draw(st.sampled_from([15, 30, 60, 90]))
        breaks.append((clock_time(start + offset), clock_time(start + offset + pause)))
    return OpeningHours(clock_time(start), clock_time(start + length), tuple(breaks))


@st.composite
def scenarios(draw) -> dict:
    zone = draw(st.sampled_from(sorted(FIRST_DAYS)))
    first_day = draw(st.sampled_from(FIRST_DAYS[zone])) + timedelta(days=draw(st.integers(0, 2)))
    last_day = first_day + timedelta(days=draw(st.integers(0, 3)))
    week = {}
    for weekday in range(7):
        if draw(st.booleans()) or draw(st.booleans()):
            week[weekday] = draw(opening_hours())
    span = [first_day + timedelta(days=n) for n in range(-1, 5)]
    cal = Calendar(
        timezone=zone,
        week=week,
        closed_days=frozenset(draw(st.lists(st.sampled_from(span), max_size=2))),
        slot_step=timedelta(minutes=draw(st.sampled_from([10, 15, 20, 30, 45, 60]))),
        buffer=timedelta(minutes=draw(st.sampled_from([0, 0, 5, 10, 15, 30]))),
        min_notice=timedelta(minutes=draw(st.sampled_from([0, 30, 120, 24 * 60]))),
        horizon=timedelta(hours=draw(st.sampled_from([24 * 8, 12, 36]))),
    )
    mechanics = [
        Mechanic(i, frozenset(skill for skill in SKILLS if draw(st.integers(0, 3))))
        for i in draw(st.sets(st.integers(1, 5), min_size=1, max_size=4))
    ]
    bay_ids = sorted(draw(st.sets(st.integers(1, 4), min_size=1, max_size=3)))
    base = datetime.combine(first_day - timedelta(days=1), time(0), UTC)
    ids = [m.id for m in mechanics]
    reach = ((last_day - first_day).days + 3) * 24 * 12  # 5-minute steps to cover the days
    occupied = [
        Occupied(
            start := base + timedelta(minutes=5 * draw(st.integers(0, reach))),
            start + timedelta(minutes=5 * draw(st.integers(1, 60))),
            draw(st.sampled_from([*ids, None, 6])),  # 6: someone not in the crew asked
            draw(st.sampled_from([*bay_ids, None, 5])),  # 5: a bay not offered
        )
        for _ in range(draw(st.integers(0, 60)))
    ]
    return dict(
        cal=cal,
        mechanics=mechanics,
        bay_ids=bay_ids,
        occupied=occupied,
        duration=timedelta(minutes=15 * draw(st.integers(1, 16))),
        skills=frozenset(draw(st.lists(st.sampled_from(SKILLS), max_size=2))),
        first_day=first_day,
        last_day=last_day,
        now=base + timedelta(minutes=draw(st.integers(-24 * 60, 36 * 60))),
    )


def run(sc: dict, occupied=None):
    args = dict(sc)
    if occupied is not None:
        args["occupied"] = occupied
    return free_slots(**args), args


# --------------------------------------------------------------------------- oracle


def boundary(tz: ZoneInfo, wall: datetime) -> datetime:
    """First instant the clock reads ``wall`` or later: the first occurrence if it exists,
    else the first minute after the gap (found by walking, not by the engine's search)."""
    while True:
        instant = wall.replace(tzinfo=tz).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == wall:
            return instant
        wall += MINUTE


def after(anchor: datetime, at: time, same_ok: bool) -> datetime:
    wall = datetime.combine(anchor.date(), at)
    if wall < anchor or (wall == anchor and not same_ok):
        wall += timedelta(days=1)
    return wall


def hours_of(cal: Calendar, day: date):
    """(open wall, open, close, breaks) of an opening day as real instants, or None."""
    hours = cal.week.get(day.weekday())
    if hours is None or day in cal.closed_days:
        return None
    tz = ZoneInfo(cal.timezone)
    open_wall = datetime.combine(day, hours.open)
    close_wall = after(open_wall, hours.close, same_ok=False)
    breaks = []
    for start, end in hours.breaks:
        start_wall = after(open_wall, start, same_ok=True)
        breaks.append((boundary(tz, start_wall), boundary(tz, after(start_wall, end, False))))
    return open_wall, boundary(tz, open_wall), boundary(tz, close_wall), breaks


def opening_day(cal: Calendar, instant: datetime):
    """The (day, hours) whose opening holds ``instant``; the earlier day wins an overlap."""
    local = instant.astimezone(ZoneInfo(cal.timezone)).date()
    for day in (local - timedelta(days=1), local, local + timedelta(days=1)):
        found = hours_of(cal, day)
        if found is not None and found[1] <= instant < found[2]:
            return day, found
    return None, None


def overlaps(a_start, a_end, b_start, b_end) -> bool:
    return a_start < b_end and b_start < a_end


def clashes(slot, job, buffer: timedelta) -> bool:
    """Same mechanic or same bay, and the blocked times [start, end + buffer) meet."""
    shared = job.mechanic_id == slot.mechanic_id or job.bay_id == slot.bay_id
    return shared and overlaps(slot.start, slot.end + buffer, job.start, job.end + buffer)


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(scenarios())
def test_no_offered_slot_overlaps_a_job_of_its_mechanic_or_bay(sc):
    slots, _ = run(sc)

    for slot in slots:
        assert not any(clashes(slot, job, sc["cal"].buffer) for job in sc["occupied"]), slot


@SETTINGS
@given(scenarios())
def test_every_slot_is_inside_hours_outside_breaks_and_closures_and_in_the_window(sc):
    cal = sc["cal"]
    tz = ZoneInfo(cal.timezone)
    slots, _ = run(sc)
    qualified = {m.id for m in sc["mechanics"] if sc["skills"] <= m.skills}

    assert [s.start for s in slots] == sorted({s.start for s in slots})  # one per start
    for slot in slots:
        day, found = opening_day(cal, slot.start)
        assert day is not None, slot
        open_wall, opens, closes, breaks = found
        assert sc["first_day"] <= day <= sc["last_day"]
        assert day not in cal.closed_days
        assert opens <= slot.start and slot.end <= closes
        assert not any(overlaps(slot.start, slot.end, b0, b1) for b0, b1 in breaks)
        assert slot.end - slot.start == sc["duration"]
        assert sc["now"] + cal.min_notice <= slot.start <= sc["now"] + cal.horizon
        local = slot.start.astimezone(tz)
        assert local.fold == 0  # a repeated clock time is offered at its first occurrence
        assert (local.replace(tzinfo=None) - open_wall) % cal.slot_step == timedelta(0)
        assert slot.mechanic_id in qualified and slot.bay_id in sc["bay_ids"]


@SETTINGS
@given(scenarios())
def test_every_offered_slot_passes_fits_with_the_same_assignment(sc):
    slots, _ = run(sc)
    common = {k: sc[k] for k in ("cal", "mechanics", "bay_ids", "occupied", "skills", "now")}

    for slot in slots:
        assert fits(**common, slot_start=slot.start, duration=sc["duration"]) == slot
        assert fits(**common, slot_start=slot.start, duration=sc["duration"],
                    mechanic_id=slot.mechanic_id) == slot  # fmt: skip


@SETTINGS
@given(scenarios(), st.data())
def test_after_booking_an_offered_slot_nothing_overlapping_is_offered_to_its_mechanic_or_bay(
    sc, data
):
    slots, _ = run(sc)
    if not slots:
        return
    chosen = data.draw(st.sampled_from(slots))
    booked = Occupied(chosen.start, chosen.end, chosen.mechanic_id, chosen.bay_id)

    again, _ = run(sc, occupied=[*sc["occupied"], booked])

    assert chosen not in again
    assert not any(clashes(slot, booked, sc["cal"].buffer) for slot in again)


@SETTINGS
@given(scenarios())
def test_free_days_are_exactly_the_opening_days_of_the_free_slots(sc):
    slots, _ = run(sc)

    days = free_days(**sc)

    assert days == sorted({opening_day(sc["cal"], slot.start)[0] for slot in slots})
