"""Real notifications end to end: CEB messages ingested → outbox → notifier with the real views
(bot.notices_render) → the stand-in's chat. Text comes from the database at send time."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from bot import callbacks as cb
from bot.domain.notices import NoticeKind
from bot.notices_render import render_notice
from bot.sandbox.core import BotApiCore
from storage import outbox
from storage.accounts import AccountRow, upsert_account
from storage.bindings import bind, set_language
from storage.db import Database
from storage.ingest import Ingestor
from storage.models import Account, Outbox, TaxSlip
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support import paths
from tests.support.notifier import in_process_bot, make_notifier, open_chats, rows_by_id, sends

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)

SAMPLES = paths.SAMPLES
USER = 4242
BUYER = {"name": "王小明", "id_number": "11010519491231002X", "phone": "13800138000"}


def buttons(call_params: dict) -> list[tuple[str, str]]:
    markup = call_params.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


async def _bound(db: Database, vault: Vault, *, phone: str = BUYER["phone"], lang: str | None = "en") -> str:
    async with db.write() as s:
        await upsert_account(s, vault, AccountRow("acct-1", BUYER["name"], "1", BUYER["id_number"], phone))
        pk = (await s.execute(select(Account.id).where(Account.account_id == "acct-1"))).scalar_one()
        result = await bind(s, USER, USER, pk, "link")
        if lang:
            await set_language(s, USER, lang)
        return result.binding.tag


async def _ingest(db: Database, vault: Vault, quarantine: Quarantine, *names: str) -> None:
    ingestor = Ingestor(db, vault, quarantine, max_bytes=10 * 1024 * 1024)
    for name in names:
        result = await ingestor.ingest((SAMPLES / name).read_bytes())
        assert result.status == "accepted", result


@pytest.fixture
def core() -> BotApiCore:
    c = BotApiCore()
    open_chats(c, [USER])
    return c


async def test_new_tax_slip_and_status_change(
    db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore
) -> None:

    tag = await _bound(db, vault)
    await _ingest(db, vault, quarantine, "ceb621_two_lines.xml", "ceb816_tax.xml")
    async with in_process_bot(core) as bot:
        n = make_notifier(db, vault, bot, render=render_notice)  # the real renderer
        assert await n.drain_once() == 1
        await _ingest(db, vault, quarantine, "ceb818_summarised.xml")
        assert await n.drain_once() == 1
    new, status = sends(core, USER)
    assert "29242020I439440284_0" in new.params["text"]
    assert new.params["protect_content"] is True
    [(label, data)] = buttons(new.params)
    assert "Open tax slip" in label
    slip_id = await _slip_id(db)
    assert cb.decode(data) == (tag, cb.OpenTaxFromNotice(slip_id))
    assert "summarised" in status.params["text"].lower()
    async with db.read() as s:
        ent_duty_no = (await s.execute(select(TaxSlip.ent_duty_no))).scalar_one()
    assert ent_duty_no and ent_duty_no in status.params["text"]
    assert {r.status for r in (await rows_by_id(db)).values()} == {"sent"}


async def test_chinese_is_the_default_language(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore
) -> None:
    await _bound(sqlite_db, vault, lang=None)
    await _ingest(sqlite_db, vault, quarantine, "ceb621_two_lines.xml", "ceb816_tax.xml")
    async with in_process_bot(core) as bot:
        await make_notifier(sqlite_db, vault, bot, render=render_notice).drain_once()
    [call] = sends(core, USER)
    assert "Open tax slip" not in buttons(call.params)[0][0]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in call.params["text"])


async def test_suspicious_declaration_asks_was_this_you(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore
) -> None:
    # The account's phone differs from the buyer phone on the declaration.
    tag = await _bound(sqlite_db, vault, phone="13900139000")
    await _ingest(sqlite_db, vault, quarantine, "ceb621_two_lines.xml")
    async with in_process_bot(core) as bot:
        await make_notifier(sqlite_db, vault, bot, render=render_notice).drain_once()
    [call] = sends(core, USER)
    text = call.params["text"]
    assert "29242020I439440284" in text
    assert BUYER["name"] not in text and "王*" in text  # the holder's name only masked
    states = {cb.decode(data) for _, data in buttons(call.params)}
    async with sqlite_db.read() as s:
        list_id = (await s.execute(select(Outbox.ref_id))).scalar_one()
    assert (tag, cb.Suspicious(list_id, cb.ME)) in states
    assert (tag, cb.Suspicious(list_id, cb.NOT_ME)) in states


async def test_superseded_status_and_vanished_records_are_cancelled(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore
) -> None:
    await _bound(sqlite_db, vault)
    await _ingest(sqlite_db, vault, quarantine, "ceb621_two_lines.xml", "ceb816_tax.xml", "ceb818_summarised.xml")
    async with sqlite_db.write() as s:
        # Voided after the "summarised" row was written: that row's news is stale.
        await s.execute(update(TaxSlip).values(status=3))
        binding_id = (await s.execute(select(Outbox.binding_id))).scalars().first()
        await outbox.enqueue(
            s,
            outbox.Recipient(binding_id, {NoticeKind.QUOTA: True}),
            NoticeKind.QUOTA,
            "quota:2020:80",
            payload={"year": 2020, "threshold": 80},
        )
    async with in_process_bot(core) as bot:
        n = make_notifier(sqlite_db, vault, bot, render=render_notice)
        while await n.drain_once():
            pass
    rows = {r.kind: r for r in (await rows_by_id(sqlite_db)).values()}
    assert rows[NoticeKind.TAX_NEW].status == "sent"
    assert rows[NoticeKind.TAX_STATUS].status == "cancelled"
    assert rows[NoticeKind.QUOTA].status == "cancelled"  # 2020's consumption is far below 80 %
    assert len(sends(core, USER)) == 1


async def _slip_id(db: Database) -> int:
    async with db.read() as s:
        return (await s.execute(select(TaxSlip.id))).scalar_one()
