"""Statements that every chat message runs, compiled once and run on the driver itself.

Each message pays the same handful of statements: find the shop, record the delivery,
lock the chat, find the customer (on PostgreSQL those three are one call:
core/chats.take_message), save where the chat stands, write the answer. Through
`Session.execute`, SQLAlchemy adds to the CPU that the driver and the round trip cost
about 40 % for a Core statement and 80 % for one that loads an ORM object (an execution
context, its result's metadata, the ORM's loading: 112 against 81 µs and 188 against
104 µs here), the largest share of a web process's time per message (bench/webhooks.py).
A `Precompiled` statement is a Core statement compiled once per dialect and sent
straight to the DBAPI cursor of the session's connection, inside the session's
transaction, keeping what matters of SQLAlchemy's execution:

- a query sees what the session holds unwritten (flushed first, unless autoflush is
  off), as the ORM's would; an INSERT or UPDATE, as Core's, leaves it for the commit;
- values go in and come out through the statement's own column types (UTC times, JSON),
  and columns left out of an INSERT get their Python-side defaults;
- `before_cursor_execute` listeners see the statement (tests count statements that way);
- an error comes out as SQLAlchemy's (`IntegrityError`, `OperationalError`,
  `StatementError`), and a connection the database had dropped is invalidated with the
  pool's older ones, through the connection's own handler: callers and the app's retry
  (webhooks/__init__.py) cannot tell.

Rows come back as plain tuples; `loaded` makes one an ORM object where the rest of the
message's work needs one (the customer), for less than the ORM's own loading costs, and
`loaded_afresh` one read under its lock (a booking). An UPDATE run so leaves the session's
object as it was, and an INSERT's is not known to the transaction: `written` tells the
session the object now holds what was written (and that a new row's object is new). Both
do with the object what the ORM's loading and flush do, through the same methods of its
state and session (not public either: tests/integration/test_precompiled.py compares them
with the ORM's own).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, inspect, literal, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import ClauseElement, ColumnElement


@dataclass(frozen=True)
class _Plan:
    """A statement as one dialect runs it."""

    sql: str
    names: tuple[str, ...]  # the bind names, in order for a positional paramstyle
    positional: bool
    bind: dict[str, Callable[[Any], Any]]  # name -> converts a value for the driver
    defaults: dict[str, Callable[[], Any]]  # name -> the column's default, for a value not given
    result: tuple[Callable[[Any], Any] | None, ...]  # per returned column: converts the driver's value


class Precompiled:
    """A Core statement run without SQLAlchemy's per-execution work (see the module)."""

    def __init__(self, statement: ClauseElement, column_keys: Sequence[str] | None = None):
        """`column_keys`: for an INSERT or UPDATE, the columns it writes (all of them,
        by default, for an INSERT)."""
        if not (statement.is_select or statement.is_dml):  # its rows would never be read
            raise TypeError("a text statement needs .columns(...) to be run as Precompiled")
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._reads = statement.is_select
        self._plans: dict[str, _Plan] = {}

    def rows(self, session: Session, params: dict[str, Any]) -> list[tuple]:
        """Run it in the session's transaction (a query first flushes what the session
        holds unwritten, as the ORM's would); the rows it returns, as tuples."""
        if self._reads and session.autoflush:
            session.flush()
        conn = session.connection()
        dialect = conn.dialect
        plan = self._plans.get(dialect.name) or self._plan(dialect)
        return _run(conn, plan, params)

    def first(self, session: Session, params: dict[str, Any]) -> tuple | None:
        found = self.rows(session, params)
        return found[0] if found else None

    def scalar(self, session: Session, params: dict[str, Any]) -> Any:
        """The first column of the first row, or None when there is none."""
        found = self.first(session, params)
        return found[0] if found else None

    def _plan(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
        if compiled.post_compile_params:
            raise ValueError("an IN list is expanded per execution: run this statement with Session.execute")
        names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(compiled.binds)
        types = {name: bind.type.dialect_impl(dialect) for name, bind in compiled.binds.items()}
        bind = {name: p for name, t in types.items() if (p := t.bind_processor(dialect)) is not None}
        defaults = {}
        for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
            default = column.default if compiled.isinsert else column.onupdate
            if default is not None and default.is_scalar:
                defaults[column.key] = lambda value=default.arg: value
            elif default is not None and default.is_callable:
                defaults[column.key] = lambda arg=default.arg: arg(None)  # wrapped to take a context, unused
        constants = {name: b.value for name, b in compiled.binds.items() if not b.required and name not in defaults}
        for name, value in constants.items():
            defaults[name] = lambda value=value: value
        returned = getattr(self.statement, "exported_columns", ())
        result = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in returned)
        plan = _Plan(compiled.string, names, dialect.positional, bind, defaults, result)
        self._plans[dialect.name] = plan
        return plan


def _run(conn: Connection, plan: _Plan, params: dict[str, Any]) -> list[tuple]:
    """Convert the values and send them on the connection's own DBAPI cursor. Any error
    goes through the connection's own handler, as in `Connection.execute`: wrapped as
    SQLAlchemy's (a value a type refuses as `StatementError`), the connection and the
    pool's older connections invalidated when the database had dropped it, so that a
    request run again (webhooks/__init__.py) gets a live one. That handler is not public;
    tests/integration/test_precompiled.py would notice a SQLAlchemy that changed it."""
    cursor = values = None
    try:
        values = {name: plan.defaults[name]() for name in plan.defaults if name not in params} | params
        for name, convert in plan.bind.items():
            values[name] = convert(values[name])
        if plan.positional:
            values = [values[name] for name in plan.names]
        cursor = _cursor(conn)
        conn.dispatch.before_cursor_execute(conn, cursor, plan.sql, values, None, False)
        cursor.execute(plan.sql, values)
        fetched = cursor.fetchall() if plan.result else []  # (asking the cursor builds its description)
    except BaseException as error:
        conn.connection.info.pop(_CURSOR, None)  # the handler closes it
        conn._handle_dbapi_exception(error, plan.sql, values if values is not None else params, cursor, None)
    if not any(plan.result):
        return fetched
    return [tuple(v if f is None else f(v) for f, v in zip(plan.result, row, strict=True)) for row in fetched]


_CURSOR = "pitstop.precompiled.cursor"


def _cursor(conn: Connection):
    """The database connection's cursor for these statements, made once and kept in the
    pool's record of that connection (which forgets it when the connection is replaced):
    a new cursor per statement was a quarter of what psycopg spends on one."""
    record = conn.connection.info
    driver = conn.connection.driver_connection
    held = record.get(_CURSOR)
    if held is None or held[0] is not driver:
        held = record[_CURSOR] = (driver, driver.cursor())
    return held[1]


@cache
def updating(model: type, columns: tuple[str, ...]) -> Precompiled:
    """The UPDATE of these columns of one row of the model's table, found by its `id`
    (passed as `row`), compiled once per table and columns."""
    table = model.__table__
    return Precompiled(update(table).where(table.c.id == bindparam("row")), column_keys=columns)


def write_columns(session: Session, row: Any, values: dict[str, Any]) -> None:
    """UPDATE some columns of one ORM object's row on the driver (`updating`), and tell
    the session the object holds them (`written`), so that no flush writes them again."""
    updating(type(row), tuple(values)).rows(session, {"row": row.id, **values})
    written(session, row, values)


def one_of(column: ColumnElement, values) -> ColumnElement:
    """`column IN (...)` for a fixed set of values (statuses), as constants of the
    statement, sorted (the same SQL in every process): `Column.in_` would make them a
    list expanded at each execution, which a `Precompiled` statement cannot run."""
    return column.in_([literal(getattr(v, "value", v), column.type) for v in sorted(values)])  # an enum's own value


def loaded_row(session: Session, model: type, row: Sequence[Any]):
    """`loaded` for a row read with all the model's table's columns, in their order."""
    return loaded(session, model, dict(zip(_columns(model), row, strict=True)))


@cache
def _columns(model: type) -> tuple[str, ...]:
    return tuple(model.__table__.c.keys())


@cache
def _new(model: type) -> Callable[[], Any]:
    return inspect(model).class_manager.new_instance


@cache
def _collections(model: type) -> tuple[str, ...]:
    return tuple(inspect(model).relationships.keys())


def loaded_afresh(session: Session, model: type, row: Sequence[Any] | None):
    """`loaded_row` for a row read under its lock (SELECT … FOR UPDATE), as the ORM's
    `populate_existing` loads it: an object the session held already is overwritten with
    the row (which another transaction may have changed since it was read), changes not
    yet written and all, and its relationships are read again when next asked for. None
    for no row."""
    if row is None:
        return None
    values = dict(zip(_columns(model), row, strict=True))
    held = session.identity_map.get(identity_key(model, values["id"]))
    if held is None:
        return loaded(session, model, values)
    state = inspect(held)
    for key in _collections(model):
        state._reset(state.dict, key)
    state.dict.update(values)
    state._commit_all(state.dict, session.identity_map)  # nothing left to write: it is what is stored
    return held


def loaded(session: Session, model: type, values: dict[str, Any]):
    """The ORM object of a row a `Precompiled` statement read (all its columns, by
    name), as if the session had loaded it: the one the session holds already, if any
    (as a query would give it, changes and all), else one attached to it now, whose
    later changes are flushed as usual."""
    held = session.identity_map.get(identity_key(model, values["id"]))
    if held is not None:
        return held
    row = _new(model)()  # as the ORM's loading makes one: no constructor, no attribute events
    row.__dict__.update(values)
    make_transient_to_detached(row)
    session.add(row)
    return row


def written(session: Session, row: Any, values: dict[str, Any] | None = None, *, new: bool = False) -> None:
    """Tell the session that an ORM object holds what a `Precompiled` statement of this
    transaction has just written to its row: an UPDATE's `values` (its flush would write
    them again, else), or an INSERT's whole row (`new`, its object made by `loaded`). As
    for an object the flush wrote, should the transaction or the savepoint it was written
    in be rolled back (a step that failed), a new row's object leaves the session and a
    changed one is expired, to be read again as it is stored then. SQLAlchemy keeps these
    records in its transaction, not in public (`Session._register_altered` writes them);
    tests/integration/test_precompiled.py would notice a SQLAlchemy that changed that."""
    for name, value in (values or {}).items():
        set_committed_value(row, name, value)
    transaction = session._transaction
    if transaction is not None:
        (transaction._new if new else transaction._dirty)[instance_state(row)] = True
