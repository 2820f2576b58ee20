"""The Procfile's web command builds the app once (`gunicorn --preload`) and forks its
workers from it. A worker forked after the app has used the database must open
connections of its own: one pooled connection used by two processes would interleave
their statements on one socket. Redis clients renew themselves in a new process.
PostgreSQL, where a connection's server process tells whose it is."""

import json
import os
import traceback

from rq import Queue
from sqlalchemy import select, text

from core.models import InboxUpdate, OutboxMessage
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN, start_pitstop

AMINA, WANJIKU = 5550001, 5550002


def server_process(db) -> int:
    """The PostgreSQL process behind the connection this process's pool hands out next."""
    with db.engine.connect() as connection:
        return connection.scalar(text("SELECT pg_backend_pid()"))


def in_a_forked_child(work) -> dict:
    """Run `work` in a child forked from this process, as gunicorn forks a worker, and
    return what it returned (a dict), or fail with the child's traceback."""
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 0
        try:
            answer = json.dumps(work())
        except BaseException:
            answer, code = json.dumps({"traceback": traceback.format_exc()}), 1
        os.write(writing, answer.encode())
        os._exit(code)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        answer = json.loads(pipe.read())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, answer.get("traceback")
    return answer


def test_a_worker_forked_from_the_loaded_app_answers_on_connections_of_its_own(pg_only, redis_url):
    with (
        FakeTelegram() as telegram,
        FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio,
    ):
        pitstop = start_pitstop(pg_only, telegram, twilio, extra_env={"REDIS_URL": redis_url})
        try:
            first = pitstop.say(AMINA, "/start")[
                "update_id"
            ]  # the parent's pool now holds a connection
            parents = server_process(pitstop.runtime.db)
            childs_update = next(pitstop.update_ids)

            def worker():
                response = pitstop.telegram_post(
                    telegram.update_text(childs_update, WANJIKU, "/start")
                )
                return {
                    "status": response.status_code,
                    "server_process": server_process(pitstop.runtime.db),
                }

            child = in_a_forked_child(worker)
            last = pitstop.say(AMINA, "menu")[
                "update_id"
            ]  # the parent's connection outlived the child
            assert server_process(pitstop.runtime.db) == parents
            with pitstop.runtime.db.uow() as uow:
                inbox = uow.session.scalars(
                    select(InboxUpdate.external_id).order_by(InboxUpdate.id)
                ).all()
                replies = uow.session.scalars(
                    select(OutboxMessage.id).order_by(OutboxMessage.id)
                ).all()
            queued = Queue("pitstop", connection=pitstop.runtime.queue.redis).get_job_ids()
        finally:
            pitstop.runtime.close()

    assert child == {"status": 200, "server_process": child["server_process"]}
    assert child["server_process"] != parents
    assert inbox == [f"1:{first}", f"1:{childs_update}", f"1:{last}"]
    assert len(replies) >= 3 and queued == [f"deliver-{row}" for row in replies]
