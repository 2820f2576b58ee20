"""Telegram's 429 (PTB's RetryAfter) becomes "try again after N seconds" for the sender,
whether PTB gives retry_after as seconds (PTB 22's default, deprecated) or as the
timedelta a later PTB will give (PTB_TIMEDELTA=true opts in now)."""

import asyncio

import pytest
from telegram.error import RetryAfter

from bot.delivery import TryLater
from bot.telegram import _sent


async def flood_control(seconds: int) -> str:
    raise RetryAfter(seconds)


@pytest.mark.parametrize("timedelta", ["false", "true"])
def test_a_429_says_how_long_to_wait_whichever_type_ptb_gives_it_in(monkeypatch, timedelta):
    monkeypatch.setenv("PTB_TIMEDELTA", timedelta)

    with pytest.raises(TryLater) as said:
        asyncio.run(_sent(flood_control(7)))

    assert said.value.seconds == 7.0
