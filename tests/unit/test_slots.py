"""Hand-written stories for the free-slot engine (core/slots.py).

Each test builds a small shop, asks for slots, and checks the exact starts (shown in the
shop's own wall-clock time, which is how a customer reads them) and assignments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.slots import (
    Calendar,
    Mechanic,
    Occupied,
    OpeningHours,
    Slot,
    fits,
    free_days,
    free_slots,
)

NAIROBI = "Africa/Nairobi"
BERLIN = "Europe/Berlin"
MONDAY = date(2026, 6, 1)  # a Monday in June: no clock changes anywhere near
TUESDAY = MONDAY + timedelta(days=1)
OIL = frozenset({"oil"})
HOUR = timedelta(hours=1)


# --------------------------------------------------------------------------- helpers


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def hours(open_: str, close: str, *breaks: tuple[str, str]) -> OpeningHours:
    return OpeningHours(
        time.fromisoformat(open_),
        time.fromisoformat(close),
        tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in breaks),
    )


WORKDAY = hours("08:00", "17:00", ("13:00", "14:00"))


def calendar(
    zone: str = NAIROBI,
    week: dict[int, OpeningHours] | None = None,
    closed: tuple[date, ...] = (),
    step: int = 30,
    buffer: int = 0,
    notice: timedelta = timedelta(0),
    horizon: timedelta = timedelta(days=60),
) -> Calendar:
    return Calendar(
        timezone=zone,
        week={d: WORKDAY for d in range(5)} if week is None else week,
        closed_days=frozenset(closed),
        slot_step=minutes(step),
        buffer=minutes(buffer),
        min_notice=notice,
        horizon=horizon,
    )


def at(zone: str, day: date, clock: str, fold: int = 0) -> datetime:
    """A shop-local wall-clock reading as an aware UTC instant."""
    local = datetime.combine(day, time.fromisoformat(clock), ZoneInfo(zone)).replace(fold=fold)
    return local.astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def mechanic(id_: int, *skills: str) -> Mechanic:
    return Mechanic(id_, frozenset(skills or {"oil"}))


def job(start: datetime, length: timedelta, mechanic_id: int | None, bay_id: int | None):
    return Occupied(start, start + length, mechanic_id, bay_id)


def clock(slots: list[Slot], zone: str = NAIROBI) -> list[str]:
    """Slot starts as the shop's clock shows them, with the UTC offset."""
    return [s.start.astimezone(ZoneInfo(zone)).strftime("%H:%M%z") for s in slots]


def hhmm(slots: list[Slot], zone: str = NAIROBI) -> list[str]:
    return [s.start.astimezone(ZoneInfo(zone)).strftime("%H:%M") for s in slots]


def ask(
    cal,
    day=MONDAY,
    last=None,
    *,
    mechanics=None,
    bays=(1,),
    occupied=(),
    length=60,
    skills=OIL,
    now=None,
    load=None,
):
    """free_slots with the defaults of a quiet shop: one mechanic, one bay, asked a week
    ahead."""
    return free_slots(
        cal,
        [mechanic(1)] if mechanics is None else mechanics,
        list(bays),
        list(occupied),
        minutes(length),
        skills,
        day,
        day if last is None else last,
        utc("2026-05-25T00:00") if now is None else now,
        load,
    )


# --------------------------------------------------------------------------- hours, step


def test_oil_change_is_offered_every_half_hour_outside_the_lunch_break():
    slots = ask(calendar())

    assert hhmm(slots) == [
        "08:00", "08:30", "09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00",
        "14:00", "14:30", "15:00", "15:30", "16:00",
    ]  # fmt: skip
    assert all(s.end - s.start == HOUR for s in slots)
    assert all((s.mechanic_id, s.bay_id) == (1, 1) for s in slots)


def test_a_job_must_finish_by_closing_time_but_its_buffer_may_run_past_it():
    slots = ask(calendar(buffer=20), length=90)

    assert hhmm(slots)[-1] == "15:30"  # ends 17:00 sharp, the 20-minute buffer runs past close
    assert "12:00" not in hhmm(slots)  # 12:00-13:30 would run into lunch


def test_the_step_counts_from_opening_time_not_from_the_hour():
    cal = calendar(week={0: hours("08:10", "10:00")}, step=20)

    assert hhmm(ask(cal, length=30)) == ["08:10", "08:30", "08:50", "09:10", "09:30"]


def test_a_day_without_hours_or_closed_for_a_holiday_offers_nothing():
    wednesday = MONDAY + timedelta(days=2)
    cal = calendar(closed=(wednesday,))
    sunday = MONDAY + timedelta(days=6)

    assert ask(cal, wednesday) == []
    assert ask(cal, sunday) == []
    assert free_days(
        cal, [mechanic(1)], [1], [], HOUR, OIL, MONDAY, sunday, utc("2026-05-25T00:00")
    ) == [MONDAY, TUESDAY, MONDAY + timedelta(days=3), MONDAY + timedelta(days=4)]


def test_nairobi_wall_clock_converts_to_utc_three_hours_earlier():
    slots = ask(calendar(week={0: hours("08:00", "09:30")}))

    assert [s.start for s in slots] == [utc("2026-06-01T05:00"), utc("2026-06-01T05:30")]
    assert [s.end for s in slots] == [utc("2026-06-01T06:00"), utc("2026-06-01T06:30")]


# --------------------------------------------------------------------------- buffer


def test_touching_jobs_do_not_overlap():
    booked = job(at(NAIROBI, MONDAY, "10:00"), HOUR, 1, 1)

    starts = hhmm(ask(calendar(), occupied=[booked]))

    assert "09:00" in starts and "11:00" in starts  # end meets start: fine
    assert "09:30" not in starts and "10:00" not in starts and "10:30" not in starts


def test_the_buffer_keeps_a_gap_before_and_after_an_existing_job():
    booked = job(at(NAIROBI, MONDAY, "10:00"), HOUR, 1, 1)

    starts = hhmm(ask(calendar(step=15, buffer=15), occupied=[booked]))

    assert "08:45" in starts  # 08:45-09:45, then 15 minutes to tidy up before 10:00
    assert "09:00" not in starts  # its buffer would run into the 10:00 job
    assert "11:00" not in starts  # still inside the 10:00 job's buffer
    assert "11:15" in starts


# --------------------------------------------------------------------------- notice, horizon


def test_min_notice_hides_starts_that_are_too_soon():
    now = at(NAIROBI, MONDAY, "09:05")

    slots = ask(calendar(notice=2 * HOUR), now=now)

    assert hhmm(slots)[:2] == ["11:30", "12:00"]  # earliest start 11:05


def test_the_horizon_hides_starts_too_far_ahead_and_keeps_the_last_one_exactly_on_it():
    now = at(NAIROBI, MONDAY, "06:00")
    cal = calendar(horizon=timedelta(days=1, hours=4))  # latest start Tuesday 10:00

    slots = ask(cal, MONDAY, TUESDAY, now=now)

    tuesday = [s for s in slots if s.start >= at(NAIROBI, TUESDAY, "00:00")]
    assert hhmm(tuesday) == ["08:00", "08:30", "09:00", "09:30", "10:00"]


def test_a_start_in_the_past_is_never_offered():
    now = at(NAIROBI, MONDAY, "12:00")

    assert hhmm(ask(calendar(), now=now)) == [
        "12:00", "14:00", "14:30", "15:00", "15:30", "16:00",
    ]  # fmt: skip


# --------------------------------------------------------------------------- skills, bays, load


def test_a_two_service_visit_needs_one_mechanic_with_both_skills():
    crew = [mechanic(1, "oil"), mechanic(2, "brakes"), mechanic(3, "oil", "brakes")]
    visit = frozenset({"oil", "brakes"})
    busy_ten = job(at(NAIROBI, MONDAY, "10:00"), HOUR, 3, 9)

    slots = ask(calendar(), mechanics=crew, occupied=[busy_ten], skills=visit)

    assert {s.mechanic_id for s in slots} == {3}
    assert "10:00" not in hhmm(slots)  # mechanics 1 and 2 are free, but neither can do both
    assert ask(calendar(), mechanics=crew[:2], skills=visit) == []


def test_bays_are_the_bottleneck_when_mechanics_are_free():
    crew = [mechanic(1), mechanic(2), mechanic(3)]
    car_on_the_lift = job(at(NAIROBI, MONDAY, "10:00"), HOUR, 2, 1)
    desk_diagnosis = job(at(NAIROBI, MONDAY, "14:00"), HOUR, 2, None)  # needs no bay

    starts = hhmm(ask(calendar(), mechanics=crew, occupied=[car_on_the_lift, desk_diagnosis]))

    assert "10:00" not in starts and "10:30" not in starts  # two mechanics idle, no bay
    assert "14:00" in starts


def test_the_lowest_numbered_free_bay_is_used():
    bay_one_busy = job(at(NAIROBI, MONDAY, "10:00"), HOUR, None, 1)  # a hold on bay 1

    slots = ask(calendar(), bays=(3, 1, 2), occupied=[bay_one_busy])

    by_time = {hhmm([s])[0]: s.bay_id for s in slots}
    assert by_time["09:00"] == 1
    assert by_time["10:00"] == 2
    assert by_time["11:00"] == 1


def test_the_least_loaded_mechanic_gets_the_job_and_ties_go_to_the_lowest_id():
    crew = [mechanic(1), mechanic(2), mechanic(3)]
    booked = [
        job(at(NAIROBI, MONDAY, "08:00"), 2 * HOUR, 1, 1),
        job(at(NAIROBI, MONDAY, "08:00"), HOUR, 2, 2),
        job(at(NAIROBI, MONDAY, "08:00"), HOUR, 3, 3),
    ]

    slots = ask(calendar(), mechanics=crew, bays=(1, 2, 3, 4), occupied=booked)

    by_time = {hhmm([s])[0]: (s.mechanic_id, s.bay_id) for s in slots}
    assert "08:00" not in by_time  # four bays, but every mechanic is busy
    assert by_time["09:00"] == (2, 2)  # 2 and 3 have 1 h each: lowest id; bay 1 still busy
    assert by_time["10:00"] == (2, 1)
    assert by_time["15:00"] == (2, 1)


def test_load_counts_the_booked_time_of_that_day_only():
    crew = [mechanic(1), mechanic(2)]
    booked = [
        job(at(NAIROBI, MONDAY, "09:00"), HOUR, 2, 2),  # Monday: 2 has an hour, 1 none
        job(at(NAIROBI, TUESDAY, "08:00"), 4 * HOUR, 1, 1),  # Tuesday: 1 has four hours
    ]

    slots = ask(calendar(), MONDAY, TUESDAY, mechanics=crew, bays=(1, 2), occupied=booked)

    afternoon = [s for s in slots if hhmm([s])[0] == "15:00"]
    assert [s.mechanic_id for s in afternoon] == [1, 2]


def test_a_precomputed_load_is_used_instead_of_counting_bookings():
    crew = [mechanic(1), mechanic(2), mechanic(3)]
    load = {(1, MONDAY): 300, (2, MONDAY): 120}  # 3 is missing: nothing booked

    slots = ask(calendar(), mechanics=crew, bays=(1,), load=load)

    assert {s.mechanic_id for s in slots} == {3}


def test_a_mechanic_who_is_not_asked_about_never_blocks_anyone():
    somebody_else = job(at(NAIROBI, MONDAY, "10:00"), HOUR, 42, None)

    assert "10:00" in hhmm(ask(calendar(), occupied=[somebody_else]))


# --------------------------------------------------------------------------- fits


def test_fits_confirms_an_offered_slot_with_the_same_assignment():
    crew = [mechanic(1), mechanic(2)]
    cal = calendar()
    now = utc("2026-05-25T00:00")
    offered = ask(cal, mechanics=crew, bays=(1, 2), now=now)

    for slot in offered:
        assert fits(cal, crew, [1, 2], [], slot.start, HOUR, OIL, now) == slot


def test_fits_refuses_a_start_someone_else_took_meanwhile_or_gives_another_mechanic():
    crew = [mechanic(1), mechanic(2)]
    cal = calendar()
    now = utc("2026-05-25T00:00")
    ten = at(NAIROBI, MONDAY, "10:00")
    taken = [job(ten, HOUR, 1, 1)]

    assert fits(cal, crew, [1, 2], taken, ten, HOUR, OIL, now, mechanic_id=1) is None
    assert fits(cal, crew, [1, 2], taken, ten, HOUR, OIL, now) == Slot(ten, ten + HOUR, 2, 2)
    assert fits(cal, crew, [1], taken, ten, HOUR, OIL, now) is None  # no bay left


def test_fits_refuses_starts_that_were_never_on_offer():
    crew = [mechanic(1), mechanic(2, "tyres")]
    cal = calendar(notice=2 * HOUR)
    now = at(NAIROBI, MONDAY, "09:00")

    def check(start, mechanic_id=None):
        return fits(cal, crew, [1], [], start, HOUR, OIL, now, mechanic_id)

    assert check(at(NAIROBI, MONDAY, "11:10")) is None  # off the half-hour grid
    assert check(at(NAIROBI, MONDAY, "10:30")) is None  # inside the min notice
    assert check(at(NAIROBI, MONDAY, "12:30")) is None  # runs into lunch
    assert check(at(NAIROBI, MONDAY, "16:30")) is None  # ends after closing
    assert check(at(NAIROBI, MONDAY, "11:30"), mechanic_id=2) is None  # can't do oil
    assert check(at(NAIROBI, MONDAY, "11:30"), mechanic_id=7) is None  # not on the crew
    assert check(at(NAIROBI, MONDAY, "11:30"), mechanic_id=1) is not None


def test_reassigning_an_agreed_job_ignores_notice_and_grid_but_not_hours_or_other_jobs():
    crew = [mechanic(1), mechanic(2), mechanic(3)]
    cal = calendar(notice=2 * HOUR)
    now = at(NAIROBI, MONDAY, "09:00")
    soon = at(NAIROBI, MONDAY, "09:40")  # 40 minutes away and off the grid
    busy = [job(soon, HOUR, 2, None), job(soon, HOUR, None, 1)]

    moved = fits(cal, crew, [1, 2], busy, soon, HOUR, OIL, now, 3, reassigning=True)

    assert moved == Slot(soon, soon + HOUR, 3, 2)
    assert fits(cal, crew, [1, 2], busy, soon, HOUR, OIL, now, 2, reassigning=True) is None
    assert fits(cal, crew, [1, 2], [], soon, HOUR, OIL, now, 3, bay_id=1, reassigning=True) \
        == Slot(soon, soon + HOUR, 3, 1)  # fmt: skip
    lunch = at(NAIROBI, MONDAY, "12:40")
    assert fits(cal, crew, [1, 2], [], lunch, HOUR, OIL, now, 3, reassigning=True) is None


def test_naive_datetimes_are_refused_rather_than_guessed():
    with pytest.raises(ValueError):
        ask(calendar(), now=datetime(2026, 6, 1, 8, 0))
    with pytest.raises(ValueError):
        fits(
            calendar(),
            [mechanic(1)],
            [1],
            [],
            datetime(2026, 6, 1, 8, 0),
            HOUR,
            OIL,
            utc("2026-05-25T00:00"),
        )


def test_free_days_lists_only_the_days_that_still_have_a_slot():
    crew = [mechanic(1)]
    full_tuesday = [job(at(NAIROBI, TUESDAY, "08:00"), 9 * HOUR, 1, 1)]
    now = utc("2026-05-25T00:00")
    friday = MONDAY + timedelta(days=4)

    days = free_days(calendar(), crew, [1], full_tuesday, HOUR, OIL, MONDAY, friday, now)

    assert days == [MONDAY, MONDAY + timedelta(days=2), MONDAY + timedelta(days=3), friday]


# --------------------------------------------------------------------------- across midnight

FRIDAY = date(2026, 6, 5)
SATURDAY = FRIDAY + timedelta(days=1)
NIGHT_SHIFT = {4: hours("18:00", "02:00"), 5: hours("10:00", "14:00")}


def test_a_shop_open_past_midnight_offers_the_small_hours_as_part_of_the_evening():
    cal = calendar(week=NIGHT_SHIFT, step=60)

    slots = ask(cal, FRIDAY, SATURDAY)

    assert hhmm(slots) == [
        "18:00", "19:00", "20:00", "21:00", "22:00", "23:00", "00:00", "01:00",
        "10:00", "11:00", "12:00", "13:00",
    ]  # fmt: skip
    assert slots[6].start == utc("2026-06-05T21:00")  # Saturday 00:00 in Nairobi
    assert hhmm(ask(cal, SATURDAY)) == ["10:00", "11:00", "12:00", "13:00"]
    assert free_days(
        cal, [mechanic(1)], [1], [], HOUR, OIL, FRIDAY, SATURDAY, utc("2026-05-25T00:00")
    ) == [FRIDAY, SATURDAY]


def test_closing_the_evening_also_closes_its_hours_after_midnight():
    cal = calendar(week=NIGHT_SHIFT, step=60, closed=(FRIDAY,))

    assert hhmm(ask(cal, FRIDAY, SATURDAY)) == ["10:00", "11:00", "12:00", "13:00"]


def test_a_small_hours_start_fits_as_part_of_the_evening_before():
    cal = calendar(week=NIGHT_SHIFT, step=60)
    one_am = at(NAIROBI, SATURDAY, "01:00")

    assert fits(cal, [mechanic(1)], [1], [], one_am, HOUR, OIL, utc("2026-05-25T00:00")) \
        == Slot(one_am, one_am + HOUR, 1, 1)  # fmt: skip
    two_am = at(NAIROBI, SATURDAY, "02:00")
    assert fits(cal, [mechanic(1)], [1], [], two_am, HOUR, OIL, utc("2026-05-25T00:00")) is None


def test_a_break_after_midnight_belongs_to_the_night_it_interrupts():
    cal = calendar(week={4: hours("20:00", "04:00", ("00:30", "01:30"))}, step=60)

    assert hhmm(ask(cal, FRIDAY)) == ["20:00", "21:00", "22:00", "23:00", "02:00", "03:00"]


def test_when_the_night_before_runs_into_the_morning_the_night_keeps_the_overlap():
    week = {4: hours("20:00", "03:00"), 5: hours("02:00", "05:00")}
    cal = calendar(week=week, step=60)

    slots = ask(cal, FRIDAY, SATURDAY)

    assert hhmm(slots) == ["20:00", "21:00", "22:00", "23:00", "00:00", "01:00", "02:00",
                           "03:00", "04:00"]  # fmt: skip
    assert hhmm(ask(cal, SATURDAY)) == ["03:00", "04:00"]  # 02:00 is Friday's
    assert free_days(
        cal, [mechanic(1)], [1], [], HOUR, OIL, SATURDAY, SATURDAY, utc("2026-05-25T00:00")
    ) == [SATURDAY]


# --------------------------------------------------------------------------- daylight saving

SPRING = date(2026, 3, 29)  # Sunday: Berlin clocks jump 02:00 CET -> 03:00 CEST
AUTUMN = date(2026, 10, 25)  # Sunday: Berlin clocks fall back 03:00 CEST -> 02:00 CET
SMALL_HOURS = {6: hours("00:00", "06:00")}  # a Sunday night shift


def ask_berlin(week, day, last=None, length=60, step=30, occupied=()):
    cal = calendar(zone=BERLIN, week=week, step=step, horizon=timedelta(days=400))
    return ask(cal, day, last, length=length, occupied=occupied, now=utc("2026-01-01T00:00"))


def test_spring_forward_skips_the_hour_that_never_happens_in_berlin():
    slots = ask_berlin(SMALL_HOURS, SPRING)

    assert clock(slots, BERLIN) == [
        "00:00+0100", "00:30+0100", "01:00+0100", "01:30+0100",
        "03:00+0200", "03:30+0200", "04:00+0200", "04:30+0200", "05:00+0200",
    ]  # fmt: skip
    assert [s.start for s in slots][2:5] == [
        utc("2026-03-29T00:00"), utc("2026-03-29T00:30"), utc("2026-03-29T01:00"),
    ]  # fmt: skip
    assert slots[3].end == utc("2026-03-29T01:30")  # 60 real minutes: reads 03:30 CEST
    assert all(s.end - s.start == HOUR for s in slots)


def test_fall_back_offers_the_repeated_hour_once_and_jobs_last_real_minutes():
    slots = ask_berlin(SMALL_HOURS, AUTUMN)

    assert clock(slots, BERLIN) == [
        "00:00+0200", "00:30+0200", "01:00+0200", "01:30+0200", "02:00+0200", "02:30+0200",
        "03:00+0100", "03:30+0100", "04:00+0100", "04:30+0100", "05:00+0100",
    ]  # fmt: skip
    half_past_one = slots[3]
    assert half_past_one.start == utc("2026-10-24T23:30")
    assert half_past_one.end == utc("2026-10-25T00:30")  # 60 real minutes later
    assert half_past_one.end.astimezone(ZoneInfo(BERLIN)).strftime("%H:%M%z") == "02:30+0200"


def test_fall_back_the_second_two_oclock_is_refused_by_fits():
    cal = calendar(zone=BERLIN, week=SMALL_HOURS, horizon=timedelta(days=400))
    second = at(BERLIN, AUTUMN, "02:00", fold=1)
    first = at(BERLIN, AUTUMN, "02:00", fold=0)
    now = utc("2026-01-01T00:00")

    assert fits(cal, [mechanic(1)], [1], [], second, HOUR, OIL, now) is None
    assert fits(cal, [mechanic(1)], [1], [], first, HOUR, OIL, now) == Slot(
        first, first + HOUR, 1, 1
    )


def test_fall_back_a_job_in_the_repeated_hour_blocks_by_real_time_not_by_clock_reading():
    second_two_am = at(BERLIN, AUTUMN, "02:00", fold=1)  # 01:00 UTC
    booked = job(second_two_am, HOUR, 1, 1)

    starts = clock(ask_berlin(SMALL_HOURS, AUTUMN, occupied=[booked]), BERLIN)

    # The booking reads 02:00-03:00 on the clock, but it is the *second* such hour.
    assert "02:00+0200" in starts  # reads 02:00-03:00 too, yet ends as the booking starts
    assert "02:30+0200" not in starts  # would run 30 real minutes into the booking
    assert "03:00+0100" in starts  # starts as the booking ends


def test_overnight_shop_closes_when_the_clock_jumps_on_the_spring_night():
    saturday_night = {5: hours("18:00", "02:00")}
    saturday = SPRING - timedelta(days=1)

    slots = ask_berlin(saturday_night, saturday, step=60)

    assert clock(slots, BERLIN) == [
        "18:00+0100", "19:00+0100", "20:00+0100", "21:00+0100", "22:00+0100", "23:00+0100",
        "00:00+0100", "01:00+0100",
    ]  # fmt: skip
    assert slots[-1].end == utc("2026-03-29T01:00")  # 02:00 CET never comes: 03:00 CEST
    assert ask_berlin(saturday_night, SPRING, step=60) == []  # Sunday has no hours


def test_overnight_shop_closes_at_the_first_two_oclock_on_the_autumn_night():
    saturday_night = {5: hours("18:00", "02:00")}
    saturday = AUTUMN - timedelta(days=1)

    sixty = ask_berlin(saturday_night, saturday, step=60)
    ninety = ask_berlin(saturday_night, saturday, step=60, length=90)

    assert clock(sixty, BERLIN)[-2:] == ["00:00+0200", "01:00+0200"]
    assert sixty[-1].end == utc("2026-10-25T00:00")  # the first 02:00
    assert clock(ninety, BERLIN)[-1] == "00:00+0200"  # 01:00 + 90 min passes the first 02:00


def test_a_day_shop_on_the_clock_change_sundays_keeps_its_wall_clock_hours():
    sunday = {6: hours("09:00", "12:00")}

    for day, offset in ((SPRING, "+0200"), (AUTUMN, "+0100")):
        assert clock(ask_berlin(sunday, day, step=60), BERLIN) == [
            f"09:00{offset}",
            f"10:00{offset}",
            f"11:00{offset}",
        ]


def test_a_day_whose_hours_lie_inside_the_night_before_still_sees_that_nights_jobs():
    week = {4: hours("18:00", "03:00"), 5: hours("00:00", "01:00")}  # Saturday: all Friday's
    late = job(at(NAIROBI, SATURDAY, "02:00"), HOUR, 1, 1)

    slots = ask(calendar(week=week, step=60), FRIDAY, SATURDAY, occupied=[late])

    assert hhmm(slots)[-3:] == ["23:00", "00:00", "01:00"]  # 02:00 is taken
