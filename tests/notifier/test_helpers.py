"""The notifier tests' own helpers (tests/support/notifier.py) do what the tests assume."""

from __future__ import annotations

from bot.sandbox.core import BotApiCore
from storage import outbox
from storage.db import Database
from storage.vault import Vault
from tests.support.notifier import add_rows, in_process_bot, open_chats, seed_binding, sends


async def test_seeded_rows_are_due_and_claimable(sqlite_db: Database) -> None:
    b = await seed_binding(sqlite_db, 501)
    ids = await add_rows(sqlite_db, b, 3)
    async with sqlite_db.write() as s:
        claimed = await outbox.claim_due(s, "w", 10, 30)
    assert [r.id for r in claimed] == ids


async def test_open_chats_lets_the_bot_write(vault: Vault) -> None:
    core = BotApiCore()
    open_chats(core, [7])
    async with in_process_bot(core) as bot:
        await bot.send_message(7, "hi")
    assert len(sends(core, 7)) == 1
