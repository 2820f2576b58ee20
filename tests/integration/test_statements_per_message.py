"""What one chat message costs the database, on both backends: the statements of its
transaction, in order. Every message pays these, so one more is a regression to notice
(bench/webhooks.py measures what they cost)."""

import pytest
from sqlalchemy import event

from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import start_pitstop

AMINA = 5550101


@pytest.fixture
def pitstop(url):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(url, telegram, twilio)
        yield pitstop
        pitstop.runtime.close()


def statements_of_the_message(pitstop, send) -> list[str]:
    """The statements the message's own transaction ran (its deliveries, which run
    in-process after the commit here, are not part of it)."""
    seen, committed = [], []
    engine = pitstop.runtime.db.engine

    def statement(conn, cursor, text, params, context, executemany):
        if not committed and not text.startswith("BEGIN"):
            seen.append(" ".join(text.split()[:3]))

    def commit(conn):
        committed.append(True)

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        send()
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    return seen


def test_a_menu_tap_and_a_typed_word_cost_six_statements_each(pitstop):
    pitstop.say(AMINA, "/start")
    pitstop.tap(AMINA, "lang:en")
    every_message = ["SELECT shops.id, shops.updated_at", "INSERT INTO inbox_updates",
                     "SELECT conversations.id, conversations.shop_id,", "SELECT channel_identities.id, channel_identities.shop_id,",
                     "UPDATE conversations SET",
                     "INSERT INTO outbox_messages"]  # fmt: skip

    assert statements_of_the_message(pitstop, lambda: pitstop.tap(AMINA, "m:help")) == every_message
    assert statements_of_the_message(pitstop, lambda: pitstop.say(AMINA, "menu")) == every_message


def test_a_typed_day_reads_its_free_times_once(pitstop):
    """The day is checked for free times, then the time question lists them: one read."""
    pitstop.say(AMINA, "/start")
    for data in ("lang:en", "m:book", "svc:1", "done"):
        pitstop.tap(AMINA, data)
    pitstop.say(AMINA, "KCB 123A")
    pitstop.tap(AMINA, "skip")

    assert statements_of_the_message(pitstop, lambda: pitstop.say(AMINA, "tomorrow")) == [
        "SELECT shops.id, shops.updated_at", "INSERT INTO inbox_updates",
        "SELECT conversations.id, conversations.shop_id,", "SELECT channel_identities.id, channel_identities.shop_id,",
        "SELECT bookings.starts_at, bookings.ends_at,",
        "UPDATE conversations SET", "INSERT INTO outbox_messages"]  # fmt: skip
    assert pitstop.texts(AMINA)[-1].startswith("Free times on ")
