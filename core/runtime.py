"""The running system's shared pieces, built once per process from settings."""

from __future__ import annotations

from dataclasses import dataclass

from core.db import Database
from core.jobs import JobQueue, make_queue
from core.settings import Settings, load_settings


@dataclass
class Runtime:
    """Settings, database and job queue: what every process (web, worker, cron) needs."""

    settings: Settings
    db: Database
    queue: JobQueue

    def close(self) -> None:
        self.db.dispose()


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or load_settings()
    return Runtime(settings, Database(settings.database_url), make_queue(settings.redis_url))
