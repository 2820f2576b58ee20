"""Jobs reach Redis only once their transaction has committed: all of one transaction's
jobs in one round trip, replies first, each job id once."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis as redis_lib
from rq import Queue

from core.db import defer
from core.jobs import QueueDown, RQQueue


def remember(*ids):  # a job: takes ids, does nothing here (no worker runs)
    return ids


def queued(queue: RQQueue) -> list[tuple[str, tuple]]:
    jobs = Queue("pitstop", connection=queue.redis).get_jobs()
    return [(job.id, job.args) for job in jobs]


def test_a_transactions_jobs_are_queued_after_commit_replies_first_each_id_once(sqlite_db, redis_url):
    queue = sqlite_db.queue = RQQueue(redis_url)
    with sqlite_db.uow() as uow:
        defer(uow.session, remember, 1, job_id="remember-1")
        defer(uow.session, remember, 7, job_id="deliver-7", first=True)
        defer(uow.session, remember, 1, job_id="remember-1")  # the same work deferred twice
        defer(uow.session, remember, 8, job_id="deliver-8", first=True)
        assert queued(queue) == []  # nothing is visible before the commit
    assert queued(queue) == [("deliver-7", (7,)), ("deliver-8", (8,)), ("remember-1", (1,))]


def test_a_rolled_back_transaction_queues_nothing(sqlite_db, redis_url):
    queue = sqlite_db.queue = RQQueue(redis_url)
    with pytest.raises(RuntimeError), sqlite_db.uow() as uow:
        defer(uow.session, remember, 9, job_id="deliver-9", first=True)
        raise RuntimeError("the step failed")
    assert queued(queue) == []


def test_workers_share_the_pace_through_redis(redis_url):
    """Two worker processes (two pacers) on one Redis: the second gets the bot's next turn
    and waits for the chat's second, by Redis's clock; a turn given up frees its chat."""
    from bot.pacing import RedisPacer

    first, second = (RedisPacer(redis_lib.Redis.from_url(redis_url)) for _ in range(2))
    mine = first.claim("bot", "chat-1", 0.0)
    assert mine.reserved and mine.wait == 0
    theirs = second.claim("bot", "chat-2", 0.0)
    assert theirs.reserved and 0.02 < theirs.wait <= 1.04 / 30  # the bot's next turn
    assert theirs.at - mine.at == round(1.04 / 30 * 1e6)  # turns named in Redis's microseconds
    time.sleep(2 * 1.04 / 30)
    held = second.claim("bot", "chat-1", 0.0)
    assert not held.reserved and 0.9 < held.wait < 1.04  # the chat's second
    again = first.claim("bot", "chat-1", 0.0, given_up=mine.at)
    assert again.reserved and again.wait == 0


class ClosingServer:
    """A port that takes connections and closes them at once, counting them: Redis gone
    wrong, without a connect timeout to wait for."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.socket.getsockname()[1]}/0"

    def _serve(self):
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


def test_after_redis_fails_the_next_transactions_leave_their_jobs_to_the_redrive_for_a_moment():
    server = ClosingServer()
    queue = RQQueue(server.url, pause=0.5)
    job = [(remember, (1,), "deliver-1")]
    with pytest.raises(redis_lib.exceptions.ConnectionError):
        queue.enqueue_all(job)
    tried = server.connections
    assert tried >= 1

    with pytest.raises(QueueDown):  # at once, without asking Redis
        queue.enqueue_all(job)
    assert server.connections == tried

    time.sleep(0.6)
    with pytest.raises(redis_lib.exceptions.ConnectionError):  # the pause is over: it tries again
        queue.enqueue_all(job)
    assert server.connections > tried
    server.socket.close()
