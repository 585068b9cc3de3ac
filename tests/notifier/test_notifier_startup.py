"""The notifier's own bot starts past flood control and network faults (its getMe has no limiter)."""

from __future__ import annotations

import pytest
from telegram.error import BadRequest

from bot.background import initialize_bot
from bot.sandbox.core import BotApiCore
from tests.support.notifier import in_process_bot


async def test_a_429_and_a_502_at_start_up_are_waited_out() -> None:
    core = BotApiCore()
    core.fail_next("getMe", error_code=429, retry_after=1)
    core.fail_next("getMe", error_code=502)
    bot = in_process_bot(core)
    await initialize_bot(bot, budget=10)
    try:
        assert len(core.calls("getMe")) == 3  # refused twice, then answered
        assert bot.username  # initialized: the bot knows who it is
    finally:
        await bot.shutdown()


async def test_flood_control_longer_than_the_budget_fails_start_up() -> None:
    core = BotApiCore()
    core.fail_next("getMe", error_code=429, retry_after=30)
    bot = in_process_bot(core)
    with pytest.raises(TimeoutError):
        await initialize_bot(bot, budget=5)
    assert len(core.calls("getMe")) == 1  # gave up at once: the wait would pass the budget


async def test_a_bad_request_is_not_retried() -> None:
    core = BotApiCore()
    core.fail_next("getMe", error_code=400, times=3)
    bot = in_process_bot(core)
    with pytest.raises(BadRequest):
        await initialize_bot(bot, budget=10)
    assert len(core.calls("getMe")) == 1
