"""Pacing outbound messages to stay inside the channels' limits, instead of hitting 429s.

Telegram allows a bot about 30 messages a second overall and 1 a second per chat
(PROTOCOLS.md 4.1). `Pacer.wait(bot, chat)` blocks until sending is allowed and then
claims the slot. With Redis the claims are shared by every worker process (atomic Lua
script); without it (embedded default) they are kept in this process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

PER_CHAT_SECONDS = 1.0
PER_BOT_PER_SECOND = 30
# Our clock and Telegram's differ by network jitter: keep a small margin so a message
# claimed exactly one gap later does not arrive a hair early.
MARGIN = 1.04

# Sends are spaced evenly (1/30 s apart per bot, a second per chat), not let out in
# bursts of 30 and then held: a burst reaches Telegram spread out by the network and
# the server's own queue, and the last of one burst and the first of the next can land
# inside the same second. Evenly spaced sends keep the whole margin against jitter.
# KEYS[1] = bot key, KEYS[2] = chat key; ARGV = bot_gap_us, chat_gap_us; returns the
# microseconds to wait. Redis's clock, so workers on several hosts agree on "now".
CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local bot_next = tonumber(redis.call('GET', KEYS[1]) or '0')
local wait = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), bot_next) - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], now + tonumber(ARGV[1]), 'PX', math.floor(tonumber(ARGV[1]) / 1000) + 1000)
redis.call('SET', KEYS[2], now + tonumber(ARGV[2]), 'PX', math.floor(tonumber(ARGV[2]) / 1000) + 1000)
return 0
"""


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

    def claim(self, bot: str, chat: str, now: float) -> float:
        """Claim a send now, or return how many seconds to wait first."""
        with self._lock:
            wait = max(self._next.get((bot, chat), 0), self._next.get(bot, 0)) - now
            if wait > 0:
                return wait
            self._next[bot] = now + self.limits.bot_gap
            self._next[(bot, chat)] = now + self.limits.chat_gap
            return 0.0

    def wait(self, bot: str, chat: str) -> float:
        """Block until this message may go; returns the seconds waited."""
        waited = 0.0
        while (delay := self.claim(bot, chat, time.monotonic())) > 0:
            time.sleep(delay)
            waited += delay
        return waited


class RedisPacer(LocalPacer):
    """The same limits, shared by every process through Redis."""

    def __init__(self, redis, limits: Limits | None = None):
        super().__init__(limits)
        self.redis = redis
        self.script = redis.register_script(CLAIM)

    def claim(self, bot: str, chat: str, now: float) -> float:
        try:
            wait_us = self.script(keys=[f"pace:next:{bot}", f"pace:next:{bot}:{chat}"],  # not the old window's keys
                                  args=[round(self.limits.bot_gap * 1e6), round(self.limits.chat_gap * 1e6)])
        except Exception:  # Redis is down: pace within this process rather than not at all
            return super().claim(bot, chat, now)
        return int(wait_us) / 1e6


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
