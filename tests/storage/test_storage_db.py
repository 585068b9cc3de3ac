"""storage.db and storage.migrate: asserted SQLite pragmas, BEGIN IMMEDIATE writes, concurrent
writers, migrations that match the models, and the indexes behind the list views."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Index, Integer, MetaData, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from storage import db as db_module
from storage.db import WRITER_CACHE_KIB, Database, DatabaseError
from storage.migrate import alembic_config, current, upgrade
from storage.models import Base, BindFailure, TgUser
from tests.support.clock import test_clock

# The indexes that serve a person's list views: records by stored time, by status and by year.
VIEW_INDEXES = {
    "ix_inventories_identity_time": ("inventories", ["identity_key", "app_time"]),
    "ix_inventories_identity_group_time": ("inventories", ["identity_key", "status_group", "app_time"]),
    "ix_inventories_identity_year": ("inventories", ["identity_key", "decl_year", "counted"]),
    "ix_tax_slips_identity_time": ("tax_slips", ["identity_key", "return_time"]),
    "ix_tax_slips_identity_status_time": ("tax_slips", ["identity_key", "status", "return_time"]),
}


# -- pragmas ---------------------------------------------------------------------------------------


async def test_sqlite_pragmas_are_asserted_at_startup(sqlite_db: Database) -> None:
    found = await sqlite_db.check()
    assert found["backend"] == "sqlite"
    assert str(found["journal_mode"]).lower() == "wal"
    assert found["foreign_keys"] == 1
    assert int(found["busy_timeout"]) >= 5000


async def test_every_pooled_sqlite_connection_has_the_pragmas(sqlite_db: Database) -> None:
    """Not just the first connection: read and write engines, several connections at once."""
    for engine in (sqlite_db.read_engine, sqlite_db.write_engine):
        conns = []
        try:
            for _ in range(3):
                # Each stays checked out, so the pool has to open a new one for the next.
                conn = await engine.connect()
                conns.append(conn)
                assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
                assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() >= 5000
                await conn.rollback()  # end the (IMMEDIATE, on the write engine) transaction
        finally:
            for conn in conns:
                await conn.close()


async def test_the_ingest_writer_keeps_savepoints_and_a_batch_of_pages_in_memory(sqlite_db: Database) -> None:
    """The synchronous writer (every ingest batch): statement journal in memory, a page cache the
    size of WRITER_CACHE_KIB; the other connections keep SQLite's default cache."""
    def pragmas(session: Session) -> tuple[int, int]:
        conn = session.connection()
        return (conn.exec_driver_sql("PRAGMA temp_store").scalar(), conn.exec_driver_sql("PRAGMA cache_size").scalar())

    assert await sqlite_db.run_write(pragmas) == (2, -WRITER_CACHE_KIB)  # 2: MEMORY
    async with sqlite_db.read_engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA temp_store")).scalar() == 2
        assert (await conn.exec_driver_sql("PRAGMA cache_size")).scalar() != -WRITER_CACHE_KIB


async def test_check_raises_for_an_in_memory_database() -> None:
    """ ":memory:" cannot be in WAL mode (journal_mode reads back "memory"): refuse to run on it."""
    db = Database("sqlite+aiosqlite:///:memory:", clock=test_clock())
    try:
        with pytest.raises(DatabaseError, match="journal_mode"):
            await db.check()
    finally:
        await db.dispose()


async def test_check_raises_when_busy_timeout_is_too_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 1000)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'short.db'}", clock=test_clock())
    try:
        with pytest.raises(DatabaseError, match="busy_timeout"):
            await db.check()
    finally:
        await db.dispose()


async def test_check_raises_when_the_database_cannot_be_opened(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}", clock=test_clock())
    try:
        with pytest.raises(DatabaseError, match="cannot open"):
            await db.check()
    finally:
        await db.dispose()
        # aiosqlite stops a connection that failed to open from its worker thread, which then
        # reports to this test's event loop: let it, before the loop closes (else the thread
        # fails on a closed loop during a later test).
        workers = [t for t in set(threading.enumerate()) - before if "_connection_worker_thread" in t.name]
        for _ in range(500):
            if not any(t.is_alive() for t in workers):
                break
            await asyncio.sleep(0.01)


async def test_postgres_check_and_foreign_keys(db: Database) -> None:
    """Both backends enforce foreign keys (a binding to a missing user is refused)."""
    info = await db.check()
    assert info["backend"] == ("sqlite" if db.is_sqlite else "postgresql")
    from sqlalchemy.exc import IntegrityError

    from storage.models import Binding

    with pytest.raises(IntegrityError):
        async with db.write() as s:
            s.add(Binding(telegram_user_id=1, account_pk=999, chat_id=1, tag="deadbeef", method="link"))


async def test_write_transactions_begin_immediate(sqlite_db: Database, tmp_path: Path) -> None:
    """A write() transaction holds the write lock from its first statement, even a read."""
    path = tmp_path / "test.db"
    async with sqlite_db.write() as s:
        await s.execute(select(func.count()).select_from(TgUser))  # a read only
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
    # Readers are not blocked by that: read() uses a plain BEGIN.
    async with sqlite_db.write() as w:
        await w.execute(select(func.count()).select_from(TgUser))
        async with sqlite_db.read() as r:
            assert (await r.execute(select(func.count()).select_from(TgUser))).scalar_one() == 0


async def test_write_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            s.add(TgUser(telegram_user_id=42))
            await s.flush()
            raise RuntimeError("boom")
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(TgUser))).scalar_one() == 0


# -- migrations ------------------------------------------------------------------------------------


def _diff(conn: Connection, metadata: MetaData = Base.metadata) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return compare_metadata(ctx, metadata)


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def test_migrations_match_the_models(db: Database) -> None:
    """A model change without a migration makes this fail."""
    async with db.read_engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []
    assert await current(db) == _head()


async def test_compare_detects_a_model_without_a_migration(db: Database) -> None:
    """The check above is live: a column or index that exists only in the models is a difference."""
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["tg_users"].append_column(Column("not_migrated", Integer))
    Index("ix_not_migrated", changed.tables["inventories"].c.order_no)
    async with db.read_engine.connect() as conn:
        diff = await conn.run_sync(_diff, changed)
    kinds = {(d[0], getattr(d[-1], "name", None)) for d in diff}
    assert ("add_column", "not_migrated") in kinds
    assert ("add_index", "ix_not_migrated") in kinds


async def test_upgrade_is_idempotent(db: Database) -> None:
    await upgrade(db)
    await upgrade(db)
    assert await current(db) == _head()


async def test_view_indexes_exist(db: Database) -> None:
    def indexes(conn: Connection) -> dict[str, tuple[str, list[str]]]:
        from sqlalchemy import inspect

        insp = inspect(conn)
        return {
            ix["name"]: (table, list(ix["column_names"]))
            for table in ("inventories", "tax_slips")
            for ix in insp.get_indexes(table)
        }

    async with db.read_engine.connect() as conn:
        found = await conn.run_sync(indexes)
    for name, spec in VIEW_INDEXES.items():
        assert found.get(name) == spec, name


async def test_sqlite_list_queries_use_the_view_indexes(sqlite_db: Database) -> None:
    """The planner really picks them for a person's first page (no full scan, no temp sort)."""
    key = b"\x01" * 32
    plans = {
        "ix_tax_slips_identity_time": "SELECT id FROM tax_slips WHERE identity_key = :k "
        "ORDER BY return_time DESC, id DESC LIMIT 5",
        "ix_tax_slips_identity_status_time": "SELECT id FROM tax_slips WHERE identity_key = :k AND status = 2 "
        "ORDER BY return_time DESC, id DESC LIMIT 5",
        "ix_inventories_identity_time": "SELECT id FROM inventories WHERE identity_key = :k "
        "ORDER BY app_time DESC, id DESC LIMIT 5",
        "ix_inventories_identity_group_time": "SELECT id FROM inventories WHERE identity_key = :k "
        "AND status_group = 'released' ORDER BY app_time DESC, id DESC LIMIT 5",
        "ix_inventories_identity_year": "SELECT sum(total_value) FROM inventories WHERE identity_key = :k "
        "AND decl_year = 2025 AND counted = 1",
    }
    async with sqlite_db.read() as s:
        for index, sql in plans.items():
            rows = (await s.execute(text("EXPLAIN QUERY PLAN " + sql), {"k": key})).all()
            detail = " | ".join(str(r[-1]) for r in rows)
            assert index in detail, (index, detail)
            assert "SCAN" not in detail.replace(f"USING INDEX {index}", ""), detail


# -- concurrency -----------------------------------------------------------------------------------


async def test_concurrent_writers_never_see_database_is_locked(tmp_path: Path) -> None:
    """8 writers (separate engines, as separate processes would be) × 100 read-then-write
    transactions through Database.write(): every one commits, none fails with "locked"."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    setup = Database(url, clock=test_clock())
    await setup.check()
    await upgrade(setup)
    await setup.dispose()

    writers, per_writer = 8, 100
    errors: list[BaseException] = []

    async def writer(n: int) -> None:
        db = Database(url, clock=test_clock())
        try:
            for i in range(per_writer):
                try:
                    async with db.write() as s:
                        # read, then write: the pattern that fails under a DEFERRED BEGIN
                        seen = (await s.execute(select(func.count()).select_from(BindFailure))).scalar_one()
                        s.add(BindFailure(telegram_user_id=n * 1000 + i))
                        await s.flush()
                        assert seen >= 0
                except OperationalError as exc:  # pragma: no cover - the failure being tested for
                    errors.append(exc)
        finally:
            await db.dispose()

    await asyncio.gather(*(writer(n) for n in range(writers)))
    assert [str(e) for e in errors] == []
    check = Database(url, clock=test_clock())
    try:
        async with check.read() as s:
            total = (await s.execute(select(func.count()).select_from(BindFailure))).scalar_one()
            distinct = (await s.execute(select(func.count(func.distinct(BindFailure.telegram_user_id))))).scalar_one()
    finally:
        await check.dispose()
    assert total == distinct == writers * per_writer


async def test_run_read_sees_committed_writes_on_both_backends(db: Database) -> None:
    async with db.write() as s:
        s.add(TgUser(telegram_user_id=4242, language="en"))

    def load(session: Any, tg_id: int) -> str | None:
        user = session.get(TgUser, tg_id)
        return None if user is None else user.language

    assert await db.run_read(load, 4242) == "en"
    assert await db.run_read(load, 4343) is None


async def test_sqlite_inline_reads_have_the_pragmas_and_take_no_lock(sqlite_db: Database) -> None:
    """The handlers' inline reads: same pragmas, autocommit (no BEGIN), so a writer holding the
    write lock never blocks them."""
    assert sqlite_db.sync_read_engine is not None
    with sqlite_db.sync_read_engine.connect() as conn:
        found = db_module._read_pragmas(conn)
    assert str(found["journal_mode"]).lower() == "wal" and found["foreign_keys"] == 1
    assert int(found["busy_timeout"]) >= 5000
    async with sqlite_db.write() as s:
        s.add(TgUser(telegram_user_id=77, language="zh_CN"))
        await s.flush()  # the write lock is held from here to the end of the block
        count = await sqlite_db.run_read(
            lambda session: session.execute(select(func.count(TgUser.telegram_user_id))).scalar_one()
        )
        assert count == 0  # the uncommitted row is invisible, and the read did not wait


async def test_instances_starting_together_migrate_once(tmp_path: Path) -> None:
    """Several `swbot run` instances start at once on one fresh PostgreSQL schema: the advisory
    lock lets one migrate while the others wait, then find the schema at head (no error)."""
    import os
    import uuid

    import asyncpg

    from tests.conftest import POSTGRES_ENV, _postgres_problem

    url = os.environ.get(POSTGRES_ENV)
    if not url or await _postgres_problem(url):
        pytest.skip(f"needs a PostgreSQL server at {POSTGRES_ENV}")
    schema = "t_" + uuid.uuid4().hex[:12]
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    dbs = [Database(url, clock=test_clock(), connect_args={"server_settings": {"search_path": schema}})
           for _ in range(4)]
    try:
        await asyncio.gather(*(upgrade(d) for d in dbs))
        assert {await current(d) for d in dbs} == {_head()}
    finally:
        for d in dbs:
            await d.dispose()
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def test_an_update_reads_on_one_session_and_gives_its_connection_back(db: Database) -> None:
    """Database.reader(): an update's reads before its reply share one session (on PostgreSQL one
    pooled connection, held between them); close() gives it back before Telegram is called, and a
    read after that is a run_read of its own that holds nothing once done."""

    def one(session: Session) -> int:
        return int(session.execute(text("SELECT 1")).scalar_one())

    pool: Any = db.read_engine.pool
    reads = db.reader()
    assert await reads.run(one) == 1
    if not db.is_sqlite:
        assert pool.checkedout() == 1  # kept for the update's next read
    assert await reads.run(one) == 1
    await reads.close()
    assert db.is_sqlite or pool.checkedout() == 0
    assert await reads.run(one) == 1  # after the reply: still answers, holds nothing
    assert db.is_sqlite or pool.checkedout() == 0
    await reads.close()  # twice is harmless
