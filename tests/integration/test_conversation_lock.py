"""Two messages of one chat are handled one after the other, on PostgreSQL: the second
waits for the chat's lock, and then sees everything the first one changed, the customer
included (a statement that read the customer along with the lock would see them as they
were before the wait). A message and a no-show of one day take their locks in one order."""

import threading
from datetime import UTC, date, datetime, time
from time import monotonic, sleep
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from bot.runner import conversation
from core.availability import lock_days
from core.booking import confirm, hold, mark_no_show
from core.chats import take_message
from core.customers import customer_for
from core.models import Booking, Customer, Service
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.booking_helpers import loaded, new_customer
from tests.integration.channel_helpers import start_pitstop, to_an_oil_changes_payment

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CHAT = "4244"


def by_its_lock(session, shop_id: int) -> None:
    conversation(session, shop_id, "telegram", CHAT, NOW)


def by_the_call_every_message_begins_with(session, shop_id: int) -> None:
    """Migration 0008's: it records the message, waits for the chat's lock, then reads
    the customer, which `customer_for` then finds without asking again."""
    take_message(session, shop_id, "telegram", CHAT, external_id=f"{shop_id}:2", payload="{}", now=NOW,
                 expected="applied")  # fmt: skip


@pytest.mark.parametrize("takes_the_chat", [by_its_lock, by_the_call_every_message_begins_with])
def test_a_message_that_waited_for_the_chat_sees_what_the_first_changed(pg_db, nairobi_spec, takes_the_chat):
    shop_id = loaded(pg_db, nairobi_spec).id
    with pg_db.uow() as uow:
        conversation(uow.session, shop_id, "telegram", CHAT, NOW)
        customer_for(uow.session, shop_id, "telegram", CHAT, language="en", now=NOW)

    first_holds_the_chat, seen = threading.Event(), {}

    def second_message():
        first_holds_the_chat.wait(10)
        with pg_db.uow() as uow:
            takes_the_chat(uow.session, shop_id)  # waits for the first
            chat = conversation(uow.session, shop_id, "telegram", CHAT, NOW)
            customer = customer_for(uow.session, shop_id, "telegram", CHAT, language="en", now=NOW)
            seen.update(state=chat.state, language=customer.language, phone=customer.phone)

    second = threading.Thread(target=second_message)
    second.start()
    with pg_db.uow() as uow:  # the first message: switches to Swahili and saves a phone
        chat = conversation(uow.session, shop_id, "telegram", CHAT, NOW)
        customer = customer_for(uow.session, shop_id, "telegram", CHAT, language="en", now=NOW)
        first_holds_the_chat.set()
        second.join(0.5)  # the second is now waiting for the chat's lock
        assert second.is_alive()
        chat.state, customer.language, customer.phone = "menu", "sw", "+254712345678"
    second.join(10)
    assert seen == {"state": "menu", "language": "sw", "phone": "+254712345678"}


def test_a_repeated_message_is_known_as_one_without_waiting_for_its_chat(pg_db, nairobi_spec):
    """A repeat changes nothing, so it takes no lock: Telegram's retry of a message whose
    chat is busy is answered at once."""
    shop_id = loaded(pg_db, nairobi_spec).id
    taking = dict(external_id=f"{shop_id}:7", payload="{}", now=NOW, expected="applied")
    with pg_db.uow() as uow:
        first = take_message(uow.session, shop_id, "telegram", CHAT, **taking)

    with pg_db.uow() as busy, pg_db.uow() as repeat:
        conversation(busy.session, shop_id, "telegram", CHAT, NOW)  # the chat is held meanwhile
        repeat.session.execute(text("SET LOCAL lock_timeout = '2s'"))
        again = take_message(repeat.session, shop_id, "telegram", CHAT, **taking)

    assert (first.duplicate, again.duplicate, again.inbox_id) == (False, True, first.inbox_id)


def test_a_token_spent_elsewhere_after_the_customer_was_read_is_not_spent_again(pg_db, nairobi_spec):
    """A no-show marked by a mechanic while the customer's own message is being handled:
    the message's transaction read the customer first, but spends from what the lock finds."""
    from core import availability as av
    from core.booking import _spend

    shop = loaded(pg_db, nairobi_spec)
    shop_id, customer_id = shop.id, new_customer(pg_db, shop, CHAT)
    with pg_db.uow() as uow:
        customer = customer_for(uow.session, shop_id, "telegram", CHAT, language="en", now=NOW)
        before = customer.tokens
        with pg_db.uow() as elsewhere:
            _spend(elsewhere.session, customer_id, NOW, av.shop_view(elsewhere.session, shop_id), 1)
        assert _spend(uow.session, customer_id, NOW, av.shop_view(uow.session, shop_id), 1) == before - 2


@pytest.fixture
def pitstop_at_ten_on_tuesday(pg_only):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(pg_only, telegram, twilio, extra_env={"PITSTOP_NOW": "2026-11-24T07:00:00Z"})
        yield pitstop
        pitstop.runtime.close()


def test_a_no_show_marked_while_her_typed_number_waits_for_the_day_goes_through_and_so_does_her_hold(
        pitstop_at_ten_on_tuesday):  # fmt: skip
    """At 10:00 Amina books 14:00 the same day and types her number for M-Pesa, the hold
    following in the same message, while a mechanic marks her 08:00 visit a no-show: his
    transaction holds the day's lock and then wants her row, to spend a token. Her message
    waits for the day with her row not yet written. (Her number written first, the two
    deadlocked and PostgreSQL ended her message: its webhook failed.)"""
    pitstop = pitstop_at_ten_on_tuesday
    db = pitstop.runtime.db
    to_an_oil_changes_payment(pitstop, AMINA, "today 2pm")
    pitstop.tap(AMINA, "pay:mpesa")
    assert pitstop.texts(AMINA)[-1] == "M-Pesa needs your phone number. Share it with the button, or type it."
    early = her_visit_at_eight_booked_yesterday(db)

    a_no_show_marked_while_her_message_waits_for_the_day(db, early, pitstop.say, AMINA, "0712 345 678")

    held = next(t for t in pitstop.texts(AMINA) if t.startswith("Your time "))
    assert held.startswith("Your time Tue 24 Nov, 14:00 is held for ")
    with db.uow() as uow:
        amina = uow.session.scalar(select(Customer))
        assert (amina.phone, amina.tokens) == ("+254712345678", 1)
        assert uow.session.get(Booking, early.id).status == "no_show"


def test_a_no_show_marked_while_her_hold_waits_for_the_day_goes_through_with_the_name_her_row_lacked(
        pitstop_at_ten_on_tuesday):  # fmt: skip
    """As above, with nothing typed: Amina's row has no name (Telegram gives one with
    every message) and she pays at the shop, the hold taking the day's lock, while the
    mechanic marks her 08:00 visit a no-show. Her name is written at the end of her
    message, her row last; written when she was read, the two deadlocked."""
    pitstop = pitstop_at_ten_on_tuesday
    db = pitstop.runtime.db
    to_an_oil_changes_payment(pitstop, AMINA, "today 2pm")
    early = her_visit_at_eight_booked_yesterday(db)
    with db.uow() as uow:
        uow.session.scalar(select(Customer)).name = None

    a_no_show_marked_while_her_message_waits_for_the_day(db, early, pitstop.tap, AMINA, "pay:cash")

    assert pitstop.texts(AMINA)[-1].startswith("Booked! Your code is MM-")
    with db.uow() as uow:
        amina = uow.session.scalar(select(Customer))
        assert (amina.name, amina.tokens) == ("Test Firstname", 1)
        assert uow.session.get(Booking, early.id).status == "no_show"


def a_no_show_marked_while_her_message_waits_for_the_day(db, early: Booking, send, *message) -> None:
    """The mechanic's transaction takes the day's lock (his no-show's first), her message
    (`send(*message)`, in a thread) comes to wait for it, then he marks her `early` visit
    a no-show, which wants her row for the token. Both must go through."""
    failures = Failures()
    with db.uow() as mechanic:
        lock_days(mechanic.session, early.shop_id, {TUESDAY})
        hers = threading.Thread(target=failures.catch, args=(send, *message))
        hers.start()
        waits_for(lambda: waiting_for_the_day(db) == 1)
        mark_no_show(mechanic.session, early.id, "staff:1", TEN_AM)
    hers.join(30)
    assert not hers.is_alive() and failures == []

AMINA = 5550101
TUESDAY = date(2026, 11, 24)
TEN_AM = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # in Nairobi, on Tuesday
MONDAY = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def her_visit_at_eight_booked_yesterday(db) -> Booking:
    """An oil change of Amina's at 08:00 on the day she is booking now, paid at the shop."""
    with db.uow() as uow:
        s = uow.session
        customer_id, shop_id = s.execute(select(Customer.id, Customer.shop_id)).one()
        service_id = s.scalar(select(Service.id).where(Service.shop_id == shop_id, Service.code == "oil-change"))
        start = datetime.combine(TUESDAY, time(8), ZoneInfo("Africa/Nairobi"))
        held = hold(s, shop_id=shop_id, customer_id=customer_id, service_ids=(service_id,), start=start, now=MONDAY)
        return confirm(s, held.booking_id, "system:test", MONDAY, "pays at the shop")


class Failures(list):
    """What went wrong in another thread, for the test to see."""

    def catch(self, do, *args) -> None:
        try:
            do(*args)
        except Exception as exc:  # noqa: BLE001 (any failure is the finding)
            self.append(exc)


def waiting_for_the_day(db) -> int:
    """Backends waiting for a day's lock (advisory, not granted) right now."""
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar()


def waits_for(condition, seconds: float = 10) -> None:
    deadline = monotonic() + seconds
    while not condition():
        assert monotonic() < deadline, "it never came to that"
        sleep(0.02)
