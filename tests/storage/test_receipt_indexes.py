"""Migration 0004: receipts are indexed by number only while unlinked and by list only once linked;
receipts already stored keep their links, and a list that arrives finds its unlinked receipts
through those partial indexes (never by reading every unlinked receipt)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BindParameter, literal, text
from sqlalchemy.sql import visitors

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


async def test_a_list_finds_its_receipts_through_the_partial_indexes(db: Database) -> None:
    params = {"b_list_id": 7, "b_pre_no": "P1", "b_invt_no": "I1", "b_cop_no": "C1", "b_ebc_code": "E1"}
    # (an UPDATE has no .params(): its bound parameters are swapped for the values)
    bound = visitors.replacement_traverse(
        _ATTACH_RECEIPTS, {}, lambda e: literal(params[e.key]) if isinstance(e, BindParameter) else None
    )
    sql = str(bound.compile(dialect=db.write_engine.dialect, compile_kwargs={"literal_binds": True}))
    async with db.write() as s:
        # Unlinked receipts with other numbers, so that reading them all would cost something.
        rows = [{"guid": f"g{n}", "pre_no": f"P{n}", "cop_no": f"C{n}", "now": NOW} for n in range(2, 2002)]
        await s.execute(text(_RECEIPT), rows)
    async with db.write() as s:
        if db.is_sqlite:  # (no ANALYZE: swbot never runs it, so this is the plan SQLite uses)
            plan = " ".join(str(r[-1]) for r in (await s.execute(text("EXPLAIN QUERY PLAN " + sql))).all())
        else:  # (PostgreSQL's autovacuum keeps statistics)
            await s.execute(text("ANALYZE receipts"))
            plan = " ".join(str(r[0]) for r in (await s.execute(text("EXPLAIN " + sql))).all())
    for name in ("ix_receipts_pre_no", "ix_receipts_invt_no", "ix_receipts_cop_ebc"):
        assert name in plan, plan
    assert "SCAN receipts" not in plan and "Seq Scan on receipts" not in plan, plan
