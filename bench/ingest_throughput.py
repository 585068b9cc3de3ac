"""Benchmark (a): CEB ingest throughput against a bare SQLite insert of the same rows, in one run.

    .venv/bin/python bench/ingest_throughput.py [--consumers 60] [--seed 1] [--limit N] [--keep DIR]

1. `bot.demo.generate` writes a demo feed; every file is read into memory first (no disk reads are
   timed on either side).
2. **swbot**: `storage.ingest.Ingestor.ingest` for every message, in sorted file order, into a fresh
   migrated SQLite database (WAL, synchronous=FULL, BEGIN IMMEDIATE, one transaction per message:
   exactly what `swbot ingest` does, minus reading files). The SQL statements it sends are counted
   (a listener on the write engines; its cost, about a microsecond a statement, is in the timing).
3. **bare**: the same rows (derived from the same messages, untimed), inserted with the standard
   library's `sqlite3` into another fresh migrated database with the same pragmas: per message
   `BEGIN IMMEDIATE`, one `INSERT` per head row and `executemany` for its lines, `COMMIT`. That is the
   floor for the contract "one message = one durable transaction" — no parsing, no lookups, no
   derived state, no ORM.
4. For scale, the same rows once more in a single transaction (`executemany` per table): the raw
   insert speed of this machine, which no per-message-durable ingest can approach.

Prints the figures and the verdict on the target: swbot msg/s ÷ bare msg/s ≥ 0.3.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event

from bot import demo
from bot.domain import cbec
from bot.domain.clock import Clock
from bot.domain.identity import InvalidPhone, mask_phone, normalize_phone
from storage.ceb import Inventory, InventoryReturn, ListRequest, RequestReturn, TaxSlip, TaxStatus, parse_message
from storage.db import Database
from storage.ingest import ACCEPTED, DUPLICATE, Ingestor, iter_paths
from storage.migrate import upgrade
from storage.quarantine import Quarantine
from storage.vault import Keys, Vault

CLOCK = Clock.system()  # measurements run on the real clock


TARGET = 0.3
SECRET = b"bench-master-secret-0123456789-abcdefghijklmnop"


def _v(value: Any) -> Any:
    """A Python value as SQLAlchemy stores it in SQLite (Dec5 → scaled int, times → ISO text)."""
    if isinstance(value, Decimal):
        return int(value * 100000)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass
class Head:
    table: str
    row: dict[str, Any]
    child_table: str | None = None
    fk: str | None = None
    children: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class MessageRows:
    log: dict[str, Any]
    heads: list[Head]

    def count(self) -> int:
        return 1 + sum(1 + len(h.children) for h in self.heads)


def rows_of(data: bytes, vault: Vault, now: datetime) -> MessageRows:
    """The rows one message stores (head rows, line rows, status events, the ingest log row)."""
    msg = parse_message(data)
    log = {"guid": msg.guid, "sha256": hashlib.sha256(data).digest(), "msg_type": msg.msg_type,
           "source": "file", "received_at": now}
    heads: list[Head] = []
    for item in msg.items:
        if isinstance(item, Inventory):
            goods = sum((ln.total_price for ln in item.lines), Decimal(0))
            try:
                masked = mask_phone(normalize_phone(item.buyer_telephone))
            except InvalidPhone:
                masked = "-"
            row = {
                "guid": item.guid, "app_type": item.app_type, "app_time": item.app_time, "order_no": item.order_no,
                "ebp_code": item.ebp_code, "ebp_name": item.ebp_name, "ebc_code": item.ebc_code,
                "ebc_name": item.ebc_name, "logistics_no": item.logistics_no, "logistics_code": item.logistics_code,
                "logistics_name": item.logistics_name, "cop_no": item.cop_no, "pre_no": item.pre_no,
                "invt_no": item.invt_no, "decl_date": item.decl_date, "decl_year": item.decl_date.year,
                "customs_code": item.customs_code, "port_code": item.port_code, "trade_mode": item.trade_mode,
                "country": item.country, "currency": item.currency, "freight": item.freight,
                "insured_fee": item.insured_fee, "goods_value": goods,
                "total_value": cbec.dutiable_value([goods], item.freight, item.insured_fee),
                "identity_key": vault.identity_index(item.buyer_id_type, item.buyer_id_number),
                "buyer_phone_key": vault.phone_index(item.buyer_telephone), "buyer_phone_masked": masked,
                "address_key": vault.address_index(item.consignee_address), "status": None, "status_time": None,
                "status_info": None, "status_group": cbec.IN_PROGRESS, "counted": False,
                "cancelled": item.app_type == "3", "draft": not item.declared, "returned_value": Decimal(0),
                "returned_items": 0, "created_at": now,
            }
            lines = [
                {"gnum": ln.gnum, "item_no": ln.item_no, "gcode": ln.gcode, "gname": ln.gname, "country": ln.country,
                 "currency": ln.currency, "qty": ln.qty, "unit": ln.unit, "price": ln.price,
                 "total_price": ln.total_price}
                for ln in item.lines
            ]
            heads.append(Head("inventories", row, "inventory_lines", "inventory_id", lines))
        elif isinstance(item, InventoryReturn):
            heads.append(Head("receipts", {
                "guid": item.guid, "pre_no": item.pre_no, "invt_no": item.invt_no, "ebc_code": item.ebc_code,
                "cop_no": item.cop_no, "return_status": item.return_status, "return_time": item.return_time,
                "return_info": item.return_info, "created_at": now,
            }))
        elif isinstance(item, TaxSlip):
            heads.append(Head("tax_status_events", _event(item, "CEB816", now)))
            heads.append(Head("tax_slips", {
                "tax_no": item.tax_no, "guid": item.guid, "invt_no": item.invt_no, "return_time": item.return_time,
                "customs_tax": item.customs_tax, "value_added_tax": item.value_added_tax,
                "consumption_tax": item.consumption_tax,
                "total_tax": item.customs_tax + item.value_added_tax + item.consumption_tax,
                "status": item.status, "status_time": item.return_time, "ent_duty_no": item.ent_duty_no,
                "note": item.note, "order_no": item.order_no, "logistics_no": item.logistics_no,
                "customs_code": item.customs_code, "ebc_code": item.ebc_code, "created_at": now,
            }, "tax_lines", "tax_slip_id", [
                {"gnum": ln.gnum, "gcode": ln.gcode, "tax_price": ln.tax_price, "customs_tax": ln.customs_tax,
                 "value_added_tax": ln.value_added_tax, "consumption_tax": ln.consumption_tax}
                for ln in item.lines
            ]))
        elif isinstance(item, TaxStatus):
            heads.append(Head("tax_status_events", _event(item, "CEB818", now)))
        elif isinstance(item, ListRequest):
            heads.append(Head("list_requests", {
                "kind": item.kind, "doc_no": (item.cop_no or "") if item.kind == "refund" else "",
                "guid": item.guid, "ebc_code": item.ebc_code, "order_no": item.order_no, "invt_no": item.invt_no,
                "cop_no": item.cop_no, "pre_no": item.pre_no, "app_type": item.app_type,
                "app_status": item.app_status, "app_time": item.app_time, "reason": item.reason, "created_at": now,
            }, "list_request_lines", "request_id", [{"gnum": ln.gnum, "qty": ln.qty} for ln in item.lines]))
        elif isinstance(item, RequestReturn):
            heads.append(Head("request_receipts", {
                "kind": item.kind, "guid": item.guid, "ebc_code": item.ebc_code, "cop_no": item.cop_no,
                "pre_no": item.pre_no, "invt_no": item.invt_no, "return_status": item.return_status,
                "return_time": item.return_time, "return_info": item.return_info, "created_at": now,
            }))
    return MessageRows(log, heads)


def _event(item: TaxSlip | TaxStatus, source: str, now: datetime) -> dict[str, Any]:
    return {"tax_no": item.tax_no, "invt_no": item.invt_no, "status": item.status, "ent_duty_no": item.ent_duty_no,
            "return_time": item.return_time, "source": source, "created_at": now}


def _insert_sql(table: str, row: dict[str, Any]) -> str:
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("busy_timeout=10000", "journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def bare_per_message(path: Path, messages: list[MessageRows]) -> float:
    conn = _connect(path)
    start = time.perf_counter()
    for m in messages:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_insert_sql("ingested_messages", m.log), [_v(x) for x in m.log.values()])
        for h in m.heads:
            cur = conn.execute(_insert_sql(h.table, h.row), [_v(x) for x in h.row.values()])
            if h.children:
                rows = [{h.fk: cur.lastrowid, **c} for c in h.children]
                conn.executemany(_insert_sql(h.child_table or "", rows[0]), [[_v(x) for x in r.values()] for r in rows])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def bare_one_transaction(path: Path, messages: list[MessageRows]) -> float:
    """Everything in one transaction, executemany per table (heads get explicit ids)."""
    conn = _connect(path)
    by_sql: dict[str, list[list[Any]]] = {}
    next_id: dict[str, int] = {}

    def add(table: str, row: dict[str, Any]) -> int:
        next_id[table] = next_id.get(table, 0) + 1
        full = {"id": next_id[table], **row}
        by_sql.setdefault(_insert_sql(table, full), []).append([_v(x) for x in full.values()])
        return next_id[table]

    for m in messages:  # building the parameter lists is not timed
        add("ingested_messages", m.log)
        for h in m.heads:
            head_id = add(h.table, h.row)
            for c in h.children:
                add(h.child_table or "", {h.fk or "": head_id, **c})
    order = ["ingested_messages", "inventories", "inventory_lines", "receipts", "tax_slips", "tax_lines",
             "tax_status_events"]
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for table in order:
        for sql, params in by_sql.items():
            if sql.startswith(f"INSERT INTO {table} ("):
                conn.executemany(sql, params)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


async def fresh_db(path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}", clock=CLOCK)
    await db.check()
    await upgrade(db)
    return db


async def swbot_ingest(
    path: Path, quarantine_dir: Path, vault: Vault, data: list[bytes]
) -> tuple[float, dict[str, int], int]:
    """Seconds, outcome counts, and SQL statements sent (BEGIN included; COMMIT is not a statement)."""
    db = await fresh_db(path)
    ing = Ingestor(db, vault, Quarantine(quarantine_dir, vault, CLOCK), max_bytes=10 * 1024 * 1024)
    outcome: dict[str, int] = {}
    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    engines = {db.write_engine.sync_engine, *([db.sync_write_engine] if db.sync_write_engine else [])}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    start = time.perf_counter()
    for m in data:
        r = await ing.ingest(m)
        outcome[r.status] = outcome.get(r.status, 0) + 1
    elapsed = time.perf_counter() - start
    await db.dispose()
    return elapsed, outcome, statements


def chunks(seq: list[bytes], n: int) -> Iterator[list[bytes]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--consumers", type=int, default=60, help="demo consumers (default 60 ≈ 5,000 messages)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N messages")
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="swbot-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        demo.generate(work / "demo", consumers=args.consumers, seed=args.seed)
        data = [p.read_bytes() for p in iter_paths([str(work / "demo" / "ceb")])]
        if args.limit:
            data = data[: args.limit]
        print(f"demo feed: {len(data)} messages, {sum(map(len, data)) / 1e6:.1f} MB "
              f"({args.consumers} consumers, seed {args.seed}; generated in {time.perf_counter() - t:.1f} s)")
        vault = Vault(Keys.derive(SECRET))

        swbot_s, outcome, statements = await swbot_ingest(work / "swbot.db", work / "quarantine", vault, data)
        if outcome.get(ACCEPTED, 0) + outcome.get(DUPLICATE, 0) != len(data):
            raise SystemExit(f"ingest did not accept the demo feed: {outcome}")

        now = CLOCK.now()
        rows = [rows_of(m, vault, now) for m in data]
        n_rows = sum(r.count() for r in rows)
        for name in ("bare.db", "bare1.db"):
            await (await fresh_db(work / name)).dispose()
        bare_s = bare_per_message(work / "bare.db", rows)
        one_s = bare_one_transaction(work / "bare1.db", rows)

        n = len(data)
        print(f"rows per run: {n_rows} ({n_rows / n:.1f} per message)")
        print(f"swbot SQL statements: {statements} ({statements / n:.2f} per message, BEGIN included)")
        print(f"swbot ingest        : {swbot_s:8.2f} s  {n / swbot_s:9.1f} msg/s  {n_rows / swbot_s:10.0f} rows/s")
        print(f"bare, txn/message   : {bare_s:8.2f} s  {n / bare_s:9.1f} msg/s  {n_rows / bare_s:10.0f} rows/s")
        print(f"bare, one txn       : {one_s:8.2f} s  {n / one_s:9.1f} msg/s  {n_rows / one_s:10.0f} rows/s "
              "(context only)")
        ratio = bare_s / swbot_s
        verdict = "MET" if ratio >= TARGET else "MISSED"
        print(f"ratio swbot/bare (per-message transactions): {ratio:.2f}  target >= {TARGET}: {verdict}")
        print(f"ratio swbot/bare (one transaction)         : {one_s / swbot_s:.3f}  (no target)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
