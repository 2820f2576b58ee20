"""Invariant 1: no two bookings overlap on one mechanic or bay, under any concurrency.

Wheel alignment needs the one mechanic with that skill (Achieng), so at any start time
exactly one customer can have it: every racer but one must hear "slot just taken".
"""

import threading
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from core import booking
from core.availability import lock_days, take_day_and_look
from core.booking import Held, SlotTaken
from core.db import Database
from tests.integration.booking_helpers import MONDAY_9AM_NAIROBI as NOW
from tests.integration.booking_helpers import loaded, new_customer

RACERS = 50
AROUND_NOW = (NOW - timedelta(days=1), NOW + timedelta(days=1), NOW)  # from, until, now


def race(url: str, garage, start, racers: int) -> list:
    customers = []
    setup = Database(url)
    for i in range(racers):
        customers.append(new_customer(setup, garage, f"racer-{i}"))
    setup.dispose()

    database = Database(url, pool_size=racers, max_overflow=0) if url.startswith("postgresql") else Database(url)
    barrier = threading.Barrier(racers)
    results: list = [None] * racers

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            results[i] = booking.hold(database, shop_id=garage.id, customer_id=customers[i],
                                      service_ids=(garage.services["wheel-alignment"],), start=start, now=NOW)
        except Exception as exc:  # a racer must never see an exception; record it to fail
            results[i] = exc

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    database.dispose()
    return results


def overlapping_pairs(db) -> int:
    """Pairs of live bookings sharing a mechanic or a bay at the same time: must be 0."""
    with db.engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM bookings a JOIN bookings b ON a.id < b.id "
            "AND (a.mechanic_id = b.mechanic_id OR a.bay_id = b.bay_id) "
            "AND a.starts_at < b.blocks_until AND b.starts_at < a.blocks_until "
            "WHERE a.status IN ('held','confirmed','received','in_progress','awaiting_approval','ready') "
            "AND b.status IN ('held','confirmed','received','in_progress','awaiting_approval','ready')"
        )).scalar()  # fmt: skip


@pytest.mark.parametrize("backend", ["pg", "sqlite"])
def test_fifty_customers_race_for_one_alignment_slot_and_exactly_one_wins(backend, request, nairobi_spec):
    url = request.getfixturevalue("pg_url" if backend == "pg" else "sqlite_url")
    db = request.getfixturevalue("pg_db") if backend == "pg" else Database(url)
    garage = loaded(db, nairobi_spec)
    ten = garage.at(2026, 11, 23, 10)

    results = race(url, garage, ten, RACERS)

    assert [type(r) for r in results if not isinstance(r, Held | SlotTaken)] == []
    winners = [r for r in results if isinstance(r, Held)]
    losers = [r for r in results if isinstance(r, SlotTaken)]
    assert len(winners) == 1 and len(losers) == RACERS - 1
    assert winners[0].starts_at == ten
    for lost in losers:  # each loser is offered other times, never the one just taken
        assert lost.wanted == ten and lost.alternatives and ten not in lost.alternatives
        assert garage.at(2026, 11, 23, 11) in lost.alternatives
    assert overlapping_pairs(db) == 0


def test_postgresql_refuses_an_overlapping_row_even_without_the_application(pg_db, nairobi_spec):
    garage = loaded(pg_db, nairobi_spec)
    ten = garage.at(2026, 11, 23, 10)
    held = booking.hold(pg_db, shop_id=garage.id, customer_id=new_customer(pg_db, garage, "a"),
                        service_ids=(garage.services["oil-change"],), start=ten, now=NOW)
    other = new_customer(pg_db, garage, "b")
    insert = text(
        "INSERT INTO bookings (code, shop_id, customer_id, mechanic_id, bay_id, starts_at, ends_at, "
        "blocks_until, status, price_minor, deposit_minor, currency, created_at, updated_at) "
        "VALUES (:code, :shop, :customer, :mechanic, :bay, :start, :end, :end, 'confirmed', 1, 0, 'KES', now(), now())"
    )
    later = ten + timedelta(minutes=30)
    for mechanic, bay, code in ((held.mechanic_id, None, "X-1"), (None, held.bay_id, "X-2")):
        with pytest.raises(IntegrityError) as error, pg_db.engine.begin() as conn:
            conn.execute(insert, dict(code=code, shop=garage.id, customer=other, mechanic=mechanic,
                                      bay=bay, start=later, end=later + timedelta(hours=1)))
        assert error.value.orig.sqlstate == "23P01"
    # A cancelled booking no longer holds the time: the same row is accepted.
    booking.cancel(pg_db, held.booking_id, "customer", NOW)
    with pg_db.engine.begin() as conn:
        conn.execute(insert, dict(code="X-3", shop=garage.id, customer=other, mechanic=held.mechanic_id,
                                  bay=held.bay_id, start=later, end=later + timedelta(hours=1)))
    assert overlapping_pairs(pg_db) == 0


def test_an_overlap_the_look_could_not_see_is_refused_and_the_transaction_goes_on(pg_db, nairobi_spec):
    """A row written by someone who took no day lock (here by hand, still uncommitted
    when Baraka looks) is invisible to his look. His insert waits for it, the exclusion
    constraint refuses his row, and he hears "slot just taken" in a transaction he can
    still use: the reply of the same chat message commits with it."""
    garage = loaded(pg_db, nairobi_spec)
    amina, baraka = new_customer(pg_db, garage, "amina"), new_customer(pg_db, garage, "baraka")
    ten = garage.at(2026, 11, 24, 10)
    alignment = (garage.services["wheel-alignment"],)
    achieng = garage.mechanics["Achieng"]
    answer: list = []

    def baraka_holds() -> None:
        with pg_db.uow() as uow:
            answer.append(booking.hold(uow.session, shop_id=garage.id, customer_id=baraka,
                                       service_ids=alignment, start=ten, now=NOW))  # fmt: skip
            answer.append(uow.session.execute(text("SELECT count(*) FROM bookings")).scalar())

    with pg_db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO bookings (code, shop_id, customer_id, mechanic_id, bay_id, starts_at, ends_at, "
            "blocks_until, status, price_minor, deposit_minor, currency, created_at, updated_at) "
            "VALUES ('BY-HAND', :shop, :customer, :mechanic, NULL, :start, :end, :end, 'confirmed', "
            "1, 0, 'KES', now(), now())"
        ), dict(shop=garage.id, customer=amina, mechanic=achieng, start=ten, end=ten + timedelta(hours=1)))
        second = threading.Thread(target=baraka_holds)
        second.start()
        second.join(timeout=1.0)
        assert second.is_alive() and answer == []  # his insert waits on the uncommitted row
    second.join(timeout=30)
    taken, bookings_seen = answer
    assert isinstance(taken, SlotTaken) and taken.wanted == ten and ten not in taken.alternatives
    assert bookings_seen == 1
    assert overlapping_pairs(pg_db) == 0


@pytest.mark.parametrize("wanted_hour, wins", [(11, True), (10, False)])
def test_a_hold_waits_for_whoever_is_booking_the_day_then_looks_again(pg_db, nairobi_spec, wanted_hour, wins):
    """Amina is booking 10:00 (her transaction open, the day's lock hers). Baraka wants
    11:00, or the same 10:00: he waits for her to finish, then looks again, and gets
    11:00, or hears that 10:00 was just taken, with other times."""
    garage = loaded(pg_db, nairobi_spec)
    amina, baraka = new_customer(pg_db, garage, "amina"), new_customer(pg_db, garage, "baraka")
    alignment = (garage.services["wheel-alignment"],)
    answer: list = []
    with pg_db.uow() as uow:
        first = booking.hold(uow.session, shop_id=garage.id, customer_id=amina, service_ids=alignment,
                             start=garage.at(2026, 11, 24, 10), now=NOW)  # fmt: skip
        second = threading.Thread(target=lambda: answer.append(booking.hold(
            pg_db, shop_id=garage.id, customer_id=baraka, service_ids=alignment,
            start=garage.at(2026, 11, 24, wanted_hour), now=NOW)))  # fmt: skip
        second.start()
        second.join(timeout=1.0)
        assert second.is_alive() and answer == []  # waiting for Amina's transaction
    second.join(timeout=30)
    assert isinstance(first, Held)
    if wins:
        assert isinstance(answer[0], Held) and answer[0].starts_at == garage.at(2026, 11, 24, 11)
    else:
        assert isinstance(answer[0], SlotTaken) and garage.at(2026, 11, 24, 10) not in answer[0].alternatives
        assert garage.at(2026, 11, 24, 11) in answer[0].alternatives
    assert overlapping_pairs(pg_db) == 0


def test_a_writer_takes_a_free_day_or_waits_for_its_holder_without_taking_it(pg_db):
    """The lock behind every hold: the first writer gets the day; the next
    one waits until the first finishes and comes back without the lock, so that when
    fifty wait, they all wake at once instead of taking turns."""
    day = NOW.date()

    def holders() -> int:  # backends holding or waiting for this day's lock (ours excluded)
        with pg_db.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                     "AND classid = 7 AND objid = :day AND pid <> pg_backend_pid()"),
                                {"day": day.toordinal()}).scalar()  # fmt: skip

    answers: list = []
    with pg_db.uow() as first:
        assert take_day_and_look(first.session, 7, day, *AROUND_NOW).ours is True
        second = threading.Thread(target=lambda: answers.append(take_in_own_transaction(pg_db, day)))
        second.start()
        second.join(timeout=1.0)
        assert second.is_alive() and answers == []  # waiting for the first writer
        assert holders() == 2  # the first one's lock and the second one's wait
    second.join(timeout=30)
    assert answers == [(False, 0)]  # woke without the lock, and kept nothing
    with pg_db.uow() as later:
        assert take_day_and_look(later.session, 7, day, *AROUND_NOW).ours is True  # nobody holds the day now


def test_a_waiter_looks_at_the_day_as_its_holder_left_it(pg_db, nairobi_spec):
    """The waiter's look runs after the wait inside the same call, and still sees the
    booking the holder committed meanwhile (a fresh snapshot per statement of a volatile
    function, under READ COMMITTED): no second look is needed to find it."""
    garage = loaded(pg_db, nairobi_spec)
    amina = new_customer(pg_db, garage, "amina")
    ten = garage.at(2026, 11, 24, 10)
    day = ten.astimezone(ZoneInfo(garage.timezone)).date()
    window = (ten - timedelta(days=1), ten + timedelta(days=1), NOW)
    looks: list = []

    def look() -> None:
        with pg_db.uow() as uow:
            looks.append(take_day_and_look(uow.session, garage.id, day, *window))

    with pg_db.uow() as uow:
        held = booking.hold(uow.session, shop_id=garage.id, customer_id=amina,
                            service_ids=(garage.services["wheel-alignment"],), start=ten, now=NOW)  # fmt: skip
        waiter = threading.Thread(target=look)
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive() and looks == []  # waiting for Amina's transaction
    waiter.join(timeout=30)
    assert isinstance(held, Held)
    (seen,) = looks
    assert seen.ours is False
    assert [(b.start, b.mechanic_id) for b in seen.busy] == [(ten, garage.mechanics["Achieng"])]


def take_in_own_transaction(db: Database, day) -> tuple[bool, int]:
    with db.uow() as uow:
        got = take_day_and_look(uow.session, 7, day, *AROUND_NOW).ours
        kept = uow.session.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                        "AND pid = pg_backend_pid()")).scalar()  # fmt: skip
        return got, kept


def test_a_wait_cut_short_closes_its_connection_so_no_lock_can_stay_behind(pg_db):
    """A statement timeout can cancel the wait just after the shared lock was granted,
    before it is let go; such a lock belongs to the connection and outlives a rollback.
    The connection is closed instead, and nobody is left waiting on it."""
    day = NOW.date()
    with pg_db.uow() as first:
        assert take_day_and_look(first.session, 7, day, *AROUND_NOW).ours is True
        with pytest.raises(DBAPIError), pg_db.uow() as second:
            second.session.execute(text("SET LOCAL statement_timeout = '300ms'"))
            pid = second.session.execute(text("SELECT pg_backend_pid()")).scalar()
            take_day_and_look(second.session, 7, day, *AROUND_NOW)
    time.sleep(0.2)
    with pg_db.engine.connect() as conn:
        alive = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar()
    assert alive == 0


def test_an_owner_closing_a_day_while_a_hold_on_it_is_written_waits_for_it_and_lets_it_go(pg_db, nairobi_spec,
                                                                                           monkeypatch):  # fmt: skip
    """/close takes the day's lock before the shop's row, as a hold does (which numbers its
    code on the shop's row): taken the other way round, the two deadlocked."""
    from core import owner
    from core.models import Booking, OutboxMessage

    garage = loaded(pg_db, nairobi_spec)
    amina = new_customer(pg_db, garage, "amina")
    start = garage.at(2026, 11, 25, 10)
    closing, failures = [], []

    def close_the_day() -> None:
        try:
            with pg_db.uow() as uow:
                owner.set_day(uow.session, garage.id, start.astimezone(ZoneInfo("Africa/Nairobi")).date(), True,
                              "power cut", NOW)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 (any failure is the finding)
            failures.append(exc)

    write = booking._WRITE_HOLD["postgresql"]

    def write_while_the_owner_closes(session, view, row, services):
        closing.append(threading.Thread(target=close_the_day))
        closing[0].start()  # the hold has the day's lock: /close comes in now
        time.sleep(0.5)
        return write(session, view, row, services)

    monkeypatch.setitem(booking._WRITE_HOLD, "postgresql", write_while_the_owner_closes)
    held = booking.hold(pg_db, shop_id=garage.id, customer_id=amina, service_ids=(garage.services["oil-change"],),
                        start=start, now=NOW, channel="telegram")  # fmt: skip
    closing[0].join(30)

    assert isinstance(held, Held) and failures == []
    with pg_db.uow() as uow:
        assert uow.session.get(Booking, held.booking_id).status == "expired"  # let go once the day closed
        told = uow.session.scalars(select(OutboxMessage.body).where(OutboxMessage.dedupe_key == f"closed:{held.booking_id}")).all()
        assert [b["texts"][0]["id"] for b in told] == [owner.LET_GO]


def test_a_hold_begun_while_the_owner_closes_its_day_looks_again_and_finds_the_day_closed(pg_db, nairobi_spec):
    """A hold reads the shop before it waits for the day's lock; /close holds that lock
    while it closes the day. Once it commits, the hold's write finds the shop changed,
    looks again, and finds nothing to hold (not a visit on the closed day, confirmed
    at once when paid at the shop, and on nobody's list)."""
    from core import owner

    garage = loaded(pg_db, nairobi_spec)
    amina = new_customer(pg_db, garage, "amina")
    start = garage.at(2026, 11, 25, 10)
    closed, finish, result = threading.Event(), threading.Event(), {}

    def close_the_day() -> None:
        with pg_db.uow() as uow:  # /close 25.11: the owner's message, still writing its notices...
            owner.set_day(uow.session, garage.id, start.astimezone(ZoneInfo("Africa/Nairobi")).date(), True,
                          "power cut", NOW)  # fmt: skip
            closed.set()
            finish.wait(10)

    def hold() -> None:  # ...when Amina taps 10:00 that day
        result["held"] = booking.hold(pg_db, shop_id=garage.id, customer_id=amina,
                                      service_ids=(garage.services["oil-change"],), start=start, now=NOW,
                                      channel="telegram", payment_method="cash")  # fmt: skip

    closer = threading.Thread(target=close_the_day)
    closer.start()
    assert closed.wait(10)
    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.5)  # she has read the shop and waits for the day
    finish.set()
    closer.join(10)
    holder.join(10)

    assert isinstance(result["held"], SlotTaken) and result["held"].alternatives == ()


def test_a_hold_written_while_its_mechanic_goes_off_shift_is_not_left_with_him(pg_db, nairobi_spec, monkeypatch):
    """Going off shift reads the mechanic's jobs, then marks the shop changed. A hold
    committed in between (on a day he had nothing else) stayed his, a car promised to a
    mechanic who has gone home. Every day a hold can be on is now locked first: the hold
    waits, finds the shop changed, looks again, and only Achieng aligns wheels."""
    from core import availability, staffing
    from core.models import Booking

    garage = loaded(pg_db, nairobi_spec)
    amina = new_customer(pg_db, garage, "amina")
    achieng = garage.mechanics["Achieng"]
    start = garage.at(2026, 11, 25, 10)
    result, holders = {}, []
    touch = availability.touch_shop

    def hold() -> None:  # Amina taps 10:00 on Wednesday for a wheel alignment
        result["held"] = booking.hold(pg_db, shop_id=garage.id, customer_id=amina,
                                      service_ids=(garage.services["wheel-alignment"],), start=start, now=NOW,
                                      channel="telegram", payment_method="cash")  # fmt: skip

    def touch_once_she_has_held(session, shop_id):
        if not holders:
            holders.append(threading.Thread(target=hold))
            holders[0].start()
            holders[0].join(1.5)  # written at once, or waiting for a day this transaction holds
        touch(session, shop_id)

    monkeypatch.setattr(availability, "touch_shop", touch_once_she_has_held)
    outcomes = staffing.go_off_shift(pg_db, achieng, "staff:achieng", NOW)
    holders[0].join(10)

    assert outcomes == [] and isinstance(result["held"], SlotTaken)
    with pg_db.uow() as uow:
        assert uow.session.scalars(select(Booking.code).where(Booking.mechanic_id == achieng)).all() == []


def test_a_day_locked_twice_in_one_transaction_is_asked_for_once_unless_a_savepoint_let_it_go(pg_db):
    """A hold confirmed in the message that made it (pay at the shop) already holds its
    day: asking again is a round trip for nothing. But a savepoint rolled back lets go of
    the locks taken in it, and then the day must be asked for again."""
    day = NOW.date()
    asked: list[str] = []

    def holders() -> int:  # backends holding this day's lock, ours excluded
        with pg_db.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                                     "AND classid = 7 AND objid = :day AND pid <> pg_backend_pid()"),
                                {"day": day.toordinal()}).scalar()  # fmt: skip

    def statement(conn, cursor, text_, params, context, executemany):
        if "pg_advisory_xact_lock" in text_:
            asked.append(text_)

    event.listen(pg_db.engine, "before_cursor_execute", statement)
    try:
        with pg_db.uow() as uow:
            s = uow.session
            savepoint = s.begin_nested()
            lock_days(s, 7, [day])
            lock_days(s, 7, [day])  # held: not asked again
            assert len(asked) == 1 and holders() == 1
            savepoint.rollback()
            assert holders() == 0  # the savepoint took it with it
            lock_days(s, 7, [day])
            assert len(asked) == 2 and holders() == 1
            with s.begin_nested():
                lock_days(s, 7, [day])  # held by the transaction around the savepoint
            assert len(asked) == 2
    finally:
        event.remove(pg_db.engine, "before_cursor_execute", statement)
    assert holders() == 0
