"""Two messages of one chat are handled one after the other, on PostgreSQL: the second
waits for the chat's lock, and then sees everything the first one changed, the customer
included (a statement that read the customer along with a lock it waited for would see
them as they were before the wait: the lock that reads the customer too skips a held
row, and the message then waits for the lock alone)."""

import threading
from datetime import UTC, datetime

from bot.runner import conversation
from core.customers import customer_for
from tests.integration.booking_helpers import loaded, new_customer

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CHAT = "4244"


def test_a_message_that_waited_for_the_chat_sees_what_the_first_changed(pg_db, nairobi_spec):
    shop_id = loaded(pg_db, nairobi_spec).id
    with pg_db.uow() as uow:
        conversation(uow.session, shop_id, "telegram", CHAT, NOW)
        customer_for(uow.session, shop_id, "telegram", CHAT, language="en", now=NOW)

    first_holds_the_chat, seen = threading.Event(), {}

    def second_message():
        first_holds_the_chat.wait(10)
        with pg_db.uow() as uow:
            chat = conversation(uow.session, shop_id, "telegram", CHAT, NOW)  # waits for the first
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


def test_a_chat_nobody_holds_is_locked_with_its_customer_read_as_they_are_now(pg_db, nairobi_spec):
    """One statement for both: and a token a mechanic's no-show spent a moment before is
    seen spent."""
    from sqlalchemy import event

    from core import availability as av
    from core.booking import _spend

    shop = loaded(pg_db, nairobi_spec)
    shop_id, customer_id = shop.id, new_customer(pg_db, shop, CHAT)
    with pg_db.uow() as uow:
        conversation(uow.session, shop_id, "telegram", CHAT, NOW)
        before = customer_for(uow.session, shop_id, "telegram", CHAT, language="en", now=NOW).tokens
    with pg_db.uow() as elsewhere:
        _spend(elsewhere.session, customer_id, NOW, av.shop_view(elsewhere.session, shop_id), 1)

    statements = []

    def seen(conn, cursor, text, *rest):
        statements.append(text.split()[:3])

    event.listen(pg_db.engine, "before_cursor_execute", seen)
    try:
        with pg_db.uow() as uow:
            conversation(uow.session, shop_id, "telegram", CHAT, NOW)
            tokens = customer_for(uow.session, shop_id, "telegram", CHAT, language="en", now=NOW).tokens
    finally:
        event.remove(pg_db.engine, "before_cursor_execute", seen)
    assert tokens == before - 1
    assert [s for s in statements if s[0] == "SELECT"] == [["SELECT", "conversations.id,", "conversations.shop_id,"]]
