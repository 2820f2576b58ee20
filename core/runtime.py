"""The running system's shared pieces, built once per process from settings."""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock
from core.db import Database
from core.jobs import JobQueue, make_queue
from core.settings import Settings, load_settings


@dataclass
class Runtime:
    """Settings, database and job queue: what every process (web, worker, cron) needs."""

    settings: Settings
    db: Database
    queue: JobQueue
    clock: Clock

    def now(self):
        return self.clock.now()

    def close(self) -> None:
        self.db.dispose()


_CURRENT: Runtime | None = None


def build_runtime(settings: Settings | None = None) -> Runtime:
    """Build this process's runtime; it becomes the one jobs run against."""
    global _CURRENT
    settings = settings or load_settings()
    db = Database(settings.database_url)
    db.queue = make_queue(settings.redis_url)
    _CURRENT = Runtime(settings, db, db.queue, Clock(settings.start_time))
    return _CURRENT


def current_runtime() -> Runtime:
    """The runtime of this process, for jobs (which take ids, not objects).

    A worker builds it from settings on its first job; the web process and the
    in-process queue have built it already.
    """
    return _CURRENT or build_runtime()
