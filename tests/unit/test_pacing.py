"""Pacing: 1 message a second per chat and 30 a second per bot. A sender reserves the
bot's next turn and sleeps until it; the turns are spaced evenly rather than let out in
bursts, and a sender that wakes too late gives its turn up instead of bunching."""

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


class SlowPacer(LocalPacer):
    """A pacer whose every claim takes `rtt` seconds of the fake clock (a slow Redis);
    with `rivals`, another sender always takes the next turn just before."""

    def __init__(self, clock: StallingClock, rtt: float, rivals: bool = False):
        super().__init__()
        self.clock, self.rtt, self.rivals, self.claims = clock, rtt, rivals, 0

    def claim(self, bot, chat, now, given_up=-1):
        self.claims += 1
        if self.rivals:
            super().claim(bot, f"rival-{self.claims}", now)
        turn = super().claim(bot, chat, now, given_up)
        self.clock.now += self.rtt
        return turn


def test_a_slow_answer_to_a_claim_does_not_count_as_lateness(monkeypatch):
    clock = StallingClock(stall=0.0)
    monkeypatch.setattr(bot.pacing, "time", clock)
    pacer = SlowPacer(clock, rtt=0.015)

    turn = pacer.wait("bot", "chat-1")

    assert pacer.claims == 1 and not turn.missed()


def test_a_sender_that_keeps_waking_late_goes_late_rather_than_never(monkeypatch):
    clock = StallingClock(stall=0.0)
    clock.sleep = lambda seconds: setattr(clock, "now", clock.now + seconds + 0.1)  # starved, every time
    monkeypatch.setattr(bot.pacing, "time", clock)
    pacer = SlowPacer(clock, rtt=0.0, rivals=True)  # so every turn means a sleep, and every sleep runs late

    turn = pacer.wait("bot", "chat-1")

    assert pacer.claims == bot.pacing.MISSES_ALLOWED + 1 and turn.missed()
