"""Pacing: 1 message a second per chat and 30 a second per bot, claimed before sending."""

from bot.pacing import LocalPacer


def test_a_second_message_to_the_same_chat_waits_a_second():
    pacer = LocalPacer()
    assert pacer.claim("bot", "chat-1", 100.0) == 0
    assert abs(pacer.claim("bot", "chat-1", 100.2) - 0.84) < 1e-9  # a second, plus 4 % for jitter
    assert pacer.claim("bot", "chat-2", 100.2) == 0  # another chat is not held up
    assert pacer.claim("bot", "chat-1", 101.04) == 0


def test_the_thirty_first_message_in_a_second_waits_for_the_window():
    pacer = LocalPacer()
    for i in range(30):
        assert pacer.claim("bot", f"chat-{i}", 10.0 + i / 100) == 0
    wait = pacer.claim("bot", "chat-30", 10.5)
    assert abs(wait - 0.541) < 1e-9  # until the first of the thirty is a second (+4 %) old
    assert pacer.claim("other-bot", "chat-30", 10.5) == 0  # limits are per bot
