"""bot.polling's Poller on a real Application against the stand-in: an update in hand holds back
the offset (Telegram sends it again) but not the other updates, and is handled once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from bot.polling import WINDOW, HandledJournal, Poller
from bot.sandbox.core import BotApiCore
from tests.support.harness import start_harness, stop_harness


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def replies(core: BotApiCore, chat: int) -> int:
    return len([c for c in core.calls("sendMessage") if c.ok and c.params.get("chat_id") == chat])


async def test_a_slow_update_holds_back_the_offset_not_the_others(tmp_path: Path) -> None:
    core = BotApiCore()
    h = await start_harness(tmp_path, core)
    await h.app.start()
    poller = Poller(h.app, HandledJournal(tmp_path / "handled"))
    stop = asyncio.Event()
    polling = asyncio.create_task(poller.poll(stop))
    try:
        for user in (1, 2):
            core.add_user(user, f"U{user}", language_code="en")
        core.slow("sendMessage", 1.5, times=1)  # the first answer comes back late: its update stays in hand
        slow = core.user_message(1, "/help")
        assert slow is not None
        await wait_until(lambda: slow["update_id"] in poller.in_hand and replies(core, 1) == 1)
        seq = core.call_seq()
        quick = core.user_message(2, "/help")
        assert quick is not None
        await wait_until(lambda: replies(core, 2) == 1)
        assert slow["update_id"] in poller.in_hand  # the other user did not wait for it
        polls = [c for c in core.calls_since(seq) if c.method == "getUpdates"]
        assert polls and all(c.params.get("offset") == slow["update_id"] for c in polls)
        assert any(u["update_id"] == slow["update_id"] for c in polls if c.ok for u in c.result or [])
        await wait_until(lambda: not poller.in_hand)
        await asyncio.sleep(0.3)  # polls that still bring nothing new
        assert (replies(core, 1), replies(core, 2)) == (1, 1)  # each handled once, sent again or not
        assert poller.handled == 2
    finally:
        stop.set()
        await polling
        await poller.drain(5)
        await h.app.stop()
        await stop_harness(h)
    last = core.calls("getUpdates")[-1]
    assert last.params.get("offset") == quick["update_id"] + 1  # both acknowledged at the stop


async def test_polling_goes_on_after_the_bot_api_failed(tmp_path: Path) -> None:
    core = BotApiCore()
    h = await start_harness(tmp_path, core)
    await h.app.start()
    poller = Poller(h.app, HandledJournal(tmp_path / "handled"))
    stop = asyncio.Event()
    core.fail_next("getUpdates", error_code=502)
    core.fail_next("getUpdates", error_code=409, description="Conflict: terminated by other getUpdates request")
    polling = asyncio.create_task(poller.poll(stop))
    try:
        core.add_user(3, "U3", language_code="en")
        update = core.user_message(3, "/help")
        assert update is not None
        await wait_until(lambda: replies(core, 3) == 1, timeout=30)
        failed = [c for c in core.calls("getUpdates") if not c.ok]
        assert [c.error_code for c in failed] == [502, 409]  # then again after 1 s and 2 s
        assert not polling.done()
    finally:
        stop.set()
        await polling
        await poller.drain(5)
        await h.app.stop()
        await stop_harness(h)


def test_the_journal_survives_the_process_and_forgets_what_telegram_did(tmp_path: Path) -> None:
    path = tmp_path / "data" / "handled-updates"
    journal = HandledJournal(path)
    for update_id in (10, 11, 13):
        journal.add(update_id)
    journal.close()
    with path.open("ab") as f:  # a record cut short by a crash
        f.write(b"\x00\x00\x01")
    again = HandledJournal(path)
    assert again.ids == {10, 11, 13} and path.stat().st_size == 24
    again.COMPACT_AT = 3
    again.acknowledged(12)  # Telegram forgot everything below 12
    again.add(14)
    again.close()
    assert HandledJournal(path).ids == {13, 14}
    last = HandledJournal(path)
    last.acknowledged(15)  # all of it: nothing is kept
    last.close()
    assert path.stat().st_size == 0 and HandledJournal(path).ids == set()


async def test_updates_handled_before_a_crash_are_not_handled_again(tmp_path: Path) -> None:
    core = BotApiCore()
    h = await start_harness(tmp_path, core)
    await h.app.start()
    core.add_user(4, "U4", language_code="en")
    done = core.user_message(4, "/help")
    pending = core.user_message(4, "/help")
    assert done is not None and pending is not None
    journal = HandledJournal(tmp_path / "handled")
    journal.add(done["update_id"])  # the process before this one handled it, then died
    poller = Poller(h.app, journal)
    stop = asyncio.Event()
    polling = asyncio.create_task(poller.poll(stop))
    try:
        await wait_until(lambda: replies(core, 4) == 1)
        await asyncio.sleep(0.3)
        assert replies(core, 4) == 1 and poller.handled == 1
        assert pending["update_id"] in journal
    finally:
        stop.set()
        await polling
        await poller.drain(5)
        await h.app.stop()
        await stop_harness(h)


def test_an_update_in_hand_for_too_long_stops_holding_back_the_offset(tmp_path: Path) -> None:
    """Telegram sends 100 updates a call from the offset on: one stuck update must not keep the
    new ones out for ever."""
    poller = Poller(cast(Any, None), HandledJournal(tmp_path / "handled"))
    poller.in_hand = cast(Any, {1000: None, 1050: None})
    poller.newest = 1000 + WINDOW - 1
    assert poller.offset() == 1000  # still within the window
    poller.newest = 1000 + WINDOW
    assert poller.offset() == 1050  # the stuck one is let go, the next one in hand holds
    poller.newest = 1050 + WINDOW
    assert poller.offset() == 1050 + WINDOW + 1
