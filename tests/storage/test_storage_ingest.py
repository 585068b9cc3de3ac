"""storage.ingest: one message = one transaction, order independence, duplicates, rejection into
an encrypted quarantine, atomicity under injected failures, a locked database, and the outbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sqlite3
import threading
from decimal import Decimal
from itertools import permutations
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from bot.domain import cbec
from bot.domain.notices import NoticeKind
from bot.domain.records import TaxFilter
from storage import db as db_module
from storage import ingest as ingest_module
from storage import queries
from storage.accounts import import_accounts
from storage.db import Database
from storage.ingest import ACCEPTED, DUPLICATE, REJECTED
from storage.models import Inventory, Outbox, Receipt, TaxSlip
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support.clock import test_clock
from tests.support.ingest import (
    BUYER,
    KEY,
    OTHER,
    S3,
    T0,
    TAX_AT,
    check_final,
    ms,
    scenario,
)
from tests.support.storage import (
    Line,
    ListSpec,
    TaxLineSpec,
    accounts_csv,
    bind,
    ceb621,
    ceb622,
    ceb816,
    ceb818,
    ingest_all,
    ingestor,
    invt_no,
    people,
    pre_no,
    records_state,
    table_checksums,
    tax_no,
    uid,
    wipe,
)


async def test_scenario_in_arrival_order(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    results = await ingest_all(ingestor(db, vault, quarantine), scenario().values())
    assert [r.status for r in results] == [ACCEPTED] * 7
    await check_final(db, vault)


async def test_final_state_does_not_depend_on_arrival_order(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """Every one of ≥ 60 orders (list first, list last, reversed, and random ones) into a fresh
    (emptied) database ends in the same state, and that state follows the newest-returnTime rule."""
    msgs = scenario()
    names = list(msgs)
    rng = random.Random(20250301)
    orders = [names, names[::-1], names[1:] + names[:1]]
    all_orders = list(permutations(names))
    orders += [list(p) for p in rng.sample(all_orders, 60)]
    ing = ingestor(db, vault, quarantine)
    reference = None
    for order in orders:
        await wipe(db)
        results = await ingest_all(ing, (msgs[n] for n in order))
        assert [r.status for r in results] == [ACCEPTED] * 7, order
        state = await records_state(db)
        await check_final(db, vault)
        if reference is None:
            reference = state
        assert state == reference, order
    assert not quarantine.folder.exists() or not list(quarantine.folder.iterdir())


async def test_receipt_before_list_is_kept_and_joined(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    ing = ingestor(db, vault, quarantine)
    spec = ListSpec("early-receipt", BUYER)
    assert (await ing.ingest(ceb622("er", 800, ms(30), pre=spec.pre))).status == ACCEPTED
    async with db.read() as s:
        receipt = (await s.execute(select(Receipt))).scalar_one()
        assert receipt.inventory_id is None
        assert (await s.execute(select(Inventory))).first() is None
    assert (await ing.ingest(ceb621(spec))).status == ACCEPTED
    async with db.read() as s:
        inv = (await s.execute(select(Inventory))).scalar_one()
        receipt = (await s.execute(select(Receipt))).scalar_one()
        assert receipt.inventory_id == inv.id
        assert (inv.status, inv.status_group, inv.counted) == (800, cbec.RELEASED, True)


async def test_receipt_by_cop_no_and_ebc_code(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    ing = ingestor(db, vault, quarantine)
    spec = ListSpec("cop", BUYER, pre_no=None, invt_no=None, cop_no="COP-1")
    await ing.ingest(ceb621(spec))
    # same copNo at another company: not this list
    await ing.ingest(ceb622("cop-x", 100, ms(1), cop_no="COP-1", ebc_code="9999999999"))
    await ing.ingest(ceb622("cop-y", 120, ms(2), cop_no="COP-1"))
    async with db.read() as s:
        inv = (await s.execute(select(Inventory))).scalar_one()
        assert inv.status == 120
        linked = (await s.execute(select(Receipt.inventory_id).order_by(Receipt.return_time))).scalars().all()
        assert linked == [None, inv.id]


async def test_tax_slip_before_list_is_invisible_until_the_list_arrives(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    ing = ingestor(db, vault, quarantine)
    identity = vault.identity_index("1", BUYER.id_number)
    spec = ListSpec("early-tax", BUYER)
    assert (await ing.ingest(ceb816("early-tax", ms(20)))).status == ACCEPTED
    async with db.read() as s:
        slip = (await s.execute(select(TaxSlip))).scalar_one()
        assert slip.identity_key is None and slip.inventory_id is None
        page = await queries.tax_slips(s, identity, TaxFilter(), 0)
        assert page.total == 0 and page.items == ()
        assert await queries.tax_slip_detail(s, identity, slip.id) is None
    assert (await ing.ingest(ceb621(spec))).status == ACCEPTED
    async with db.read() as s:
        page = await queries.tax_slips(s, identity, TaxFilter(), 0)
        assert [r.tax_no for r in page.items] == [tax_no("early-tax")]
        detail = await queries.tax_slip_detail(s, identity, page.items[0].id)
        assert detail is not None
        assert detail.order_no == spec.order
        assert [ln.qty for ln in detail.lines] == [Decimal(2), Decimal(1)]


async def test_tax_slip_joined_when_a_receipt_brings_the_list_number(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """List without invtNo, tax slip by invtNo, then the receipt that tells which list it is."""
    ing = ingestor(db, vault, quarantine)
    spec = ListSpec("late-number", BUYER, invt_no=None)
    await ing.ingest(ceb621(spec))
    await ing.ingest(ceb816("late-number", ms(20)))
    async with db.read() as s:
        assert (await s.execute(select(TaxSlip.identity_key))).scalar_one() is None
    await ing.ingest(ceb622("ln", 399, ms(15), pre=spec.pre, invt=invt_no("late-number")))
    async with db.read() as s:
        inv = (await s.execute(select(Inventory))).scalar_one()
        slip = (await s.execute(select(TaxSlip))).scalar_one()
        assert inv.invt_no == invt_no("late-number")
        assert (slip.inventory_id, slip.identity_key) == (inv.id, inv.identity_key)


async def test_older_list_version_after_newer_changes_nothing(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """appType 2 (change) with a later appTime wins whatever the order; the older one is accepted
    as a message but leaves the records as the newer version made them."""
    old = ListSpec("versioned", BUYER, app_time=T0, lines=(Line(1, "100.00"),), guid=uid("v1"))
    new = ListSpec(
        "versioned", BUYER, app_time=T0 + dt.timedelta(hours=1), lines=(Line(1, "150.00"), Line(2, "20.00")),
        app_type="2", guid=uid("v2"),
    )
    ing = ingestor(db, vault, quarantine)
    await ingest_all(ing, [ceb621(old), ceb621(new)])
    forward = await records_state(db)
    await wipe(db)
    await ing.ingest(ceb621(new))
    before = await table_checksums(db)
    result = await ing.ingest(ceb621(old))
    assert result.status == ACCEPTED
    after = await table_checksums(db)
    assert {k: v for k, v in after.items() if k != "ingested_messages"} == {
        k: v for k, v in before.items() if k != "ingested_messages"
    }
    assert await records_state(db) == forward
    async with db.read() as s:
        inv = (await s.execute(select(Inventory))).scalar_one()
        assert inv.total_value == Decimal("170.00")
        assert [ln.gnum for ln in inv.lines] == [1, 2]


# -- duplicates ------------------------------------------------------------------------------------


async def test_identical_bytes_are_a_duplicate(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    ing = ingestor(db, vault, quarantine)
    msgs = list(scenario().values())
    await ingest_all(ing, msgs)
    before = await table_checksums(db)
    for m in msgs + msgs:
        assert (await ing.ingest(m)).status == DUPLICATE
    assert await table_checksums(db) == before


async def test_same_root_guid_with_other_bytes_is_a_duplicate(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    ing = ingestor(db, vault, quarantine)
    root = uid("root-guid-dup")
    first = ceb622("dup-a", 800, ms(1), pre=pre_no("dup"), root_guid=root)
    second = ceb622("dup-b", 100, ms(2), pre=pre_no("dup"), root_guid=root.upper())  # case differs too
    assert first != second
    assert (await ing.ingest(first)).status == ACCEPTED
    before = await table_checksums(db)
    result = await ing.ingest(second)
    assert (result.status, result.msg_type) == (DUPLICATE, "CEB622")
    assert await table_checksums(db) == before


async def test_reformatted_copy_with_new_root_guid_changes_no_record(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """A resent receipt (same node guid, status and time, new envelope) adds no second receipt."""
    ing = ingestor(db, vault, quarantine)
    await ing.ingest(ceb621(ListSpec("resent", BUYER)))
    await ing.ingest(ceb622("resent", 800, ms(3), pre=pre_no("resent"), root_guid=uid("env-1")))
    before = await records_state(db)
    result = await ing.ingest(ceb622("resent", 800, ms(3), pre=pre_no("resent"), root_guid=uid("env-2")))
    assert result.status == ACCEPTED
    assert await records_state(db) == before


# -- rejection -------------------------------------------------------------------------------------


def _bad_messages() -> dict[str, tuple[bytes, str]]:
    good = ceb621(ListSpec("bad", BUYER)).decode()
    return {
        "malformed": (good[: len(good) // 2].encode(), "malformed XML"),
        "missing field": (good.replace(f"<orderNo>{ListSpec('bad', BUYER).order}</orderNo>", "").encode(),
                          "missing orderNo"),
        "bad id type": (ceb621(ListSpec("bad", BUYER, extra_head={"buyerIdType": "9"})), "invalid buyerIdType"),
        "amount out of range": (ceb621(ListSpec("bad", BUYER, freight="99999999999999")), "amount out of range"),
        "export list": (good.replace("<ieFlag>I</ieFlag>", "<ieFlag>E</ieFlag>").encode(), "ieFlag"),
        "duplicate tax gnum": (
            ceb816("bad", ms(1), [TaxLineSpec(1, "1", "0.09"), TaxLineSpec(1, "2", "0.18")]),
            "gnum",
        ),
    }


@pytest.mark.parametrize("case", list(_bad_messages()))
async def test_rejected_message_changes_nothing_and_is_quarantined(
    db: Database, vault: Vault, quarantine: Quarantine, case: str
) -> None:
    ing = ingestor(db, vault, quarantine)
    await ingest_all(ing, scenario().values())
    before = await table_checksums(db)
    data, reason_fragment = _bad_messages()[case]
    result = await ing.ingest(data, name="/inbox/secret-dir/bad.xml")
    assert result.status == REJECTED
    assert reason_fragment in (result.reason or "")
    assert await table_checksums(db) == before
    _check_quarantined(quarantine, data, result.reason or "")


def _check_quarantined(quarantine: Quarantine, data: bytes, reason: str, source: str = "bad.xml") -> None:
    blobs = sorted(quarantine.folder.glob("*.bin"))
    reasons = sorted(quarantine.folder.glob("*.reason"))
    assert len(blobs) == 1 and len(reasons) == 1
    assert blobs[0].with_suffix(".reason") == reasons[0]
    raw = blobs[0].read_bytes()
    assert raw != data
    for secret in (BUYER.id_number, BUYER.phone, BUYER.name, BUYER.address):
        assert secret.encode() not in raw
    meta = reasons[0].read_text(encoding="utf-8")
    assert f"reason: {reason}" in meta
    assert "secret-dir" not in meta  # only the file name of the source
    for secret in (BUYER.id_number, BUYER.phone, BUYER.name, BUYER.address):
        assert secret not in meta
    assert quarantine.read(blobs[0].name) == data
    assert (blobs[0].stat().st_mode & 0o077) == 0
    (entry,) = quarantine.entries()
    assert (entry.name, entry.reason, entry.source, entry.size) == (blobs[0].name, reason, source, len(data))


async def test_receipt_matching_two_lists_is_rejected(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    ing = ingestor(db, vault, quarantine)
    await ing.ingest(ceb621(ListSpec("one", BUYER)))
    await ing.ingest(ceb621(ListSpec("two", BUYER)))
    before = await table_checksums(db)
    data = ceb622("ambiguous", 800, ms(5), pre=pre_no("one"), invt=invt_no("two"))
    result = await ing.ingest(data)
    assert result.status == REJECTED
    assert "more than one list" in (result.reason or "")
    assert await table_checksums(db) == before
    assert len(list(quarantine.folder.glob("*.bin"))) == 1


async def test_tax_slip_number_reused_for_another_list_is_rejected(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    ing = ingestor(db, vault, quarantine)
    await ing.ingest(ceb816("first", ms(1)))
    before = await table_checksums(db)
    result = await ing.ingest(ceb816("second", ms(2), tax=tax_no("first")))
    assert result.status == REJECTED
    assert await table_checksums(db) == before


async def test_quarantined_list_holds_no_plaintext(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    """A rejected CEB621 with a valid identity inside: only ciphertext on disk."""
    ing = ingestor(db, vault, quarantine)
    data = ceb621(ListSpec("pii", BUYER, insured="99999999999999"))
    assert BUYER.id_number.encode() in data
    result = await ing.ingest(data, name="pii.xml")
    assert result.status == REJECTED and result.quarantined is not None
    _check_quarantined(quarantine, data, result.reason or "", source="pii.xml")


# -- atomicity -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["_refresh_inventory", "_attach_tax_slips", "_check_suspicious"])
async def test_failure_in_the_middle_leaves_no_partial_rows(
    db: Database, vault: Vault, quarantine: Quarantine, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """The list, its lines and the ingest log row are flushed before these run; a failure there
    must roll all of it back (and the message is quarantined, not lost)."""
    await import_accounts(db, vault, accounts_csv([BUYER]))
    await bind(db, BUYER.account_id, 5001)
    ing = ingestor(db, vault, quarantine)
    await ing.ingest(ceb622("atomic", 800, ms(1), pre=pre_no("atomic")))
    before = await table_checksums(db)
    flushed: list[int] = []

    async def boom(self: ingest_module._Applier, *args: object, **kwargs: object) -> None:
        flushed.append(self.c.execute(text("SELECT count(*) FROM inventories")).scalar_one())
        raise RuntimeError("injected failure")

    monkeypatch.setattr(ingest_module._Applier, method, boom)
    data = ceb621(ListSpec("atomic", BUYER))
    result = await ing.ingest(data, name="atomic.xml")
    assert flushed and flushed[0] > 0  # the list really was written when it failed
    assert await table_checksums(db) == before
    assert result.status == REJECTED
    assert result.reason == "CEB621: internal error (RuntimeError), nothing written"
    assert len(list(quarantine.folder.glob("*.bin"))) == 1
    # and the same message goes through once the fault is gone
    monkeypatch.undo()
    assert (await ing.ingest(data)).status == ACCEPTED


async def test_locked_database_writes_nothing_and_quarantines_nothing(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "test.db"
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 200)
    impatient = Database(f"sqlite+aiosqlite:///{path}", clock=test_clock())
    before = await table_checksums(sqlite_db)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        result = await ingestor(impatient, vault, quarantine).ingest(ceb621(ListSpec("locked", BUYER)))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await impatient.dispose()
    assert result.status == REJECTED
    assert result.reason is not None and "database unavailable" in result.reason
    assert result.quarantined is None
    assert not quarantine.folder.exists() or not list(quarantine.folder.iterdir())
    assert await table_checksums(sqlite_db) == before
    # retried later, it goes through
    assert (await ingestor(sqlite_db, vault, quarantine).ingest(ceb621(ListSpec("locked", BUYER)))).status == ACCEPTED


# -- outbox ----------------------------------------------------------------------------------------


async def test_outbox_rows_once_per_event_and_binding(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    await import_accounts(db, vault, accounts_csv([BUYER, OTHER]))
    binding = await bind(db, BUYER.account_id, 7001)
    ing = ingestor(db, vault, quarantine)
    msgs = scenario()
    for _ in range(3):
        await ingest_all(ing, msgs.values())
    # re-sent under new envelopes: still no second notification
    await ing.ingest(ceb816(KEY, TAX_AT, root_guid=uid("resend-tax")))
    await ing.ingest(ceb818(KEY, S3[0], S3[1], root_guid=uid("resend-void")))
    async with db.read() as s:
        rows = (await s.execute(select(Outbox).order_by(Outbox.id))).scalars().all()
    assert all(r.binding_id == binding for r in rows)
    keys = [r.dedupe_key for r in rows]
    assert len(keys) == len(set(keys))
    kinds = sorted(r.kind for r in rows)
    assert kinds.count(NoticeKind.TAX_NEW) == 1
    assert kinds.count(NoticeKind.TAX_STATUS) == 2  # summarised, then void
    # nothing for someone without a binding
    await ing.ingest(ceb816("other", ms(1)))
    await ing.ingest(ceb621(ListSpec("other", OTHER)))
    async with db.read() as s:
        assert len((await s.execute(select(Outbox))).scalars().all()) == len(rows)


async def test_outbox_respects_switched_off_kinds(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    await import_accounts(db, vault, accounts_csv([BUYER]))
    await bind(db, BUYER.account_id, 7002, notify_tax=False)
    ing = ingestor(db, vault, quarantine)
    await ingest_all(ing, [ceb621(ListSpec("quiet", BUYER)), ceb816("quiet", ms(3))])
    async with db.read() as s:
        assert [r.kind for r in (await s.execute(select(Outbox))).scalars()] == []


async def test_quota_notifications_at_80_and_100_percent(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    await import_accounts(db, vault, accounts_csv([BUYER]))
    await bind(db, BUYER.account_id, 7003)
    ing = ingestor(db, vault, quarantine)
    # 2025 limit 26,000: 21,000 crosses 80 %, 26,000 crosses 100 %
    for key, amount, minute in (("q1", "21000.00", 1), ("q2", "5000.00", 2)):
        await ing.ingest(ceb621(ListSpec(key, BUYER, lines=(Line(1, amount),))))
        await ing.ingest(ceb622(key, 800, ms(minute), pre=pre_no(key)))
    async with db.read() as s:
        quota = [r.payload for r in (await s.execute(select(Outbox).where(Outbox.kind == NoticeKind.QUOTA))).scalars()]
    assert sorted(p["threshold"] for p in quota) == [80, 100]
    assert all(p["year"] == 2025 for p in quota)


# -- identities ------------------------------------------------------------------------------------


async def test_records_link_to_the_account_whichever_arrives_first(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """The list before the account and after it: both reach the account through the blind index."""
    early, late = people(4)[2:4]
    ing = ingestor(db, vault, quarantine)
    await ing.ingest(ceb621(ListSpec("early", early)))
    await import_accounts(db, vault, accounts_csv([early, late]))
    await ing.ingest(ceb621(ListSpec("late", late)))
    from storage.models import Account

    async with db.read() as s:
        for p, key in ((early, "early"), (late, "late")):
            account = (await s.execute(select(Account).where(Account.account_id == p.account_id))).scalar_one()
            inv = (
                await s.execute(select(Inventory).where(Inventory.order_no == ListSpec(key, p).order))
            ).scalar_one()
            assert inv.identity_key == account.identity_key


# -- values at the edge of what the parser accepts ---------------------------------------------------


async def test_longest_payment_note_number_is_stored(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    """entDutyNo and taxNo may be 50 characters (the schema's limits): stored on both backends, in
    the slip and in its status history, not mistaken for a database outage."""
    ing = ingestor(db, vault, quarantine)
    long_no, long_tax = "9" * 50, "T" * 50
    assert (await ing.ingest(ceb816("long-edn", ms(1), ent_duty_no=long_no, tax=long_tax))).status == ACCEPTED
    assert (await ing.ingest(ceb818("long-edn", 2, ms(2), ent_duty_no="8" * 50, tax=long_tax))).status == ACCEPTED
    async with db.read() as s:
        assert (await s.execute(select(TaxSlip.ent_duty_no, TaxSlip.tax_no))).one() == ("8" * 50, long_tax)


async def test_list_whose_total_overflows_is_rejected_not_retried(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """Every line is within range but their sum is not: a rejection of the message (quarantined),
    never "database unavailable", which would have it retried forever."""
    ing = ingestor(db, vault, quarantine)
    lines = tuple(Line(i, "9999999999999.99999") for i in range(1, 11))
    before = await table_checksums(db)
    result = await ing.ingest(ceb621(ListSpec("overflow", BUYER, lines=lines)))
    assert (result.status, result.reason) == (REJECTED, "CEB621: amount out of range")
    assert result.quarantined is not None
    assert await table_checksums(db) == before


# -- several writers at once -------------------------------------------------------------------------


async def test_concurrent_writers_still_link_records(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    """A list, its receipt and its tax slip ingested at the same moment by three writers (as
    `swbot ingest`, the operator API and the bot may): every link is made, every time."""
    writers = [db] if not db.is_sqlite else [Database(db.url, clock=db.clock) for _ in range(3)]
    ings = [ingestor(w, vault, quarantine) for w in writers]
    n = 40
    try:
        for i in range(n):
            key = f"race{i}"
            results = await asyncio.gather(
                ings[0].ingest(ceb621(ListSpec(key, BUYER))),
                ings[1 % len(ings)].ingest(ceb622(key, 800, ms(i), pre=pre_no(key))),
                ings[2 % len(ings)].ingest(ceb816(key, ms(i, 500))),
            )
            assert [r.status for r in results] == [ACCEPTED] * 3
    finally:
        if db.is_sqlite:
            for w in writers:
                await w.dispose()
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Receipt).where(Receipt.inventory_id.is_(None)))
                ).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(TaxSlip).where(TaxSlip.identity_key.is_(None)))
                ).scalar_one() == 0
        statuses = (await s.execute(select(Inventory.status))).scalars().all()
    assert statuses == [800] * n


async def test_the_same_message_from_several_writers_is_stored_once(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    writers = [db] if not db.is_sqlite else [Database(db.url, clock=db.clock) for _ in range(8)]
    data = ceb621(ListSpec("same", BUYER))
    try:
        results = await asyncio.gather(
            *(ingestor(writers[i % len(writers)], vault, quarantine).ingest(data) for i in range(8))
        )
    finally:
        if db.is_sqlite:
            for w in writers:
                await w.dispose()
    assert sorted(r.status for r in results) == [ACCEPTED] + [DUPLICATE] * 7
    assert not quarantine.folder.exists()
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Inventory))).scalar_one() == 1


# -- the synchronous write path ---------------------------------------------------------------------


async def test_sqlite_run_write_is_immediate_with_the_pragmas_in_its_own_thread(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """`Database.run_write` (what ingest writes through) uses SQLite's synchronous engine with the
    same pragmas, synchronous=FULL included, in a transaction that holds the write lock from its
    first statement (BEGIN IMMEDIATE), in a thread of its own (the event loop stays free)."""
    assert sqlite_db.sync_write_engine is not None
    path = tmp_path / "test.db"

    def inside(session: Session) -> tuple[dict[str, object], threading.Thread]:
        conn = session.connection()
        names = ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        pragmas = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names}
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
        return pragmas, threading.current_thread()

    pragmas, thread = await sqlite_db.run_write(inside)
    assert str(pragmas["journal_mode"]).lower() == "wal"
    assert pragmas["foreign_keys"] == 1
    assert int(pragmas["busy_timeout"]) >= 5000  # type: ignore[call-overload]
    assert pragmas["synchronous"] == 2  # FULL
    assert thread is not threading.current_thread()
    # and the lock is released when the transaction ends
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_sqlite_ingest_is_one_immediate_transaction_on_the_sync_engine(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """One message: one BEGIN IMMEDIATE, one commit, everything on the synchronous engine (none of
    it through aiosqlite)."""
    assert sqlite_db.sync_write_engine is not None
    sync_statements: list[str] = []
    async_statements: list[str] = []
    commits: list[object] = []

    def on_sync(_conn: object, _cur: object, statement: str, *_args: object) -> None:
        sync_statements.append(statement)

    def on_async(_conn: object, _cur: object, statement: str, *_args: object) -> None:
        async_statements.append(statement)

    targets = [
        (sqlite_db.sync_write_engine, "before_cursor_execute", on_sync),
        (sqlite_db.write_engine.sync_engine, "before_cursor_execute", on_async),
        (sqlite_db.sync_write_engine, "commit", commits.append),
    ]
    for target, name, fn in targets:
        event.listen(target, name, fn)
    try:
        ing = ingestor(sqlite_db, vault, quarantine)
        for data in (ceb622("one-txn", 800, ms(1), pre=pre_no("one-txn")), ceb621(ListSpec("one-txn", BUYER))):
            sync_statements.clear()
            commits.clear()
            assert (await ing.ingest(data)).status == ACCEPTED
            assert sync_statements[0] == "BEGIN IMMEDIATE"
            assert sync_statements.count("BEGIN IMMEDIATE") == 1
            assert len(commits) == 1
        assert async_statements == []
    finally:
        for target, name, fn in targets:
            event.remove(target, name, fn)


@pytest.mark.parametrize(
    "method",
    [
        "_refresh_inventory", "_refresh_requests", "_refresh_quota", "_attach_tax_slips", "_notify_new_tax",
        "_notify_list_status", "_notify_quota_back", "_check_suspicious",
    ],
)
async def test_failure_after_the_applier_wrote_leaves_nothing(
    db: Database, vault: Vault, quarantine: Quarantine, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """A step of the (synchronous) applier does its real work, writes included, then fails: the
    ingest log row, the list and its lines, the receipt link, the slip link and any outbox row
    written so far are all rolled back, and the message is quarantined; once the fault is gone the
    same message goes through."""
    await import_accounts(db, vault, accounts_csv([BUYER]))
    await bind(db, BUYER.account_id, 5101)
    ing = ingestor(db, vault, quarantine)
    key = "sync-atomic"
    # A receipt (counted: the quota is refreshed) and a tax slip the list will link (a new-tax notification).
    assert (await ing.ingest(ceb622(key, 800, ms(1), pre=pre_no(key)))).status == ACCEPTED
    assert (await ing.ingest(ceb816(key, ms(2)))).status == ACCEPTED
    before = await table_checksums(db)
    real = getattr(ingest_module._Applier, method)
    seen: list[tuple[int, int]] = []

    def after_real_work(self: ingest_module._Applier, *args: object, **kwargs: object) -> None:
        real(self, *args, **kwargs)
        counts = (
            self.c.execute(text("SELECT count(*) FROM ingested_messages")).scalar_one(),
            self.c.execute(text("SELECT count(*) FROM outbox")).scalar_one(),
        )
        seen.append(counts)
        raise RuntimeError("injected failure")

    monkeypatch.setattr(ingest_module._Applier, method, after_real_work)
    data = ceb621(ListSpec(key, BUYER))
    result = await ing.ingest(data, name="sync-atomic.xml")
    assert seen, "the step was not reached"
    assert seen[0][0] == 3  # this message's log row was written before the failure
    if method in ("_notify_new_tax", "_notify_list_status"):
        assert seen[0][1] >= 1  # and so was its outbox row
    assert result.status == REJECTED
    assert result.reason == "CEB621: internal error (RuntimeError), nothing written"
    assert await table_checksums(db) == before
    assert len(list(quarantine.folder.glob("*.bin"))) == 1
    monkeypatch.undo()
    assert (await ing.ingest(data)).status == ACCEPTED
    async with db.read() as s:
        kinds = sorted((await s.execute(select(Outbox.kind))).scalars())
    assert kinds == sorted([NoticeKind.TAX_NEW, NoticeKind.LIST_STATUS])  # "released" (800)


async def test_copy_of_a_stored_receipt_changes_nothing_even_if_it_now_names_two_lists(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """A receipt is recognised as stored before its list is looked for: a resent copy (new
    envelope) is accepted and changes nothing, although by now a second list carries one of the
    numbers it names; a new receipt naming both lists is still rejected."""
    ing = ingestor(db, vault, quarantine)

    def receipt(root: str) -> bytes:
        return ceb622("both", 800, ms(5), pre=pre_no("first"), invt=invt_no("second"), root_guid=uid(root))

    assert (await ing.ingest(ceb621(ListSpec("first", BUYER, invt_no=None)))).status == ACCEPTED
    assert (await ing.ingest(receipt("env-1"))).status == ACCEPTED
    assert (await ing.ingest(ceb621(ListSpec("second", BUYER)))).status == ACCEPTED
    before = await records_state(db)
    assert (await ing.ingest(receipt("env-2"))).status == ACCEPTED
    assert await records_state(db) == before
    fresh = ceb622("both-new", 800, ms(6), pre=pre_no("first"), invt=invt_no("second"))
    result = await ing.ingest(fresh)
    assert (result.status, result.reason) == (REJECTED, "CEB622: receipt matches more than one list")


async def test_concurrent_ingests_into_one_database(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    """Many ingests at once through one Database (on SQLite they queue for its one writer thread):
    all accepted, every link made."""
    ing = ingestor(db, vault, quarantine)
    keys = [f"one-db-{i}" for i in range(12)]
    results = await asyncio.gather(
        *(
            coro
            for i, key in enumerate(keys)
            for coro in (
                ing.ingest(ceb816(key, ms(i, 500))),
                ing.ingest(ceb622(key, 800, ms(i), pre=pre_no(key))),
                ing.ingest(ceb621(ListSpec(key, BUYER))),
            )
        )
    )
    assert [r.status for r in results] == [ACCEPTED] * (3 * len(keys))
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Receipt).where(Receipt.inventory_id.is_(None)))
                ).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(TaxSlip).where(TaxSlip.identity_key.is_(None)))
                ).scalar_one() == 0
        assert (await s.execute(select(Inventory.status))).scalars().all() == [800] * len(keys)


def test_quarantine_source_name_cannot_forge_the_reason(quarantine: Quarantine) -> None:
    """The .reason file is line-based: a file name with a newline or tab must not add or change a
    field (or break the tab-separated `quarantine list`)."""
    quarantine.put(b"<x/>", "malformed XML", "/in/evil\nreason: all fine\tsize: 0.xml")
    (entry,) = quarantine.entries()
    assert entry.reason == "malformed XML"
    assert entry.size == 4
    assert "\n" not in entry.source and "\t" not in entry.source
    assert entry.source.startswith("evil")


async def _check_status_is_a_full_recount(db: Database) -> None:
    """Every list's status columns and numbers are what recomputing them from all its receipts
    gives: the newest (returnTime, then status), the first of equals in id order; the list number
    (which these lists lack themselves) from its first receipt (in id order) that carries one."""
    async with db.read() as s:
        for inv in (await s.execute(select(Inventory))).scalars():
            mine = select(Receipt).where(Receipt.inventory_id == inv.id).order_by(Receipt.id)
            receipts = list((await s.execute(mine)).scalars())
            if not receipts:
                assert (inv.status, inv.status_time, inv.status_info) == (None, None, None)
                continue
            newest = max(receipts, key=lambda r: (r.return_time, r.return_status))
            assert (inv.status, inv.status_time, inv.status_info) == (
                newest.return_status, newest.return_time, newest.return_info,
            )  # fmt: skip
            assert inv.invt_no == next((r.invt_no for r in receipts if r.invt_no), None)


async def test_a_receipt_leaves_the_status_a_full_recount_gives(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """A receipt for a known list decides its status from the list's own columns and itself (on
    SQLite, without reading the list's other receipts): in any arrival order, one message to a
    transaction or all in one, after every message the list holds what all its receipts give,
    ties between equal (returnTime, status) with different notes included, and a list number
    learnt from a receipt."""
    spec = ListSpec("recount", BUYER, invt_no=None)  # its list number comes with a receipt
    pre = spec.pre
    msgs = [
        ceb621(spec),
        ceb622("rc1", 120, ms(10), pre=pre, info="[Code:1;Desc:申报]"),
        ceb622("rc2", 500, ms(20), pre=pre, info="[Code:2;Desc:查验 A]"),
        ceb622("rc3", 500, ms(20), pre=pre, info="[Code:3;Desc:查验 B]", guid=uid("rc3-other")),
        ceb622("rc4", 800, ms(30), pre=pre, invt=invt_no("recount"), info="[Code:2600;Desc:放行]"),
        ceb622("rc5", 100, ms(5), pre=pre, info="[Code:4;Desc:退单]"),
    ]
    rng = random.Random(20261201)
    orders = [list(range(len(msgs))), list(range(len(msgs)))[::-1]]
    orders += [list(p) for p in rng.sample(list(permutations(range(len(msgs)))), 30)]
    ing = ingestor(db, vault, quarantine)
    for order in orders:
        await wipe(db)
        for i in order:
            assert (await ing.ingest(msgs[i], name=f"m{i}.xml")).status == ACCEPTED, order
            await _check_status_is_a_full_recount(db)
        await wipe(db)
        results = await ing.ingest_many([(msgs[i], f"m{i}.xml") for i in order])
        assert [r.status for r in results] == [ACCEPTED] * len(msgs), order
        await _check_status_is_a_full_recount(db)
