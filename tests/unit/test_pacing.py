"""Pacing: 1 message a second per chat and 30 a second per bot, claimed before sending,
with the sends spaced evenly rather than let out in bursts."""

from bot.pacing import MARGIN, LocalPacer


def test_a_second_message_to_the_same_chat_waits_a_second():
    pacer = LocalPacer()
    assert pacer.claim("bot", "chat-1", 100.0) == 0
    assert abs(pacer.claim("bot", "chat-1", 100.2) - 0.84) < 1e-9  # a second, plus 4 % for jitter
    assert pacer.claim("bot", "chat-2", 100.2) == 0  # another chat is not held up
    assert pacer.claim("bot", "chat-1", 101.04) == 0


def test_messages_to_many_chats_go_one_thirtieth_of_a_second_apart():
    pacer = LocalPacer()
    assert pacer.claim("bot", "chat-1", 10.0) == 0
    assert abs(pacer.claim("bot", "chat-2", 10.01) - (1.04 / 30 - 0.01)) < 1e-9  # the rest of the gap
    assert pacer.claim("other-bot", "chat-2", 10.01) == 0  # limits are per bot
    assert pacer.claim("bot", "chat-2", 10.0 + 1.04 / 30) == 0


def test_a_flood_to_a_thousand_chats_keeps_under_thirty_in_any_second_yet_near_the_limit():
    pacer, now, sent = LocalPacer(), 0.0, []
    for chat in range(1000):  # every worker asks at once, all the time
        while (wait := pacer.claim("bot", f"chat-{chat}", now)) > 0:
            now += wait
        sent.append(now)
    busiest = max(sum(1 for t in sent[i:i + 40] if t < start + 1.0) for i, start in enumerate(sent))
    assert busiest == 29  # a 1.04 s window holds 30: a message that lands 40 ms early is still fine
    rate = (len(sent) - 1) / (sent[-1] - sent[0])
    assert abs(rate - 30 / MARGIN) < 1e-6  # 96 % of the limit: the rest is the margin
