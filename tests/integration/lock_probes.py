"""Probes for who holds a lock right now, asked from a connection of the test's own."""

from __future__ import annotations

import sqlite3

import psycopg

from tests.services import libpq


def another_writer_can_go(url: str, outbox_id: int | None = None) -> bool:
    """Can a second connection write right now, without waiting? On SQLite that is the
    database's one write lock; on PostgreSQL the outbox row's own lock (any row's, when
    no id is given)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0)
        try:
            conn.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError:  # database is locked
            return False
        finally:
            conn.close()
    which = "" if outbox_id is None else f"WHERE id = {int(outbox_id)}"
    with psycopg.connect(libpq(url)) as conn:
        try:
            conn.execute(f"SELECT id FROM outbox_messages {which} FOR UPDATE NOWAIT")
            return True
        except psycopg.errors.LockNotAvailable:
            return False
