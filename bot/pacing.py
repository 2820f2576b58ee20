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
# claimed exactly one window later does not arrive a hair early.
MARGIN = 1.04

# KEYS[1] = bot window key, KEYS[2] = chat key; ARGV = now_ms, per_bot, chat_gap_ms, window_ms
CLAIM = """
local now = tonumber(ARGV[1])
local chat_next = tonumber(redis.call('GET', KEYS[2]) or '0')
if chat_next > now then return chat_next - now end
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - tonumber(ARGV[4]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + tonumber(ARGV[4]) - now + 1
end
redis.call('ZADD', KEYS[1], now, ARGV[1] .. ':' .. redis.call('INCR', KEYS[1] .. ':seq'))
redis.call('PEXPIRE', KEYS[1], ARGV[4] * 2)
redis.call('SET', KEYS[2], now + tonumber(ARGV[3]), 'PX', tonumber(ARGV[3]) * 2)
return 0
"""


@dataclass
class Limits:
    per_bot_per_second: int = PER_BOT_PER_SECOND
    per_chat_seconds: float = PER_CHAT_SECONDS


class LocalPacer:
    """Limits kept in this process (one worker, or the embedded default)."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._chat_next: dict[tuple[str, str], float] = {}
        self._sent: dict[str, list[float]] = {}

    def claim(self, bot: str, chat: str, now: float) -> float:
        """Claim a send now, or return how many seconds to wait first."""
        with self._lock:
            wait = self._chat_next.get((bot, chat), 0) - now
            if wait > 0:
                return wait
            window = [t for t in self._sent.get(bot, []) if t > now - MARGIN]
            if len(window) >= self.limits.per_bot_per_second:
                self._sent[bot] = window
                return window[0] + MARGIN - now + 0.001
            window.append(now)
            self._sent[bot] = window
            self._chat_next[(bot, chat)] = now + self.limits.per_chat_seconds * MARGIN
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
            wait_ms = self.script(keys=[f"pace:{bot}", f"pace:{bot}:{chat}"],
                                  args=[int(time.time() * 1000), self.limits.per_bot_per_second,
                                        int(self.limits.per_chat_seconds * 1000 * MARGIN), int(1000 * MARGIN)])  # fmt: skip
        except Exception:  # Redis is down: pace within this process rather than not at all
            return super().claim(bot, chat, now)
        return int(wait_ms) / 1000


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
