"""Migration 0004 and the ingest's query plans: receipts are indexed by number only while unlinked
and by list only once linked; receipts already stored keep their links; a list that arrives finds
its unlinked receipts through those partial indexes; and no statement the ingest runs for a message
reads a whole table (each would cost a full pass per message as the tables grow)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import BindParameter, Executable, Insert, TextClause, literal, text
from sqlalchemy.sql import visitors

from storage import ingest
from storage.db import Database
from storage.ingest import _ATTACH_RECEIPTS
from storage.migrate import current, downgrade, head, upgrade

NOW = dt.datetime(2026, 11, 1, 9, 0, 0)
_PARTIAL = {
    "ix_receipts_inventory_id": "inventory_id is not null",
    "ix_receipts_pre_no": "inventory_id is null",
    "ix_receipts_invt_no": "inventory_id is null",
    "ix_receipts_cop_ebc": "inventory_id is null",
}
_RECEIPT = """INSERT INTO receipts (inventory_id, guid, pre_no, invt_no, ebc_code, cop_no, return_status,
    return_time, return_info, created_at) VALUES (NULL, :guid, :pre_no, NULL, 'E1', :cop_no, 120, :now, 'ok', :now)"""


async def _receipt_indexes(db: Database) -> dict[str, str]:
    """Index name → its definition, lower-cased, without quotes and parentheses."""
    if db.is_sqlite:
        sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'receipts' AND sql NOTNULL"
    else:
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'receipts' AND schemaname = CURRENT_SCHEMA"
    async with db.read() as s:
        rows = (await s.execute(text(sql))).all()
    return {name: " ".join(d.lower().replace('"', "").replace("(", " ").replace(")", " ").split()) for name, d in rows}


async def test_receipt_indexes_are_partial(db: Database) -> None:
    indexes = await _receipt_indexes(db)
    assert "ix_receipts_guid" not in indexes  # the unique (guid, status, time) serves that lookup
    for name, condition in _PARTIAL.items():
        assert indexes[name].endswith("where " + condition), indexes[name]


async def test_0004_keeps_receipts_and_goes_down_and_up(db: Database) -> None:
    await downgrade(db, "0003")
    indexes = await _receipt_indexes(db)
    assert "ix_receipts_guid" in indexes and all(" where " not in indexes[n] for n in _PARTIAL)
    async with db.write() as s:
        for n in (1, 2):
            await s.execute(text(_RECEIPT), {"guid": f"g{n}", "pre_no": f"P{n}", "cop_no": f"C{n}", "now": NOW})
    await upgrade(db)
    assert await current(db) == head()
    assert set(_PARTIAL) <= set(await _receipt_indexes(db))
    async with db.write() as s:
        conn = await s.connection()
        attached = (
            await conn.execute(
                _ATTACH_RECEIPTS,
                {"b_list_id": None, "b_pre_no": "P1", "b_invt_no": None, "b_cop_no": "C2", "b_ebc_code": "E1"},
            )
        ).all()
    assert sorted(r.pre_no for r in attached) == ["P1", "P2"]  # one by its preNo, one by copNo + ebcCode


def _typed_sample(param: BindParameter[Any]) -> Any:
    """A literal of the parameter's stored type (a TypeDecorator's own)."""
    stored = getattr(param.type, "impl_instance", param.type)
    try:
        kind = stored.python_type
    except NotImplementedError:  # untyped: the new value of an UPDATE's column, numbers all here
        kind = int
    samples = {int: 7, bool: True, bytes: b"k" * 32, dt.datetime: NOW, dt.date: NOW.date()}
    return literal(samples.get(kind, f"v-{param.key}"), stored)


def _literal_sql(db: Database, stmt: Executable) -> str:
    """The statement with every parameter replaced by a value (an UPDATE has no .params())."""
    bound = visitors.replacement_traverse(
        stmt, {}, lambda e: _typed_sample(e) if isinstance(e, BindParameter) else None
    )
    return str(bound.compile(dialect=db.write_engine.dialect, compile_kwargs={"literal_binds": True}))


async def _plan(db: Database, sql: str) -> str:
    async with db.write() as s:
        if db.is_sqlite:  # (no ANALYZE: swbot never runs it, so this is the plan SQLite uses)
            plan = " | ".join(str(r[-1]) for r in (await s.execute(text("EXPLAIN QUERY PLAN " + sql))).all())
        else:  # (PostgreSQL's autovacuum keeps statistics)
            await s.execute(text("ANALYZE receipts"))
            plan = " | ".join(str(r[0]) for r in (await s.execute(text("EXPLAIN " + sql))).all())
        await s.rollback()
    return plan


async def test_a_list_finds_its_receipts_through_the_partial_indexes(db: Database) -> None:
    async with db.write() as s:
        # Unlinked receipts with other numbers, so that reading them all would cost something.
        rows = [{"guid": f"g{n}", "pre_no": f"P{n}", "cop_no": f"C{n}", "now": NOW} for n in range(2, 2002)]
        await s.execute(text(_RECEIPT), rows)
    plan = await _plan(db, _literal_sql(db, _ATTACH_RECEIPTS))
    for name in ("ix_receipts_pre_no", "ix_receipts_invt_no", "ix_receipts_cop_ebc"):
        assert name in plan, plan
    assert "SCAN receipts" not in plan and "Seq Scan on receipts" not in plan, plan


def _ingest_statements() -> dict[str, Executable]:
    """The ingest's prebuilt reads and updates (inserts read nothing; `_REQUEST_LINES` expands
    its IN list per call, by primary key)."""
    return {
        name: value
        for name, value in vars(ingest).items()
        if isinstance(value, Executable) and not isinstance(value, (Insert, TextClause)) and name != "_REQUEST_LINES"
    }


@pytest.mark.parametrize("name", sorted(_ingest_statements()))
async def test_no_ingest_statement_reads_a_whole_table(sqlite_db: Database, name: str) -> None:
    plan = await _plan(sqlite_db, _literal_sql(sqlite_db, _ingest_statements()[name]))
    scans = [step for step in plan.split(" | ") if step.startswith("SCAN") and step != "SCAN CONSTANT ROW"]
    assert not scans, plan


async def test_a_request_receipt_finds_its_requests_by_number(sqlite_db: Database) -> None:
    # (as one OR beside `kind = ?`, SQLite searched the unique index by kind alone: every request of the kind)
    plan = await _plan(sqlite_db, _literal_sql(sqlite_db, ingest._REQUESTS_OF_RECEIPT))
    assert "ix_list_requests_pre_no (pre_no=?)" in plan and "ix_list_requests_cop (cop_no=?)" in plan, plan
