"""Background jobs: RQ on Redis in production, in-process on the embedded default.

Jobs take ids, never objects, and carry deterministic job ids, so enqueueing the same
work twice is harmless. Callers enqueue from `uow.after_commit`, so a job never sees
a transaction that has not committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


Job = tuple[Callable, tuple, str | None]  # function, its arguments (ids), job id


class JobQueue(Protocol):
    def enqueue(self, func: Callable, *args, job_id: str | None = None) -> None: ...

    def enqueue_all(self, jobs: list[Job]) -> None: ...

    def ping(self) -> bool: ...


class InProcessQueue:
    """Runs each job at once in the calling process (embedded default, demo, tests).

    A failing job is logged, not raised: the outbox re-drive and reconciliation jobs pick
    the work up again, exactly as they would after an RQ worker failure.
    """

    def __init__(self) -> None:
        self.ran: list[str] = []

    def enqueue(self, func: Callable, *args, job_id: str | None = None) -> None:
        self.ran.append(job_id or func.__name__)
        try:
            func(*args)
        except Exception:
            log.exception("in-process job %s failed", job_id or func.__name__)

    def enqueue_all(self, jobs: list[Job]) -> None:
        for func, args, job_id in jobs:
            self.enqueue(func, *args, job_id=job_id)

    def ping(self) -> bool:
        return True


class QueueDown(RuntimeError):
    """Redis failed a moment ago: the work is left to the outbox re-drive at once."""


class RQQueue:
    """Puts jobs on Redis for `pitstop worker` processes.

    After Redis fails, a transaction's jobs are not tried again for `pause` seconds: a
    web worker would otherwise wait out the connect timeout on every message while Redis
    is unreachable. Nothing is lost, the outbox re-drive delivers the rows (its own
    `enqueue` always tries)."""

    def __init__(self, redis_url: str, name: str = "pitstop", pause: float = 5.0):
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        self.queue = Queue(name, connection=self.redis)
        self.pause = pause
        self._try_again_at = 0.0  # time.monotonic() before which enqueue_all does not try

    def enqueue(self, func: Callable, *args, job_id: str | None = None) -> None:
        self.queue.enqueue(func, *args, job_id=job_id, result_ttl=3600, failure_ttl=86400)

    def enqueue_all(self, jobs: list[Job]) -> None:
        """All of one transaction's jobs in one round trip to Redis (a job id given
        twice is enqueued once, as enqueueing it twice would)."""
        from redis.exceptions import RedisError

        if time.monotonic() < self._try_again_at:
            raise QueueDown(f"Redis failed less than {self.pause:g} s ago")
        seen: set[str] = set()
        datas = []
        for func, args, job_id in jobs:
            if job_id is None or job_id not in seen:
                seen.add(job_id)
                datas.append(self.queue.prepare_data(func, args, job_id=job_id, result_ttl=3600, failure_ttl=86400))
        try:
            self.queue.enqueue_many(datas)
        except RedisError:
            self._try_again_at = time.monotonic() + self.pause
            raise

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:
            return False


def make_queue(redis_url: str | None) -> JobQueue:
    """The queue this deployment uses: Redis when REDIS_URL is set, else in-process."""
    return RQQueue(redis_url) if redis_url else InProcessQueue()
