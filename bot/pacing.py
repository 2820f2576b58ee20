"""Pacing outbound messages to stay inside the channels' limits, instead of hitting 429s.

Telegram allows a bot about 30 messages a second overall and 1 a second per chat
(PROTOCOLS.md 4.1). `Pacer.wait(bot, chat)` reserves the next turn and blocks until it.
With Redis the turns are shared by every worker process (atomic Lua script); without
it (embedded default) they are kept in this process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

PER_CHAT_SECONDS = 1.0
PER_BOT_PER_SECOND = 30
# Our clock and Telegram's differ by network jitter: keep a small margin so a message
# claimed exactly one gap later does not arrive a hair early.
MARGIN = 1.04

# Sends are spaced evenly (1/30 s apart per bot, a second per chat), not let out in
# bursts of 30 and then held: a burst reaches Telegram spread out by the network and
# the server's own queue, and the last of one burst and the first of the next can land
# inside the same second. Evenly spaced sends keep the whole margin against jitter.
# A sender reserves the bot's next turn (when its chat is free by then) and sleeps until
# it, so a sender that wakes a little late costs only its own message that lateness.
# One that wakes more than LATE after its turn (the process stalled) gives the turn up
# and asks again: going anyway would bunch it with the turns after it.
# KEYS[1] = bot key, KEYS[2] = chat key; ARGV = bot_gap_us, chat_gap_us, the turn given
# up (or -1); returns {1 if reserved, microseconds to wait, the turn}. Redis's clock, so
# workers on several hosts agree on "now".
CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local bot_gap, chat_gap, given_up = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local start = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local chat_free = tonumber(redis.call('GET', KEYS[2]) or '0')
if chat_free == given_up + chat_gap then chat_free = 0 end
if chat_free > start then return {0, chat_free - now, 0} end
redis.call('SET', KEYS[1], start + bot_gap, 'PX', math.floor((start - now + bot_gap) / 1000) + 1000)
redis.call('SET', KEYS[2], start + chat_gap, 'PX', math.floor((start - now + chat_gap) / 1000) + 1000)
return {1, start - now, start}
"""
LATE = 0.010
MISSES_ALLOWED = 3


@dataclass(frozen=True)
class Turn:
    """The answer to a claim: wait `wait` seconds, then go if `reserved`, else ask again.
    `at` names the turn, in the pacer's own clock, should it have to be given up; `due`
    is when it comes by this process's monotonic clock."""

    wait: float
    reserved: bool
    at: float = -1
    due: float = 0.0

    def missed(self) -> bool:
        """Is it too late to go on this turn (going now would bunch with the next)?"""
        return time.monotonic() - self.due > LATE


@dataclass
class Limits:
    per_bot_per_second: int = PER_BOT_PER_SECOND
    per_chat_seconds: float = PER_CHAT_SECONDS

    @property
    def bot_gap(self) -> float:
        return MARGIN / self.per_bot_per_second

    @property
    def chat_gap(self) -> float:
        return self.per_chat_seconds * MARGIN


class LocalPacer:
    """Limits kept in this process (one worker, or the embedded default)."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._next: dict[object, float] = {}  # bot, or (bot, chat) -> when it may send again

    def claim(self, bot: str, chat: str, now: float, given_up: float = -1) -> Turn:
        """Reserve the bot's next turn if the chat is free by then, else say how long
        until the chat is free. A turn given up no longer holds its chat."""
        with self._lock:
            start = max(now, self._next.get(bot, 0))
            chat_free = self._next.get((bot, chat), 0)
            if chat_free > start and chat_free != given_up + self.limits.chat_gap:
                return Turn(chat_free - now, False)
            self._next[bot] = start + self.limits.bot_gap
            self._next[(bot, chat)] = start + self.limits.chat_gap
            return Turn(start - now, True, start)

    def wait(self, bot: str, chat: str, given_up: Turn | None = None) -> Turn:
        """Block until this message's turn comes, and return it. A turn the caller
        missed (`given_up`) is given up: it no longer holds its chat. After a few turns
        missed in a row (a slow Redis, a starved process) it goes late rather than never."""
        late = given_up.at if given_up else -1
        for _ in range(MISSES_ALLOWED):
            turn = self._next_turn(bot, chat, late)
            if not turn.missed():
                return turn
            late = turn.at
        return self._next_turn(bot, chat, late)

    def _next_turn(self, bot: str, chat: str, given_up: float) -> Turn:
        while not (turn := self.claim(bot, chat, time.monotonic(), given_up)).reserved:
            time.sleep(turn.wait)  # until the chat is free
        turn = replace(turn, due=time.monotonic() + turn.wait)  # counted from the answer, not the question
        if (pause := turn.due - time.monotonic()) > 0:
            time.sleep(pause)
        return turn


class RedisPacer(LocalPacer):
    """The same limits, shared by every process through Redis."""

    def __init__(self, redis, limits: Limits | None = None):
        super().__init__(limits)
        self.redis = redis
        self.script = redis.register_script(CLAIM)

    def claim(self, bot: str, chat: str, now: float, given_up: float = -1) -> Turn:
        gaps = [round(self.limits.bot_gap * 1e6), round(self.limits.chat_gap * 1e6)]
        try:
            reserved, wait_us, at = self.script(keys=[f"pace:turn:{bot}", f"pace:turn:{bot}:{chat}"],  # not the old keys
                                                args=[*gaps, int(given_up)])
        except Exception:  # Redis is down: pace within this process rather than not at all
            return super().claim(bot, chat, time.monotonic(), given_up)  # "now" is past by Redis's timeout
        return Turn(int(wait_us) / 1e6, bool(reserved), int(at))


_PACERS: dict[tuple, LocalPacer] = {}


def pacer_for(runtime) -> LocalPacer:
    """This process's pacer: shared through Redis when there is one."""
    settings = runtime.settings
    limits = Limits(settings.telegram_per_second, settings.telegram_chat_interval)
    key = (settings.redis_url or "local", limits.per_bot_per_second, limits.per_chat_seconds)
    if key not in _PACERS:
        queue = runtime.queue
        _PACERS[key] = RedisPacer(queue.redis, limits) if hasattr(queue, "redis") else LocalPacer(limits)
    return _PACERS[key]
