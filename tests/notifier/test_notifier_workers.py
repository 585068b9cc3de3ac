"""Several notifiers (as several `swbot run` instances: own engine, own bot) draining one outbox.

On PostgreSQL the claim is FOR UPDATE SKIP LOCKED; on SQLite a compare-and-set inside BEGIN
IMMEDIATE. Either way no row may be sent twice, and a worker that dies mid-batch loses nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.core import BotApiCore
from storage import outbox
from storage.db import Database
from storage.vault import Vault
from tests.support.notifier import (
    add_rows,
    in_process_bot,
    make_notifier,
    open_chats,
    seed_binding,
    sends,
    sends_per_key,
    sibling_db,
    statuses,
)

ROWS = 300


async def _seed(db: Database, core: BotApiCore, chats: int, per_chat: int) -> set[str]:
    users = list(range(30_000, 30_000 + chats))
    open_chats(core, users)
    keys = set()
    for uid in users:
        b = await seed_binding(db, uid)
        await add_rows(db, b, per_chat)
        keys.update(f"ev:{b}:{i}" for i in range(per_chat))
    return keys


async def _until_all_sent(db: Database, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (await statuses(db)).get("sent", 0) < total:
        assert time.monotonic() < deadline, await statuses(db)
        await asyncio.sleep(0.05)


async def test_three_workers_send_every_row_exactly_once(db: Database, vault: Vault) -> None:
    core = BotApiCore()
    keys = await _seed(db, core, chats=60, per_chat=ROWS // 60)
    engines = [await sibling_db(db) for _ in range(3)]
    bots = [in_process_bot(core) for _ in engines]
    workers = [
        make_notifier(d, vault, bot, worker_id=f"w{i}", batch_size=10, rate=2000)
        for i, (d, bot) in enumerate(zip(engines, bots, strict=True))
    ]
    try:
        for w in workers:
            await w.start()
        await _until_all_sent(db, ROWS, timeout=30)
    finally:
        for w in workers:
            await w.stop()
        for bot in bots:
            await bot.shutdown()
        for d in engines:
            await d.dispose()
    counts = sends_per_key(core)
    assert set(counts) == keys
    assert set(counts.values()) == {1}  # no row twice
    assert len(sends(core)) == ROWS
    assert sum(1 for w in workers if w.sent) >= 2  # the work really was shared
    assert sum(w.sent for w in workers) == ROWS


async def test_a_worker_that_dies_mid_batch_loses_nothing(db: Database, vault: Vault) -> None:
    core = BotApiCore()
    keys = await _seed(db, core, chats=60, per_chat=2)
    total = len(keys)
    engines = [await sibling_db(db) for _ in range(2)]
    bots = [in_process_bot(core) for _ in engines]
    doomed, survivor = (
        make_notifier(d, vault, bot, worker_id=f"w{i}", batch_size=40, rate=200, lease_seconds=0.5)
        for i, (d, bot) in enumerate(zip(engines, bots, strict=True))
    )
    try:
        await doomed.start()
        while len(sends(core)) < 20:
            await asyncio.sleep(0.005)

        # Crash: nothing more is written by this worker, not even what it already sent.
        async def dead() -> None:
            return None

        doomed._flush = dead  # type: ignore[method-assign]
        # It dies while its sends wait on Telegram (which took them), not inside a database call:
        # in this one process, a task cancelled in the middle of SQLAlchemy's connection checkout
        # can leave an SQLite connection behind holding the write lock (≈ 1 run in 10), where a
        # dead process's connections die with it.
        core.slow("sendMessage", 60.0)
        await asyncio.sleep(0.3)
        assert doomed._task is not None
        doomed._task.cancel()
        await asyncio.gather(doomed._task, return_exceptions=True)
        if doomed._flusher is not None:  # a write already under way when it died still lands
            await asyncio.gather(doomed._flusher, return_exceptions=True)
        # A dead process holds no database lock: its connections go with it. (Cancelled mid-
        # transaction, its SQLite connection would otherwise keep the write lock in this process.)
        await engines[0].dispose()
        # Accepted by Telegram but never recorded: these, and only these, will come twice.
        unrecorded = len(sends(core)) - (await statuses(db)).get("sent", 0)
        core.clear_faults()  # Telegram answers at once again
        await survivor.start()
        await _until_all_sent(db, total, timeout=30)
    finally:
        await survivor.stop()
        for bot in bots:
            await bot.shutdown()
        for d in engines:
            await d.dispose()
    counts = sends_per_key(core)
    assert set(counts) == keys  # nothing lost
    assert sum(counts.values()) - total == unrecorded
    assert unrecorded <= doomed.flush_every + doomed.max_in_flight  # outcomes are written in small batches


async def test_a_send_taken_while_outcomes_are_written_is_written_right_after(
    db: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A send that Telegram took while the outcomes before it were being written is written as
    soon as that write ends, not when some later outcome or the end of the batch comes along:
    until then a crash would send it again. (Behind nginx a SIGKILL at such a moment, with the
    batch's other sends held up, once notified a person twice.)"""
    from bot.notifier import _Outcome

    core = BotApiCore()
    bot = in_process_bot(core)
    worker = make_notifier(db, vault, bot, worker_id="w0")
    written: list[list[int]] = []
    gate = asyncio.Event()
    real = outbox.mark_sent_many

    async def slow_first(session: AsyncSession, worker_id: str, sent: list[tuple[int, int | None]]) -> int:
        written.append([row_id for row_id, _ in sent])
        if len(written) == 1:
            await gate.wait()  # the first write takes a while …
        return await real(session, worker_id, sent)

    monkeypatch.setattr(outbox, "mark_sent_many", slow_first)
    row: Any = None  # (an outcome decided already does not look at its row)
    try:
        await worker._deliver(row, _Outcome(1, "sent", tg_message_id=101))
        while not written:
            await asyncio.sleep(0.005)
        await worker._deliver(row, _Outcome(2, "sent", tg_message_id=102))  # … and this one comes in
        gate.set()
        assert worker._flusher is not None
        await asyncio.wait_for(worker._flusher, 10)  # nothing else comes, no batch ends
        assert written == [[1], [2]]
        assert worker._outcomes == []
    finally:
        gate.set()
        await bot.shutdown()
