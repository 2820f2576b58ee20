"""Free-slot engine: which start times a workshop can still offer, and to whom.

Why a separate pure module: the slot search is the busiest and most rule-dense code in
Pitstop (opening hours, breaks, buffers, notice, horizon, skills, bays, daylight saving).
Keeping it free of the database and of I/O lets us test it exhaustively with plain values,
and lets the booking service, the bot and the reassignment job share one meaning of "free".

Conventions (each one settles a question the rules would otherwise leave open):

- Instants (``Occupied``, ``Slot``, ``now``) are aware datetimes; results are in UTC.
- Calendar rules (hours, breaks, closed days, step) are shop-local wall-clock values.
- An *opening day* is the local date the shop opened on. For a shop open 18:00-02:00 the
  hours after midnight belong to the day before: its ``closed_days`` entry, its load, and
  the date ``free_days`` reports.
- A wall-clock boundary (open, close, break start, break end) means the first real instant
  at which the shop's clock reads that time or later. That gives one answer when the time
  does not exist (spring forward: the moment the clock jumps) and when it happens twice
  (fall back: the first time).
- Candidate starts are on the step grid in wall time. A start that does not exist is
  skipped; a start that happens twice is offered once, at its first occurrence.
- Durations and buffers are real elapsed time.
- Intervals are half-open: a job ending at 10:00 and one starting at 10:00 only touch.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = [
    "Calendar",
    "Load",
    "Mechanic",
    "Occupied",
    "OpeningHours",
    "Slot",
    "fits",
    "free_days",
    "free_slots",
]

_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_MINUTE = timedelta(minutes=1)

Load = Mapping[tuple[int, date], float]
"""Booked minutes per (mechanic id, opening day): lets a caller that already knows each
mechanic's load (e.g. from one SQL aggregate) spare the engine from recomputing it."""


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class OpeningHours:
    """One weekday's hours in shop-local wall-clock time.

    Why wall-clock: owners think "we open at 8", whatever the UTC offset that day.
    ``close <= open`` means the day runs past midnight (20:00 -> 02:00 next morning);
    ``close == open`` means a full 24 hours. Breaks are wall-clock too; a break time
    earlier than ``open`` belongs to the morning after (for overnight days).
    """

    open: time
    close: time
    breaks: tuple[tuple[time, time], ...] = ()

    def __post_init__(self) -> None:
        # Normalise lists from a parsed shop file to tuples: the value must be hashable,
        # and the engine caches each day's resolution by it.
        object.__setattr__(self, "breaks", tuple((start, end) for start, end in self.breaks))


@dataclass(frozen=True)
class Calendar:
    """The shop's booking rules, already resolved by the caller into plain values.

    Why closures and holidays arrive merged: which holidays a shop observes is policy
    (country, region, owner's choice) that belongs outside this pure engine.
    """

    timezone: str
    week: Mapping[int, OpeningHours]
    closed_days: frozenset[date]
    slot_step: timedelta
    buffer: timedelta
    min_notice: timedelta
    horizon: timedelta


def is_open(cal: Calendar, day: date) -> bool:
    """Whether the shop opens on `day` at all (its weekly hours, less holidays and
    closures): a day with no free time is full only if it is open."""
    return _hours(cal, day) is not None


@dataclass(frozen=True)
class Mechanic:
    """A person who can be given a job; a visit needs every skill of its services from
    one mechanic, because one mechanic owns the car for the whole visit."""

    id: int
    skills: frozenset[str]


@dataclass(frozen=True)
class Occupied:
    """Time already taken: a booking or an unexpired hold (the caller drops expired holds).

    ``end`` is the end of the job itself; the engine adds the buffer, so changing the
    buffer never requires rewriting stored bookings. Either resource may be ``None``
    when the booking does not use one (e.g. a hold not yet given a bay).
    """

    start: datetime
    end: datetime
    mechanic_id: int | None
    bay_id: int | None


@dataclass(frozen=True)
class Slot:
    """A start time the shop can offer, with the mechanic and bay it would use.

    Why the assignment travels with the slot: the booking service holds exactly this
    pair, and ``fits`` re-checks it when the customer confirms.
    """

    start: datetime
    end: datetime
    mechanic_id: int
    bay_id: int


# --------------------------------------------------------------------------- public API


def free_slots(
    cal: Calendar,
    mechanics: Iterable[Mechanic],
    bay_ids: Iterable[int],
    occupied: Iterable[Occupied],
    duration: timedelta,
    skills: Iterable[str],
    first_day: date,
    last_day: date,
    now: datetime,
    load: Load | None = None,
) -> list[Slot]:
    """Every start the shop can offer for a visit on the opening days first_day..last_day.

    Why one slot per start: the customer picks a time, not a mechanic; the engine picks
    the least-loaded qualified mechanic (ties: lowest id) and the lowest-id free bay, so
    work spreads evenly and the answer is deterministic. Sorted by start.
    """
    search = _Search(cal, mechanics, bay_ids, occupied, duration, skills, now, load,
                     _days_in_reach(cal, now, first_day, last_day))  # fmt: skip
    return [slot for i in range(len(search.days)) for slot in search.slots_on(i)]


def free_days(
    cal: Calendar,
    mechanics: Iterable[Mechanic],
    bay_ids: Iterable[int],
    occupied: Iterable[Occupied],
    duration: timedelta,
    skills: Iterable[str],
    first_day: date,
    last_day: date,
    now: datetime,
    load: Load | None = None,
) -> list[date]:
    """The opening days in first_day..last_day with at least one free slot, ascending.

    Why a separate call: the chat asks for a day before it asks for a time, and this
    skips choosing mechanics and bays for every slot of every day.
    """
    search = _Search(cal, mechanics, bay_ids, occupied, duration, skills, now, load,
                     _days_in_reach(cal, now, first_day, last_day))  # fmt: skip
    return [day.day for i, day in enumerate(search.days) if search.any_on(i)]


def fits(
    cal: Calendar,
    mechanics: Iterable[Mechanic],
    bay_ids: Iterable[int],
    occupied: Iterable[Occupied],
    slot_start: datetime,
    duration: timedelta,
    skills: Iterable[str],
    now: datetime,
    mechanic_id: int | None = None,
    *,
    bay_id: int | None = None,
    reassigning: bool = False,
    load: Load | None = None,
) -> Slot | None:
    """Can this start still be had (optionally with this mechanic, or this bay)?

    Why: between showing slots and confirming, others book; the booking service asks
    again inside its transaction. The answer is the slot ``free_slots`` would offer for
    this start (same mechanic and bay), narrowed to ``mechanic_id``/``bay_id`` if given,
    or ``None``.

    ``reassigning=True`` is for moving an agreed job to another mechanic (the caller
    leaves the job's own ``Occupied`` out): the time was promised to the customer, so min
    notice, horizon and the step grid no longer apply; opening hours, breaks, closed days
    and the resources still do. Pass ``bay_id`` to keep the car where it is.
    """
    _check_instant(slot_start, "slot_start")
    tz = ZoneInfo(cal.timezone)
    day = _opening_day_of(cal, tz, slot_start)
    if day is None:
        return None
    search = _Search(cal, mechanics, bay_ids, occupied, duration, skills, now, load, [day],
                     only_start=slot_start, any_time=reassigning)  # fmt: skip
    return search.pick(0, 0, mechanic_id, bay_id)


# --------------------------------------------------------------------------- opening days


@dataclass(frozen=True)
class _Day:
    """One opening day resolved to real instants, so that every later check on it is a
    plain comparison of UTC datetimes."""

    day: date
    open_wall: datetime  # naive shop-local
    close_wall: datetime  # naive shop-local, on the next date for overnight days
    open: datetime  # UTC
    close: datetime  # UTC
    breaks: tuple[tuple[datetime, datetime], ...]  # UTC
    offset: timedelta | None  # the UTC offset all day long, or None if the clocks change


def _plan_day(cal: Calendar, day: date) -> _Day | None:
    """Resolve one local date's hours, or None when the shop is closed that day."""
    hours = _hours(cal, day)
    if hours is None:
        return None
    return _resolve_day(cal.timezone, day, hours, _hours(cal, day - _DAY))


def _hours(cal: Calendar, day: date) -> OpeningHours | None:
    """The day's hours, or None when it is closed by the week or by a closure."""
    return None if day in cal.closed_days else cal.week.get(day.weekday())


@lru_cache(maxsize=4096)
def _resolve_day(zone: str, day: date, hours: OpeningHours, previous: OpeningHours | None) -> _Day:
    """Place the day's hours and breaks on real instants.

    ``previous`` is the day before's hours when it is open: if Monday runs 18:00-02:00
    and Tuesday opens at 01:00, the earlier day keeps the overlap, so every instant
    belongs to at most one opening day. Cached because it depends on nothing else and
    costs a dozen zoneinfo conversions, for each day of each query.
    """
    tz = ZoneInfo(zone)
    open_wall = datetime.combine(day, hours.open)
    close_wall = _next_wall(open_wall, hours.close, same_allowed=False)
    opens = _boundary(tz, open_wall)
    if previous is not None:
        previous_open = datetime.combine(day - _DAY, previous.open)
        previous_close = _next_wall(previous_open, previous.close, same_allowed=False)
        if previous_close > open_wall:
            opens = max(opens, _boundary(tz, previous_close))
    breaks = []
    for start, end in hours.breaks:
        start_wall = _next_wall(open_wall, start, same_allowed=True)
        end_wall = _next_wall(start_wall, end, same_allowed=False)
        breaks.append((_boundary(tz, start_wall), _boundary(tz, end_wall)))
    return _Day(
        day=day,
        open_wall=open_wall,
        close_wall=close_wall,
        open=opens,
        close=_boundary(tz, close_wall),
        breaks=tuple(sorted(breaks)),
        offset=_steady_offset(tz, open_wall, close_wall),
    )


def _next_wall(anchor: datetime, at: time, *, same_allowed: bool) -> datetime:
    """The first wall-clock moment reading ``at`` from ``anchor`` on: how a bare time of
    day such as a close of 02:00 lands on the right date."""
    wall = datetime.combine(anchor.date(), at)
    if wall < anchor or (wall == anchor and not same_allowed):
        wall += _DAY
    return wall


def _days_in_reach(cal: Calendar, now: datetime, first_day: date, last_day: date) -> list[_Day]:
    """The opening days in first_day..last_day that can hold a start in the booking window.

    An opening day spans at most two local dates and no clock goes back a whole day, so
    the window's own local dates, widened by one, bound the days worth planning."""
    _check_instant(now, "now")
    tz = ZoneInfo(cal.timezone)
    earliest, latest = now + cal.min_notice, now + cal.horizon
    first = max(first_day, earliest.astimezone(tz).date() - _DAY)
    last = min(last_day, latest.astimezone(tz).date() + _DAY)
    days = []
    for n in range((last - first).days + 1):
        day = _plan_day(cal, first + n * _DAY)
        if day is not None and day.close > earliest and day.open <= latest:
            days.append(day)
    return days


def _opening_day_of(cal: Calendar, tz: ZoneInfo, instant: datetime) -> _Day | None:
    """The opening day whose hours hold ``instant``: usually its own local date, or the
    day before when that one runs past midnight (the day after only matters where the
    clock falls back across midnight)."""
    local_date = instant.astimezone(tz).date()
    for candidate in (local_date - _DAY, local_date, local_date + _DAY):
        day = _plan_day(cal, candidate)
        if day is not None and day.open <= instant < day.close:
            return day
    return None


def within_hours(cal: Calendar, start: datetime, end: datetime) -> bool:
    """Is a job [start, end) inside the shop's opening hours (an open day, no break)?
    For bookings made before the hours changed: notice, grid and resources aside."""
    _check_instant(start, "start")
    day = _opening_day_of(cal, ZoneInfo(cal.timezone), start)
    return day is not None and _within_hours(day, start, end)


def _within_hours(day: _Day, start: datetime, end: datetime) -> bool:
    """The job itself (not its buffer) lies inside the hours and misses every break."""
    return day.open <= start and end <= day.close and _clear_of_breaks(day, start, end)


def _clear_of_breaks(day: _Day, start: datetime, end: datetime) -> bool:
    """No break intersects the job [start, end)."""
    for b_start, b_end in day.breaks:
        if b_start < end and start < b_end:
            return False
    return True


def _on_grid(day: _Day, start: datetime, step: timedelta, tz: ZoneInfo) -> bool:
    """Whether ``start`` is one of the day's grid times (at its first occurrence)."""
    wall = start.astimezone(tz).replace(tzinfo=None, fold=0)
    if wall < day.open_wall or (wall - day.open_wall) % step:
        return False
    return _to_utc(tz, wall, day.offset) == start


# --------------------------------------------------------------------------- wall clock


def _to_utc(tz: ZoneInfo, wall: datetime, offset: timedelta | None) -> datetime | None:
    """UTC for a wall-clock start: None if the clock skips it, the first occurrence if the
    clock shows it twice. With a known steady offset this is one subtraction (hot path)."""
    if offset is not None:
        return (wall - offset).replace(tzinfo=UTC)
    utc = wall.replace(tzinfo=tz).astimezone(UTC)
    return utc if _reads(tz, utc) == wall else None


def _reads(tz: ZoneInfo, instant: datetime) -> datetime:
    """What the shop's clock shows at ``instant`` (naive)."""
    return instant.astimezone(tz).replace(tzinfo=None)


def _boundary(tz: ZoneInfo, wall: datetime) -> datetime:
    """The first real instant at which the shop clock reads ``wall`` or later (UTC).

    Why this rule: it is monotone in ``wall`` and gives every boundary exactly one
    instant, even a close of 02:30 on a night the clock jumps from 02:00 to 03:00.
    """
    utc = wall.replace(tzinfo=tz).astimezone(UTC)  # fold=0: the first occurrence
    if _reads(tz, utc) == wall:
        return utc
    return _clock_jump(tz, wall)


def _clock_jump(tz: ZoneInfo, wall: datetime) -> datetime:
    """The instant the clock jumps over the non-existent ``wall``, to the second.

    Why a search: zoneinfo exposes offsets, not transition instants. The two folds of a
    skipped time convert to an instant before the jump and one after it."""
    lo = int(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    hi = int(wall.replace(tzinfo=tz, fold=0).astimezone(UTC).timestamp())
    before = datetime.fromtimestamp(lo, tz).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


def _steady_offset(tz: ZoneInfo, open_wall: datetime, close_wall: datetime) -> timedelta | None:
    """The day's single UTC offset, or None if a clock change touches the day.

    Why: on the days without a change, converting a start is one subtraction. Both folds
    at both ends agree only when neither end sits in a gap or an overlap and the offset
    is the same at both; two changes cancelling out inside one day do not occur.
    """
    offsets = {
        wall.replace(tzinfo=tz, fold=fold).utcoffset()
        for wall in (open_wall, close_wall)
        for fold in (0, 1)
    }
    return offsets.pop() if len(offsets) == 1 else None


def _grid_starts(day: _Day, step: timedelta, tz: ZoneInfo, skip_to: datetime) -> Iterator[datetime]:
    """UTC starts on the day's step grid (open, open+step, ... in wall time), ascending,
    possibly with some before ``skip_to`` (the caller filters; skipping is a shortcut).

    Ascending holds because existing wall times taken at their first occurrence map to
    strictly increasing instants; skipped (non-existent) times are left out. On a day
    with one steady offset the grid is plain UTC arithmetic (the common, fast case)."""
    if day.offset is not None:
        start = (day.open_wall - day.offset).replace(tzinfo=UTC)
        if skip_to > start:
            start += (skip_to - start) // step * step
        while start < day.close:
            yield start
            start += step
        return
    wall = day.open_wall
    while wall < day.close_wall:
        start = _to_utc(tz, wall, None)
        if start is not None:
            yield start
        wall += step


def _day_starts(
    day: _Day,
    step: timedelta,
    tz: ZoneInfo,
    duration: timedelta,
    earliest: datetime,
    latest: datetime,
) -> Iterator[datetime]:
    """The grid starts whose job fits the day's hours and the booking window."""
    first, last = max(earliest, day.open), min(latest, day.close - duration)
    for start in _grid_starts(day, step, tz, first):
        if start > last:
            return  # starts only grow from here
        if start >= first and _clear_of_breaks(day, start, start + duration):
            yield start


# --------------------------------------------------------------------------- the search


class _Search:
    """One query: its candidate starts, and which of them each resource can take.

    How: all candidate starts of the query go in one ascending list, bit k of a Python
    int standing for ``starts[k]``. An existing job blocks a contiguous run of candidates
    (those s with job.start - duration - buffer < s < job.end + buffer), so marking it
    costs two bisects and one OR, and "some mechanic and some bay are free" is then known
    for every start at once. One pass over ``occupied``, nothing per candidate per job.
    """

    def __init__(
        self,
        cal: Calendar,
        mechanics: Iterable[Mechanic],
        bay_ids: Iterable[int],
        occupied: Iterable[Occupied],
        duration: timedelta,
        skills: Iterable[str],
        now: datetime,
        load: Load | None,
        days: list[_Day],
        *,
        only_start: datetime | None = None,
        any_time: bool = False,
    ) -> None:
        _check_instant(now, "now")
        if duration <= _ZERO or cal.slot_step <= _ZERO:
            raise ValueError("duration and slot_step must be positive")
        self.days = days
        self.opens = [day.open for day in days]
        self.duration = duration
        self.buffer = cal.buffer
        needed = frozenset(skills)
        self.mechanic_ids = sorted({m.id for m in mechanics if needed <= m.skills})
        self.bay_ids = sorted(set(bay_ids))
        self.starts, self.bounds = self._candidates(cal, now, only_start, any_time)
        self.load = load
        self.booked: dict[tuple[int, int], float] = {}  # (mechanic, day index) -> minutes
        self.blocked_m = dict.fromkeys(self.mechanic_ids, 0)
        self.blocked_b = dict.fromkeys(self.bay_ids, 0)
        self._mark(occupied)
        self.offerable = self._offerable()

    def _candidates(
        self, cal: Calendar, now: datetime, only_start: datetime | None, any_time: bool
    ) -> tuple[list[datetime], list[int]]:
        """All candidate starts, ascending, and where each day's run begins and ends.

        With ``only_start`` (used by ``fits``) the one start is checked against the same
        rules instead of listing the grid; ``any_time`` waives notice, horizon and grid."""
        tz = ZoneInfo(cal.timezone)
        earliest, latest = now + cal.min_notice, now + cal.horizon
        if only_start is not None:
            (day,) = self.days
            ok = _within_hours(day, only_start, only_start + self.duration) and (
                any_time
                or (
                    earliest <= only_start <= latest
                    and _on_grid(day, only_start, cal.slot_step, tz)
                )
            )
            return ([only_start], [0, 1]) if ok else ([], [0, 0])
        starts, bounds = [], [0]
        for day in self.days:
            starts.extend(_day_starts(day, cal.slot_step, tz, self.duration, earliest, latest))
            bounds.append(len(starts))
        return starts, bounds

    def _mark(self, occupied: Iterable[Occupied]) -> None:
        """One pass over the jobs: blocked runs per resource, booked minutes per day."""
        if not self.days or not self.mechanic_ids or not self.bay_ids:
            return
        starts, buffer = self.starts, self.buffer
        reach = self.duration + buffer  # a job hits s when job.start - reach < s
        lo = min(day.open for day in self.days) - buffer  # jobs ending by then touch nothing
        hi = max(day.close for day in self.days) + buffer  # nor do jobs starting from then on
        blocked_m, blocked_b = self.blocked_m, self.blocked_b
        count_load = self.load is None
        for job in occupied:
            start, end = job.start, job.end
            if end <= lo or start >= hi:
                continue
            mechanic, bay = job.mechanic_id, job.bay_id
            is_m, is_b = mechanic in blocked_m, bay in blocked_b
            if not (is_m or is_b):
                continue
            first = bisect_right(starts, start - reach)
            past = bisect_left(starts, end + buffer)
            if first < past:
                run = ((1 << (past - first)) - 1) << first
                if is_m:
                    blocked_m[mechanic] |= run
                if is_b:
                    blocked_b[bay] |= run
            if is_m and count_load:
                self._count(mechanic, start, end)

    def _count(self, mechanic: int, start: datetime, end: datetime) -> None:
        """Add a job's length to its mechanic's load on the opening day it starts in."""
        i = bisect_right(self.opens, start) - 1
        if i >= 0 and start < self.days[i].close:
            key = (mechanic, i)
            self.booked[key] = self.booked.get(key, 0.0) + (end - start) / _MINUTE

    def _offerable(self) -> int:
        """Bits of the starts where at least one mechanic and at least one bay are free."""
        every = (1 << len(self.starts)) - 1
        all_m = all_b = every  # bits where every mechanic (every bay) is blocked
        for mask in self.blocked_m.values():
            all_m &= mask
        for mask in self.blocked_b.values():
            all_b &= mask
        return every & ~all_m & ~all_b if self.mechanic_ids and self.bay_ids else 0

    def _day_bits(self, i: int) -> int:
        """Offerable bits of day i's run, shifted so bit 0 is the day's first start."""
        lo, hi = self.bounds[i], self.bounds[i + 1]
        return (self.offerable >> lo) & ((1 << (hi - lo)) - 1)

    def any_on(self, i: int) -> bool:
        """Whether day i has at least one slot."""
        return self._day_bits(i) != 0

    def slots_on(self, i: int) -> Iterator[Slot]:
        """Day i's slots, ascending."""
        bits, lo = self._day_bits(i), self.bounds[i]
        mechanics = self._by_load(i)
        while bits:
            lowest = bits & -bits
            bits ^= lowest
            yield self._assign(lo + lowest.bit_length() - 1, mechanics, self.bay_ids)

    def pick(self, i: int, k: int, mechanic_id: int | None, bay_id: int | None) -> Slot | None:
        """The slot for start k of day i, narrowed to a mechanic and/or bay, or None."""
        if k >= len(self.starts) or not self.offerable >> k & 1:
            return None
        mechanics = [m for m in self._by_load(i) if mechanic_id in (None, m)]
        bays = [b for b in self.bay_ids if bay_id in (None, b)]
        return self._assign(k, mechanics, bays)

    def _assign(self, k: int, mechanics: list[int], bays: list[int]) -> Slot | None:
        """First free mechanic in load order and first free bay by id for start k."""
        mechanic = next((m for m in mechanics if not self.blocked_m[m] >> k & 1), None)
        bay = next((b for b in bays if not self.blocked_b[b] >> k & 1), None)
        if mechanic is None or bay is None:
            return None
        start = self.starts[k]
        return Slot(start, start + self.duration, mechanic, bay)

    def _by_load(self, i: int) -> list[int]:
        """Qualified mechanics, least booked time on day i first, then lowest id."""
        if self.load is not None:
            load, day = self.load, self.days[i].day
            return sorted(self.mechanic_ids, key=lambda m: (load.get((m, day), 0), m))
        booked = self.booked
        return sorted(self.mechanic_ids, key=lambda m: (booked.get((m, i), 0.0), m))


def _check_instant(value: datetime, name: str) -> None:
    """Naive datetimes would silently mean server-local time; refuse them."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")
