"""Units of work on the embedded SQLite: a writer takes the database's one write lock up
front (so two writers queue instead of failing halfway); a reader takes none."""

from sqlalchemy import select

from core.models import Shop
from tests.integration.lock_probes import another_writer_can_go


def test_a_reader_holds_up_no_writer_and_a_writer_holds_the_lock(sqlite_db, sqlite_url):
    with sqlite_db.reading() as uow:
        assert uow.session.scalars(select(Shop)).all() == []
        assert another_writer_can_go(sqlite_url)
    with sqlite_db.uow() as uow:
        assert uow.session.scalars(select(Shop)).all() == []
        assert not another_writer_can_go(sqlite_url)
