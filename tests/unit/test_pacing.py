"""Pacing: 1 message a second per chat and 30 a second per bot. A sender reserves the
bot's next turn and sleeps until it; the turns are spaced evenly rather than let out in
bursts, and a sender that wakes too late gives its turn up instead of bunching."""

import time

import pytest

import bot.pacing
from bot.pacing import MARGIN, LocalPacer, Turn

GAP = MARGIN / 30


def test_a_second_message_to_the_same_chat_waits_for_the_chat_then_asks_again():
    pacer = LocalPacer()
    assert pacer.claim("bot", "chat-1", 100.0) == Turn(0, True, 100.0)
    waiting = pacer.claim("bot", "chat-1", 100.2)
    assert not waiting.reserved and abs(waiting.wait - 0.84) < 1e-9  # a second, plus 4 % for jitter
    assert pacer.claim("bot", "chat-2", 100.2) == Turn(0, True, 100.2)  # another chat is not held up
    assert pacer.claim("bot", "chat-1", 101.04) == Turn(0, True, 101.04)


def test_senders_to_many_chats_reserve_turns_one_thirtieth_of_a_second_apart():
    pacer = LocalPacer()
    assert pacer.claim("bot", "chat-1", 10.0) == Turn(0, True, 10.0)
    second = pacer.claim("bot", "chat-2", 10.01)  # reserved: no need to ask again
    assert second.reserved and abs(second.wait - (GAP - 0.01)) < 1e-9 and second.at == 10.0 + GAP
    third = pacer.claim("bot", "chat-3", 10.01)
    assert third.reserved and third.at == 10.0 + 2 * GAP
    assert pacer.claim("other-bot", "chat-2", 10.01) == Turn(0, True, 10.01)  # limits are per bot


def test_a_turn_given_up_no_longer_holds_its_chat():
    pacer = LocalPacer()
    turn = pacer.claim("bot", "chat-1", 10.0)
    assert not pacer.claim("bot", "chat-1", 10.05).reserved  # the chat's second is taken
    again = pacer.claim("bot", "chat-1", 10.05, given_up=turn.at)
    assert again == Turn(0, True, 10.05)


def test_a_flood_to_a_thousand_chats_keeps_under_thirty_in_any_second_yet_near_the_limit():
    pacer, now, sent = LocalPacer(), 0.0, []
    for chat in range(1000):  # every sender asks at once
        turn = pacer.claim("bot", f"chat-{chat}", now)
        assert turn.reserved
        sent.append(now + turn.wait)
    busiest = max(sum(1 for t in sent[i:i + 40] if t < start + 1.0) for i, start in enumerate(sent))
    assert busiest == 29  # a 1.04 s window holds 30: a message that lands 40 ms early is still fine
    rate = (len(sent) - 1) / (sent[-1] - sent[0])
    assert abs(rate - 30 / MARGIN) < 1e-6  # 96 % of the limit: the rest is the margin


class StallingClock:
    """time.monotonic and time.sleep for one sender whose process stalls in its first sleep."""

    def __init__(self, stall: float):
        self.now, self.stall, self.slept = 50.0, stall, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds + self.stall
        self.stall = 0.0


def test_a_sender_that_wakes_too_late_gives_its_turn_up_and_takes_the_next(monkeypatch):
    pacer = LocalPacer()
    pacer.claim("bot", "chat-1", 50.0)  # someone else's turn: ours is the next one
    clock = StallingClock(stall=0.1)
    monkeypatch.setattr(bot.pacing, "time", clock)

    pacer.wait("bot", "chat-2")

    assert clock.slept == pytest.approx([GAP])  # it woke 100 ms after its turn, gave it up, took the next at once
    now = clock.now
    after = pacer.claim("bot", "chat-3", now)
    assert after.reserved and (after.wait, after.at) == pytest.approx((GAP, now + GAP))  # spaced from the new turn
    held = pacer.claim("bot", "chat-2", now)
    assert not held.reserved and abs(held.wait - pacer.limits.chat_gap) < 1e-9  # the chat's second runs from now


def test_a_sender_a_little_late_still_goes_on_its_turn(monkeypatch):
    pacer = LocalPacer()
    pacer.claim("bot", "chat-1", 50.0)
    clock = StallingClock(stall=0.005)
    monkeypatch.setattr(bot.pacing, "time", clock)

    pacer.wait("bot", "chat-2")

    assert clock.slept == pytest.approx([GAP])
    assert pacer.claim("bot", "chat-3", clock.now).at == pytest.approx(50.0 + 2 * GAP)  # its turn was kept


def test_waiting_for_real_sleeps_until_the_turn_and_a_missed_turn_is_given_up():
    pacer = LocalPacer()
    asked = time.monotonic()
    pacer.claim("bot", "chat-1", asked)
    turn = pacer.wait("bot", "chat-2")
    assert time.monotonic() - asked >= GAP and turn.due == pytest.approx(asked + GAP, abs=0.005)
    assert not turn.missed()
    time.sleep(0.05)  # say the outbox row took this long to lock
    assert turn.missed()
    again = pacer.wait("bot", "chat-2", given_up=turn)  # its chat is not held by the missed turn
    assert again.reserved and again.at > turn.at and not again.missed()
