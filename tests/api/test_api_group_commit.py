"""The operator API's pushes share transactions (group commit), and each is answered only once its
transaction committed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.api import GROUP_COMMIT_KEY, stop_api
from storage.db import Database
from storage.group_commit import GroupCommit
from storage.ingest import ACCEPTED, REJECTED
from storage.models import IngestedMessage, Inventory
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support.api import Api, api_settings, serve
from tests.support.clock import test_clock
from tests.support.ingest import BUYER, ms
from tests.support.storage import ListSpec, ceb621, ceb622, commits_of, ingestor, pre_no

pytestmark = pytest.mark.dates


async def stored_orders(db: Database) -> set[str]:
    async with db.read() as s:
        return set((await s.execute(select(Inventory.order_no))).scalars())


async def test_concurrent_pushes_share_commits_and_are_answered_after_theirs(
    db: Database, vault: Vault, tmp_path: Path
) -> None:
    settings = api_settings(tmp_path, max_message_bytes=64 * 1024)
    runner, port = await serve(db, vault, settings)
    group: GroupCommit = runner.app[GROUP_COMMIT_KEY]
    specs = [ListSpec(f"push{i}", BUYER) for i in range(30)]
    pushes = [(ceb621(spec), spec.order) for spec in specs]
    pushes += [(ceb622(f"push{i}", 800, ms(i), pre=pre_no(f"push{i}")), None) for i in range(10)]
    pushes += [(b"<CEB621Message>not a list", None), (ceb621(specs[0]), None)]  # a bad one, a duplicate
    seen_when_answered: dict[str, bool] = {}
    with commits_of(db) as commits:
        try:
            async with aiohttp.ClientSession() as session:
                api = Api(f"http://127.0.0.1:{port}", session, db, vault, Quarantine(tmp_path, vault, test_clock()))

                async def push(body: bytes, order: str | None) -> tuple[int, dict[str, object]]:
                    status, answer = await api.post("/v1/messages", body)
                    if order is not None and status == 200:
                        seen_when_answered[order] = order in await stored_orders(db)
                    return status, answer

                answers = await asyncio.gather(*(push(body, order) for body, order in pushes))
        finally:
            await stop_api(runner)
    statuses = [(code, answer["status"]) for code, answer in answers]
    assert statuses[:40] == [(200, ACCEPTED)] * 40
    assert statuses[40] == (422, REJECTED)
    assert statuses[41] == (200, "duplicate")
    # every list was in the database the moment its push was answered
    assert seen_when_answered == {spec.order: True for spec in specs}
    # pushes arriving together shared transactions
    assert 1 <= group.batches < len(pushes) // 2
    if db.is_sqlite:
        assert len(commits) == group.batches
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(IngestedMessage))).scalar_one() == 40
        unlinked = select(func.count()).select_from(Inventory).where(Inventory.status.is_(None))
        assert (await s.execute(unlinked)).scalar_one() == 20


async def test_closing_writes_what_was_handed_over(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    group = GroupCommit(ingestor(db, vault, quarantine), source="api", linger=0.05)
    specs = [ListSpec(f"closing{i}", BUYER) for i in range(5)]
    pending = [asyncio.create_task(group.ingest(ceb621(spec))) for spec in specs]
    await asyncio.sleep(0)  # handed over, not yet written (the batch lingers)
    await group.close()
    assert [r.status for r in await asyncio.gather(*pending)] == [ACCEPTED] * 5
    assert await stored_orders(db) == {spec.order for spec in specs}
    assert group.batches == 1
    with pytest.raises(RuntimeError):
        await group.ingest(ceb621(ListSpec("too-late", BUYER)))


async def test_a_caller_that_stops_waiting_does_not_take_its_message_out(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """A client that hangs up: its message still goes in with its batch, as if the answer had been
    lost on the way back (sending it again gives "duplicate")."""
    group = GroupCommit(ingestor(db, vault, quarantine), source="api", linger=0.05)
    spec = ListSpec("hung-up", BUYER)
    waiting = asyncio.create_task(group.ingest(ceb621(spec)))
    await asyncio.sleep(0.01)
    waiting.cancel()
    await group.close()
    assert await stored_orders(db) == {spec.order}


async def test_large_pushes_are_written_a_few_at_a_time(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    """Pushes are taken up to BATCH_BYTES a batch: twelve 2 MB bodies (junk: refused) go in several."""
    group = GroupCommit(ingestor(db, vault, quarantine), source="api", linger=0.05)
    bodies = [b"<x>" + bytes([65 + i]) * (2 * 1024 * 1024) + b"</x>" for i in range(12)]
    results = await asyncio.gather(*(group.ingest(body, name=f"big{i}") for i, body in enumerate(bodies)))
    await group.close()
    assert {r.status for r in results} == {REJECTED}
    assert group.batches >= 3
