"""What one chat message costs the database, on both backends: the statements of its
transaction, in order. Every message pays these, so one more is a regression to notice
(bench/webhooks.py measures what they cost)."""

import pytest
from sqlalchemy import select, update

from core.models import Customer, OutboxMessage, Payment
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import (
    STAMP,
    TAKE,
    start_pitstop,
    statements_of_the_message,
    to_an_oil_changes_payment,
)

AMINA = 5550101


@pytest.fixture
def pitstop(url):
    """A Pitstop whose clock starts on Monday 23 November 2026, 10:00 in Nairobi: the
    stories book "tomorrow", which on the real clock would be closed on some days."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(url, telegram, twilio, extra_env={"PITSTOP_NOW": "2026-11-23T07:00:00Z"})
        yield pitstop
        pitstop.runtime.close()


def arrival(url: str) -> list[str]:
    """How every message begins: on PostgreSQL one call confirms the shop's view the
    process kept, records the message, locks its chat and reads its customer; on SQLite,
    four statements do."""
    if url.startswith("postgresql"):
        return [TAKE]
    return [STAMP, "INSERT INTO inbox_updates", "SELECT conversations.id, conversations.shop_id,",
            "SELECT channel_identities.id, channel_identities.last_inbound_at,"]  # fmt: skip


def test_a_menu_tap_and_a_typed_word_cost_three_statements_on_postgresql_and_six_on_sqlite(pitstop, url):
    pitstop.say(AMINA, "/start")
    pitstop.tap(AMINA, "lang:en")
    every_message = [*arrival(url), "UPDATE conversations SET", "INSERT INTO outbox_messages"]

    assert statements_of_the_message(pitstop, lambda: pitstop.tap(AMINA, "m:help")) == every_message
    assert statements_of_the_message(pitstop, lambda: pitstop.say(AMINA, "menu")) == every_message


def test_a_typed_day_reads_its_free_times_once(pitstop, url):
    """The day is checked for free times, then the time question lists them: one read."""
    pitstop.say(AMINA, "/start")
    for data in ("lang:en", "m:book", "svc:1", "done"):
        pitstop.tap(AMINA, data)
    pitstop.say(AMINA, "KCB 123A")
    pitstop.tap(AMINA, "skip")

    assert statements_of_the_message(pitstop, lambda: pitstop.say(AMINA, "tomorrow")) == [
        *arrival(url), "SELECT bookings.starts_at, bookings.ends_at,",
        "UPDATE conversations SET", "INSERT INTO outbox_messages"]  # fmt: skip
    assert pitstop.texts(AMINA)[-1].startswith("Free times on ")


def test_paying_at_the_shop_takes_the_days_lock_once(pitstop, url):
    """The hold and its confirmation are one message: the day locked for the hold is not
    asked for again (PostgreSQL; SQLite's writers take turns whole, with no such lock)."""
    to_an_oil_changes_payment(pitstop, AMINA, "tomorrow 10am")

    seen = statements_of_the_message(pitstop, lambda: pitstop.tap(AMINA, "pay:cash"), words=4)

    locks = [s for s in seen if "pitstop_take_day_and_look" in s or "pg_advisory_xact_lock" in s]
    assert len(locks) == (1 if url.startswith("postgresql") else 0)
    assert pitstop.texts(AMINA)[-1].startswith("Booked! Your code is MM-")


def test_my_bookings_reads_each_booking_with_its_car_and_services_in_one_statement(pitstop, url):
    to_an_oil_changes_payment(pitstop, AMINA, "tomorrow 10am")
    pitstop.tap(AMINA, "pay:cash")

    assert statements_of_the_message(pitstop, lambda: pitstop.tap(AMINA, "m:bookings")) == [
        *arrival(url), "SELECT bookings.id, bookings.code,",
        "UPDATE conversations SET", "INSERT INTO outbox_messages"]  # fmt: skip
    pitstop.tap_button(AMINA, "bk:")
    card = pitstop.texts(AMINA)[-1]
    assert "Services: Oil and filter change" in card and "Vehicle: KCB 123A" in card


def test_a_new_chats_first_message_makes_its_conversation_and_customer_without_extra_round_trips(pitstop, url):
    """The conversation and the customer's chat are written with ON CONFLICT DO NOTHING
    (no savepoint around them), the chat with the time it was seen (no second write); the
    greeting asks nothing of the customer's cars, so they are not read. On PostgreSQL the
    conversation is made in the call that records the message and locks its chat."""
    pitstop.say(AMINA + 1, "/start")  # someone else's first: the shop's view is known to the process
    on_sqlite = [STAMP, "INSERT INTO inbox_updates",
                 "SELECT conversations.id, conversations.shop_id,", "INSERT INTO conversations",
                 "SELECT conversations.id, conversations.shop_id,", "SELECT channel_identities.id, channel_identities.last_inbound_at,"]  # fmt: skip
    assert statements_of_the_message(pitstop, lambda: pitstop.say(AMINA, "/start")) == [
        *([TAKE] if url.startswith("postgresql") else on_sqlite),
        "INSERT INTO customers", "INSERT INTO channel_identities",
        "UPDATE conversations SET", "INSERT INTO outbox_messages"]  # fmt: skip
    assert pitstop.texts(AMINA) == ["Hello! This is Mwangaza Motors. I can book your car in and keep you posted.\n"
                                    "Which language do you prefer?"]


def test_paying_at_the_shop_does_not_read_back_the_lines_of_the_hold_it_just_made(pitstop):
    """The confirmation names the services held a moment ago: they are known, not read."""
    to_an_oil_changes_payment(pitstop, AMINA, "tomorrow 10am")

    seen = statements_of_the_message(pitstop, lambda: pitstop.tap(AMINA, "pay:cash"))

    assert [s for s in seen if s.startswith("SELECT booking_items")] == []
    assert pitstop.texts(AMINA)[-1].startswith("Booked! Your code is MM-")


def test_paying_at_the_shop_reads_the_hold_it_just_made_once_under_its_lock(pitstop, url):
    """Its price and deposit are known from the hold; confirming it locks and reads its row."""
    to_an_oil_changes_payment(pitstop, AMINA, "tomorrow 10am")

    seen = statements_of_the_message(pitstop, lambda: pitstop.tap(AMINA, "pay:cash"), words=200)

    reads = [s for s in seen if s.startswith("SELECT bookings.id, bookings.code, bookings.shop_id")]
    assert len(reads) == 1
    assert reads[0].endswith("FOR UPDATE") == url.startswith("postgresql")  # SQLite's writers take turns whole
    assert pitstop.texts(AMINA)[-1].startswith("Booked! Your code is MM-")


def test_a_free_cancellation_reads_the_customers_tokens_without_locking_their_row(pitstop):
    """Nothing is spent, so nothing of the customer's is written: their row is not locked
    (PostgreSQL; SQLite has no row locks. A late cancellation locks it to take the token.)"""
    to_an_oil_changes_payment(pitstop, AMINA, "26.11 10:00")  # Thursday: three days ahead, cancelling is free
    pitstop.tap(AMINA, "pay:cash")
    pitstop.tap(AMINA, "m:bookings")
    pitstop.tap_button(AMINA, "bk:")
    pitstop.tap(AMINA, "cancel")
    assert "Cancelling now is free." in pitstop.texts(AMINA)[-1]

    seen = statements_of_the_message(pitstop, lambda: pitstop.tap_button(AMINA, "yes:"), words=100)

    assert [s for s in seen if s.startswith("SELECT customers.") and "FOR UPDATE" in s] == []
    assert pitstop.texts(AMINA)[-1] == "Cancelled MM-1001.\nWhat would you like to do?"


def test_a_number_typed_for_mpesa_is_saved_after_the_hold_it_pays_for(pitstop, url):
    """The lock order (bot/runner.py): the day's lock and the booking's rows before the
    customer's row. Her number, typed as the hold follows, is written last; the payment
    asks that number as the engine passed it on, not as read from her row."""
    to_an_oil_changes_payment(pitstop, AMINA, "tomorrow 10am")
    pitstop.tap(AMINA, "pay:mpesa")
    assert pitstop.texts(AMINA)[-1] == "M-Pesa needs your phone number. Share it with the button, or type it."

    seen = statements_of_the_message(pitstop, lambda: pitstop.say(AMINA, "0712 345 678"), words=4)

    written = [what for s in seen for what, begins in WRITES.items() if s.startswith(begins)]
    day_lock = ["the day's lock"] if url.startswith("postgresql") else []  # SQLite's writers take turns whole
    assert written == [*day_lock, "the booking", "its payment", "her number"]
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalars(select(Payment.phone)).all() == ["+254712345678"]
        assert uow.session.scalars(select(Customer.phone)).all() == ["+254712345678"]


WRITES = {"the day's lock": "SELECT * FROM pitstop_take_day_and_look", "the booking": ("WITH numbered AS", "INSERT INTO bookings"),
          "its payment": "INSERT INTO payments", "her number": "UPDATE customers SET phone",
          "her name": "UPDATE customers SET name"}  # fmt: skip


def test_a_mechanics_whatsapp_message_locks_the_chat_before_writing_his_customer_row(pitstop):
    """The lock order (bot/runner.py): the chat's row first. Recognised by his number, a
    mechanic's WhatsApp window is kept open on his customer row and channel (made on his
    first message, seen again later); that is written once the chat is locked, as every
    other message of the chat does, or two of its messages could each wait for the other."""
    from tests.integration.staff_helpers import KIPRONO

    seen = statements_of_the_message(pitstop, lambda: pitstop.whatsapp(KIPRONO, "hello", name="Kiprono"))

    order = [s for s in seen if s.startswith(("SELECT conversations.", TAKE, "INSERT INTO customers",
                                              "INSERT INTO channel_identities", "UPDATE channel_identities"))]  # fmt: skip
    assert order[0] in ("SELECT conversations.id, conversations.shop_id,", TAKE)
    assert "INSERT INTO customers" in order and "INSERT INTO channel_identities" in order
    with pitstop.runtime.db.uow() as uow:
        answer = uow.session.scalars(select(OutboxMessage.body).where(OutboxMessage.address == f"whatsapp:{KIPRONO}")).one()
    assert answer["texts"][0]["id"] == "Thank you, {name}: you are now recognised as {role} of {shop}."


def test_a_mechanic_verified_on_telegram_has_his_chat_locked_before_the_shops_row(pitstop):
    """The lock order: the chat's row before the shop's (an owner's /close takes his chat,
    then the day, then the shop's row)."""
    from pitstop.fakes.telegram import update_contact
    from tests.integration.staff_helpers import KIPRONO

    kiprono_on_telegram = 6000003
    pitstop.say(kiprono_on_telegram, "/staff")
    contact = update_contact(next(pitstop.update_ids), kiprono_on_telegram, KIPRONO.lstrip("+"))

    seen = statements_of_the_message(pitstop, lambda: pitstop.telegram_post(contact))

    order = ["the chat's lock" if s.startswith(("SELECT conversations.", TAKE)) else "the shop's row" for s in seen
             if s.startswith(("SELECT conversations.", TAKE, "UPDATE shops"))]  # fmt: skip
    assert order == ["the chat's lock", "the shop's row"]


def test_a_name_her_row_lacked_is_written_after_the_hold_she_made(pitstop, url):
    """The lock order again: the name Telegram gives, which her row lacked (say, she had
    none when she first wrote), is written at the end of the message, after the day's
    lock and the booking's rows; written when she was read, it would take her row first,
    and a no-show of hers marked that day (the day's lock, then her row) would deadlock
    with it."""
    to_an_oil_changes_payment(pitstop, AMINA, "tomorrow 10am")
    with pitstop.runtime.db.uow() as uow:
        uow.session.get(Customer, uow.session.scalar(select(Customer.id))).name = None

    seen = statements_of_the_message(pitstop, lambda: pitstop.tap(AMINA, "pay:cash"), words=4)

    written = [what for s in seen for what, begins in WRITES.items() if s.startswith(begins)]
    day_lock = ["the day's lock"] if url.startswith("postgresql") else []
    assert written == [*day_lock, "the booking", "her name"]
    assert pitstop.texts(AMINA)[-1].startswith("Booked! Your code is MM-")
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.scalars(select(Customer.name)).all() == ["Test Firstname"]  # as Telegram gave it


def test_a_name_her_row_lacked_is_written_after_a_late_cancellation_read_her_row_afresh(pitstop):
    """Cancelling within a day of the visit spends a token: her row is locked and read
    again, which puts back the name it lacks on the object she was read as. The name
    Telegram gave is written all the same (a reviewer found it skipped as 'changed by
    the step')."""
    to_an_oil_changes_payment(pitstop, AMINA, "tomorrow 10am")
    pitstop.tap(AMINA, "pay:cash")
    pitstop.tap(AMINA, "m:bookings")
    pitstop.tap_button(AMINA, "bk:")
    pitstop.tap(AMINA, "cancel")
    assert "costs one token" in pitstop.texts(AMINA)[-1]
    with pitstop.runtime.db.uow() as uow:
        uow.session.execute(update(Customer).values(name=None))

    pitstop.tap_button(AMINA, "yes:")

    assert pitstop.texts(AMINA)[-1].startswith("Cancelled MM-1001")
    with pitstop.runtime.db.uow() as uow:
        assert uow.session.execute(select(Customer.name, Customer.tokens)).all() == [("Test Firstname", 1)]
