"""Receipts that ask the buyer to act, status pushes and "quota is back", end to end: CEB messages
ingested → outbox → notifier with the real views → the Bot API stand-in's chat."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot import callbacks as cb
from bot.domain import receipts
from bot.domain.notices import NoticeKind
from bot.i18n import get_translator
from bot.notices_render import render_notice
from bot.sandbox.core import BotApiCore
from storage.accounts import import_accounts
from storage.bindings import new_tag
from storage.db import Database
from storage.ingest import ACCEPTED
from storage.models import Binding, Inventory, TgUser
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support.notifier import in_process_bot, make_notifier, open_chats, rows_by_id, sends
from tests.support.storage import (
    OVER_LIMIT_INFO,
    PHONE_INFO,
    VERIFY_INFO,
    ListSpec,
    accounts_csv,
    bind,
    ceb621,
    ceb622,
    ceb623,
    ceb624,
    ingest_all,
    ingestor,
    person,
)

BUYER, OTHER = person(21), person(22)
USER, OTHER_USER = 8101, 8102
T0 = dt.datetime(2026, 3, 2, 9, 30, 0)
SIGNED = ListSpec("act-e2e", BUYER, app_time=T0, guid="CEB621_HNZB_FXJK_20260302093000_0042", signed=True)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def buttons(params: dict) -> list[tuple[str, tuple[str, cb.State]]]:
    markup = params.get("reply_markup") or {}
    return [(b["text"], cb.decode(b["callback_data"])) for row in markup.get("inline_keyboard", []) for b in row]


@pytest.fixture
def core() -> BotApiCore:
    c = BotApiCore()
    open_chats(c, [USER, OTHER_USER])
    return c


async def _setup(db: Database, vault: Vault, *, lang: str = "en", **settings: bool) -> str:
    await import_accounts(db, vault, accounts_csv([BUYER, OTHER]))
    await bind(db, BUYER.account_id, USER, **settings)
    await bind(db, OTHER.account_id, OTHER_USER)
    async with db.write() as s:
        for tg in (USER, OTHER_USER):
            (await s.get(TgUser, tg)).language = lang
            binding = (await s.execute(select(Binding).where(Binding.telegram_user_id == tg))).scalar_one()
            binding.tag = new_tag()  # the kind buttons carry (the storage helper's are longer)
        return (await s.execute(select(Binding.tag).where(Binding.telegram_user_id == USER))).scalar_one()


async def _drain(db: Database, vault: Vault, core: BotApiCore) -> None:
    async with in_process_bot(core) as bot:
        n = make_notifier(db, vault, bot, render=render_notice)  # the real renderer
        while await n.drain_once():
            pass


async def _ingest(db: Database, vault: Vault, quarantine: Quarantine, *messages: bytes) -> None:
    results = await ingest_all(ingestor(db, vault, quarantine), messages)
    assert [r.status for r in results] == [ACCEPTED] * len(messages), [r.reason for r in results]


async def _list_id(db: Database) -> int:
    async with db.read() as s:
        return (await s.execute(select(Inventory.id))).scalar_one()


async def test_verify_suspension_reaches_the_right_chat_with_the_deadline(
    db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore
) -> None:
    tag = await _setup(db, vault)
    suspended = at(3)
    await _ingest(db, vault, quarantine, ceb621(SIGNED), ceb622("v", 600, suspended, pre=SIGNED.pre, info=VERIFY_INFO))
    await _drain(db, vault, core)
    assert sends(core, OTHER_USER) == []
    [call] = sends(core, USER)
    text = call.params["text"]
    deadline = get_translator("en").date(receipts.verify_deadline(suspended))
    assert deadline in text  # "Mar 17, 2026"
    for fragment in ("Action needed: confirm this purchase", "掌上海关", "跨境电商个人交易确认", "12360", "010-95198"):
        assert fragment in text
    assert SIGNED.order in text
    assert call.params["protect_content"] is True
    list_id = await _list_id(db)
    states = [state for _, state in buttons(call.params)]
    assert (tag, cb.ClearanceDetail(list_id)) in states  # a button to the list
    assert (tag, cb.Suspicious(list_id, cb.NOT_ME)) in states
    assert {r.status for r in (await rows_by_id(db)).values()} == {"sent"}


async def test_verify_notice_in_chinese(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore
) -> None:
    await _setup(sqlite_db, vault, lang="zh_CN")
    await _ingest(
        sqlite_db, vault, quarantine, ceb621(SIGNED), ceb622("v", 600, at(3), pre=SIGNED.pre, info=VERIFY_INFO)
    )
    await _drain(sqlite_db, vault, core)
    [call] = sends(core, USER)
    assert "需要您操作" in call.params["text"]
    assert "2026年3月17日" in call.params["text"]


async def test_over_limit_refusal_with_the_totals(
    db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore
) -> None:
    await _setup(db, vault)
    await _ingest(db, vault, quarantine, ceb621(SIGNED), ceb622("l", 100, at(3), pre=SIGNED.pre, info=OVER_LIMIT_INFO))
    await _drain(db, vault, core)
    [call] = sends(core, USER)
    text = call.params["text"]
    assert "over the annual limit" in text
    assert "CN¥26,114.44" in text and "CN¥26,000.00" in text


async def test_phone_mismatch_refusal(db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore) -> None:
    await _setup(db, vault)
    await _ingest(db, vault, quarantine, ceb621(SIGNED), ceb622("m", 100, at(3), pre=SIGNED.pre, info=PHONE_INFO))
    await _drain(db, vault, core)
    [call] = sends(core, USER)
    assert "phone number does not match" in call.params["text"]
    assert "seller must correct" in call.params["text"]


async def test_action_switched_off_in_settings_sends_only_the_refusal(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore
) -> None:
    await _setup(sqlite_db, vault, notify_over_limit=False)
    await _ingest(
        sqlite_db, vault, quarantine, ceb621(SIGNED), ceb622("l", 100, at(3), pre=SIGNED.pre, info=OVER_LIMIT_INFO)
    )
    await _drain(sqlite_db, vault, core)
    [call] = sends(core, USER)
    assert "Refused by customs" in call.params["text"]
    assert "订购人购买超过年度限额" in call.params["text"]  # the reason, from the receipt


async def test_a_burst_of_receipts_is_one_released_notice(
    db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore
) -> None:
    await _setup(db, vault)
    burst = [ceb622(f"b{s}", s, at(1 + i), pre=SIGNED.pre) for i, s in enumerate((2, 120, 399, 800, 899))]
    await _ingest(db, vault, quarantine, ceb621(SIGNED), *burst)
    await _drain(db, vault, core)
    [call] = sends(core, USER)
    assert "Cleared customs" in call.params["text"]


async def test_a_suspension_overtaken_by_the_release_is_not_sent(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore
) -> None:
    await _setup(sqlite_db, vault)
    await _ingest(
        sqlite_db, vault, quarantine, ceb621(SIGNED), ceb622("v", 600, at(3), pre=SIGNED.pre, info=VERIFY_INFO),
        ceb622("r", 800, at(40), pre=SIGNED.pre),
    )
    await _drain(sqlite_db, vault, core)
    [call] = sends(core, USER)
    assert "Cleared customs" in call.params["text"]
    kinds = {r.kind: r.status for r in (await rows_by_id(sqlite_db)).values()}
    assert kinds == {NoticeKind.VERIFY: "cancelled", NoticeKind.LIST_STATUS: "sent"}


async def test_cancellation_gives_the_quota_back_and_says_so(
    db: Database, vault: Vault, quarantine: Quarantine, core: BotApiCore
) -> None:
    await _setup(db, vault)
    await _ingest(
        db, vault, quarantine, ceb621(SIGNED), ceb622("a", 399, at(2), pre=SIGNED.pre, invt=SIGNED.invt),
        ceb623(SIGNED, at(30)), ceb624(SIGNED, 399, at(60)),
    )
    await _drain(db, vault, core)
    [call] = sends(core, USER)
    text = call.params["text"]
    assert "CN¥609.00 of your 2026 quota is back" in text
    assert "cancellation" in text
    assert "CN¥26,000.00" in text  # available again: the whole limit
    list_id = await _list_id(db)
    assert (cb.ClearanceDetail(list_id)) in [state for _, (_, state) in buttons(call.params)]
