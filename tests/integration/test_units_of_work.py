"""Units of work: on the embedded SQLite a writer takes the database's one write lock up
front (so two writers queue instead of failing halfway) and a reader takes none; what a
transaction remembers (the shop's view, the chat's locked row) lives exactly as long."""

from sqlalchemy import select

from core.db import per_transaction
from core.models import Shop
from tests.integration.lock_probes import another_writer_can_go


def test_a_reader_holds_up_no_writer_and_a_writer_holds_the_lock(sqlite_db, sqlite_url):
    with sqlite_db.reading() as uow:
        assert uow.session.scalars(select(Shop)).all() == []
        assert another_writer_can_go(sqlite_url)
    with sqlite_db.uow() as uow:
        assert uow.session.scalars(select(Shop)).all() == []
        assert not another_writer_can_go(sqlite_url)


def test_what_a_transaction_remembers_lasts_from_before_its_first_statement_to_its_end(db):
    session = db.sessions()
    try:
        remembered = per_transaction(session, "seen")  # asked before any statement
        remembered["shop"] = "view"
        session.execute(select(Shop.id))
        assert per_transaction(session, "seen") == {"shop": "view"}
        session.commit()
        assert per_transaction(session, "seen") == {}  # the next transaction starts afresh
    finally:
        session.close()
