"""bot.ratelimiter.SendLimiter on its own: which lane a request takes, what is retried, for how long."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.ceiling import LocalCeiling
from bot.ratelimiter import PRIVATE_PER_SECOND, ChatLimits, SendLimiter
from handlers.throttle import UserThrottle


class Script:
    """A request callback that fails as told, then answers; records when each call happened."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls: list[float] = []

    async def __call__(self, *args: Any, **kw: Any) -> dict[str, Any]:
        self.calls.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)
        return {"ok": True}


async def send(limiter: SendLimiter, script: Script, endpoint: str = "sendMessage", **data: Any) -> Any:
    rl = data.pop("rate_limit_args", None)
    return await limiter.process_request(script, (), {}, endpoint, data, rl)


async def test_replies_are_never_held_by_the_ceiling_but_are_counted() -> None:
    ceiling = LocalCeiling(2)
    limiter = SendLimiter(ceiling)
    t = time.monotonic()
    for chat in range(1, 6):  # five replies to five chats at once: no bulk limit for replies
        await send(limiter, Script(), chat_id=chat, text="x")
    assert time.monotonic() - t < 0.2
    await limiter.shutdown()  # the counting happens off the reply's path
    assert ceiling.used() >= 2  # … and the window is full for notifications


async def test_unsolicited_sends_wait_for_the_ceiling() -> None:
    limiter = SendLimiter(LocalCeiling(1))
    script = Script()
    for chat in (1, 2):
        await send(limiter, script, chat_id=chat, text="moved", rate_limit_args={"unsolicited": True})
    assert script.calls[1] - script.calls[0] >= 0.95


async def test_a_429_pauses_that_chat_only() -> None:
    limiter = SendLimiter(LocalCeiling(30))
    slow = Script(RetryAfter(1))
    other = Script()
    t = time.monotonic()
    slow_task = asyncio.create_task(send(limiter, slow, "editMessageText", chat_id=1, text="a"))
    await asyncio.sleep(0.05)
    await send(limiter, other, "editMessageText", chat_id=2, text="b")
    assert other.calls[0] - t < 0.3  # another chat went through at once
    await slow_task
    assert len(slow.calls) == 2 and slow.calls[1] - slow.calls[0] >= 1.0
    assert limiter.retried == 1


async def test_answers_retry_after_their_own_429_without_a_chat() -> None:
    limiter = SendLimiter(LocalCeiling(30))
    script = Script(RetryAfter(1))
    await send(limiter, script, "answerCallbackQuery", callback_query_id="q1")
    assert len(script.calls) == 2
    assert "q1" in limiter.answered


async def test_5xx_and_timeouts_back_off_then_give_up_within_the_budget() -> None:
    limiter = SendLimiter(LocalCeiling(30), budget=1.0)
    script = Script(NetworkError("Bad Gateway"), TimedOut())
    await send(limiter, script, "editMessageText", chat_id=1, text="x")
    assert len(script.calls) == 3
    hopeless = Script(*[NetworkError("Bad Gateway")] * 50)
    t = time.monotonic()
    with pytest.raises(NetworkError):
        await send(limiter, hopeless, "editMessageText", chat_id=1, text="x")
    assert time.monotonic() - t <= 1.2 and limiter.gave_up == 1


async def test_bad_requests_are_never_retried() -> None:
    limiter = SendLimiter(LocalCeiling(30))
    script = Script(BadRequest("message is not modified"))
    with pytest.raises(BadRequest):
        await send(limiter, script, "editMessageText", chat_id=1, text="x")
    assert len(script.calls) == 1


async def test_per_chat_burst_window() -> None:
    clock = [0.0]
    chats = ChatLimits(clock=lambda: clock[0])
    for _ in range(PRIVATE_PER_SECOND):
        await chats.take(7)
    assert chats.wait_for(7) == pytest.approx(1.0)
    assert chats.wait_for(8) == 0  # other chats are not affected
    assert chats.wait_for(-100) == 0
    for _ in range(20):
        await chats.take(-100)
    assert chats.wait_for(-100) == pytest.approx(60.0)  # groups: 20 a minute


def test_user_throttle_notices_once_then_drops_until_the_cooldown() -> None:
    clock = [0.0]
    throttle = UserThrottle(3, cooldown=5.0, clock=lambda: clock[0])
    verdicts = []
    for _ in range(6):
        verdicts.append(throttle.check(1))
        clock[0] += 0.1
    assert verdicts == ["ok", "ok", "ok", "notice", "drop", "drop"]
    assert throttle.check(2) == "ok"  # someone else is not affected
    clock[0] += 5.0
    assert throttle.check(1) == "ok"
