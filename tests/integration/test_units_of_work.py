"""Units of work on the embedded SQLite: a writer takes the database's one write lock up
front (so two writers queue instead of failing halfway); a reader takes none."""

import sqlite3

from sqlalchemy import select

from core.models import Shop


def a_writer_can_go(url: str) -> bool:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError:  # database is locked
        return False
    finally:
        conn.close()


def test_a_reader_holds_up_no_writer_and_a_writer_holds_the_lock(sqlite_db, sqlite_url):
    with sqlite_db.reading() as uow:
        assert uow.session.scalars(select(Shop)).all() == []
        assert a_writer_can_go(sqlite_url)
    with sqlite_db.uow() as uow:
        assert uow.session.scalars(select(Shop)).all() == []
        assert not a_writer_can_go(sqlite_url)
