"""Helpers for the outbox, notifier and operator API tests (imported by them), and their own checks.

Rows are written the way the rest of the system writes them (an account, a Telegram user, a
binding, outbox rows); the Bot API is the sandbox stand-in, in-process or over HTTP.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import ExtBot

from bot.domain.notices import NoticeKind
from bot.notifier import Notifier
from bot.sandbox.core import BotApiCore
from bot.sandbox.models import Call
from bot.sandbox.request import InProcessRequest
from bot.views.common import Screen
from storage.bindings import new_tag
from storage.db import Database
from storage.models import Account, Binding, Outbox, TgUser
from storage.vault import Vault
from tests.conftest import make_database

TOKEN = "123456:TEST-notifier-token"


async def seed_binding(
    db: Database, tg_id: int, *, active: bool = True, language: str | None = None, **notify: bool
) -> int:
    """An account bound to Telegram user `tg_id` (chat id = user id). Returns the binding id."""
    async with db.write() as s:
        account = Account(
            account_id=f"acct-{tg_id}",
            id_type="1",
            identity_key=secrets.token_bytes(32),
            phone_key=secrets.token_bytes(32),
            name_enc=b"x",
            id_number_enc=b"x",
            phone_enc=b"x",
        )
        s.add(account)
        s.add(TgUser(telegram_user_id=tg_id, language=language))
        await s.flush()
        binding = Binding(
            telegram_user_id=tg_id,
            account_pk=account.id,
            chat_id=tg_id,
            tag=new_tag(),  # as a real binding gets it (6 of 62 characters: no collisions in a test)
            method="link",
            active=active,
            **notify,
        )
        s.add(binding)
        await s.flush()
        return binding.id


async def add_rows(
    db: Database, binding_id: int, n: int = 1, *, kind: str = NoticeKind.TAX_NEW, prefix: str = "ev"
) -> list[int]:
    """`n` pending rows for the binding, due now. Returns their ids in order."""
    async with db.write() as s:
        rows = [
            Outbox(
                dedupe_key=f"{prefix}:{binding_id}:{i}",
                binding_id=binding_id,
                kind=kind,
                payload={},
                status="pending",
                attempts=0,
            )
            for i in range(n)
        ]
        s.add_all(rows)
        await s.flush()
        return [r.id for r in rows]


async def simple_render(session: AsyncSession, vault: Vault, row: Outbox, binding: Binding, lang: str) -> Screen:
    """Stands in for the real views: the text names the row, so sends can be counted per row."""
    return Screen(f"notice <b>{row.dedupe_key}</b> [{lang}]")


def open_chats(core: BotApiCore, user_ids: Iterable[int]) -> None:
    """A bot cannot write first: each user opens the private chat (as with /start)."""
    for uid in user_ids:
        core.add_user(uid, f"U{uid}")
        core.user_message(uid, "/start")
    core.drain_updates()


def in_process_bot(core: BotApiCore, *, read_timeout: float | None = 5.0) -> ExtBot[None]:
    return ExtBot(TOKEN, request=InProcessRequest(core, read_timeout=read_timeout))


def make_notifier(db: Database, vault: Vault, bot: ExtBot[None], **kw: Any) -> Notifier:
    options: dict[str, Any] = {
        "rate": 1000.0,
        "per_chat_interval": 0.0,
        "poll_interval": 0.05,
        "render": simple_render,
        "backoff_base": 0.01,
    }
    options.update(kw)
    return Notifier(db, vault, bot, **options)


def sends(core: BotApiCore, chat_id: int | None = None, *, ok: bool | None = True) -> list[Call]:
    calls = core.calls("sendMessage")
    return [
        c
        for c in calls
        # A refused call records the raw (string) parameters, an accepted one the decoded values.
        if (chat_id is None or str(c.params.get("chat_id")) == str(chat_id)) and (ok is None or c.ok == ok)
    ]


def sends_per_key(core: BotApiCore) -> Counter[str]:
    """Accepted sendMessage calls per outbox dedupe key (from `simple_render`'s text)."""
    counts: Counter[str] = Counter()
    for c in sends(core):
        text = str(c.params.get("text", ""))
        counts[text.split("<b>")[1].split("</b>")[0]] += 1
    return counts


async def rows_by_id(db: Database) -> dict[int, Outbox]:
    async with db.read() as s:
        return {r.id: r for r in (await s.execute(select(Outbox))).scalars()}


async def statuses(db: Database) -> Counter[str]:
    return Counter(r.status for r in (await rows_by_id(db)).values())


async def binding_active(db: Database, binding_id: int) -> bool | None:
    async with db.read() as s:
        b = await s.get(Binding, binding_id)
        return None if b is None else b.active


async def sibling_db(db: Database) -> Database:
    """Another Database (own engine and pool) on the same data: another process, as far as the
    database can tell."""
    if db.is_sqlite:
        return Database(db.url, clock=db.clock)
    async with db.read() as s:
        schema = (await s.execute(text("SELECT current_schema()"))).scalar_one()
    return Database(db.url, clock=db.clock, connect_args={"server_settings": {"search_path": schema}})


@pytest.fixture
async def pg_db(tmp_path: Path) -> AsyncIterator[Database]:
    """PostgreSQL only (skipped with the reason when no server answers at SWBOT_TEST_POSTGRES_URL)."""
    database, cleanup = await make_database("postgres", tmp_path)
    try:
        yield database
    finally:
        await cleanup()  # type: ignore[operator]
