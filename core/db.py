"""Engines and units of work, built from settings (never at import time).

A unit of work is one database transaction. Work that must only happen once the
transaction is durable — enqueueing an RQ job, above all — is registered with
`uow.after_commit(...)` and runs after a successful commit, never after a rollback.
"""

from __future__ import annotations

import logging
import os
import select
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from core.precompiled import Precompiled


def normalise_url(url: str) -> str:
    """Accept the URLs hosting platforms hand out and use psycopg 3 for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(database_url: str, **kwargs) -> Engine:
    """An engine tuned for its backend.

    SQLite (the embedded default) gets WAL, foreign keys, a busy timeout and
    BEGIN IMMEDIATE, so concurrent writers queue up instead of failing half-way.
    PostgreSQL gets a pre-ping, so a dropped connection is replaced, not reported.
    """
    url = normalise_url(database_url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _tune_sqlite(engine)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", 10)
            kwargs.setdefault("max_overflow", 20)
        engine = create_engine(url, **kwargs)
        _ping_by_listening(engine)
    _not_shared_with_forked_children(engine)
    return engine


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()  # what a forked child must not reuse
_FORK_HOOK: list[Callable] = []  # registered once per process, with the first engine


def _not_shared_with_forked_children(engine: Engine) -> None:
    """A process forked from this one opens connections of its own.

    gunicorn's `--preload` (the Procfile's) builds the app once and forks the workers
    from it; a connection in the pool then would be one socket for two processes, and
    their statements would interleave on it. The child forgets the pool without closing
    it (the parent still uses those connections) and opens new ones as it needs them.
    Redis clients need nothing: redis-py renews its pool itself in a new process."""
    if not _FORK_HOOK and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_forget_pooled_connections)
        _FORK_HOOK.append(_forget_pooled_connections)
    _ENGINES.add(engine)


def _forget_pooled_connections() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)


def _ping_by_listening(engine: Engine) -> None:
    """Pre-ping a pooled connection without a round trip when we can.

    An idle connection has nothing to say. When PostgreSQL ends a backend (a restart, an
    administrator, an idle timeout) it sends a last error and closes the socket, which
    makes the socket readable: only then do we pay for the full ping, which finds the
    connection dead so that it is replaced. A connection cut without a word (a network
    gone quiet) is found on first use instead, as without any ping. On this machine a
    round trip costs about 0.5 ms, and every unit of work pays one here.
    """
    full_ping = engine.dialect.do_ping

    def do_ping(dbapi_connection) -> bool:
        pgconn = getattr(dbapi_connection, "pgconn", None)
        if pgconn is not None and pgconn.status == 0 and not _readable(pgconn.socket):  # 0: CONNECTION_OK
            return True
        return full_ping(dbapi_connection)

    engine.dialect.do_ping = do_ping


def _readable(fd: int) -> bool:
    if not hasattr(select, "poll"):
        return True  # no poll() on this platform: always ask the server
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


READING = "pitstop_reading"  # execution option of a unit of work that only reads


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # a writer takes the write lock up front; a reader needs none
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READING) else "BEGIN IMMEDIATE")


log = logging.getLogger(__name__)
DEFERRED = "deferred_jobs"


def defer(session: Session, func: Callable, *args, job_id: str | None = None, first: bool = False) -> None:
    """Enqueue `func(*args)` once this session's transaction commits (never before, and
    never if it rolls back). Jobs take ids and are idempotent; `job_id` makes them unique.

    Jobs are enqueued in the order deferred, except that `first` ones (message deliveries)
    go before the rest: a reply is on its way before the work it announces starts."""
    session.info.setdefault(DEFERRED, []).append((func, args, job_id, first))


class UnitOfWork:
    """One transaction: `with uow:` commits on success and rolls back on error."""

    def __init__(self, session_factory: sessionmaker[Session], enqueue_all: Callable | None = None):
        self._factory = session_factory
        self._enqueue_all = enqueue_all or (lambda jobs: None)
        self._after_commit: list[Callable[[], None]] = []
        self.session: Session | None = None

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        self._after_commit = []
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.session is not None
        deferred: list = []
        try:
            if exc_type is None:
                self.session.commit()
                deferred = self.session.info.pop(DEFERRED, [])
            else:
                self.session.rollback()
        finally:
            self.session.info.pop(DEFERRED, None)
            self.session.close()
            self.session = None
        if exc_type is None:
            hooks, self._after_commit = self._after_commit, []
            replies_first = sorted(deferred, key=lambda job: not job[3])  # stable: otherwise in order deferred
            self._enqueue_safely([(func, args, job_id) for func, args, job_id, _ in replies_first])
            for hook in hooks:
                hook()

    def _enqueue_safely(self, jobs: list) -> None:
        """The transaction is committed: if the queue is down now, the work is not lost
        (the cron re-drive finds it), so a failure here is logged, not raised."""
        if not jobs:
            return
        try:
            self._enqueue_all(jobs)
        except Exception as exc:
            log.warning("could not enqueue %d job(s) (%s); the re-drive will pick them up", len(jobs), exc)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once this transaction has committed (e.g. enqueue a job)."""
        self._after_commit.append(hook)

    @property
    def dialect(self) -> str:
        assert self.session is not None
        return self.session.get_bind().dialect.name


class Database:
    """An engine plus a way to open units of work on it."""

    def __init__(self, database_url: str, **engine_kwargs):
        self.engine = make_engine(database_url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.readers = sessionmaker(self.engine.execution_options(**{READING: True}), expire_on_commit=False)
        # The job queue that deferred jobs go to once their transaction commits (set
        # by the runtime). Without one, deferred work waits for the cron re-drive.
        self.queue = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.queue.enqueue_all if self.queue is not None else None)

    def reading(self) -> UnitOfWork:
        """A unit of work that only reads: on SQLite it does not take the database's one
        write lock, so it neither waits for writers nor holds them up."""
        return UnitOfWork(self.readers)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


def per_transaction(session: Session, name: str) -> dict:
    """A cache that lives as long as the session's current transaction: what was read
    or locked in it (the shop's view, the conversation row) is not asked for twice.
    Asked before the transaction's first statement, it begins the transaction, so that
    the cache belongs to it (and not to "no transaction yet", which the next would share)."""
    root = session.get_transaction() or session.begin()
    held = session.info.get(name)
    if held is None or held[0] is not root:
        held = session.info[name] = (root, {})
    return held[1]


@contextmanager
def undoable(session: Session) -> Iterator[Callable[[], None]]:
    """A savepoint for a step that may fail half-way: when it does, what it wrote is
    rolled back and the jobs it deferred are forgotten with it (they would act on rows
    that no longer exist).

    Yields `writing`, to call before the step's first write: the savepoint is taken
    then, so the many steps that only read and answer cost no savepoint (two round
    trips). A step that fails before writing has nothing to undo.
    """
    deferred = session.info.setdefault(DEFERRED, [])
    kept = len(deferred)
    savepoint, opened = ExitStack(), False  # the stack holds the savepoint once there is one

    def writing() -> None:
        nonlocal opened
        if not opened:
            savepoint.enter_context(session.begin_nested())
            opened = True

    try:
        with savepoint:  # released at the end, or rolled back if the step (or the release) fails
            yield writing
    except Exception:
        del deferred[kept:]
        raise


def insert_once(session: Session, model: type, values: dict, unique: list[str]) -> int | None:
    """Insert a row unless one with the same `unique` columns exists; the new row's id,
    or None when it was already there. One statement, no savepoint: a delivery or a
    message that arrives twice is the common case on the hot path, not an error."""
    return _insert_ignoring(session, model, tuple(unique), False, tuple(values)).scalar(session, values)


def insert_all_once(session: Session, model: type, rows: list[dict], unique: str) -> dict:
    """`insert_once` for several rows in one statement: {unique value: new id} for the
    rows written; a row whose `unique` value exists already is left out."""
    statement = _insert_ignoring(session, model, (unique,), True, tuple(rows[0]))
    written = statement.rows(session, rows[0]) if len(rows) == 1 else session.execute(statement.statement, rows)
    return {value: row_id for row_id, value in written}


def _insert_ignoring(session: Session, model: type, unique: tuple[str, ...], with_key: bool,
                     columns: tuple[str, ...]) -> Precompiled:  # fmt: skip
    """INSERT … ON CONFLICT (unique) DO NOTHING RETURNING id (and the unique column, when
    `with_key`), built once per table, columns and dialect, run on the driver
    (core.precompiled): the hot path only binds values."""
    dialect = session.get_bind().dialect.name
    cached = (model, unique, with_key, columns, dialect)
    if cached not in _INSERT_ONCE:
        table = model.__table__
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        returned = (table.c.id, table.c[unique[0]]) if with_key else (table.c.id,)
        statement = insert(table).on_conflict_do_nothing(index_elements=list(unique)).returning(*returned)
        _INSERT_ONCE[cached] = Precompiled(statement, column_keys=columns)
    return _INSERT_ONCE[cached]


_INSERT_ONCE: dict[tuple, Precompiled] = {}


@contextmanager
def session_of(target: Database | Session) -> Iterator[Session]:
    """Work in the caller's transaction when given a session, else in a new unit of work.

    Lets a booking service run alone (its own transaction) or as one step of a bigger
    one, such as a chat message whose reply must commit together with the booking.
    """
    if isinstance(target, Session):
        yield target
        return
    with target.uow() as uow:
        yield uow.session
