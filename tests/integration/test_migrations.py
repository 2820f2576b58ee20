"""The migrations build exactly the schema the models describe, on both backends."""

import uuid

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from core.db import Database
from core.migrate import alembic_config, upgrade
from core.models import Base


def drift(database: Database) -> list:
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_migrated_sqlite_matches_the_models(sqlite_db):
    assert drift(sqlite_db) == []


def test_migrated_postgresql_matches_the_models(pg_db):
    assert drift(pg_db) == []


def test_postgresql_itself_forbids_overlapping_bookings_per_mechanic_and_per_bay(pg_db):
    with pg_db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'bookings'::regclass AND contype = 'x' ORDER BY conname"
        )).all()  # fmt: skip
    assert [name for name, _ in rows] == ["bookings_no_bay_overlap", "bookings_no_mechanic_overlap"]
    for _, definition in rows:
        assert "tstzrange(starts_at, blocks_until, '[)'::text) WITH &&" in definition
        assert "'held'" in definition and "'cancelled'" not in definition


def test_every_table_is_built_on_an_empty_postgresql_database(pg_url):
    names = {t.name for t in Base.metadata.sorted_tables}
    url = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert names | {"alembic_version"} == tables


@pytest.mark.parametrize("backend", ["sqlite_db", "pg_db"])
def test_the_database_is_at_the_latest_revision(backend, request):
    database = request.getfixturevalue(backend)
    with database.engine.connect() as conn:
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    head = ScriptDirectory.from_config(alembic_config(str(database.engine.url))).get_current_head()
    assert current == head


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database(request, tmp_path, pg_url):
    """A migrated database of the test's own, to go down and up in: the session's is shared."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'own.db'}"
    else:
        base, name = pg_url.replace("postgresql+psycopg://", "postgresql://"), f"pitstop_own_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = pg_url.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()
    if request.param == "postgresql":
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_removed_cars_go_back_down_with_bookings_that_name_their_cars(own_database, nairobi_spec):
    """0007's downgrade keeps every booking's car (on SQLite a table copy would be refused)."""
    from alembic import command

    from tests.integration.booking_helpers import MONDAY_9AM_NAIROBI, loaded
    from tests.integration.staff_helpers import book

    garage = loaded(own_database, nairobi_spec)
    book(own_database, garage.id, "4501", ["oil-change"], garage.at(2026, 11, 24, 10), MONDAY_9AM_NAIROBI,
         plate="KCB 123A")  # fmt: skip
    own_database.dispose()

    command.downgrade(alembic_config(own_database.engine.url.render_as_string(hide_password=False)), "0006")

    with own_database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM bookings WHERE vehicle_id IS NOT NULL")).scalar() == 1
        with pytest.raises(Exception, match="removed_at"):
            conn.execute(text("SELECT removed_at FROM vehicles"))
