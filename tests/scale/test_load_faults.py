"""Under load and faults (issue 13), with the real Application polling the stand-in in-process:

- a busy run with 5 % of calls answered 429 and 1 % 502 shows no apology, logs no traceback, earns
  no refusal, and answers every tap exactly once;
- a 429 in one chat delays only that chat: other users' taps are answered as fast as before;
- the per-user throttle: a flooding user gets one "slow down" and nothing processed for a while,
  while another user's latency does not change;
- a database that does not answer gets a kind "temporarily unavailable", not an apology.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.i18n import get_translator
from bot.ratelimiter import REPLY_BUDGET
from bot.sandbox import load
from bot.sandbox.core import BotApiCore
from bot.views import menu as menu_views
from handlers.throttle import THROTTLE_KEY, UserThrottle
from tests.support.clock import test_clock
from tests.support.harness import SECRET, Harness, make_settings, start_harness, stop_harness

FIRST_USER = 5_100_001
EN = get_translator("en")
APOLOGY = menu_views.error_text(EN)
UNAVAILABLE = menu_views.unavailable_text(EN)
SLOW_DOWN = menu_views.slow_down_text(EN)


@dataclass
class Busy:
    h: Harness
    users: list[int]

    @property
    def core(self) -> BotApiCore:
        return self.h.core


async def start_busy(tmp_path: Path, people: int, **settings: object) -> Busy:
    db_url = make_settings(tmp_path).db_url
    clock = test_clock()
    prepared = await load.prepare(db_url, SECRET, tmp_path / "demo", people, seed=3, clock=clock)
    h = await start_harness(tmp_path, clock=clock, chat_pacing=True, **settings)  # as deployed
    await h.app.start()
    assert h.app.updater is not None
    await h.app.updater.start_polling(poll_interval=0.0, timeout=1)
    users = list(range(FIRST_USER, FIRST_USER + people))
    await load.bind_all(h.core, users, prepared.tokens, within=30)
    h.core.clear_calls()
    return Busy(h, users)


async def stop_busy(b: Busy) -> None:
    assert b.h.app.updater is not None
    await b.h.app.updater.stop()
    await b.h.app.stop()
    await stop_harness(b.h)


@pytest.fixture
async def busy(tmp_path: Path) -> AsyncIterator[Busy]:
    b = await start_busy(tmp_path, 12)
    try:
        yield b
    finally:
        await stop_busy(b)


def shown_texts(core: BotApiCore, users: list[int]) -> str:
    return "\n".join(m.text for u in users for m in core.messages(u) if m.from_bot)


def answers(core: BotApiCore, queries: list[str]) -> list[str | None]:
    return [a.text if (a := core.callback_answer(q)) is not None else None for q in queries]


async def test_a_busy_run_with_429s_and_502s_shows_no_apology(busy: Busy, caplog: pytest.LogCaptureFixture) -> None:
    core = busy.core
    caplog.set_level(logging.INFO)
    core.inject_faults(rate_429=0.05, rate_5xx=0.01, retry_after=1, seed=13)
    stats = await load.run_users(core, busy.users, seconds=8, think=0.15, view_timeout=12)
    core.clear_faults()
    injected = [c for c in core.calls() if c.injected]
    assert {c.error_code for c in injected} == {429, 502}  # both kinds really happened
    assert stats.taps >= 150
    # A tap's answer and its edit go out together: a user may see the view while the answer waits
    # out a 429's retry_after (1 s), so the last taps' answers can still be on their way. Each
    # must land within a reply's budget.
    deadline = time.monotonic() + REPLY_BUDGET
    while load.unanswered(core, stats.queries) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert load.unanswered(core, stats.queries) == []
    assert core.refusals() == []  # no tap answered twice, nothing the stand-in refused
    assert stats.no_view == 0  # every tap got its view, faults or not
    assert all(a is None for a in answers(core, stats.queries))  # no alert, no apology
    assert APOLOGY not in shown_texts(core, busy.users)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    limiter = busy.h.app.bot.rate_limiter
    assert limiter is not None and limiter.retried >= len(injected) // 2  # type: ignore[attr-defined]


async def test_a_429_in_one_chat_never_holds_up_other_users(busy: Busy) -> None:
    core = busy.core
    slow, *others = busy.users[:4]
    core.fail_next("editMessageText", error_code=429, retry_after=2, chat_id=slow)
    watch = load.ViewWatch(core, asyncio.get_running_loop())
    try:
        stats = load.LoadStats(started=time.monotonic())
        slow_task = asyncio.create_task(
            load.tap_through(core, watch, slow, stats, until=time.monotonic() + 0.1, think=0, rng=random.Random(1))
        )
        await asyncio.sleep(0.05)
        others_stats = load.LoadStats(started=time.monotonic())
        await asyncio.gather(*(
            load.tap_through(core, watch, u, others_stats, until=time.monotonic() + 2.0, think=0.3,
                             rng=random.Random(u))
            for u in others
        ))  # fmt: skip
        await slow_task
    finally:
        watch.close()
    assert stats.latencies and stats.latencies[0] >= 2.0  # that chat waited out its retry_after
    # The others never wait for it: each view well inside its 2 s (0.5 s was too tight for a
    # loaded CI machine, where one tap took 0.55 s with nothing held up).
    assert others_stats.taps >= 9 and max(others_stats.latencies) < 1.0
    assert load.unanswered(core, stats.queries + others_stats.queries) == []
    assert core.refusals() == []
    assert APOLOGY not in shown_texts(core, busy.users)


async def test_a_flooding_user_is_asked_to_slow_down_and_nobody_else_waits(tmp_path: Path) -> None:
    b = await start_busy(tmp_path, 4, user_rate=5)
    try:
        core = b.core
        flooder, calm = b.users[0], b.users[1]
        rng = random.Random(5)
        watch = load.ViewWatch(core, asyncio.get_running_loop())
        try:
            before = load.LoadStats()
            await load.tap_through(core, watch, calm, before, until=time.monotonic() + 2.5, think=0.3, rng=rng)
            # The flooder: 20 taps within one second, without waiting for anything.
            view = core.last_with_keyboard(flooder)
            assert view is not None
            data = load.next_label(view, 0)[1]["callback_data"]
            edits_before = len([c for c in core.calls("editMessageText") if c.params["chat_id"] == flooder])

            async def flood() -> list[str]:
                ids = []
                for _ in range(20):
                    ids.append(core.user_tap(flooder, flooder, view.message_id, data)["callback_query"]["id"])
                    await asyncio.sleep(0.045)
                return ids

            during = load.LoadStats()
            flood_ids, _ = await asyncio.gather(
                flood(), load.tap_through(core, watch, calm, during, until=time.monotonic() + 2.5, think=0.3, rng=rng)
            )
            await asyncio.sleep(0.3)
        finally:
            watch.close()
        texts = answers(core, flood_ids)
        assert None not in [core.callback_answer(q) for q in flood_ids]  # every tap answered, once
        assert texts.count(SLOW_DOWN) == 1  # one polite notice
        assert core.refusals() == []
        edits = len([c for c in core.calls("editMessageText") if c.params["chat_id"] == flooder]) - edits_before
        assert edits <= 5  # nothing past the limit was processed
        # The calm user's taps: not held up by the flood. The floor is 1 s, under the flooder's 5 s
        # cool-down that anyone made to wait behind it would see: on CI's busy two cores one of a
        # handful of taps once took 0.51 s against 0.15.
        assert during.taps >= 6 and during.no_view == 0
        assert load.percentile(during.latencies, 95) < max(3 * load.percentile(before.latencies, 95), 1.0)
        # After the cool-down the flooder is served again.
        throttle: UserThrottle = b.h.app.bot_data[THROTTLE_KEY]
        throttle._users[flooder].blocked_until = 0.0
        stats = load.LoadStats()
        watch = load.ViewWatch(core, asyncio.get_running_loop())
        try:
            await load.tap_through(core, watch, flooder, stats, until=time.monotonic() + 0.01, think=0.2, rng=rng)
        finally:
            watch.close()
        assert stats.latencies and stats.no_view == 0
    finally:
        await stop_busy(b)


async def test_a_database_that_does_not_answer_gets_a_kind_answer(busy: Busy) -> None:
    core, h = busy.core, busy.h
    user = busy.users[0]
    view = core.last_with_keyboard(user)
    assert view is not None
    await h.db.dispose()
    real = h.db.run_read

    async def down(*args: object, **kw: object) -> object:
        from sqlalchemy.exc import OperationalError

        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    h.db.run_read = down  # type: ignore[method-assign]
    try:
        q = core.user_tap(user, user, view.message_id, load.next_label(view, 0)[1]["callback_data"])
        qid = q["callback_query"]["id"]
        deadline = time.monotonic() + 5
        while core.callback_answer(qid) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        h.db.run_read = real  # type: ignore[method-assign]
    a = core.callback_answer(qid)
    assert a is not None and a.text == UNAVAILABLE and a.show_alert
    # Back: the same tap works again.
    stats = load.LoadStats()
    watch = load.ViewWatch(core, asyncio.get_running_loop())
    try:
        await load.tap_through(core, watch, user, stats, until=time.monotonic() + 0.01, think=0.2, rng=random.Random(2))
    finally:
        watch.close()
    assert stats.latencies and stats.no_view == 0
    assert core.refusals() == []
