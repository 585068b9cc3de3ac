"""Group commit: many messages in one transaction, a savepoint each; on PostgreSQL several
transactions at once; the operator API's pushes batched; the direct SQLite path storing exactly
what SQLAlchemy stores."""

from __future__ import annotations

import asyncio
import gc
import random
import sqlite3
from collections.abc import AsyncIterator, Iterator
from itertools import cycle
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bot.demo import generate
from bot.domain.clock import Clock
from storage import db as db_module
from storage import ingest as ingest_module
from storage import sqlite_exec
from storage.accounts import import_accounts
from storage.collector import YOUNG
from storage.db import Database
from storage.ingest import ACCEPTED, DUPLICATE, REJECTED, Ingestor, IngestResult, iter_paths
from storage.models import IngestedMessage, Inventory, Receipt, TaxSlip
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.conftest import make_database
from tests.support.clock import test_clock
from tests.support.ingest import BUYER, OTHER, ms, scenario
from tests.support.storage import (
    Line,
    ListSpec,
    Person,
    accounts_csv,
    bind,
    ceb621,
    ceb622,
    ceb816,
    commits_of,
    ingestor,
    invt_no,
    outbox_events,
    person,
    pre_no,
    records_state,
    table_checksums,
    tax_no,
    uid,
    wipe_records,
)


def good_messages(n: int, prefix: str = "batch", buyer: Person = BUYER) -> list[bytes]:
    """n independent lists, each with a receipt and a tax slip (3n messages)."""
    out = []
    for i in range(n):
        key = f"{prefix}{i}"
        out += [ceb621(ListSpec(key, buyer)), ceb622(key, 800, ms(i), pre=pre_no(key)), ceb816(key, ms(i, 500))]
    return out


async def list_orders(db: Database) -> set[str]:
    async with db.read() as s:
        return set((await s.execute(select(Inventory.order_no))).scalars())


@pytest.fixture
async def pg(tmp_path: Path, clock: Clock) -> AsyncIterator[Database]:
    database, cleanup = await make_database("postgres", tmp_path, clock)
    try:
        yield database
    finally:
        await cleanup()  # type: ignore[operator]


@pytest.fixture
def commits(sqlite_db: Database) -> Iterator[list[object]]:
    """Every COMMIT of the SQLite writer."""
    with commits_of(sqlite_db) as seen:
        yield seen


# -- one batch, one transaction ---------------------------------------------------------------------


async def test_a_batch_is_one_transaction(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, commits: list[object]
) -> None:
    msgs = good_messages(20)
    results = await ingestor(sqlite_db, vault, quarantine).ingest_many([(m, f"m{i}") for i, m in enumerate(msgs)])
    assert [r.status for r in results] == [ACCEPTED] * 60
    assert len(commits) == 1
    async with sqlite_db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Receipt).where(Receipt.inventory_id.is_(None)))
                ).scalar_one() == 0


async def test_batches_are_cut_at_the_batch_size(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, commits: list[object]
) -> None:
    ing = Ingestor(sqlite_db, vault, quarantine, max_bytes=1 << 20, batch_size=7)
    results = await ing.ingest_many([(m, "m") for m in good_messages(10)])
    assert len(results) == 30 and {r.status for r in results} == {ACCEPTED}
    assert len(commits) == 5  # 7 + 7 + 7 + 7 + 2


async def test_a_feed_goes_512_to_a_transaction_on_sqlite_and_256_on_postgresql(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """SQLite: the fewer commits the fewer pages written again (bench/README.md); PostgreSQL:
    shorter transactions, whose locks parallel workers wait for. The API's pushes batch alike."""
    from storage.group_commit import GroupCommit

    ing = Ingestor(db, vault, quarantine, max_bytes=1 << 20)
    # A buyer of its own: the lock keys are the server's, and another test's transaction (in its own
    # schema, at the same time) holding BUYER's would defer messages to a transaction more.
    with commits_of(db) as seen:
        results = await ing.ingest_many([(m, "m") for m in good_messages(200, "size", person(150))])
    assert len(results) == 600 and {r.status for r in results} == {ACCEPTED}
    assert len(seen) == (2 if db.is_sqlite else 3)  # 512 + 88, or 256 + 256 + 88
    assert GroupCommit(ing, source="api").max_batch == (512 if db.is_sqlite else 256)


def _bad() -> dict[str, tuple[bytes, str]]:
    good = ceb621(ListSpec("bad-one", BUYER)).decode()
    two_lists = ceb622("two", 800, ms(50), pre=pre_no("first-of-two"), invt=invt_no("second-of-two"))
    return {
        "malformed": (good[: len(good) // 2].encode(), "malformed XML"),
        "hostile": (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><CEB621Message>&a;</CEB621Message>',
            "",
        ),
        "refused on apply": (two_lists, "CEB622: receipt matches more than one list"),
    }


async def test_bad_messages_in_the_middle_of_a_batch_are_quarantined_and_the_others_land(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    ing = ingestor(db, vault, quarantine)
    # Two stored lists the "refused on apply" receipt names both of.
    first, second = ListSpec("first-of-two", BUYER, invt_no=None), ListSpec("second-of-two", OTHER)
    stored = [(ceb621(first), "f"), (ceb621(second), "s")]
    assert {r.status for r in await ing.ingest_many(stored)} == {ACCEPTED}
    good = good_messages(4, "mid")
    bad = _bad()
    batch = [
        (good[0], "g0"), (good[1], "g1"), (bad["malformed"][0], "malformed.xml"), (good[2], "g2"),
        (bad["hostile"][0], "hostile.xml"), (good[3], "g3"), (bad["refused on apply"][0], "two.xml"),
        *((m, f"g{i}") for i, m in enumerate(good[4:], 4)),
    ]  # fmt: skip
    results = await ing.ingest_many(batch)
    statuses = {name: r.status for (_, name), r in zip(batch, results, strict=True)}
    assert [n for n, s in statuses.items() if s == REJECTED] == ["malformed.xml", "hostile.xml", "two.xml"]
    assert all(s == ACCEPTED for n, s in statuses.items() if n.startswith("g"))
    reasons = {name: r.reason for (_, name), r in zip(batch, results, strict=True) if r.status == REJECTED}
    assert "malformed XML" in (reasons["malformed.xml"] or "")
    assert reasons["two.xml"] == bad["refused on apply"][1]
    # the good ones are in, the bad ones changed nothing: the state is what the good ones alone give
    assert await list_orders(db) == {first.order, second.order} | {ListSpec(f"mid{i}", BUYER).order for i in range(4)}
    quarantined = {e.source: e.reason for e in quarantine.entries()}
    assert set(quarantined) == {"malformed.xml", "hostile.xml", "two.xml"}
    assert quarantined["two.xml"] == bad["refused on apply"][1]
    for data, name in batch:
        if name.endswith(".xml"):
            blob = next(e.name for e in quarantine.entries() if e.source == name)
            assert quarantine.read(blob) == data
    # ... and exactly as the good ones alone leave it
    with_bad = await records_state(db)
    await wipe_records(db)
    await ing.ingest_many(stored)
    await ing.ingest_many([(m, "g") for m in good])
    assert await records_state(db) == with_bad


@pytest.mark.parametrize("method", ["_refresh_inventory", "_attach_tax_slips", "_notify_list_status"])
async def test_failure_mid_apply_inside_a_batch_leaves_that_message_absent_and_the_rest_present(
    db: Database, vault: Vault, quarantine: Quarantine, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """A step of one message's apply does its real work, writes included, then fails: that message
    is rolled back to its savepoint (list, lines, ingest log row, outbox rows), quarantined, and
    every other message of the batch commits."""
    await import_accounts(db, vault, accounts_csv([BUYER]))
    await bind(db, BUYER.account_id, 6101)
    ing = ingestor(db, vault, quarantine)
    victim = ListSpec("victim", BUYER)
    # Its receipt and tax slip are stored first, so its apply reaches every step above.
    await ing.ingest_many([(ceb622("victim", 800, ms(1), pre=victim.pre), "r"), (ceb816("victim", ms(2)), "t")])
    real = getattr(ingest_module._Applier, method)
    failed: list[int] = []

    def fail_for_the_victim(self: ingest_module._Applier, row: object, *args: object, **kwargs: object) -> None:
        real(self, row, *args, **kwargs)
        if getattr(row, "order_no", None) == victim.order:
            written = self.c.execute(text("SELECT count(*) FROM ingested_messages")).scalar_one()
            failed.append(written)
            raise RuntimeError("injected failure")

    monkeypatch.setattr(ingest_module._Applier, method, fail_for_the_victim)
    others = good_messages(3, "bystander")
    batch = [(m, f"b{i}") for i, m in enumerate(others[:5])] + [(ceb621(victim), "victim.xml")]
    batch += [(m, f"b{i}") for i, m in enumerate(others[5:], 5)]
    results = await ing.ingest_many(batch)
    assert failed, "the step was not reached for the victim"
    assert failed[0] == 2 + 5 + 1  # the victim's log row was written (after the 5 before it) when it failed
    by_name = {name: r for (_, name), r in zip(batch, results, strict=True)}
    assert by_name["victim.xml"].status == REJECTED
    assert by_name["victim.xml"].reason == "CEB621: internal error (RuntimeError), nothing written"
    assert all(r.status == ACCEPTED for n, r in by_name.items() if n != "victim.xml")
    assert await list_orders(db) == {ListSpec(f"bystander{i}", BUYER).order for i in range(3)}
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(IngestedMessage))).scalar_one() == 2 + 9
        # the victim's receipt and slip are still unlinked: nothing of the list stayed
        slip_owner = select(TaxSlip.identity_key).where(TaxSlip.invt_no == victim.invt)
        assert (await s.execute(slip_owner)).scalar_one() is None
    events = await outbox_events(db)
    assert not any(tax_no("victim") in key for _, key in events)  # its slip was never linked, never told
    async with db.read() as s:
        lists = set((await s.execute(select(Inventory.id))).scalars())
    assert all(int(key.split(":")[1]) in lists for _, key in events if key.startswith("status:"))
    assert [e.source for e in quarantine.entries()] == ["victim.xml"]
    monkeypatch.undo()
    assert (await ing.ingest(ceb621(victim))).status == ACCEPTED  # once the fault is gone
    assert any(tax_no("victim") in key for _, key in await outbox_events(db))


async def test_the_same_message_twice_in_one_batch_is_one_accepted_and_one_duplicate(
    db: Database, vault: Vault, quarantine: Quarantine
) -> None:
    spec = ListSpec("twice", BUYER)
    same_guid_other_bytes = ceb621(ListSpec("twice", BUYER, freight="1.00"))  # the same root guid
    receipt = ceb622("twice", 800, ms(1), pre=spec.pre)
    batch = [(ceb621(spec), "a"), (ceb621(spec), "b"), (same_guid_other_bytes, "c"), (receipt, "d"), (receipt, "e")]
    results = await ingestor(db, vault, quarantine).ingest_many(batch)
    assert [r.status for r in results] == [ACCEPTED, DUPLICATE, DUPLICATE, ACCEPTED, DUPLICATE]
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(IngestedMessage))).scalar_one() == 2
        assert (await s.execute(select(Inventory.status))).scalar_one() == 800


async def test_a_locked_database_fails_the_batch_and_quarantines_nothing(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 200)
    impatient = Database(sqlite_db.url, clock=test_clock())
    before = await table_checksums(sqlite_db)
    holder = sqlite3.connect(tmp_path / "test.db", isolation_level=None)
    batch = [(m, f"m{i}") for i, m in enumerate(good_messages(3))] + [(b"<broken", "broken.xml")]
    try:
        holder.execute("BEGIN IMMEDIATE")
        results = await ingestor(impatient, vault, quarantine).ingest_many(batch)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await impatient.dispose()
    assert [r.reason for r in results[:-1]] == ["database unavailable, nothing written; retry"] * 9
    assert all(r.quarantined is None for r in results[:-1])
    assert results[-1].status == REJECTED and results[-1].quarantined is not None  # refused before the database
    assert [e.source for e in quarantine.entries()] == ["broken.xml"]
    assert await table_checksums(sqlite_db) == before


# -- the direct SQLite path stores what SQLAlchemy stores ----------------------------------------------


_INGEST_TABLES = (
    "ingested_messages", "inventories", "inventory_lines", "receipts", "list_requests", "list_request_lines",
    "request_receipts", "tax_slips", "tax_lines", "tax_status_events", "outbox",
)  # fmt: skip


def _raw_tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """The tables ingest writes, as SQLite holds them (bookkeeping times left out: the clock runs on)."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in _INGEST_TABLES:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            cols = [c for c in cols if c not in ("created_at", "received_at", "next_attempt_at")]
            out[table] = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY 1").fetchall()
        return out
    finally:
        conn.close()


async def test_the_direct_sqlite_path_stores_exactly_what_sqlalchemy_stores(
    tmp_path: Path, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo feed (lists, receipts, slips, statuses, a cancellation, returns, refusals) with its
    people bound, once through the direct path and once through SQLAlchemy alone: the same bytes."""
    clock = test_clock()
    summary = generate(tmp_path / "demo", consumers=6, seed=3, today=clock.today())
    feed = [(p.read_bytes(), p.name) for p in iter_paths([str(tmp_path / "demo" / "ceb")])]
    tables = []
    from storage.migrate import upgrade
    from storage.models import Account

    for direct in (True, False):
        if not direct:
            monkeypatch.setattr(sqlite_exec, "_REGISTERED", {})
        path = tmp_path / f"direct-{direct}.db"
        db = Database(f"sqlite+aiosqlite:///{path}", clock=clock)
        try:
            await db.check()
            await upgrade(db)
            await import_accounts(db, vault, (tmp_path / "demo" / "accounts.csv").read_bytes())
            async with db.read() as s:
                ids = (await s.execute(select(Account.account_id).order_by(Account.id))).scalars().all()
            for n, account_id in enumerate(ids):
                await bind(db, account_id, 9000 + n)
            quarantine = Quarantine(tmp_path / f"q-{direct}", vault, clock)
            results = await Ingestor(db, vault, quarantine, max_bytes=1 << 20, batch_size=50).ingest_many(feed)
            assert {r.status for r in results} <= {ACCEPTED, DUPLICATE}
        finally:
            await db.dispose()
        tables.append(_raw_tables(path))
    direct_tables, plain_tables = tables
    assert direct_tables == plain_tables
    assert len(direct_tables["inventories"]) == summary.lists
    assert direct_tables["receipts"] and direct_tables["list_requests"] and direct_tables["tax_status_events"]
    assert direct_tables["outbox"], "the bound people were notified"


def test_the_direct_path_writes_datetimes_as_sqlalchemy_does() -> None:
    """Its faster DATETIME bind processor gives SQLAlchemy's text for every value (the comparison
    above leaves the `created_at` columns out: their times differ run to run)."""
    import datetime as dt

    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    slow = sqlite.DATETIME().bind_processor(dialect)
    plan = sqlite_exec._Plan(ingest_module._ADD_RECEIPT.statement, dialect, None)
    fast = dict(plan.binds)["return_time"]
    assert fast is not None and fast is not slow
    values = [
        dt.datetime(2023, 1, 2, 3, 4, 5), dt.datetime(2023, 1, 2, 3, 4, 5, 6), dt.datetime(999, 12, 31, 23, 59, 59),
        dt.datetime(1, 1, 1), dt.datetime(2023, 1, 2, 12, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        dt.date(2020, 5, 6), None,
    ]  # fmt: skip
    assert [fast(v) for v in values] == [slow(v) for v in values]
    assert fast(dt.datetime(2023, 1, 2, 3, 4, 5)) == "2023-01-02 03:04:05.000000"


# -- PostgreSQL: transactions side by side ------------------------------------------------------------


def quota_story() -> list[bytes]:
    """Two lists of one person, released, with their tax slips: 21,000 and 5,000 of 2025's 26,000.
    Every serial order tells the person the same things (two new tax slips, two releases, 80 % and
    100 % of the quota), so any interleaving must too — the 100 % only if the transactions that
    count each list take turns over the person's total."""
    out = []
    for key, amount, minute in (("quota-a", "21000.00", 1), ("quota-b", "5000.00", 2)):
        out += [
            ceb621(ListSpec(key, BUYER, lines=(Line(1, amount),))),
            ceb622(key, 800, ms(minute), pre=pre_no(key)),
            ceb816(key, ms(minute, 500)),
        ]
    return out


async def told(db: Database) -> tuple[tuple[str, str], ...]:
    """The notifications queued, list ids replaced by the list's order number (ids depend on the
    order rows were inserted in)."""
    async with db.read() as s:
        orders = {str(i): o for i, o in (await s.execute(select(Inventory.id, Inventory.order_no))).all()}
    out = []
    for kind, key in await outbox_events(db):
        parts = key.split(":")
        if parts[0] in ("status", "action", "quotaback", "suspicious"):
            parts[1] = orders[parts[1]]
        out.append((kind, ":".join(parts)))
    return tuple(sorted(out))


async def deal_concurrently(
    ing: Ingestor, msgs: list[bytes], rng: random.Random, batches: int = 3
) -> list[IngestResult]:
    """The messages in a random order, dealt to `batches` batches committed at the same time."""
    order = rng.sample(msgs, len(msgs))
    deal: list[list[tuple[bytes, str]]] = [[] for _ in range(batches)]
    for batch, m in zip(cycle(rng.sample(range(batches), batches)), order):
        deal[batch].append((m, "m"))
    results = await asyncio.gather(*(ing.ingest_many(batch) for batch in deal))
    return [r for rs in results for r in rs]


@pytest.mark.postgres
async def test_concurrent_batches_end_as_a_serial_ingest(pg: Database, vault: Vault, quarantine: Quarantine) -> None:
    """The order-independence scenario (a list, receipts that name it three ways, a tax slip and its
    statuses) dealt to three batches committed at the same time, 30 random deals: every time the
    records of a serial ingest."""
    ing = ingestor(pg, vault, quarantine)
    msgs = list(scenario().values())
    await ing.ingest_many([(m, "m") for m in msgs])
    reference = await records_state(pg)
    rng = random.Random(10)
    for _ in range(30):
        await wipe_records(pg)
        assert {r.status for r in await deal_concurrently(ing, msgs, rng)} == {ACCEPTED}
        assert await records_state(pg) == reference


@pytest.mark.postgres
async def test_concurrent_batches_tell_the_person_what_a_serial_ingest_tells(
    pg: Database, vault: Vault, quarantine: Quarantine
) -> None:
    await import_accounts(pg, vault, accounts_csv([BUYER]))
    await bind(pg, BUYER.account_id, 6201)
    ing = ingestor(pg, vault, quarantine)
    msgs = quota_story()
    rng = random.Random(11)
    serial = []
    for _ in range(3):  # the precondition: serial orders agree
        await wipe_records(pg)
        for m in rng.sample(msgs, len(msgs)):
            await ing.ingest(m)
        serial.append((await records_state(pg), await told(pg)))
    assert serial[0] == serial[1] == serial[2]
    assert sum(kind == "quota" for kind, _ in serial[0][1]) == 2
    for _ in range(30):
        await wipe_records(pg)
        assert {r.status for r in await deal_concurrently(ing, msgs, rng)} == {ACCEPTED}
        assert (await records_state(pg), await told(pg)) == serial[0]


@pytest.mark.postgres
async def test_a_message_whose_records_are_locked_is_deferred_not_waited_for(
    pg: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """Another transaction holds the lock of one list's keys: the rest of the batch commits without
    waiting for it; that list goes in, in a transaction of its own, once the lock is released."""
    db = pg
    import asyncpg

    # A buyer of its own: the lock keys are the server's, and another test's transaction (in its own
    # schema, at the same time) holding BUYER's key would hold up the free list too.
    buyer = person(151)
    blocked, free = ListSpec("blocked", buyer), ListSpec("free", buyer)
    key = ingest_module._order_key(blocked.ebc_code, blocked.order)
    dsn = db.url.replace("postgresql+asyncpg://", "postgresql://")
    holder = await asyncpg.connect(dsn)
    tx = holder.transaction()
    await tx.start()
    await holder.execute("SELECT pg_advisory_xact_lock($1)", key)
    try:
        task = asyncio.create_task(ingestor(db, vault, quarantine).ingest_many([(ceb621(blocked), "b"),
                                                                                 (ceb621(free), "f")]))
        for _ in range(100):  # the free list commits while the blocked one waits
            if free.order in await list_orders(db):
                break
            await asyncio.sleep(0.05)
        assert await list_orders(db) == {free.order}
        assert not task.done()
    finally:
        await tx.rollback()
        await holder.close()
    results = await asyncio.wait_for(task, 30)
    assert [r.status for r in results] == [ACCEPTED, ACCEPTED]
    assert await list_orders(db) == {free.order, blocked.order}


@pytest.mark.postgres
async def test_many_concurrent_batches_over_shared_records(
    pg: Database, vault: Vault, quarantine: Quarantine
) -> None:
    """Lists, receipts and tax slips of 15 orders dealt at random to 4 batches at once: every link
    made, every status right, nothing deferred forever."""
    db = pg
    msgs = good_messages(15, "shared")
    random.Random(4).shuffle(msgs)
    ing = Ingestor(db, vault, quarantine, max_bytes=1 << 20, batch_size=8)
    results = await asyncio.gather(*(ing.ingest_many([(m, "m") for m in msgs[i::4]]) for i in range(4)))
    assert {r.status for rs in results for r in rs} == {ACCEPTED}
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Receipt).where(Receipt.inventory_id.is_(None)))
                ).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(TaxSlip).where(TaxSlip.identity_key.is_(None)))
                ).scalar_one() == 0
        assert (await s.execute(select(Inventory.status))).scalars().all() == [800] * 15


def test_lock_keys_name_what_a_message_reaches(vault: Vault) -> None:
    """A list, its receipt by list number, and a tax slip meet on the list number's key; the list and
    a receipt by pre-entry number on that one; unrelated lists share nothing."""
    from storage.ceb import parse_message

    def keys(data: bytes) -> set[int]:
        return ingest_module._direct_keys(parse_message(data), vault)

    spec, other = ListSpec("keys", BUYER), ListSpec("keys-other", OTHER)
    lst = keys(ceb621(spec))
    assert keys(ceb622("keys", 800, ms(1), invt=spec.invt)) <= lst
    assert keys(ceb622("keys", 800, ms(1), pre=spec.pre)) <= lst
    assert keys(ceb816("keys", ms(2))) & lst
    assert not keys(ceb621(other)) & lst
    assert ingest_module._key("invt", None) is None and ingest_module._key("cop", "ebc", "") is None
    assert uid("x")  # the helpers stay importable together


@pytest.mark.postgres
async def test_a_list_number_learnt_while_another_transaction_stores_a_receipt_by_it(
    pg: Database, vault: Vault, quarantine: Quarantine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list (pre-entry number only) learns its list number from a stored receipt while another
    transaction, still open, stores a receipt that names the list by that number alone. Neither sees
    the other's rows; the list's transaction must wait for that number (here: defer, then take it)
    and link the receipt once it is committed."""
    from sqlalchemy.util import await_only

    spec = ListSpec("learnt", person(152), invt_no=None)  # a buyer of its own (the lock keys are the server's)
    number = invt_no("learnt")
    ing = ingestor(pg, vault, quarantine)
    assert (await ing.ingest(ceb622("learnt-both", 120, ms(1), pre=spec.pre, invt=number))).status == ACCEPTED
    gate = asyncio.Event()
    real = ingest_module._Applier._receipt

    def held_open(self: ingest_module._Applier, ret: ingest_module.InventoryReturn) -> None:
        real(self, ret)
        if ret.pre_no is None and ret.invt_no == number:
            await_only(gate.wait())  # its transaction stays open, its receipt uncommitted

    monkeypatch.setattr(ingest_module._Applier, "_receipt", held_open)
    by_number = asyncio.create_task(ing.ingest(ceb622("learnt-number", 800, ms(2), invt=number)))
    await asyncio.sleep(0.3)
    the_list = asyncio.create_task(ing.ingest(ceb621(spec)))
    await asyncio.sleep(0.5)  # the list's transaction runs meanwhile (and, without its lock, commits)
    gate.set()
    assert (await by_number).status == ACCEPTED
    assert (await the_list).status == ACCEPTED
    async with pg.read() as s:
        unlinked = select(func.count()).select_from(Receipt).where(Receipt.inventory_id.is_(None))
        assert (await s.execute(unlinked)).scalar_one() == 0
        assert (await s.execute(select(Inventory.status, Inventory.invt_no))).one() == (800, number)


def test_a_feed_of_large_messages_is_held_a_few_at_a_time() -> None:
    """Batches end at BATCH_SIZE messages or at BATCH_BYTES, whichever comes first (a message
    larger than that alone is a batch of its own); unreadable files cost nothing."""
    from storage.feed import FeedItem, _batches

    mb = 1024 * 1024
    items = [FeedItem(f"{i}", b"x" * (3 * mb)) for i in range(5)] + [FeedItem("big", b"x" * (9 * mb))]
    items += [FeedItem("gone", None, "cannot read")] + [FeedItem(f"s{i}", b"x") for i in range(600)]
    sizes = [[item.name for item in batch] for batch in _batches(iter(items), 256)]
    assert sizes[:3] == [["0", "1"], ["2", "3"], ["4"]]
    assert sizes[3] == ["big"]
    assert [len(b) for b in sizes[4:]] == [256, 256, 89]
    assert sizes[4][0] == "gone"
    assert ingest_module.BATCH_BYTES == 8 * mb


async def test_a_parser_process_gives_what_parsing_here_gives_and_ends_with_its_pipe() -> None:
    """`swbot ingest`'s parser process (storage.parse_worker): the batches sent come back in order,
    each message as `prepare` makes it here (refusals and their reasons included); it ends when
    its stdin is closed."""
    from storage.feed import _ParserProcess, prepare_all
    from storage.prepare import Refused

    batches = [good_messages(3, "pp1"), [b"<not xml", *good_messages(1, "pp2")], [b"x" * 2000]]
    proc = await _ParserProcess.start()
    assert await proc.started
    sent = [await proc.submit(batch, 1000) for batch in batches]
    for batch, answer in zip(batches, sent, strict=True):
        assert await answer == prepare_all(batch, 1000)
    assert any(isinstance(p, Refused) for p in await sent[1])
    await proc.close()
    assert proc.proc.returncode == 0


async def test_a_parser_process_that_dies_fails_what_it_had_not_answered() -> None:
    """A parser process killed with batches pending: each pending batch fails (the feed stops with
    an error) instead of being waited for for ever."""
    from storage.feed import _ParserProcess

    proc = await _ParserProcess.start()
    assert await proc.started
    proc.proc.kill()
    pending = await proc.submit(good_messages(50, "dead"), 10_000_000)
    with pytest.raises(RuntimeError, match="parser process ended"):
        await asyncio.wait_for(pending, 30)
    assert not proc.ready
    await proc.close()


class _SlowStartingParser:
    """A stand-in parser process that is up only once `up` is called (or never, with `fails`),
    and parses what it is sent right away; it records what it parsed."""

    def __init__(self, fails: bool = False) -> None:
        self.ready = False
        self.fails = fails
        self.started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.parsed: list[int] = []

    def up(self) -> None:
        if not self.started.done():
            self.ready = not self.fails
            self.started.set_result(self.ready)

    async def submit(self, datas: list[bytes], max_bytes: int) -> asyncio.Future[object]:
        from storage.prepare import prepare  # (not feed.prepare_all: the test counts its calls)

        assert self.ready, "nothing is sent to a parser process before it is up"
        self.parsed.append(len(datas))
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result([prepare(data, max_bytes) for data in datas])
        return done

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("fails", [False, True], ids=["comes-up", "never-starts"])
async def test_while_a_parser_process_comes_up_only_what_the_committer_waits_for_is_parsed_here(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """The first batch is parsed in this process (the committer has nothing else to do); the next
    waits for the parser process instead of being parsed here while the first one commits (that
    would take turns with the commit on one interpreter lock). A parser process that never starts
    leaves every batch to be parsed here, each once the committer waits for it: nothing is lost."""
    from storage import feed

    proc = _SlowStartingParser(fails)

    async def start(cls: type) -> _SlowStartingParser:
        return proc

    here: list[int] = []
    real_prepare_all = feed.prepare_all

    def prepare_here(datas: list[bytes], max_bytes: int) -> object:
        here.append(len(datas))
        return real_prepare_all(datas, max_bytes)

    ing = ingestor(sqlite_db, vault, quarantine)
    real_commit = ing.commit
    batches = 0

    async def commit(items: object, *, source: str = "file") -> list[IngestResult]:
        nonlocal batches
        batches += 1
        if batches == 1:
            await asyncio.sleep(0.05)  # the parse side runs while the first batch commits …
            proc.up()  # … and the parser process comes up only then
        return await real_commit(items, source=source)  # type: ignore[arg-type]

    monkeypatch.setattr(feed._ParserProcess, "start", classmethod(start))
    monkeypatch.setattr(feed, "prepare_all", prepare_here)
    monkeypatch.setattr(ing, "commit", commit)
    monkeypatch.setattr(ing, "batch_size", 4)
    messages = good_messages(4, "slow")  # 12 messages: 3 batches of 4
    reported: list[str] = []
    paces: set[int] = set()

    def on_results(batch: feed.Reported) -> None:
        reported.extend(f"{item.name}:{result.status}" for item, result in batch if result)
        paces.add(gc.get_threshold()[0])

    pace = gc.get_threshold()
    await feed.ingest_feed(ing, [feed.FeedItem(f"m{i}", m) for i, m in enumerate(messages)], on_results, parsers=1)
    assert reported == [f"m{i}:{ACCEPTED}" for i in range(12)]
    assert paces == {YOUNG} and gc.get_threshold() == pace  # storage.collector: rare while it runs
    if fails:
        assert here == [4, 4, 4] and proc.parsed == []
    else:
        assert here == [4] and proc.parsed == [4, 4]
    assert await list_orders(sqlite_db) == {f"ORD-slow{i}" for i in range(4)}
