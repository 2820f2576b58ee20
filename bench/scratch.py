"""A throwaway PostgreSQL database for a benchmark: created, migrated, dropped after."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from core.migrate import upgrade

BASE = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def scratch_database(base: str | None = None) -> Iterator[str]:
    """Yield the SQLAlchemy URL of a fresh, migrated database next to `base`
    (DATABASE_URL by default); it is dropped when the benchmark ends."""
    base = (base or os.environ.get("DATABASE_URL") or BASE).replace("postgresql+psycopg://", "postgresql://")
    name = f"pitstop_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
