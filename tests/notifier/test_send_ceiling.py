"""The bot-wide send ceiling (bot.ceiling): the window rule in this process, and one ceiling shared
by several processes through Redis, measured where Telegram would measure it (the stand-in)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot.ceiling import LocalCeiling, Paused, RedisCeiling
from bot.sandbox.core import BotApiCore
from bot.sandbox.load import max_in_window
from storage.db import Database
from storage.vault import Vault
from tests.support.notifier import TOKEN, add_rows, make_notifier, open_chats, seed_binding, sends, statuses

REDIS_URL = os.environ.get("SWBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_local_ceiling_counts_a_place_until_a_window_after_its_answer() -> None:
    clock = FakeClock()
    c = LocalCeiling(3, clock=clock)
    tickets = [(await c.acquire()) for _ in range(3)]
    assert all(tickets)
    assert c.try_acquire_now()[0] is None  # three in flight fill the window
    clock.now += 5.0  # in flight for long: still counted, nobody knows when the server saw them
    assert c.try_acquire_now()[0] is None
    await c.release(tickets[0])  # answered now: counts one more window from now
    clock.now += 0.99
    ticket, wait, paused = c.try_acquire_now()
    assert ticket is None and 0 < wait <= 0.011 and not paused
    clock.now += 0.02
    assert c.try_acquire_now()[0] is not None


async def test_replies_use_the_window_first() -> None:
    clock = FakeClock()
    c = LocalCeiling(5, clock=clock)
    await c.note(4)  # four replies just went out
    assert c.try_acquire_now()[0] is not None  # one place left for a notification
    assert c.try_acquire_now()[0] is None
    clock.now += 1.01
    assert c.try_acquire_now()[0] is not None


async def test_a_pause_holds_everyone_and_says_so() -> None:
    c = LocalCeiling(10)
    await c.pause(0.3)
    with pytest.raises(Paused):
        await c.acquire(max_pause=0.1)
    t = time.monotonic()
    assert await c.acquire() is not None
    assert time.monotonic() - t >= 0.25




@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {type(exc).__name__}")
    prefix = f"swbot-test-{uuid.uuid4().hex[:10]}"
    try:
        yield prefix
    finally:
        keys = [k async for k in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_two_processes_share_one_ceiling_through_redis(
    sqlite_db: Database, vault: Vault, server: tuple[BotApiCore, str], redis_prefix: str
) -> None:
    """Two notifiers, each with its own Redis client and its own pacer at the full rate (as two
    `swbot run` instances would be), drain one outbox: together they stay under one ceiling."""
    core, base_url = server
    users = list(range(30_000, 30_120))
    open_chats(core, users)
    for uid in users:
        await add_rows(sqlite_db, await seed_binding(sqlite_db, uid))
    rate = 20.0
    ceilings = [RedisCeiling(REDIS_URL, rate, "123456", prefix=redis_prefix) for _ in range(2)]
    bots = [ExtBot(TOKEN, base_url=base_url, request=HTTPXRequest(connection_pool_size=16)) for _ in range(2)]
    notifiers = [
        make_notifier(sqlite_db, vault, bot, rate=rate, per_chat_interval=1.0, poll_interval=0.05,
                      worker_id=f"w{i}", ceiling=ceiling, batch_size=20)
        for i, (bot, ceiling) in enumerate(zip(bots, ceilings, strict=True))
    ]  # fmt: skip
    try:
        for bot in bots:
            await bot.initialize()
        for n in notifiers:
            await n.start()
        deadline = time.monotonic() + 30
        while len(sends(core)) < len(users) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        for n in notifiers:
            await n.stop()
        for bot in bots:
            await bot.shutdown()
        for c in ceilings:
            await c.close()
    times = [c.at for c in sends(core)]
    assert len(times) == len(users)
    assert all(n.sent > 10 for n in notifiers)  # both really sent
    assert max_in_window(times) <= rate  # one ceiling, not one per process
    assert (len(times) - 1) / (max(times) - min(times)) >= 0.6 * rate  # a ceiling, not a crawl
    assert await statuses(sqlite_db) == {"sent": len(users)}


async def test_redis_down_falls_back_to_this_process(redis_prefix: str) -> None:
    c = RedisCeiling("redis://127.0.0.1:1/0", 2, "123456", prefix=redis_prefix)  # nothing listens there
    try:
        first = await c.acquire()
        second = await c.acquire()
        assert first is not None and second is not None and first.local and second.local
        t = time.monotonic()
        await c.release(first)
        assert await c.acquire() is not None  # the in-process window still holds the rate
        assert time.monotonic() - t >= 0.9
    finally:
        await c.close()


def test_ceiling_settings_are_checked_in_one_line() -> None:
    from bot.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=r"^SWBOT_BROADCAST_RATE: must be at most 30 unless SWBOT_PAID_BROADCAST"):
        load_settings(broadcast_rate=31)
    assert load_settings(broadcast_rate=500, paid_broadcast=True).broadcast_rate == 500
    with pytest.raises(SettingsError, match=r"^SWBOT_BROADCAST_RATE: must be at most 1000$"):
        load_settings(broadcast_rate=1001, paid_broadcast=True)
    with pytest.raises(SettingsError, match=r"^SWBOT_REDIS_URL: must start with redis://"):
        load_settings(redis_url="http://127.0.0.1:6379")
    with pytest.raises(SettingsError, match=r"^SWBOT_USER_RATE:"):
        load_settings(user_rate=0)
    s = load_settings()
    assert (s.redis_url, s.paid_broadcast, s.user_rate, s.broadcast_rate) == (None, False, 8, 25.0)


async def test_paid_broadcast_marks_notifications(sqlite_db: Database, vault: Vault) -> None:
    from tests.support.notifier import in_process_bot

    core = BotApiCore()
    open_chats(core, [40_001])
    await add_rows(sqlite_db, await seed_binding(sqlite_db, 40_001))
    async with in_process_bot(core) as bot:
        n = make_notifier(sqlite_db, vault, bot, rate=100, paid_broadcast=True, ceiling=LocalCeiling(100))
        await n.drain_once()
    [call] = sends(core)
    assert call.params.get("allow_paid_broadcast") is True
    assert await statuses(sqlite_db) == {"sent": 1}


async def test_replies_alone_do_not_pile_up() -> None:
    clock = FakeClock()
    c = LocalCeiling(30, clock=clock)
    for _ in range(10_000):  # hours of replies and no notification
        await c.note()
        clock.now += 0.01
    assert c.used() <= 101
