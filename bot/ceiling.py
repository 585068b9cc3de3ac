"""The bot-wide send ceiling: at most `rate` messages in ANY 1-second window, for the whole bot.

Telegram allows a bot about 30 bulk messages a second (limits.md §2); replies to the user whose
update is being handled are not bulk and are never held back here. So:

- an unsolicited send (a notification, a warning, "your binding moved") takes a place with
  `acquire()` before it goes out and gives it back with `release()` when Telegram's answer is in;
- a reply is only counted, after it went out (`note()`): replies come first, notifications use
  what is left of the window.

The window is measured so that it holds on Telegram's clock, whatever the network does: a place
counts from the moment it is taken until one window AFTER its answer came back, and a send still
in flight counts in full. The server handles each request between our start and its answer, so
any `rate + 1` sends that each waited for this are more than a window apart on its clock.

Two implementations of one interface:

- `RedisCeiling` (SWBOT_REDIS_URL set): one sorted set per bot in Redis, changed only by small Lua
  scripts that read Redis's own clock, so every `swbot run` process and instance of one bot token
  shares one ceiling. A 429 on the broadcast lane pauses every process (a key with a TTL). If Redis
  cannot be reached, the process falls back to its own in-process ceiling (one line in the log) and
  tries Redis again a little later.
- `LocalCeiling`: the same rule in this process only (a single instance, SQLite's deployment).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

WINDOW = 1.0
TELEGRAM_FREE_RATE = 30  # Bots FAQ: about 30 bulk messages a second
TELEGRAM_PAID_RATE = 1000  # with allow_paid_broadcast
IN_FLIGHT_HOLD = 30.0  # a send that never reports back (its process died) counts this long
POLL = 0.005  # how often to look again while only sends in flight fill the window


class Paused(Exception):
    """The ceiling is paused (a 429 on the broadcast lane) for longer than the caller will wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"paused for {seconds:.1f} s")
        self.seconds = seconds


@dataclass(eq=False)
class Ticket:
    """A place in the window, held from `acquire()` to `release()`."""

    member: str
    local: bool  # taken from the in-process ceiling (Redis was unreachable)


class Ceiling(ABC):
    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.cap = max(1, math.floor(rate))

    async def acquire(self, stopping: asyncio.Event | None = None, *, max_pause: float = math.inf) -> Ticket | None:
        """Wait for a place and take it (FIFO within this process); None when `stopping` was set
        first. Raises `Paused` when a pause has more than `max_pause` seconds left."""
        while True:
            if stopping is not None and stopping.is_set():
                return None
            ticket, wait, paused = await self._try_acquire()
            if ticket is not None:
                return ticket
            if paused and wait > max_pause:
                raise Paused(wait)
            if stopping is None:
                await asyncio.sleep(wait)
            else:
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=wait)
                except TimeoutError:
                    pass

    @abstractmethod
    async def _try_acquire(self) -> tuple[Ticket | None, float, bool]:
        """(ticket, 0, False) when a place was free, else (None, seconds to wait, paused?)."""

    @abstractmethod
    async def release(self, ticket: Ticket) -> None:
        """The send's answer (or error, or timeout) is in: its place counts one window from now."""

    @abstractmethod
    async def note(self, n: int = 1) -> None:
        """`n` replies went out just now: they count in the window but were not held back."""

    @abstractmethod
    async def pause(self, seconds: float) -> None:
        """Telegram said 429 on the broadcast lane: nobody takes a place for `seconds`."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""


class LocalCeiling(Ceiling):
    """The ceiling for this process only."""

    def __init__(self, rate: float, *, window: float = WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(rate)
        self.window = window
        self.clock = clock
        self._in_flight: set[str] = set()
        self._done: deque[float] = deque()  # answer times (and reply times), in order
        self._paused_until = 0.0
        self._lock = asyncio.Lock()  # FIFO: waiters take places in arrival order

    async def acquire(self, stopping: asyncio.Event | None = None, *, max_pause: float = math.inf) -> Ticket | None:
        async with self._lock:
            return await super().acquire(stopping, max_pause=max_pause)

    def used(self) -> int:
        """Places counted in the window now (in flight included)."""
        self._purge(self.clock())
        return len(self._in_flight) + len(self._done)

    def _purge(self, now: float) -> None:
        while self._done and self._done[0] <= now - self.window:
            self._done.popleft()

    async def _try_acquire(self) -> tuple[Ticket | None, float, bool]:
        return self.try_acquire_now()

    def try_acquire_now(self) -> tuple[Ticket | None, float, bool]:
        now = self.clock()
        if now < self._paused_until:
            return None, self._paused_until - now, True
        self._purge(now)
        used = len(self._in_flight) + len(self._done)
        if used < self.cap:
            ticket = Ticket(secrets.token_hex(8), local=True)
            self._in_flight.add(ticket.member)
            return ticket, 0.0, False
        # Full: the oldest answered place leaves the window first; sends in flight leave only
        # once answered, so look again shortly when they are all that fills it.
        wait = self._done[0] + self.window - now if len(self._in_flight) < self.cap and self._done else POLL
        return None, max(wait, 0.0005), False

    async def release(self, ticket: Ticket) -> None:
        self.release_now(ticket)

    def release_now(self, ticket: Ticket) -> None:
        if ticket.member in self._in_flight:
            self._in_flight.discard(ticket.member)
            self._done.append(self.clock())

    async def note(self, n: int = 1) -> None:
        now = self.clock()
        self._purge(now)  # replies may come for hours without a notification to purge them
        self._done.extend([now] * n)

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock() + seconds)


# Redis keeps the window as a sorted set: member = one place, score = the time it stops counting
# minus the window (its answer time; now + IN_FLIGHT_HOLD while in flight). All times are Redis's.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""
_ACQUIRE = (
    _NOW
    + """
local window, cap, hold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return {0, tostring(paused / 1000), 1} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < cap then
  redis.call('ZADD', KEYS[1], now + hold, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil((hold + window) * 1000))
  return {1, '0', 0}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(first[2]) + window - now), 0}
"""
)
_RELEASE = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
return 1
"""
)
_NOTE = (
    _NOW
    + """
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"""
)


class RedisCeiling(Ceiling):
    """The ceiling shared through Redis by every process of one bot (see the module docstring)."""

    RETRY_REDIS_AFTER = 10.0

    def __init__(
        self, url: str, rate: float, bot_key: str, *, prefix: str = "swbot", window: float = WINDOW, client: Any = None
    ) -> None:
        super().__init__(rate)
        import redis.asyncio as aioredis

        self.window = window
        self.redis = (
            client
            if client is not None
            else aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30)
        )
        self.key = f"{prefix}:{bot_key}:sends"
        self.pause_key = f"{prefix}:{bot_key}:paused"
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._release = self.redis.register_script(_RELEASE)
        self._note = self.redis.register_script(_NOTE)
        self.fallback = LocalCeiling(rate, window=window)
        self._down_until = 0.0  # while Redis is unreachable: use the fallback until then
        self._lock = asyncio.Lock()

    def _redis_failed(self, exc: Exception) -> None:
        if time.monotonic() >= self._down_until:
            log.warning(
                "send ceiling: Redis unavailable (%s); this process keeps its own ceiling for %.0f s",
                type(exc).__name__,
                self.RETRY_REDIS_AFTER,
            )
        self._down_until = time.monotonic() + self.RETRY_REDIS_AFTER

    def _use_fallback(self) -> bool:
        return time.monotonic() < self._down_until

    async def acquire(self, stopping: asyncio.Event | None = None, *, max_pause: float = math.inf) -> Ticket | None:
        async with self._lock:  # FIFO among this process's senders; the script is atomic across them
            return await super().acquire(stopping, max_pause=max_pause)

    async def _try_acquire(self) -> tuple[Ticket | None, float, bool]:
        if not self._use_fallback():
            member = secrets.token_hex(8)
            try:
                granted, wait, paused = await self._acquire(
                    keys=[self.key, self.pause_key], args=[self.window, self.cap, IN_FLIGHT_HOLD, member]
                )
            except Exception as exc:  # connection refused, timeout, Redis restarting …
                self._redis_failed(exc)
            else:
                if int(granted):
                    return Ticket(member, local=False), 0.0, False
                seconds = float(wait)
                # A place in flight elsewhere reports back when its answer comes: look again soon.
                return None, min(max(seconds, 0.0005), 0.05) if not int(paused) else seconds, bool(int(paused))
        return self.fallback.try_acquire_now()

    async def release(self, ticket: Ticket) -> None:
        if ticket.local:
            self.fallback.release_now(ticket)
            return
        try:
            await self._release(keys=[self.key], args=[ticket.member])
        except Exception as exc:  # it stops counting after IN_FLIGHT_HOLD anyway
            self._redis_failed(exc)

    async def note(self, n: int = 1) -> None:
        if self._use_fallback():
            await self.fallback.note(n)
            return
        try:
            ttl = math.ceil((IN_FLIGHT_HOLD + self.window) * 1000)
            await self._note(keys=[self.key], args=[ttl, *(secrets.token_hex(8) for _ in range(n))])
        except Exception as exc:
            self._redis_failed(exc)
            await self.fallback.note(n)

    async def pause(self, seconds: float) -> None:
        await self.fallback.pause(seconds)
        try:
            # Only ever lengthen a pause another process set.
            current = await self.redis.pttl(self.pause_key)
            ms = max(1, math.ceil(seconds * 1000))
            if current is None or current < ms:
                await self.redis.set(self.pause_key, b"1", px=ms)
        except Exception as exc:
            self._redis_failed(exc)

    async def close(self) -> None:
        try:
            await self.redis.aclose()
        except Exception as exc:  # closing a broken connection: nothing left to do
            log.debug("send ceiling: closing Redis failed (%s)", type(exc).__name__)


def make_ceiling(rate: float, redis_url: str | None, bot_key: str) -> Ceiling:
    """The shared ceiling when a Redis URL is configured, else this process's own."""
    if redis_url:
        return RedisCeiling(redis_url, rate, bot_key)
    return LocalCeiling(rate)


def bot_key(token: str) -> str:
    """The bot's id (the token's part before the colon): the ceiling is per bot, never the secret."""
    return token.split(":", 1)[0]
