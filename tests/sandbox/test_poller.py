"""bot.polling's Poller on a real Application against the stand-in: each batch is spooled before
Telegram may forget it, a slow update holds back no other, what a dead process left in the spool
is handled at the next start (and a copy Telegram sends again is not), failures are retried."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from bot.polling import Poller, Spool
from bot.sandbox.core import BotApiCore
from storage.vault import Keys, Vault
from tests.support.harness import start_harness, stop_harness

VAULT = Vault(Keys.derive(b"poller-test-master-secret-0123456789-abcdef"))


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def replies(core: BotApiCore, chat: int) -> int:
    return len([c for c in core.calls("sendMessage") if c.ok and c.params.get("chat_id") == chat])


@asynccontextmanager
async def polling(tmp_path: Path, core: BotApiCore, spool: Spool | None = None) -> AsyncIterator[Poller]:
    """A poller on a started Application, polling until the block ends, then drained."""
    h = await start_harness(tmp_path, core)
    await h.app.start()
    poller = Poller(h.app, spool or Spool(tmp_path / "spool", VAULT))
    poller.resume()
    stop = asyncio.Event()
    task = asyncio.create_task(poller.poll(stop))
    try:
        yield poller
    finally:
        stop.set()
        await task
        await poller.drain(5)
        poller.spool.close()
        await h.app.stop()
        await stop_harness(h)


async def test_a_slow_update_holds_back_no_other_and_is_spooled_until_done(tmp_path: Path) -> None:
    core = BotApiCore()
    for user in (1, 2):
        core.add_user(user, f"U{user}", language_code="en")
    async with polling(tmp_path, core) as poller:
        core.slow("sendMessage", 1.5, times=1)  # the first answer comes back late: its update stays in hand
        slow = core.user_message(1, "/help")
        assert slow is not None
        await wait_until(lambda: slow["update_id"] in poller.in_hand and replies(core, 1) == 1)
        assert slow["update_id"] in poller.spool.pending
        seq = core.call_seq()
        quick = core.user_message(2, "/help")
        assert quick is not None
        await wait_until(lambda: replies(core, 2) == 1)
        assert slow["update_id"] in poller.in_hand  # the other user did not wait for it
        # Spooled, so Telegram may forget it: the polls went on past it.
        polls = [c for c in core.calls_since(seq) if c.method == "getUpdates"]
        assert polls and all(c.params.get("offset", 0) > slow["update_id"] for c in polls)
        await wait_until(lambda: not poller.in_hand)
        assert poller.spool.pending == {}
        assert (replies(core, 1), replies(core, 2), poller.handled) == (1, 1, 2)
    assert core.calls("getUpdates")[-1].params.get("offset") == quick["update_id"] + 1
    assert (tmp_path / "spool").stat().st_size == 0  # nothing left to do: emptied at the stop


async def test_what_a_dead_process_left_is_handled_first_and_not_twice(tmp_path: Path) -> None:
    core = BotApiCore()
    core.add_user(4, "U4", language_code="en")
    done = core.user_message(4, "/help", enqueue=False)  # handled by the dead process
    left = core.user_message(4, "/help")  # taken, not finished; Telegram still has it (not acknowledged)
    assert done is not None and left is not None
    spool = Spool(tmp_path / "spool", VAULT)
    spool.taken([done, left])
    spool.done(done["update_id"])
    spool.close()
    async with polling(tmp_path, core, Spool(tmp_path / "spool", VAULT)) as poller:
        await wait_until(lambda: replies(core, 4) == 1)
        await wait_until(lambda: bool(core.calls("getUpdates")))
        await asyncio.sleep(0.3)
        assert replies(core, 4) == 1 and poller.handled == 1  # the copy Telegram sent again was not handled


def test_the_spool_survives_the_process(tmp_path: Path) -> None:
    path = tmp_path / "data" / "update-spool"
    spool = Spool(path, VAULT)
    spool.taken([{"update_id": 7, "message": {"text": "一"}}, {"update_id": 8}])
    spool.done(7)
    spool.close()
    with path.open("ab") as f:  # a record cut short by a crash
        f.write(b"T\x00\x00")
    assert b"\xe4\xb8\x80" not in path.read_bytes()  # the text (一) is not on disk in the clear
    again = Spool(path, VAULT)
    assert again.pending == {8: {"update_id": 8}} and again.known == {7, 8}
    again.done(8)
    again.close()  # nothing left: emptied
    assert path.stat().st_size == 0 and Spool(path, VAULT).pending == {}
    other = Spool(path, Vault(Keys.derive(b"another-master-secret-0123456789-abcdefgh")))
    other.taken([{"update_id": 9}])
    other.close()
    assert Spool(path, VAULT).pending == {}  # under another key it cannot be read: skipped, not a crash


async def test_polling_goes_on_after_the_bot_api_failed(tmp_path: Path) -> None:
    core = BotApiCore()
    core.fail_next("getUpdates", error_code=502)
    core.fail_next("getUpdates", error_code=409, description="Conflict: terminated by other getUpdates request")
    core.add_user(3, "U3", language_code="en")
    async with polling(tmp_path, core):
        update = core.user_message(3, "/help")
        assert update is not None
        await wait_until(lambda: replies(core, 3) == 1, timeout=30)
        failed = [c for c in core.calls("getUpdates") if not c.ok]
        assert [c.error_code for c in failed] == [502, 409]  # then again after 1 s and 2 s
