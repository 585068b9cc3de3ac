"""The notifier through the in-process Bot API stand-in: delivery, re-checks, Telegram's errors,
leases and shutdown."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.error import RetryAfter

import bot.notifier as mod
from bot.domain.notices import NoticeKind
from bot.notifier import Notifier, Pacer
from bot.ratelimiter import retry_after_seconds
from bot.sandbox.core import BotApiCore
from bot.views.common import Screen
from handlers.membership import on_my_chat_member
from storage import outbox
from storage.db import Database
from storage.models import Binding, Outbox
from storage.vault import Vault
from tests.support.notifier import (
    add_rows,
    binding_active,
    in_process_bot,
    make_notifier,
    open_chats,
    rows_by_id,
    seed_binding,
    sends,
    sends_per_key,
    sibling_db,
    simple_render,
    statuses,
)

# PTB itself reads RetryAfter.retry_after when building the exception, which warns.
pytestmark = [pytest.mark.dates, pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")]


@pytest.fixture
def core() -> BotApiCore:
    return BotApiCore()


async def wait_until(cond: Any, timeout: float = 5.0, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = cond()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


# -- delivery -------------------------------------------------------------------------------------------


async def test_row_goes_to_its_chat_once_with_protected_html(db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [21, 22])
    b21 = await seed_binding(db, 21, language="en")
    await seed_binding(db, 22)
    [row_id] = await add_rows(db, b21)
    async with in_process_bot(core) as bot:
        n = make_notifier(db, vault, bot)
        assert await n.drain_once() == 1
        assert await n.drain_once() == 0
    [call] = sends(core)
    assert call.params["chat_id"] == 21
    assert call.params["protect_content"] is True
    assert call.params["parse_mode"] == "HTML"
    assert call.params["text"] == f"notice <b>ev:{b21}:0</b> [en]"  # the recipient's language
    assert sends(core, 22, ok=None) == []
    row = (await rows_by_id(db))[row_id]
    assert (row.status, row.attempts, row.lease_owner) == ("sent", 1, None)
    assert row.tg_message_id == call.result["message_id"]
    assert core.last_message(21).text == f"notice ev:{b21}:0 [en]"


async def test_language_defaults_to_chinese(sqlite_db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [23])
    await add_rows(sqlite_db, await seed_binding(sqlite_db, 23))
    async with in_process_bot(core) as bot:
        await make_notifier(sqlite_db, vault, bot).drain_once()
    assert sends(core)[0].params["text"].endswith("[zh_CN]")


async def test_render_failure_is_retried_not_lost(sqlite_db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [24])
    [row_id] = await add_rows(sqlite_db, await seed_binding(sqlite_db, 24))

    async def broken(*_: Any) -> Screen:
        raise RuntimeError("bug")

    async with in_process_bot(core) as bot:
        await make_notifier(sqlite_db, vault, bot, render=broken, backoff_base=5).drain_once()
    row = (await rows_by_id(sqlite_db))[row_id]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "internal error: RuntimeError")
    assert row.next_attempt_at > sqlite_db.clock.now() + timedelta(seconds=2)
    assert sends(core, ok=None) == []


# -- re-checks before sending ---------------------------------------------------------------------------


async def test_kind_switched_off_is_cancelled(db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [31])
    b = await seed_binding(db, 31, notify_tax=False)
    [tax] = await add_rows(db, b, kind=NoticeKind.TAX_NEW)
    [quota] = await add_rows(db, b, kind=NoticeKind.QUOTA, prefix="q")
    async with in_process_bot(core) as bot:
        n = make_notifier(db, vault, bot)
        await n.drain_once()
        await n.drain_once()
    rows = await rows_by_id(db)
    assert (rows[tax].status, rows[tax].last_error) == ("cancelled", "kind switched off")
    assert rows[quota].status == "sent"
    assert [c.params["text"] for c in sends(core)] == [f"notice <b>q:{b}:0</b> [zh_CN]"]


async def test_changes_between_claim_and_send_are_honoured(db: Database, vault: Vault, core: BotApiCore) -> None:
    """The row for chat 41 is sent first; while it renders, chat 42's binding is deleted, chat 43
    switches the kind off and chat 44 blocks the bot — their rows, claimed in the same batch, must
    not go out."""
    open_chats(core, [41, 42, 43, 44])
    bindings = {uid: await seed_binding(db, uid) for uid in (41, 42, 43, 44)}
    ids = {uid: (await add_rows(db, b))[0] for uid, b in bindings.items()}

    async def meddling(session: AsyncSession, vault: Vault, row: Outbox, binding: Binding, lang: str) -> Screen:
        if binding.chat_id == 41:
            async with db.write() as s:
                await s.execute(delete(Binding).where(Binding.id == bindings[42]))
                await s.execute(update(Binding).where(Binding.id == bindings[43]).values(notify_tax=False))
                await s.execute(update(Binding).where(Binding.id == bindings[44]).values(active=False))
        return await simple_render(session, vault, row, binding, lang)

    async with in_process_bot(core) as bot:
        n = make_notifier(db, vault, bot, render=meddling, max_in_flight=1)
        assert await n.drain_once() == 4
    assert [c.params["chat_id"] for c in sends(core, ok=None)] == [41]
    rows = await rows_by_id(db)
    assert rows[ids[41]].status == "sent"
    assert ids[42] not in rows  # unbinding deletes the binding's notifications
    assert (rows[ids[43]].status, rows[ids[43]].last_error) == ("cancelled", "kind switched off")
    # Blocked meanwhile: kept pending (no attempt), not claimed while inactive, sent after unblocking.
    assert (rows[ids[44]].status, rows[ids[44]].attempts) == ("pending", 0)


async def test_record_gone_is_cancelled(sqlite_db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [45])
    [row_id] = await add_rows(sqlite_db, await seed_binding(sqlite_db, 45))

    async def nothing(*_: Any) -> None:
        return None

    async with in_process_bot(core) as bot:
        await make_notifier(sqlite_db, vault, bot, render=nothing).drain_once()
    row = (await rows_by_id(sqlite_db))[row_id]
    assert (row.status, row.last_error) == ("cancelled", "nothing to notify any more")
    assert sends(core, ok=None) == []


async def test_inactive_binding_waits_and_resumes(db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [46])
    b = await seed_binding(db, 46, active=False)
    [row_id] = await add_rows(db, b)
    async with in_process_bot(core) as bot:
        n = make_notifier(db, vault, bot)
        assert await n.drain_once() == 0
        assert (await rows_by_id(db))[row_id].status == "pending"
        assert sends(core, ok=None) == []
        async with db.write() as s:
            await s.execute(update(Binding).where(Binding.id == b).values(active=True))
        assert await n.drain_once() == 1
    assert len(sends(core, 46)) == 1


# -- Telegram's errors -------------------------------------------------------------------------------------


async def test_retry_after_waits_and_is_not_an_attempt(db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [51, 52])
    [a] = await add_rows(db, await seed_binding(db, 51))
    [b] = await add_rows(db, await seed_binding(db, 52))
    core.fail_next("sendMessage", error_code=429, retry_after=1, chat_id=51)
    async with in_process_bot(core) as bot:
        # A pause longer than 0.5 s hands waiting rows back instead of holding their lease.
        n = make_notifier(db, vault, bot, max_in_flight=1, pause_release_after=0.5)
        before = db.clock.now()
        await n.drain_once()
        rows = await rows_by_id(db)
        assert (rows[a].status, rows[a].attempts) == ("pending", 0)
        assert rows[a].last_error == "429 retry after 1 s"
        assert rows[a].next_attempt_at >= before + timedelta(seconds=1)
        assert (rows[b].status, rows[b].attempts) == ("pending", 0)
        assert await n.drain_once() == 0  # not due yet
        await n.start()
        try:
            await wait_until(lambda: len(sends(core, 51)) == 1, timeout=5)
        finally:
            await n.stop()
    [refused] = sends(core, 51, ok=False)
    [delivered] = sends(core, 51)
    assert refused.error_code == 429
    assert delivered.at - refused.at >= 1.0
    # The whole notifier paused: chat 52's row, behind it in the batch, also waited.
    assert sends(core, 52)[0].at - refused.at >= 1.0
    rows = await rows_by_id(db)
    assert (rows[a].status, rows[a].attempts) == ("sent", 1)  # only the successful try counted
    assert rows[b].status == "sent"


def test_retry_after_as_int_or_timedelta() -> None:
    assert retry_after_seconds(RetryAfter(3)) == 3.0
    assert retry_after_seconds(RetryAfter(timedelta(seconds=1.5))) == 1.5


async def test_interactive_bot_is_not_held_by_the_notifiers_pause(
    sqlite_db: Database, vault: Vault, core: BotApiCore
) -> None:
    open_chats(core, [53, 54])
    await add_rows(sqlite_db, await seed_binding(sqlite_db, 53), 2)
    core.fail_next("sendMessage", error_code=429, retry_after=5, chat_id=53)
    async with in_process_bot(core) as notifier_bot, in_process_bot(core) as app_bot:
        n = make_notifier(sqlite_db, vault, notifier_bot)
        await n.drain_once()
        assert n.pacer.paused_until - time.monotonic() > 4
        started = time.monotonic()
        await app_bot.send_message(54, "answer to a tap")
        assert time.monotonic() - started < 0.5
        # And the notifier's own rows are handed back rather than held through the pause.
        assert await n.drain_once() == 1  # the second row: rescheduled to the pause's end
    rows = list((await rows_by_id(sqlite_db)).values())
    assert [r.status for r in rows] == ["pending", "pending"]
    assert all(r.attempts == 0 and r.next_attempt_at > sqlite_db.clock.now() + timedelta(seconds=3) for r in rows)


async def test_forbidden_blocks_the_binding_only(db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [61, 62])
    b61 = await seed_binding(db, 61)
    first, second = await add_rows(db, b61, 2)
    [other] = await add_rows(db, await seed_binding(db, 62), 1)
    block_update = core.user_block(61, enqueue=False)
    async with in_process_bot(core) as bot:
        n = make_notifier(db, vault, bot)
        for _ in range(4):
            await n.drain_once()
        assert len(sends(core, 61, ok=False)) == 1  # one 403, then nothing more to that chat
        assert sends(core, 61) == []
        assert len(sends(core, 62)) == 1
        rows = await rows_by_id(db)
        assert (rows[first].status, rows[first].last_error) == ("blocked", "403 Forbidden: bot was blocked by the user")
        assert rows[second].status == "pending"
        assert rows[other].status == "sent"
        assert await binding_active(db, b61) is False

        # Telegram's my_chat_member updates drive the binding; unblocking sends what was missed.
        context = SimpleNamespace(db=db)
        await on_my_chat_member(Update.de_json(block_update, bot), context)  # type: ignore[arg-type]
        assert await binding_active(db, b61) is False
        unblock = core.user_unblock(61, enqueue=False)
        await on_my_chat_member(Update.de_json(unblock, bot), context)  # type: ignore[arg-type]
        assert await binding_active(db, b61) is True
        for _ in range(3):
            await n.drain_once()
    assert sorted(c.params["text"] for c in sends(core, 61)) == [
        f"notice <b>ev:{b61}:0</b> [zh_CN]",
        f"notice <b>ev:{b61}:1</b> [zh_CN]",
    ]


async def test_my_chat_member_kicked_deactivates(sqlite_db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [63])
    b = await seed_binding(sqlite_db, 63)
    update_json = core.user_block(63, enqueue=False)
    async with in_process_bot(core) as bot:
        await on_my_chat_member(Update.de_json(update_json, bot), SimpleNamespace(db=sqlite_db))  # type: ignore[arg-type]
    assert await binding_active(sqlite_db, b) is False


async def test_bad_request_fails_without_retry(db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [71])
    [row_id] = await add_rows(db, await seed_binding(db, 71))
    core.fail_next("sendMessage", error_code=400, description="Bad Request: can't parse entities", times=5)
    async with in_process_bot(core) as bot:
        n = make_notifier(db, vault, bot)
        await n.drain_once()
        await n.drain_once()
    assert len(sends(core, ok=None)) == 1
    row = (await rows_by_id(db))[row_id]
    assert (row.status, row.last_error, row.attempts) == ("failed", "400 Can't parse entities", 1)


async def _drain_until_settled(n: Notifier, db: Database, row_id: int, timeout: float = 5.0) -> Outbox:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await n.drain_once()
        row = (await rows_by_id(db))[row_id]
        if row.status not in ("pending", "sending"):
            return row
        await asyncio.sleep(0.01)
    raise AssertionError("row did not settle")


async def test_timeouts_back_off_then_fail(sqlite_db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [72])
    [row_id] = await add_rows(sqlite_db, await seed_binding(sqlite_db, 72))
    core.slow("sendMessage", 0.2)  # the answer comes after the client gave up
    async with in_process_bot(core, read_timeout=0.05) as bot:
        n = make_notifier(sqlite_db, vault, bot, max_attempts=3, backoff_base=0.05)
        before = sqlite_db.clock.now()
        await n.drain_once()
        after = sqlite_db.clock.now()
        row = (await rows_by_id(sqlite_db))[row_id]
        assert (row.status, row.attempts, row.last_error) == ("pending", 1, "timed out")
        # Due again after the timeout (0.05 s) plus a jittered first backoff of 0.025-0.05 s.
        assert before + timedelta(seconds=0.075) <= row.next_attempt_at <= after + timedelta(seconds=0.05)
        row = await _drain_until_settled(n, sqlite_db, row_id)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error == "gave up after 3 attempts: timed out"
    calls = sends(core, ok=None)
    assert len(calls) == 3
    # Exponential: the second gap is longer than the first (base 0.05 s, then 0.1 s, jittered).
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.05 + 0.025 - 0.01 and gaps[1] >= 0.05 + 0.05 - 0.01


async def test_network_errors_back_off_then_fail(db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [73, 74])
    [row_id] = await add_rows(db, await seed_binding(db, 73))
    [fine] = await add_rows(db, await seed_binding(db, 74))
    core.fail_next("sendMessage", error_code=502, times=10, chat_id=73)
    async with in_process_bot(core) as bot:
        n = make_notifier(db, vault, bot, max_attempts=4, backoff_base=0.01)
        row = await _drain_until_settled(n, db, row_id)
    assert (row.status, row.attempts) == ("failed", 4)
    assert row.last_error == "gave up after 4 attempts: network error: Bad Gateway"
    assert len(sends(core, 73, ok=False)) == 4
    assert (await rows_by_id(db))[fine].status == "sent"


# -- leases, restarts, shutdown -----------------------------------------------------------------------


async def test_crashed_workers_rows_are_reclaimed(db: Database, vault: Vault, core: BotApiCore) -> None:
    open_chats(core, [81, 82])
    [stuck] = await add_rows(db, await seed_binding(db, 81))
    ids = await add_rows(db, await seed_binding(db, 82), 3, prefix="claimed")
    async with db.write() as s:  # a worker died holding these: one long ago, three just now
        assert len(await outbox.claim_due(s, "dying", 10, lease_seconds=600)) == 4
        await s.execute(
            update(Outbox)
            .where(Outbox.id == stuck)
            .values(lease_owner="dead", lease_until=db.clock.now() - timedelta(minutes=1))
        )
    async with in_process_bot(core) as bot:
        n = make_notifier(db, vault, bot)
        assert await n.drain_once() == 1  # only the expired lease
        assert len(sends(core, 81)) == 1
        # The other leases run out. Moved back rather than waited for: a short real lease raced a
        # busy machine (CI: the three expired before the first drain and it took them too).
        async with db.write() as s:
            await s.execute(
                update(Outbox)
                .where(Outbox.id.in_(ids))
                .values(lease_until=db.clock.now() - timedelta(seconds=1))
            )
        for _ in range(3):
            await n.drain_once()
    rows = await rows_by_id(db)
    assert all(rows[i].status == "sent" for i in [stuck, *ids])
    assert rows[stuck].attempts == 2  # the lost one and the successful one
    assert all(v == 1 for v in sends_per_key(core).values()) and len(sends_per_key(core)) == 4


async def test_stop_finishes_in_flight_and_releases_the_rest(
    sqlite_db: Database, vault: Vault, core: BotApiCore
) -> None:
    users = list(range(900, 920))
    open_chats(core, users)
    for uid in users:
        await add_rows(sqlite_db, await seed_binding(sqlite_db, uid))
    core.slow("sendMessage", 0.1)
    async with in_process_bot(core) as bot:
        n = make_notifier(sqlite_db, vault, bot, rate=10, max_in_flight=4)
        await n.start()
        await wait_until(lambda: len(sends(core)) >= 3)
        await n.stop()
    sent = sends(core)
    rows = list((await rows_by_id(sqlite_db)).values())
    by_status = {s: [r for r in rows if r.status == s] for s in {r.status for r in rows}}
    assert set(by_status) == {"sent", "pending"}  # nothing left "sending" with a lease
    assert len(by_status["sent"]) == len(sent)  # every send that went out is recorded
    assert all(r.attempts == 0 and r.lease_owner is None for r in by_status["pending"])
    # Restarting picks up where it stopped, without resending.
    async with in_process_bot(core) as bot:
        n = make_notifier(sqlite_db, vault, bot)
        while await n.drain_once():
            pass
    assert sorted(sends_per_key(core).values()) == [1] * 20
    assert await statuses(sqlite_db) == {"sent": 20}


async def test_rows_from_another_writer_are_picked_up_within_two_seconds(
    sqlite_db: Database, vault: Vault, core: BotApiCore
) -> None:
    open_chats(core, [95])
    b = await seed_binding(sqlite_db, 95)
    other_process = await sibling_db(sqlite_db)
    async with in_process_bot(core) as bot:
        n = make_notifier(sqlite_db, vault, bot, poll_interval=1.0)  # the default setting
        await n.start()
        try:
            await asyncio.sleep(0.3)  # the loop is idle, between polls
            written = time.monotonic()
            await add_rows(other_process, b)
            await wait_until(lambda: len(sends(core, 95)) == 1, timeout=3)
            assert sends(core, 95)[0].at - written < 2.0
        finally:
            await n.stop()
            await other_process.dispose()


# -- the pacer on its own ---------------------------------------------------------------------------------


async def test_pacer_window_holds_for_any_rate() -> None:
    stop = asyncio.Event()
    for rate in (0.5, 3, 50):
        clock = [0.0]

        async def fake_sleep(stopping: asyncio.Event, seconds: float, clock: list[float] = clock) -> bool:
            clock[0] += seconds
            return False

        pacer = Pacer(rate, clock=lambda clock=clock: clock[0])
        starts = []
        original = mod._sleep_or_stop
        mod._sleep_or_stop = fake_sleep  # type: ignore[assignment]
        try:
            for _ in range(int(rate * 5) + 3):
                slot = await pacer.acquire(stop)
                assert slot is not None
                starts.append(clock[0])
                clock[0] += 0.004  # the answer takes a little while
                pacer.done(slot)
        finally:
            mod._sleep_or_stop = original  # type: ignore[assignment]
        most = max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts)
        assert most <= max(1, int(rate)), (rate, most)
        span = starts[-1] - starts[0]
        assert (len(starts) - 1) / span >= rate * 0.95  # and not much slower than allowed


async def test_pacer_waits_for_answers_before_reusing_a_window_place() -> None:
    clock = [0.0]
    pacer = Pacer(2, clock=lambda: clock[0])
    stop = asyncio.Event()
    first = await pacer.acquire(stop)
    clock[0] = 0.6
    second = await pacer.acquire(stop)
    assert first is not None and second is not None
    pacer.done(second)
    # Both places in the window are taken and the first is still in flight: however late it is,
    # a third send must wait until the first is answered, and then a window after that answer.
    clock[0] = 5.0
    third = asyncio.create_task(pacer.acquire(stop))
    await asyncio.sleep(0.02)
    assert not third.done()
    pacer.done(first)  # answered at 5.0
    clock[0] = 5.9
    await asyncio.sleep(0.01)
    assert not third.done()
    clock[0] = 6.0
    slot = await asyncio.wait_for(third, 2)
    assert slot is not None and slot.start == 6.0
