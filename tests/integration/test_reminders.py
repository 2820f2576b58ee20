"""Reminders 24 h and 2 h before a confirmed visit: once each, even when the cron job
runs twice at the same moment in two processes (threads here, on PostgreSQL)."""

import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core import booking, outbox, reminders
from core.models import Booking, Conversation, OutboxMessage
from tests.integration.booking_helpers import loaded, new_customer
from tests.integration.staff_helpers import book

MONDAY_9 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Nairobi 09:00


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour - 3, minute, tzinfo=UTC)


@pytest.mark.parametrize("start, created, now, due", [
    (at(24, 10), MONDAY_9, at(23, 9, 59), None),  # 24 h and a minute ahead: nothing yet
    (at(24, 10), MONDAY_9, at(23, 10), 24),
    (at(24, 10), MONDAY_9, at(24, 7, 59), 24),  # the 2-hour mark not reached (the 24 h one is a key of its own)
    (at(24, 10), MONDAY_9, at(24, 8), 2),
    (at(24, 10), MONDAY_9, at(24, 10), None),  # the visit has begun
    (at(24, 8), MONDAY_9, at(24, 6, 30), 2),  # booked 23 h ahead: no 24-hour reminder, only the 2-hour one
    (at(24, 8), MONDAY_9, at(23, 9, 30), None),
    (at(23, 10, 30), MONDAY_9, at(23, 9, 30), None),  # booked 90 minutes ahead: the confirmation was enough
])  # fmt: skip
def test_which_reminder_is_due(start, created, now, due):
    assert reminders.due_reminder(start, created, now, (24, 2)) == due


def _keys(db):
    with db.uow() as uow:
        rows = uow.session.execute(select(OutboxMessage.dedupe_key, func.count()).where(
            OutboxMessage.dedupe_key.like("reminder:%")).group_by(OutboxMessage.dedupe_key)).all()  # fmt: skip
    return dict(rows)


def _day_of_bookings(db, spec):
    shop = loaded(db, spec)
    made = {
        "tomorrow_ten": book(db, shop.id, "100", ["oil-change"], at(24, 10), MONDAY_9),
        "today_half_eleven": book(db, shop.id, "101", ["oil-change"], at(23, 11, 30), MONDAY_9),
        "tomorrow_eight": book(db, shop.id, "102", ["diagnosis"], at(24, 8), MONDAY_9),
        "cancelled": book(db, shop.id, "103", ["tyre-change"], at(24, 10), MONDAY_9),
    }
    booking.cancel(db, made["cancelled"].id, "customer", MONDAY_9)
    with db.uow() as uow:  # and one that was only held, never paid
        held = booking.hold(uow.session, shop_id=shop.id, customer_id=uow.session.get(Booking, made["tomorrow_ten"].id).customer_id,
                            service_ids=(shop.services["wheel-alignment"],), start=at(24, 11), now=MONDAY_9, hold_minutes=600)  # fmt: skip
    return shop, {k: v.id for k, v in made.items()} | {"held": held.booking_id}


def test_each_reminder_is_written_once_with_its_choices_and_template(sqlite_db, nairobi_spec):
    shop, ids = _day_of_bookings(sqlite_db, nairobi_spec)
    morning = at(23, 10, 5)
    assert reminders.send_due(sqlite_db, morning) == 2
    assert reminders.send_due(sqlite_db, morning) == 0  # the cron job ran again
    assert _keys(sqlite_db) == {reminders.reminder_key(ids['tomorrow_ten'], at(24, 10), 24): 1, reminders.reminder_key(ids['today_half_eleven'], at(23, 11, 30), 2): 1}
    with sqlite_db.uow() as uow:
        row = uow.session.scalar(select(OutboxMessage).where(
            OutboxMessage.dedupe_key == reminders.reminder_key(ids['tomorrow_ten'], at(24, 10), 24)))  # fmt: skip
        assert [t["id"] for t in row.body["texts"]][0] == "Reminder: your visit to {shop} is {when}. Booking {code}."
        assert [c["id"] for c in row.body["choices"]] == [f"rm:move:{ids['tomorrow_ten']}", f"rm:cancel:{ids['tomorrow_ten']}"]
        assert row.body["template"] == "reminder"
        assert row.body["variables"] == {"name": "Amina", "service": "Oil and filter change", "time": "Tue 24 Nov, 10:00",
                                         "code": "MM-1001"}  # fmt: skip
    assert reminders.send_due(sqlite_db, at(24, 6, 1)) == 1  # 2 h before the 08:00 visit
    assert reminders.send_due(sqlite_db, at(24, 8, 1)) == 1  # 2 h before the 10:00 visit
    assert reminders.send_due(sqlite_db, at(24, 8, 3)) == 0
    assert set(_keys(sqlite_db)) == {reminders.reminder_key(ids['tomorrow_ten'], at(24, 10), 24), reminders.reminder_key(ids['today_half_eleven'], at(23, 11, 30), 2),
                                     reminders.reminder_key(ids['tomorrow_ten'], at(24, 10), 2), reminders.reminder_key(ids['tomorrow_eight'], at(24, 8), 2)}  # fmt: skip
    assert set(_keys(sqlite_db).values()) == {1}


def test_a_booking_moved_after_its_reminders_is_reminded_of_its_new_time(sqlite_db, nairobi_spec):
    shop = loaded(sqlite_db, nairobi_spec)
    visit = book(sqlite_db, shop.id, "100", ["oil-change"], at(24, 10), MONDAY_9)
    assert reminders.send_due(sqlite_db, at(24, 8, 5)) == 1  # the 2-hour reminder for Tuesday
    booking.reschedule(sqlite_db, visit.id, at(25, 10), "customer", at(24, 8, 10))

    assert reminders.send_due(sqlite_db, at(24, 10, 5)) == 1  # 24 h before Wednesday's time
    assert reminders.send_due(sqlite_db, at(25, 8, 5)) == 1  # and 2 h before it
    assert set(_keys(sqlite_db)) == {reminders.reminder_key(visit.id, at(24, 10), 2),
                                     reminders.reminder_key(visit.id, at(25, 10), 24),
                                     reminders.reminder_key(visit.id, at(25, 10), 2)}  # fmt: skip



def test_no_see_you_then_for_a_day_the_owner_closed_since(db, nairobi_spec):
    from core import owner

    shop = loaded(db, nairobi_spec)
    book(db, shop.id, "100", ["oil-change"], at(25, 10), MONDAY_9)
    with db.uow() as uow:  # /close 25.11 power cut (the owner is told to contact that customer)
        owner.set_day(uow.session, shop.id, at(25, 10).date(), closed=True, reason="power cut", now=MONDAY_9)

    assert reminders.send_due(db, at(24, 10, 5)) == 0
    assert _keys(db) == {}

def test_a_reminder_still_waiting_when_the_owner_closes_its_day_is_dropped(db, nairobi_spec):
    from core import owner

    shop = loaded(db, nairobi_spec)
    book(db, shop.id, "100", ["oil-change"], at(25, 10), MONDAY_9)
    assert reminders.send_due(db, at(24, 10, 5)) == 1  # written; then an outage keeps it in the outbox...
    with db.uow() as uow:  # ...while the owner closes Wednesday (/close 25.11)
        owner.set_day(uow.session, shop.id, at(25, 10).date(), closed=True, reason="power cut", now=at(24, 10, 6))
    with db.uow() as uow:
        row = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("reminder:%")))
        assert outbox.outdated(uow.session, row, at(24, 10, 10)) == "the shop has closed that day since"


def reminded_under_the_old_key(db, spec):
    """Tuesday 10:00's visit, reminded 24 h before under the key of before 6 December."""
    shop = loaded(db, spec)
    visit = book(db, shop.id, "100", ["oil-change"], at(24, 10), MONDAY_9)
    assert reminders.send_due(db, at(23, 10, 5)) == 1
    with db.uow() as uow:  # as the code before wrote it
        row = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("reminder:%")))
        row.dedupe_key = f"reminder:{visit.id}:24h"
    return visit


def test_a_reminder_sent_under_the_key_of_before_6_december_is_not_sent_again(sqlite_db, nairobi_spec):
    reminded_under_the_old_key(sqlite_db, nairobi_spec)

    assert reminders.send_due(sqlite_db, at(23, 10, 10)) == 0


def test_but_a_booking_moved_since_that_reminder_is_reminded_of_its_new_time(sqlite_db, nairobi_spec):
    visit = reminded_under_the_old_key(sqlite_db, nairobi_spec)
    booking.reschedule(sqlite_db, visit.id, at(26, 10), "customer", at(23, 11))  # to Thursday, after it

    assert reminders.send_due(sqlite_db, at(25, 10, 5)) == 1  # 24 h before Thursday 10:00
    assert reminders.reminder_key(visit.id, at(26, 10), 24) in _keys(sqlite_db)

def test_a_booking_moved_inside_its_24_hour_window_gets_no_24_hour_reminder(db, nairobi_spec):
    shop = loaded(db, nairobi_spec)
    visit = book(db, shop.id, "100", ["oil-change"], at(25, 10), MONDAY_9)
    booking.reschedule(db, visit.id, at(24, 11), "customer", at(23, 12))  # tomorrow 11:00, moved at noon

    assert reminders.send_due(db, at(23, 12, 1)) == 0  # the move's confirmation was the reminder
    assert reminders.send_due(db, at(24, 9, 1)) == 1  # 2 h before it
    assert set(_keys(db)) == {reminders.reminder_key(visit.id, at(24, 11), 2)}


def test_a_hold_paid_inside_its_24_hour_window_gets_no_24_hour_reminder(db, nairobi_spec):
    """Held 24 h 10 min ahead and paid 23 h 55 min ahead: the confirmation was the
    reminder (the 24-hour one came two minutes after it)."""
    shop = loaded(db, nairobi_spec)
    customer = new_customer(db, shop, "paid-late")
    held = booking.hold(db, shop_id=shop.id, customer_id=customer, service_ids=(shop.services["oil-change"],),
                        start=at(24, 12), now=at(23, 11, 50), hold_minutes=30)  # fmt: skip
    booking.confirm(db, held.booking_id, "system:mpesa", at(23, 12, 5))

    assert reminders.send_due(db, at(23, 12, 7)) == 0
    assert reminders.send_due(db, at(24, 10, 1)) == 1  # 2 h before it
    assert set(_keys(db)) == {reminders.reminder_key(held.booking_id, at(24, 12), 2)}


def _race(n: int, job) -> list[Exception]:
    """Run `job` in n threads released at the same instant; the errors they raised."""
    start, errors = threading.Barrier(n), []

    def run():
        try:
            start.wait()
            job()
        except Exception as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_two_cron_processes_at_once_send_each_reminder_once(pg_db, nairobi_spec):
    shop, ids = _day_of_bookings(pg_db, nairobi_spec)
    for moment in (at(23, 10, 5), at(24, 6, 1), at(24, 8, 1)):
        assert _race(4, lambda moment=moment: reminders.send_due(pg_db, moment)) == []
    keys = _keys(pg_db)
    assert keys == {reminders.reminder_key(ids['tomorrow_ten'], at(24, 10), 24): 1, reminders.reminder_key(ids['today_half_eleven'], at(23, 11, 30), 2): 1,
                    reminders.reminder_key(ids['tomorrow_ten'], at(24, 10), 2): 1, reminders.reminder_key(ids['tomorrow_eight'], at(24, 8), 2): 1}  # fmt: skip


def test_a_whatsapp_customer_answers_a_reminder_by_its_number(sqlite_url, tmp_path):
    from pitstop.fakes.telegram import FakeTelegram
    from pitstop.fakes.twilio import FakeTwilio
    from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN, start_pitstop
    from tests.integration.staff_helpers import Clocked

    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        story = Clocked(start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path),
                                                                     "PITSTOP_NOW": at(23, 10, 30).isoformat()}))  # the sender's clock: inside his 24 hours  # fmt: skip
        phone = "+254722111222"
        story.wa(phone, "Habari", MONDAY_9)
        story.wa(phone, "1", MONDAY_9)  # English
        job = book(story.db, story.shop_id("mwangaza-motors"), f"whatsapp:{phone}", ["oil-change"], at(24, 10), MONDAY_9,
                   channel="whatsapp")  # fmt: skip
        assert reminders.send_due(story.db, at(23, 10, 30)) == 1
        with story.db.uow() as uow:
            conv = uow.session.scalar(select(Conversation).where(Conversation.chat_id == f"whatsapp:{phone}"))
            assert [c for c, _ in conv.data["offered"]] == [f"rm:move:{job.id}", f"rm:cancel:{job.id}"]
        story.wa(phone, "2", at(23, 11))  # "2. Cancel the booking"
        with story.db.uow() as uow:
            last = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.address == f"whatsapp:{phone}")
                                       .order_by(OutboxMessage.id.desc())).first()  # fmt: skip
        assert json.dumps(last.body).count("Cancel {code} on {when}?") == 1


def test_a_reminder_held_up_by_an_outage_is_not_sent_after_the_visit_was_cancelled(sqlite_url):
    """The 2-hour reminder of Tuesday 10:00 is written at 08:01 while Telegram fails;
    Amina cancels at 08:05. The re-drive, once Telegram is back, must not tell her "See
    you then!" for the visit she cancelled."""
    from datetime import timedelta

    from bot import schedule
    from core.models import Shop
    from pitstop.fakes.telegram import FakeTelegram
    from pitstop.fakes.twilio import FakeTwilio
    from tests.integration.channel_helpers import start_pitstop

    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_NOW": "2026-11-24T05:10:00Z"})
        db = pitstop.runtime.db
        with db.uow() as uow:
            shop = uow.session.scalar(select(Shop.id).where(Shop.slug == "mwangaza-motors"))
        visit = book(db, shop, "5550001", ["oil-change"], at(24, 10), at(23, 9))
        telegram.fail_next(1, status=502, retry_after=None, methods=["sendMessage"])
        assert reminders.send_due(db, at(24, 8, 1)) == 1
        booking.cancel(db, visit.id, "customer", at(24, 8, 5))

        pitstop.runtime.clock.advance(timedelta(minutes=1))
        assert schedule.redrive_outbox(min_age=timedelta(0)) == 1

        assert not any("Reminder" in t for t in pitstop.texts(5550001))
        with db.uow() as uow:
            row = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("reminder:%")))
            assert (row.status, row.last_error) == ("dropped", "the visit is cancelled now")
