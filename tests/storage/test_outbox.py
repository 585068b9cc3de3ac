"""storage.outbox claiming and finishing, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from storage import outbox
from storage.db import Database
from storage.models import Outbox
from tests.support.notifier import (  # noqa: F401 (pg_db is a fixture)
    add_rows,
    binding_active,
    pg_db,
    rows_by_id,
    seed_binding,
    sibling_db,
)

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)



async def test_claim_leases_due_rows_once(db: Database) -> None:
    b = await seed_binding(db, 11)
    ids = await add_rows(db, b, 3)
    async with db.write() as s:
        first = await outbox.claim_due(s, "w1", 10, 30)
    async with db.write() as s:
        second = await outbox.claim_due(s, "w2", 10, 30)
    assert [r.id for r in first] == ids
    assert second == []
    rows = await rows_by_id(db)
    for i in ids:
        assert rows[i].status == "sending" and rows[i].lease_owner == "w1"
        assert rows[i].lease_until is not None and rows[i].lease_until > db.clock.now() + timedelta(seconds=25)
        assert rows[i].attempts == 0  # claiming is not an attempt


async def test_claim_respects_limit_due_time_and_inactive_bindings(db: Database) -> None:
    live = await seed_binding(db, 12)
    blocked = await seed_binding(db, 13, active=False)
    ids = await add_rows(db, live, 4)
    blocked_ids = await add_rows(db, blocked, 2)
    async with db.write() as s:
        later = db.clock.now() + timedelta(hours=1)
        await s.execute(update(Outbox).where(Outbox.id == ids[3]).values(next_attempt_at=later))
    async with db.write() as s:
        claimed = await outbox.claim_due(s, "w", 2, 30)
    assert [r.id for r in claimed] == ids[:2]
    async with db.write() as s:
        rest = await outbox.claim_due(s, "w", 10, 30)
    assert [r.id for r in rest] == [ids[2]]  # not the future row, not the inactive binding's rows
    rows = await rows_by_id(db)
    assert all(rows[i].status == "pending" for i in blocked_ids)


async def test_expired_lease_is_taken_over_and_counts_as_an_attempt(db: Database) -> None:
    b = await seed_binding(db, 14)
    [expired, live] = await add_rows(db, b, 2)
    past = db.clock.now() - timedelta(seconds=5)
    async with db.write() as s:
        await s.execute(
            update(Outbox)
            .where(Outbox.id == expired)
            .values(status="sending", lease_owner="crashed", lease_until=past, attempts=1)
        )
        await s.execute(
            update(Outbox)
            .where(Outbox.id == live)
            .values(status="sending", lease_owner="alive", lease_until=db.clock.now() + timedelta(minutes=1))
        )
    async with db.write() as s:
        claimed = await outbox.claim_due(s, "w", 10, 30)
    assert [r.id for r in claimed] == [expired]
    assert claimed[0].lease_owner == "w" and claimed[0].attempts == 2
    # The crashed worker's late outcome no longer lands; the new owner's does.
    async with db.write() as s:
        assert not await outbox.mark_sent(s, expired, "crashed", 1)
        assert await outbox.mark_sent(s, expired, "w", 99)
    row = (await rows_by_id(db))[expired]
    assert (row.status, row.tg_message_id, row.attempts, row.lease_owner) == ("sent", 99, 3, None)
    assert row.sent_at is not None


async def test_reschedule_counts_attempts_only_when_asked(db: Database) -> None:
    b = await seed_binding(db, 15)
    [i] = await add_rows(db, b)
    later = db.clock.now() + timedelta(seconds=30)
    async with db.write() as s:
        await outbox.claim_due(s, "w", 1, 30)
        assert await outbox.reschedule(s, i, "w", later, "429 retry after 30 s", count_attempt=False)
    row = (await rows_by_id(db))[i]
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, "429 retry after 30 s")
    assert row.next_attempt_at == later and row.lease_owner is None
    async with db.write() as s:
        await s.execute(update(Outbox).where(Outbox.id == i).values(next_attempt_at=db.clock.now()))
        await outbox.claim_due(s, "w", 1, 30)
        assert await outbox.reschedule(s, i, "w", later, "timed out", count_attempt=True)
    row = (await rows_by_id(db))[i]
    assert (row.attempts, row.last_error) == (1, "timed out")
    async with db.write() as s:  # not held any more: nothing changes
        assert not await outbox.reschedule(s, i, "w", db.clock.now(), "x", count_attempt=True)
        assert not await outbox.cancel(s, i, "w", "x")


async def test_failed_cancelled_released(db: Database) -> None:
    b = await seed_binding(db, 16)
    a, c, r = await add_rows(db, b, 3)
    async with db.write() as s:
        await outbox.claim_due(s, "w", 10, 30)
        assert await outbox.mark_failed(s, a, "w", "400 Bad Request: chat not found" + "x" * 300)
        assert await outbox.cancel(s, c, "w", "kind switched off")
        assert await outbox.release(s, [r], "w") == 1
        with pytest.raises(ValueError):
            await outbox.mark_failed(s, r, "w", "x", status="sent")
    rows = await rows_by_id(db)
    assert rows[a].status == "failed" and rows[a].last_error.startswith("400 Bad Request")
    assert len(rows[a].last_error) == outbox.ERROR_LEN
    assert (rows[c].status, rows[c].last_error) == ("cancelled", "kind switched off")
    assert (rows[r].status, rows[r].attempts, rows[r].lease_owner) == ("pending", 0, None)


async def test_blocked_deactivates_binding_and_unblock_requeues(db: Database) -> None:
    b = await seed_binding(db, 17)
    other = await seed_binding(db, 18)
    x, y = await add_rows(db, b, 2)
    [z] = await add_rows(db, other, 1)
    async with db.write() as s:
        await outbox.claim_due(s, "w", 1, 30)
        assert await outbox.mark_blocked(s, x, "w", "403 Forbidden: bot was blocked by the user")
    assert await binding_active(db, b) is False
    assert await binding_active(db, other) is True
    async with db.write() as s:  # y stays pending but is not claimed; the other chat is
        assert [r.id for r in await outbox.claim_due(s, "w", 10, 30)] == [z]
    async with db.write() as s:
        assert await outbox.requeue_blocked(s, 17) == 1
    rows = await rows_by_id(db)
    assert (rows[x].status, rows[y].status) == ("pending", "pending")


@pytest.mark.postgres
async def test_concurrent_claims_on_separate_engines_are_disjoint(pg_db: Database) -> None:  # noqa: F811
    db = pg_db
    bindings = [await seed_binding(db, 100 + i) for i in range(10)]
    all_ids = [i for b in bindings for i in await add_rows(db, b, 20)]
    engines = [await sibling_db(db) for _ in range(5)]
    got: dict[str, list[int]] = {}

    async def claimer(n: int, d: Database) -> None:
        mine = got.setdefault(f"w{n}", [])
        while True:
            async with d.write() as s:
                rows = await outbox.claim_due(s, f"w{n}", 7, 30)
            if not rows:
                return
            mine.extend(r.id for r in rows)
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(claimer(n, d) for n, d in enumerate(engines)))
    finally:
        for d in engines:
            await d.dispose()
    claimed = [i for ids in got.values() for i in ids]
    assert sorted(claimed) == sorted(all_ids)  # every row, and none twice
    assert sum(1 for ids in got.values() if ids) > 1  # the work really was shared


async def test_mark_sent_many_only_touches_held_rows(db: Database) -> None:
    b = await seed_binding(db, 19)
    x, y, z = await add_rows(db, b, 3)
    async with db.write() as s:
        await outbox.claim_due(s, "w", 2, 30)  # x and y
        held = await outbox.mark_sent_many(s, "w", [(x, 10), (y, 11), (z, 12)])
        assert await outbox.mark_sent_many(s, "w", []) == 0
    assert held == 2
    rows = await rows_by_id(db)
    assert [(rows[i].status, rows[i].tg_message_id) for i in (x, y, z)] == [
        ("sent", 10),
        ("sent", 11),
        ("pending", None),
    ]
