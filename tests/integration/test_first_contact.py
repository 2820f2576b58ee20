"""A chat's first message makes its customer, on both backends: the customer and the
channel that reaches them, once, however many first messages race for it."""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core.customers import customer_for
from core.models import ChannelIdentity, Customer
from tests.integration.booking_helpers import loaded

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
AMINA = "4601"


def test_a_chats_first_message_makes_its_customer_reached_on_that_chat(db, nairobi_spec):
    shop_id = loaded(db, nairobi_spec).id
    with db.uow() as uow:
        s = uow.session
        amina = customer_for(s, shop_id, "telegram", AMINA, language="sw", name="Amina Wanjiru",
                             phone="+254712345678", now=NOW)  # fmt: skip

        assert (amina.shop_id, amina.name, amina.phone, amina.language, amina.tokens, amina.tokens_reset_on) == (
            shop_id, "Amina Wanjiru", "+254712345678", "sw", 2, None)  # fmt: skip
        assert amina is s.get(Customer, amina.id) and amina not in s.dirty
        assert [(i.channel, i.address, i.last_inbound_at) for i in amina.identities] == [("telegram", AMINA, NOW)]
        made_at = amina.created_at
    with db.uow() as uow:
        again = customer_for(uow.session, shop_id, "telegram", AMINA, language="en", now=NOW)
        assert (again.id, again.language, again.created_at) == (amina.id, "sw", made_at)


def test_a_first_message_whose_work_failed_leaves_no_customer_in_the_session(db, nairobi_spec):
    shop_id = loaded(db, nairobi_spec).id
    with db.uow() as uow:
        s = uow.session
        with pytest.raises(RuntimeError), s.begin_nested():
            lost = customer_for(s, shop_id, "telegram", AMINA, language="en", now=NOW)
            raise RuntimeError("the message failed")

        assert lost not in s
        amina = customer_for(s, shop_id, "telegram", AMINA, language="sw", now=NOW)
        assert amina is not lost and amina.language == "sw"
    with db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Customer)) == 1


def test_two_first_messages_at_once_make_one_customer(pg_db, nairobi_spec):
    """The second waits for the first's channel (unique per shop, channel and address),
    then reads its customer: the one it had begun to make is not left behind."""
    shop_id = loaded(pg_db, nairobi_spec).id
    first_made_hers, seen = threading.Event(), {}

    def second_message():
        first_made_hers.wait(10)
        with pg_db.uow() as uow:
            seen["id"] = customer_for(uow.session, shop_id, "telegram", AMINA, language="en", now=NOW).id

    second = threading.Thread(target=second_message)
    second.start()
    with pg_db.uow() as uow:
        first = customer_for(uow.session, shop_id, "telegram", AMINA, language="sw", now=NOW).id
        first_made_hers.set()
        second.join(0.5)  # the second now waits for the first's channel
        assert second.is_alive()
    second.join(10)

    assert seen == {"id": first}
    with pg_db.uow() as uow:
        s = uow.session
        assert s.execute(select(Customer.id, Customer.language)).all() == [(first, "sw")]
        assert s.scalar(select(func.count()).select_from(ChannelIdentity)) == 1
