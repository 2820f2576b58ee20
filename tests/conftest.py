"""Shared fixtures: real databases and Redis for integration tests, example shops.

PostgreSQL: one fresh database per test session (created on TEST_DATABASE_URL's server, or
this machine's: never DATABASE_URL's, see tests/services.py), migrated with alembic,
dropped at the end, emptied between tests.
SQLite: a migrated template copied per test. Redis: a dedicated database, flushed.
A server that does not answer fails the test that needs it; it is never skipped.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib
from sqlalchemy import text

from core.db import Database
from core.migrate import upgrade
from core.models import Base
from core.settings import load_settings
from core.shopfile import read_shop_file
from tests import services

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = ROOT.parent / "shared" / "fixtures"
NAIROBI = EXAMPLES / "nairobi-garage.toml"
ATYRAU = EXAMPLES / "atyrau-service.toml"


def procfile_command(process: str, env: dict[str, str]) -> list[str]:
    """The Procfile's command for `process`, as a platform runs it: its `${NAME:-default}`s
    filled from `env`, its program run by this Python (`gunicorn` → `python -m gunicorn`)."""
    lines = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    filled = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m[1], m[2]), lines[process])
    program, *arguments = shlex.split(filled)
    return [sys.executable, "-m", program, *arguments]


def _server_missing(what: str, error: str) -> None:
    pytest.fail(f"{what} is not reachable ({error}); run `make services` for help", pytrace=False)


# -- PostgreSQL -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url():
    """A fresh, migrated PostgreSQL database for this test session."""
    base = services.libpq(services.pg_url())
    error = services.pg_ok()
    if error:
        _server_missing(f"PostgreSQL at {base}", error)
    name = f"pitstop_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + f"/{name}"
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    upgrade(url)
    yield url
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_db(pg_url):
    """A Database on the session's PostgreSQL, with every table empty."""
    database = Database(pg_url)
    _empty_pg(database)
    yield database
    database.dispose()


def _empty_pg(database: Database) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


# -- SQLite ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path) -> str:
    path = tmp_path / "pitstop.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_db(sqlite_url):
    database = Database(sqlite_url)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request):
    """The same test on both backends: the embedded default and production."""
    yield request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


@pytest.fixture
def pg_only(pg_db, pg_url):
    """The story's database URL, PostgreSQL only (every table emptied)."""
    return pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request):
    """The story's database URL on both backends: the embedded default and production
    (every table emptied)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    request.getfixturevalue("pg_db")
    return request.getfixturevalue("pg_url")


# -- Redis ----------------------------------------------------------------------------


REDIS_TEST_DBS = (13, 14, 11, 10)  # 12 is the benchmarks'
CLAIMS_DB = 15  # where the claims are kept: never flushed by a test


@pytest.fixture(scope="session")
def redis_base():
    """The Redis URL of a database no other test session on this machine is using: two
    sessions at once (a helper's and yours) would otherwise flush each other's jobs.
    A database is claimed with a key in CLAIMS_DB (gone two hours after a session that
    died) and given back at the end, if still ours."""
    base = services.redis_url()
    error = services.redis_ok()
    if error:
        _server_missing(f"Redis at {base}", error)
    root = base.rsplit("/", 1)[0] if base.count("/") >= 3 else base
    claims, mine = redis_lib.Redis.from_url(f"{root}/{CLAIMS_DB}"), f"{os.getpid()}:{uuid.uuid4().hex}"
    for number in REDIS_TEST_DBS:
        key = f"pitstop:tests-claim:{number}"
        if claims.set(key, mine, nx=True, ex=7200):
            client = redis_lib.Redis.from_url(f"{root}/{number}")
            yield f"{root}/{number}", client
            client.close()
            if claims.get(key) == mine.encode():
                claims.delete(key)
            claims.close()
            return
    claims.close()
    pytest.fail(f"every Redis database meant for tests ({REDIS_TEST_DBS}) is claimed by another test session")


@pytest.fixture
def redis_url(redis_base):
    """The session's Redis database, flushed before and after the test."""
    url, client = redis_base
    client.flushdb()
    yield url
    client.flushdb()


# -- shops and settings ---------------------------------------------------------------


@pytest.fixture
def nairobi_spec():
    return read_shop_file(NAIROBI)


@pytest.fixture
def atyrau_spec():
    return read_shop_file(ATYRAU)


def make_settings(database_url: str, **env: str):
    """Settings built from an explicit environment, never the developer's own."""
    return load_settings(environ={"DATABASE_URL": database_url, **env}, dotenv_path=None)


# -- providers ------------------------------------------------------------------------------


@pytest.fixture
def daraja():
    """A FakeDaraja, and the Receiver its callbacks land in (each story delivers them)."""
    from pitstop.fakes.daraja import FakeDaraja
    from pitstop.fakes.server import Receiver

    with Receiver() as sink, FakeDaraja(callback_delay=0.05) as fake:
        yield fake, sink
