"""Booking stories on both backends: holds, confirmations, expiry, cancellations,
no-shows, tokens and rescheduling, with the rule book enforced on every move."""

from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select, update

from core import availability, booking
from core.booking import CodeClash, Held, NotYours, SlotTaken
from core.lifecycle import IllegalMove
from core.models import Booking, BookingEvent, BookingItem, Customer, Shop
from core.shopfile import parse_shop
from tests.integration.booking_helpers import MONDAY_9AM_NAIROBI as NOW
from tests.integration.booking_helpers import loaded, new_customer


@pytest.fixture
def garage(db, nairobi_spec):
    return loaded(db, nairobi_spec)


def hold(db, garage, customer, start, services=("oil-change",), now=NOW, **kw):
    ids = tuple(garage.services[c] for c in services)
    return booking.hold(db, shop_id=garage.id, customer_id=customer, service_ids=ids, start=start, now=now, **kw)


def events(db, booking_id):
    with db.uow() as uow:
        return event_rows(uow.session, booking_id)


def event_rows(session, booking_id):
    return [(e.from_status, e.to_status, e.actor, e.reason) for e in session.scalars(
        select(BookingEvent).where(BookingEvent.booking_id == booking_id).order_by(BookingEvent.id))]  # fmt: skip


def status(db, booking_id):
    with db.uow() as uow:
        return uow.session.get(Booking, booking_id).status


def free_starts(db, garage, services=("oil-change",), now=NOW, day=None):
    day = day or NOW.date()
    with db.uow() as uow:
        slots = availability.free_slots(uow.session, garage.id, [garage.services[c] for c in services], day, day, now)
    return [s.start for s in slots]


def test_customer_holds_an_oil_change_and_the_shop_confirms_it(db, garage):
    amina = new_customer(db, garage, "1001")
    ten = garage.at(2026, 11, 23, 10)
    held = hold(db, garage, amina, ten, payment_method="mpesa", channel="telegram")

    assert isinstance(held, Held)
    assert (held.code, held.starts_at, held.ends_at) == ("MM-1001", ten, ten + timedelta(minutes=45))
    assert held.hold_expires_at == NOW + timedelta(minutes=15)
    assert (held.price_minor, held.deposit_minor, held.currency) == (350000, 0, "KES")
    booking.confirm(db, held.booking_id, "system:mpesa", NOW + timedelta(minutes=3), "paid")
    assert status(db, held.booking_id) == "confirmed"
    assert events(db, held.booking_id) == [
        (None, "held", f"customer:{amina}", None),
        ("held", "confirmed", "system:mpesa", "paid"),
    ]


def test_a_visit_of_two_services_adds_up_their_time_price_and_deposits(db, garage):
    kamau = new_customer(db, garage, "1002")
    ten = garage.at(2026, 11, 23, 10)
    held = hold(db, garage, kamau, ten, services=("brake-pads", "oil-change"))
    assert held.ends_at - held.starts_at == timedelta(minutes=105)
    assert (held.price_minor, held.deposit_minor) == (800000, 100000)


def test_the_second_customer_gets_a_different_mechanic_and_the_third_finds_the_bays_full(db, garage):
    ten = garage.at(2026, 11, 23, 10)
    first = hold(db, garage, new_customer(db, garage, "1"), ten)
    second = hold(db, garage, new_customer(db, garage, "2"), ten)
    third = hold(db, garage, new_customer(db, garage, "3"), ten)

    assert first.mechanic_id != second.mechanic_id
    assert first.bay_id != second.bay_id
    assert isinstance(third, SlotTaken)
    assert ten not in third.alternatives
    assert third.alternatives[0] == garage.at(2026, 11, 23, 9, 0) + timedelta(hours=2)  # 11:00: both bays free again


def test_an_expired_hold_stops_blocking_at_once_and_the_sweep_marks_it(db, garage):
    ten = garage.at(2026, 11, 23, 11)
    a, b, c = (new_customer(db, garage, x) for x in ("a", "b", "c"))
    first, second = hold(db, garage, a, ten), hold(db, garage, b, ten)
    assert ten not in free_starts(db, garage)

    later = NOW + timedelta(minutes=16)  # both holds ran out, no sweep has run
    assert ten in free_starts(db, garage, now=later)
    third = hold(db, garage, c, ten, now=later)
    assert isinstance(third, Held)
    assert {status(db, first.booking_id), status(db, second.booking_id)} == {"expired"}
    assert booking.sweep_expired_holds(db, later) == []
    assert events(db, first.booking_id)[-1] == ("held", "expired", "system:sweep", "hold ran out before payment")


def test_the_sweep_job_expires_overdue_holds_of_every_shop(db, garage):
    held = hold(db, garage, new_customer(db, garage, "s"), garage.at(2026, 11, 23, 11))
    assert booking.sweep_expired_holds(db, NOW + timedelta(minutes=14)) == []
    assert booking.sweep_expired_holds(db, NOW + timedelta(minutes=15)) == [held.booking_id]
    assert status(db, held.booking_id) == "expired"


def test_an_illegal_move_is_refused_with_a_reason_and_changes_nothing(db, garage):
    held = hold(db, garage, new_customer(db, garage, "x"), garage.at(2026, 11, 23, 10))
    booking.cancel(db, held.booking_id, "customer:x", NOW)
    with pytest.raises(IllegalMove) as error:
        booking.confirm(db, held.booking_id, "system:mpesa", NOW)
    assert error.value.reason == "the booking is already cancelled"
    assert status(db, held.booking_id) == "cancelled"
    assert len(events(db, held.booking_id)) == 2


def test_an_early_cancellation_is_free_and_a_late_one_costs_a_token(db, garage):
    wanjiku = new_customer(db, garage, "w")
    tomorrow = hold(db, garage, wanjiku, garage.at(2026, 11, 25, 10))
    booking.confirm(db, tomorrow.booking_id, "system", NOW)
    early = booking.cancel(db, tomorrow.booking_id, "customer", NOW, customer_id=wanjiku)
    assert (early.token_cost, early.tokens_left) == (0, 2)

    today = hold(db, garage, wanjiku, garage.at(2026, 11, 23, 15))
    booking.confirm(db, today.booking_id, "system", NOW)
    late = booking.cancel(db, today.booking_id, "customer", NOW, customer_id=wanjiku)
    assert (late.token_cost, late.tokens_left) == (1, 1)
    assert events(db, today.booking_id)[-1][3] == "late cancellation"


def test_a_no_show_costs_a_token_and_at_zero_the_customer_must_prepay_everything(db, garage):
    otieno = new_customer(db, garage, "o")
    for day in (23, 24):
        held = hold(db, garage, otieno, garage.at(2026, 11, day, 10))
        booking.confirm(db, held.booking_id, "system", NOW)
        booking.mark_no_show(db, held.booking_id, "staff:1", NOW + timedelta(days=day - 22))
    with db.uow() as uow:
        assert uow.session.get(Customer, otieno).tokens == 0
    held = hold(db, garage, otieno, garage.at(2026, 11, 26, 10), services=("brake-pads",))
    assert held.deposit_minor == held.price_minor == 450000


def test_tokens_come_back_in_a_new_month_and_when_the_owner_resets_them(db, garage):
    otieno = new_customer(db, garage, "o")
    held = hold(db, garage, otieno, garage.at(2026, 11, 23, 10))
    booking.confirm(db, held.booking_id, "system", NOW)
    assert booking.mark_no_show(db, held.booking_id, "staff:1", NOW).tokens_left == 1
    assert booking.reset_tokens(db, otieno, NOW) == 2

    held = hold(db, garage, otieno, garage.at(2026, 11, 24, 10))
    booking.confirm(db, held.booking_id, "system", NOW)
    assert booking.mark_no_show(db, held.booking_id, "staff:1", NOW).tokens_left == 1
    december = NOW + timedelta(days=9)
    held = hold(db, garage, otieno, garage.at(2026, 12, 2, 10), now=december)
    with db.uow() as uow:
        assert uow.session.get(Customer, otieno).tokens == 2


def test_a_customer_cannot_cancel_someone_elses_booking(db, garage):
    mine = hold(db, garage, new_customer(db, garage, "me"), garage.at(2026, 11, 23, 10))
    stranger = new_customer(db, garage, "stranger")
    with pytest.raises(NotYours):
        booking.cancel(db, mine.booking_id, "customer", NOW, customer_id=stranger)
    assert status(db, mine.booking_id) == "held"


def test_a_hold_cannot_name_another_customers_vehicle(db, garage):
    from core.customers import add_vehicle

    amina = new_customer(db, garage, "amina")
    with db.uow() as uow:
        her_car = add_vehicle(uow.session, uow.session.get(Customer, amina), "KCB 123A").id
    with pytest.raises(NotYours):
        hold(db, garage, new_customer(db, garage, "brian"), garage.at(2026, 11, 23, 10), vehicle_id=her_car)
    assert hold(db, garage, amina, garage.at(2026, 11, 23, 10), vehicle_id=her_car).code


def test_reschedule_moves_the_booking_or_keeps_the_old_slot(db, garage):
    ten, two = garage.at(2026, 11, 23, 10), garage.at(2026, 11, 23, 14)
    mine = hold(db, garage, new_customer(db, garage, "me"), ten)
    booking.confirm(db, mine.booking_id, "system", NOW)
    for x in ("p", "q"):  # both bays taken at 14:00
        booking.confirm(db, hold(db, garage, new_customer(db, garage, x), two).booking_id, "system", NOW)

    refused = booking.reschedule(db, mine.booking_id, two, "customer", NOW)
    assert isinstance(refused, SlotTaken)
    with db.uow() as uow:
        assert uow.session.get(Booking, mine.booking_id).starts_at == ten

    three = garage.at(2026, 11, 23, 15)
    moved = booking.reschedule(db, mine.booking_id, three, "customer", NOW)
    assert isinstance(moved, Held) and moved.starts_at == three
    assert status(db, mine.booking_id) == "confirmed"
    assert ten in free_starts(db, garage)


def test_two_shops_given_one_code_prefix_are_told_so_not_turned_into_slot_taken(db, garage, nairobi_spec):
    """A shop loaded before prefixes were checked, with Mwangaza's prefix, would number
    its first booking MM-1001 too. The operator hears why; the customer is not told the
    time was taken."""
    twin = loaded(db, parse_shop({**nairobi_spec.raw, "slug": "mwangaza-twin", "code_prefix": "MW"}))
    with db.uow() as uow:
        uow.session.get(Shop, twin.id).code_prefix = "MM"
        availability.touch_shop(uow.session, twin.id)
    assert isinstance(hold(db, garage, new_customer(db, garage, "a"), garage.at(2026, 11, 23, 10)), Held)
    with pytest.raises(CodeClash) as error:
        hold(db, twin, new_customer(db, twin, "b"), twin.at(2026, 11, 23, 10))
    assert str(error.value) == "booking code MM-1001 is taken: give each shop its own code_prefix"


def test_a_hold_of_two_services_is_written_the_same_on_both_backends(db, garage):
    """PostgreSQL writes a hold in one statement, SQLite in steps: the same rows."""
    amina = new_customer(db, garage, "amina")
    held = hold(db, garage, amina, garage.at(2026, 11, 23, 10), services=("oil-change", "brake-pads"))
    assert isinstance(held, Held) and held.code == "MM-1001"
    with db.uow() as uow:
        row = uow.session.get(Booking, held.booking_id)
        assert (row.code, row.status, row.customer_id, row.hold_expires_at) == (
            "MM-1001", "held", amina, NOW + timedelta(minutes=15))
        assert [(i.service_id, i.kind, i.description, i.status) for i in sorted(row.items, key=lambda i: i.id)] == [
            (garage.services["oil-change"], "service", "oil-change", "booked"),
            (garage.services["brake-pads"], "service", "brake-pads", "booked"),
        ]
    assert events(db, held.booking_id) == [(None, "held", f"customer:{amina}", None)]


# -- what the rest of the transaction reads after a customer's confirmation or cancellation --
# (both are written by statements at once, not by the session's flush: booking.move_at_once)


def test_a_booking_cancelled_in_a_transaction_reads_back_cancelled_with_its_event_in_that_transaction(db, garage):
    amina = new_customer(db, garage, "amina")
    held = hold(db, garage, amina, garage.at(2026, 11, 25, 10))
    booking.confirm(db, held.booking_id, "system:mpesa", NOW, "paid")
    later = NOW + timedelta(minutes=5)
    with db.uow() as uow:
        s = uow.session
        row = s.get(Booking, held.booking_id)
        assert [e.to_status for e in row.events] == ["held", "confirmed"]  # read before the cancellation

        cancelled = booking.cancel(s, held.booking_id, f"customer:{amina}", later, customer_id=amina)

        assert (cancelled.code, cancelled.token_cost, cancelled.refund_minor) == (held.code, 0, 0)
        assert s.get(Booking, held.booking_id) is row
        assert (row.status, row.updated_at, row.hold_expires_at) == ("cancelled", later, None)
        assert [(e.from_status, e.to_status, e.actor) for e in row.events] == [
            (None, "held", f"customer:{amina}"), ("held", "confirmed", "system:mpesa"),
            ("confirmed", "cancelled", f"customer:{amina}")]  # fmt: skip
        assert event_rows(s, held.booking_id)[-1] == ("confirmed", "cancelled", f"customer:{amina}", None)
        assert not s.dirty and not s.new  # nothing left for the commit to write
    assert status(db, held.booking_id) == "cancelled"
    assert len(events(db, held.booking_id)) == 3


def test_a_hold_confirmed_in_the_transaction_that_made_it_reads_back_confirmed(db, garage):
    amina = new_customer(db, garage, "amina")
    with db.uow() as uow:
        s = uow.session
        held = hold(s, garage, amina, garage.at(2026, 11, 23, 10))
        row = booking.confirm(s, held.booking_id, f"customer:{amina}", NOW, "pays at the shop")

        assert row is s.get(Booking, held.booking_id)
        assert (row.status, row.hold_expires_at, row.updated_at, row.code) == ("confirmed", None, NOW, held.code)
        assert event_rows(s, held.booking_id) == [(None, "held", f"customer:{amina}", None),
                                                  ("held", "confirmed", f"customer:{amina}", "pays at the shop")]  # fmt: skip
    with db.uow() as uow:
        stored = uow.session.get(Booking, held.booking_id)
        assert (stored.status, stored.hold_expires_at, stored.updated_at) == ("confirmed", None, NOW)


def test_a_cancellation_undone_with_its_failed_step_leaves_the_booking_as_it_is_stored(db, garage):
    """The chat's step runs in a savepoint (core.db.undoable); when it fails after the
    cancellation, the booking the session holds is the stored one again, not a cancelled one."""
    from core.db import undoable

    amina = new_customer(db, garage, "amina")
    held = hold(db, garage, amina, garage.at(2026, 11, 25, 10))
    booking.confirm(db, held.booking_id, "system:mpesa", NOW, "paid")
    with db.uow() as uow:
        s = uow.session
        row = s.get(Booking, held.booking_id)
        with pytest.raises(RuntimeError), undoable(s) as writing:
            writing()
            booking.cancel(s, held.booking_id, f"customer:{amina}", NOW, customer_id=amina)
            raise RuntimeError("the step failed after the cancellation")

        assert row.status == "confirmed"
        assert [e.to_status for e in row.events] == ["held", "confirmed"]
    assert status(db, held.booking_id) == "confirmed"


def test_the_lock_finds_the_booking_as_another_transaction_left_it_over_what_was_read_before(db, garage):
    """As the ORM's populate_existing: a booking read earlier in the transaction is
    overwritten by what its locked row holds, its lines read again."""
    amina = new_customer(db, garage, "amina")
    held = hold(db, garage, amina, garage.at(2026, 11, 25, 10))
    with db.uow() as uow:
        s = uow.session
        row = s.get(Booking, held.booking_id)
        assert [i.description for i in row.items] == ["oil-change"]
        # what another transaction committed meanwhile, as the lock would find it
        s.execute(update(Booking.__table__).where(Booking.__table__.c.id == row.id).values(notes="by the gate"))
        s.execute(insert(BookingItem.__table__).values(booking_id=row.id, kind="extra", description="wipers",
                                                       price_minor=50000, status="proposed"))  # fmt: skip

        assert booking.locked_booking(s, held.booking_id, amina) is row
        assert row.notes == "by the gate"
        assert [i.description for i in row.items] == ["oil-change", "wipers"]


def test_a_hold_that_refills_the_tokens_leaves_the_customer_as_stored(db, garage):
    """A new month's tokens are written with the hold; the customer the transaction holds
    says so, and a failed step gives back the stored one."""
    from core.db import undoable

    otieno = new_customer(db, garage, "otieno")
    december = NOW + timedelta(days=9)
    with db.uow() as uow:
        s = uow.session
        customer = s.get(Customer, otieno)
        with pytest.raises(RuntimeError), undoable(s) as writing:
            writing()
            hold(s, garage, otieno, garage.at(2026, 12, 2, 10), now=december)
            assert (customer.tokens, customer.tokens_reset_on) == (2, date(2026, 12, 1))
            assert customer not in s.dirty
            raise RuntimeError("the step failed after the hold")
        assert customer.tokens_reset_on is None

        hold(s, garage, otieno, garage.at(2026, 12, 2, 10), now=december)
    with db.uow() as uow:
        stored = uow.session.get(Customer, otieno)
        assert (stored.tokens, stored.tokens_reset_on) == (2, date(2026, 12, 1))


def test_a_no_show_marked_while_she_books_keeps_its_token_spent(pg_db, nairobi_spec):
    """Her customer row is read, unlocked, at her message's start; a no-show marked
    meanwhile spends a token of the new month. Her hold's refill of that month must not
    write the count it read back over the spend (PostgreSQL: two transactions at once)."""
    garage = loaded(pg_db, nairobi_spec)
    amina = new_customer(pg_db, garage, "amina")
    oil = (garage.services["oil-change"],)
    first = booking.hold(pg_db, shop_id=garage.id, customer_id=amina, service_ids=oil,
                         start=garage.at(2026, 11, 23, 10), now=NOW)  # fmt: skip
    booking.confirm(pg_db, first.booking_id, "system:mpesa", NOW, "paid")
    with pg_db.uow() as uow:  # as if booked in October: both tokens hers, refilled on 1 October
        uow.session.get(Customer, amina).tokens_reset_on = date(2026, 10, 1)

    with pg_db.uow() as uow:  # her message
        her_row = uow.session.get(Customer, amina)
        assert (her_row.tokens, her_row.tokens_reset_on) == (2, date(2026, 10, 1))
        assert booking.mark_no_show(pg_db, first.booking_id, "staff:1", NOW).tokens_left == 1  # meanwhile, committed
        booking.hold(uow.session, shop_id=garage.id, customer_id=amina, service_ids=oil,
                     start=garage.at(2026, 11, 25, 10), now=NOW)  # fmt: skip
        assert (her_row.tokens, her_row.tokens_reset_on) == (1, date(2026, 11, 1))  # what is stored

    with pg_db.uow() as uow:
        assert uow.session.scalar(select(Customer.tokens).where(Customer.id == amina)) == 1
