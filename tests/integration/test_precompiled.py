"""Statements run on the driver (core.precompiled) behave as `Session.execute` does, on
both backends: the same values in and out, defaults, listeners, errors, ORM objects."""

from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from core.models import Conversation, Customer, Shop, Vehicle
from core.precompiled import Precompiled, loaded, loaded_afresh, loaded_row, written
from tests.services import libpq

NAIROBI = timezone(timedelta(hours=3))
WHEN = datetime(2026, 12, 7, 13, 30, 15, 123456, tzinfo=NAIROBI)
CHATS = Conversation.__table__
NEW_CHAT = Precompiled(insert(CHATS).returning(CHATS.c.id),
                       column_keys=["shop_id", "channel", "chat_id", "state", "data", "version", "updated_at"])  # fmt: skip
READ_CHAT = Precompiled(select(*CHATS.c).where(CHATS.c.chat_id == bindparam("chat")))
CUSTOMERS = Customer.__table__


def a_shop(session) -> int:
    session.add(shop := Shop(slug="mwangaza", name="Mwangaza", timezone="Africa/Nairobi", currency="KES",
                             country="KE", languages=["en", "sw"], code_prefix="MW", config={}))  # fmt: skip
    session.flush()
    return shop.id


def a_chat(session, shop_id: int, chat: str = "42") -> int:
    (chat_id,) = NEW_CHAT.first(session, dict(shop_id=shop_id, channel="telegram", chat_id=chat, state="menu",
                                              data={"lang": "sw", "offered": ["svc:1", 2]}, version=3,
                                              updated_at=WHEN))  # fmt: skip
    return chat_id


def test_values_go_in_and_come_out_through_the_columns_types(db):
    with db.uow() as uow:
        s = uow.session
        chat_id = a_chat(s, a_shop(s))
        read = dict(zip(CHATS.c.keys(), READ_CHAT.first(s, {"chat": "42"}), strict=True))
        by_sqlalchemy = s.execute(select(*CHATS.c).where(CHATS.c.id == chat_id)).one()._asdict()

    assert read == by_sqlalchemy == {"id": chat_id, "shop_id": read["shop_id"], "channel": "telegram", "chat_id": "42",
                                     "state": "menu", "data": {"lang": "sw", "offered": ["svc:1", 2]},
                                     "language": None, "version": 3, "updated_at": WHEN}  # fmt: skip
    assert read["updated_at"].tzinfo == UTC  # stored in UTC, handed back aware


def test_a_naive_time_is_refused_as_the_column_type_refuses_it_through_the_session(db):
    with db.uow() as uow:
        s = uow.session
        with pytest.raises(StatementError, match="naive datetime"):
            NEW_CHAT.rows(s, dict(shop_id=a_shop(s), channel="telegram", chat_id="42", state="menu", data={},
                                  version=0, updated_at=datetime(2026, 12, 7, 10, 0)))  # fmt: skip


def test_a_column_left_out_of_an_insert_gets_its_default(db):
    new_customer = Precompiled(insert(CUSTOMERS).returning(CUSTOMERS.c.tokens, CUSTOMERS.c.created_at),
                               column_keys=["shop_id", "name", "language"])  # fmt: skip
    with db.uow() as uow:
        s = uow.session
        before = datetime.now(UTC)
        tokens, created_at = new_customer.first(s, {"shop_id": a_shop(s), "name": "Amina", "language": "sw"})

    assert tokens == 2
    assert before <= created_at <= datetime.now(UTC)


def test_listeners_of_the_engine_see_the_statement(db):
    seen = []

    def statement(conn, cursor, text, params, context, executemany):
        seen.append((text.split()[0], params))

    event.listen(db.engine, "before_cursor_execute", statement)
    try:
        with db.uow() as uow:
            a_shop(uow.session)
            seen.clear()
            READ_CHAT.rows(uow.session, {"chat": "42"})
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)

    assert seen == [("SELECT", ["42"] if db.engine.dialect.positional else {"chat": "42"})]


def test_a_driver_error_comes_out_as_sqlalchemys(db):
    with db.uow() as uow:
        s = uow.session
        shop_id = a_shop(s)
        a_chat(s, shop_id)
        s.commit()
        with pytest.raises(IntegrityError):
            a_chat(s, shop_id)  # the same chat again
        s.rollback()
        assert READ_CHAT.first(s, {"chat": "42"})[3] == "42"  # the session goes on


def test_a_dropped_connection_renews_the_pool_so_the_request_run_again_gets_a_live_one(pg_db, pg_url, monkeypatch):
    """As webhooks/__init__.py expects: PostgreSQL ended every backend, but their goodbye
    has not reached us yet (the listening pre-ping still finds them alive)."""
    with pg_db.uow() as uow:
        a_chat(uow.session, a_shop(uow.session))
    first, second = pg_db.sessions(), pg_db.sessions()
    first.connection(), second.connection()
    first.close(), second.close()  # two connections in the pool
    monkeypatch.setattr(pg_db.engine.dialect, "do_ping", lambda dbapi_connection: True)
    with psycopg.connect(libpq(pg_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")  # fmt: skip

    def request():
        with pg_db.uow() as uow:
            return READ_CHAT.first(uow.session, {"chat": "42"})

    with pytest.raises(DBAPIError) as dropped:
        request()
    assert dropped.value.connection_invalidated
    assert request()[3] == "42"  # run again: not handed the other dead connection


def test_a_row_read_becomes_the_orm_object_the_session_would_have_loaded(db):
    with db.uow() as uow:
        s = uow.session
        shop_id = a_shop(s)
        s.add(amina := Customer(shop_id=shop_id, name=None, language="sw", tokens=2))
        s.flush()
        s.add(Vehicle(customer_id=amina.id, plate="KCB 123A"))
        amina_id = amina.id
        s.commit()
        s.expunge_all()

        read_customer = Precompiled(select(*CUSTOMERS.c).where(CUSTOMERS.c.id == bindparam("id")))
        values = dict(zip(CUSTOMERS.c.keys(), read_customer.first(s, {"id": amina_id}), strict=True))
        customer = loaded(s, Customer, values)
        assert loaded(s, Customer, values) is customer is s.get(Customer, amina_id)  # one object per row
        assert [v.plate for v in customer.vehicles] == ["KCB 123A"]  # its relationships load as usual
        customer.name = "Amina"  # and its changes are written
    with db.uow() as uow:
        assert uow.session.get(Customer, amina_id).name == "Amina"


def test_a_row_the_session_holds_already_is_its_object_changes_and_all_or_read_afresh_once_expired(db):
    with db.uow() as uow:
        s = uow.session
        s.add(amina := Customer(shop_id=a_shop(s), name="Amina", language="sw", tokens=2))
        s.commit()
        read_customer = Precompiled(select(*CUSTOMERS.c).where(CUSTOMERS.c.id == bindparam("id")))

        def read() -> Customer:
            return loaded(s, Customer, dict(zip(CUSTOMERS.c.keys(), read_customer.first(s, {"id": amina.id}),
                                                strict=True)))  # fmt: skip

        with s.no_autoflush:
            amina.tokens = 1  # not written yet
            assert read() is amina and amina.tokens == 1
        s.rollback()  # expires what the session holds
        s.execute(update(CUSTOMERS).values(tokens=0))
        assert read() is amina and amina.tokens == 0


def test_rows_written_in_a_savepoint_rolled_back_are_undone_in_the_session_as_after_a_flush(db):
    """`written`: a new row's object leaves the session, a changed one is read again."""
    save = Precompiled(update(CHATS).where(CHATS.c.id == bindparam("chat_row")), column_keys=["state"])

    def chat_object(s, chat: str) -> Conversation:
        return loaded_row(s, Conversation, READ_CHAT.first(s, {"chat": chat}))

    with db.uow() as uow:
        s = uow.session
        shop_id = a_shop(s)
        a_chat(s, shop_id, "42")
        chat = chat_object(s, "42")
        with pytest.raises(RuntimeError), s.begin_nested():
            a_chat(s, shop_id, "43")
            written(s, other := chat_object(s, "43"), new=True)
            save.rows(s, {"chat_row": chat.id, "state": "services"})
            written(s, chat, {"state": "services"})
            raise RuntimeError("the step failed")

        assert other not in s
        assert chat in s and chat.state == "menu"


def test_an_update_writes_only_the_columns_it_names(db):
    save = Precompiled(update(CHATS).where(CHATS.c.id == bindparam("chat_row")), column_keys=["state", "version"])
    with db.uow() as uow:
        s = uow.session
        chat_id = a_chat(s, a_shop(s))
        assert save.rows(s, {"chat_row": chat_id, "state": "services", "version": 4}) == []
        state, data, version = s.execute(select(CHATS.c.state, CHATS.c.data, CHATS.c.version)).one()

    assert (state, data, version) == ("services", {"lang": "sw", "offered": ["svc:1", 2]}, 4)


def test_what_the_session_holds_unwritten_is_seen_as_a_query_would_see_it(db):
    cars = Precompiled(select(Vehicle.plate).where(Vehicle.customer_id == bindparam("customer")))
    with db.uow() as uow:
        s = uow.session
        s.add(amina := Customer(shop_id=a_shop(s), language="sw", tokens=2))
        s.flush()
        s.add(Vehicle(customer_id=amina.id, plate="KCB 123A"))  # not written yet
        assert cars.rows(s, {"customer": amina.id}) == [("KCB 123A",)]
        s.add(Vehicle(customer_id=amina.id, plate="KDA 456B"))
        with s.no_autoflush:
            assert cars.rows(s, {"customer": amina.id}) == [("KCB 123A",)]


def test_an_insert_leaves_what_the_session_holds_unwritten_for_the_commit_as_cores_does(db):
    with db.uow() as uow:
        s = uow.session
        s.add(amina := Customer(shop_id=a_shop(s), language="sw", tokens=2))
        s.flush()
        s.add(car := Vehicle(customer_id=amina.id, plate="KCB 123A"))
        a_chat(s, amina.shop_id)
        assert car in s.new  # not written by the insert
        s.commit()
        assert car.id is not None


def test_an_in_list_is_refused_when_the_statement_is_first_run(db):
    by_plates = Precompiled(select(Vehicle.id).where(Vehicle.plate.in_(bindparam("plates", expanding=True))))
    with db.uow() as uow, pytest.raises(ValueError, match="IN list"):
        by_plates.rows(uow.session, {"plates": ["KCB 123A"]})


LOCK_CUSTOMER = Precompiled(select(*CUSTOMERS.c).where(CUSTOMERS.c.id == bindparam("id")).with_for_update())


@pytest.mark.parametrize("locking", ["the ORM's populate_existing", "loaded_afresh"])
def test_a_row_read_under_its_lock_overwrites_the_object_the_session_holds(db, locking):
    """Both ways give the same object: the row's values over changes not yet written, its
    relationships read again."""
    with db.uow() as uow:
        s = uow.session
        s.add(amina := Customer(shop_id=a_shop(s), name="Amina", language="sw", tokens=2))
        s.flush()
        s.add(Vehicle(customer_id=amina.id, plate="KCB 123A"))
        s.flush()
        assert [v.plate for v in amina.vehicles] == ["KCB 123A"]
        # what another transaction committed before the lock was ours
        s.execute(update(CUSTOMERS).values(tokens=0))
        s.execute(insert(Vehicle.__table__).values(customer_id=amina.id, plate="KDA 456B"))

        with s.no_autoflush:
            amina.name = "Amina W."  # not written yet
            if locking == "loaded_afresh":
                locked = loaded_afresh(s, Customer, LOCK_CUSTOMER.first(s, {"id": amina.id}))
            else:
                locked = s.scalar(select(Customer).where(Customer.id == amina.id).with_for_update()
                                  .execution_options(populate_existing=True))  # fmt: skip

        assert locked is amina
        assert (amina.name, amina.tokens) == ("Amina", 0)
        assert amina not in s.dirty
        assert [v.plate for v in amina.vehicles] == ["KCB 123A", "KDA 456B"]
        assert loaded_afresh(s, Customer, None) is None  # no row


def test_an_object_told_what_was_written_has_nothing_left_to_write_until_its_savepoint_is_rolled_back(db):
    save_tokens = Precompiled(update(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("id")), column_keys=["tokens"])
    with db.uow() as uow:
        s = uow.session
        s.add(amina := Customer(shop_id=a_shop(s), name="Amina", language="sw", tokens=2))
        s.commit()
        savepoint = s.begin_nested()
        save_tokens.rows(s, {"id": amina.id, "tokens": 1})
        written(s, amina, {"tokens": 1})

        assert amina.tokens == 1 and amina not in s.dirty
        savepoint.rollback()
        assert amina.tokens == 2  # read again, as stored
