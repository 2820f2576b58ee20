"""Running the alembic migrations from code (`pitstop db upgrade`, tests, the demo)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at `database_url` to `revision` (the latest by default)."""
    from core.db import normalise_url

    command.upgrade(alembic_config(normalise_url(database_url)), revision)


def current_revision(database_url: str) -> str | None:
    """The revision the database is at now, as alembic records it (None: no migration)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from core.db import normalise_url

    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
