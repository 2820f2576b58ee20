"""A Bot API call interrupted by a job's timeout is cancelled, not left on the thread's
event loop to finish unseen during the next job (and send a message twice)."""

import asyncio
import signal

import pytest

from bot.telegram import run


class JobTimeout(Exception):
    """What RQ's death penalty raises from its SIGALRM handler."""


def test_an_interrupted_call_is_cancelled_before_the_next_call_runs():
    finished = []

    async def slow_send():
        try:
            await asyncio.sleep(5)
            finished.append("sent")
        except asyncio.CancelledError:
            finished.append("cancelled")
            raise

    def timeout(signum, frame):
        raise JobTimeout()

    previous = signal.signal(signal.SIGALRM, timeout)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(JobTimeout):
            run(slow_send())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    assert run(asyncio.sleep(0, result="next job")) == "next job"
    assert finished == ["cancelled"]
