"""Helpers for the conversation tests (imported by tests/test_conversation_*.py), and checks that
the demo data they rely on really holds the scenarios they need.

The demo database (`bot.demo` accounts + CEB feed, ingested) is built once per test process in
a temporary folder and copied for each test, so every test starts from the same fresh data
without paying for the ingest again. Each test then runs the real Application in-process against
the Bot API stand-in (`tests.support.harness`).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import re
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.demo import AccountExpectation, DemoSummary, generate
from bot.i18n import get_translator
from bot.sandbox.client import SandboxClient
from bot.sandbox.models import MessageView
from storage.accounts import import_accounts
from storage.models import Account, Binding, Inventory, InventoryLine, TaxSlip
from tests.support.clock import test_clock
from tests.support.harness import Harness, start_harness, stop_harness

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)


DEMO_CONSUMERS = 4
DEMO_SEED = 7
HTML_NAME = 'Tom & Jerry <Limited> "Gift" Set'
EXPIRED_EN = "⌛ This button has expired. Send /menu to start again."
EXPIRED_ZH = "⌛ 此按钮已失效。请发送 /menu 重新开始。"

# Shapes of personal data in anything the bot sends or logs (security.md §8 checks 9 and 12).
ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
AMOUNT_RE = re.compile(r"¥\s?[\d,]+\.\d{2}")


@dataclass(frozen=True)
class DemoDB:
    folder: Path  # swbot.db of the ingested demo data
    demo_dir: Path  # accounts.csv, ceb/*.xml
    summary: DemoSummary


def _in_thread(coro_fn: Any) -> Any:
    """Run a coroutine function on its own loop in a fresh thread (callable from inside a loop)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(coro_fn())
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@functools.cache
def demo_db() -> DemoDB:
    root = Path(tempfile.mkdtemp(prefix="swbot-conv-"))
    atexit.register(shutil.rmtree, root, True)
    demo_dir, folder = root / "demo", root / "db"
    folder.mkdir()
    summary = generate(demo_dir, consumers=DEMO_CONSUMERS, seed=DEMO_SEED, today=test_clock().today())

    async def build() -> None:
        h = await start_harness(folder)
        try:
            report = await import_accounts(h.db, h.vault, (demo_dir / "accounts.csv").read_bytes())
            assert report.rejected == 0, report.problems
            await h.ingest_dir(demo_dir / "ceb")
        finally:
            await stop_harness(h)

    _in_thread(build)
    return DemoDB(folder, demo_dir, summary)


def copy_demo_db(target: Path) -> None:
    src = demo_db().folder
    for name in ("swbot.db", "swbot.db-wal", "swbot.db-shm"):
        if (src / name).exists():
            shutil.copy(src / name, target / name)


@pytest.fixture(name="demo")
def demo_fixture() -> DemoDB:
    return demo_db()


@pytest.fixture(name="h")
async def harness_fixture(tmp_path: Path, demo: DemoDB) -> AsyncIterator[Harness]:
    """A running bot on a fresh copy of the demo database."""
    copy_demo_db(tmp_path)
    harness = await start_harness(tmp_path)
    try:
        yield harness
    finally:
        await stop_harness(harness)


# ---------------------------------------------------------------- finding demo accounts


async def account_ids_with_records(h: Harness) -> list[str]:
    """Accounts with at least one list, most tax slips first."""
    async with h.db.read() as s:
        rows = (
            await s.execute(
                select(Account.account_id, func.count(TaxSlip.id))
                .join(TaxSlip, TaxSlip.identity_key == Account.identity_key, isouter=True)
                .group_by(Account.account_id)
                .order_by(func.count(TaxSlip.id).desc(), Account.account_id)
            )
        ).all()
    return [a for a, n in rows if n > 0]


async def account_without_records(h: Harness) -> str:
    async with h.db.read() as s:
        accounts = (await s.execute(select(Account.account_id, Account.identity_key))).all()
        for account_id, key in accounts:
            n = (await s.execute(select(func.count()).where(Inventory.identity_key == key))).scalar_one()
            if n == 0:
                return account_id
    raise AssertionError("the demo data has no idle account")


async def account_with_line(h: Harness, gname: str) -> tuple[str, int]:
    """(account_id, list id) of the list holding a goods line named `gname`."""
    async with h.db.read() as s:
        account_id, list_id = (
            await s.execute(
                select(Account.account_id, Inventory.id)
                .join(Inventory, Inventory.identity_key == Account.identity_key)
                .join(InventoryLine, InventoryLine.inventory_id == Inventory.id)
                .where(InventoryLine.gname == gname)
            )
        ).first()
    return account_id, list_id


async def longest_list(h: Harness) -> tuple[str, int, int]:
    """(account_id, list id, line count) of the list with the most goods lines."""
    async with h.db.read() as s:
        inv_id, n = (
            await s.execute(
                select(InventoryLine.inventory_id, func.count())
                .group_by(InventoryLine.inventory_id)
                .order_by(func.count().desc())
                .limit(1)
            )
        ).one()
        account_id = (
            await s.execute(
                select(Account.account_id)
                .join(Inventory, Inventory.identity_key == Account.identity_key)
                .where(Inventory.id == inv_id)
            )
        ).scalar_one()
    return account_id, inv_id, n


async def identity_key_of(h: Harness, account_id: str) -> bytes:
    async with h.db.read() as s:
        return (await s.execute(select(Account.identity_key).where(Account.account_id == account_id))).scalar_one()


async def binding_of(h: Harness, tg_id: int) -> Binding | None:
    async with h.db.read() as s:
        return (await s.execute(select(Binding).where(Binding.telegram_user_id == tg_id))).scalar_one_or_none()


def who(demo: DemoDB, account_id: str) -> AccountExpectation:
    return demo.summary.expectation(account_id)


# ---------------------------------------------------------------- driving the bot


async def bind_by_link(h: Harness, client: SandboxClient, account_id: str) -> None:
    token = await h.link(account_id)
    await client.send(f"/start {token}")
    assert (await binding_of(h, client.user_id)) is not None, client.visible_text()


def money(amount: Decimal, lang: str = "en") -> str:
    return get_translator(lang).money(amount)


def all_text(client: SandboxClient, since: int = 0) -> str:
    """Every bot message shown in the chat (newer than message id `since`), joined."""
    return "\n".join(m.text for m in client.messages() if m.from_bot and m.message_id > since)


def button_data(view: MessageView | None, label: str) -> str:
    assert view is not None
    for row in view.buttons:
        for b in row:
            if b["text"] == label:
                return str(b["callback_data"])
    raise AssertionError(f"no button {label!r} in {view.labels}")


def screen_dump(client: SandboxClient) -> str:
    """The newest screen as a user sees it: text, then the keyboard rows."""
    view = client.core.last_with_keyboard(client.chat_id) or client.last_message()
    assert view is not None
    rows = [" | ".join(f"[{b['text']}]" for b in row) for row in view.buttons]
    return view.text + "\n" + "\n".join(rows)


def expired_answer(reaction: Any, lang: str = "en") -> bool:
    a = reaction.answer
    return a is not None and a.text == (EXPIRED_EN if lang == "en" else EXPIRED_ZH)
