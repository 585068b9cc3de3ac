"""Benchmark (a): CEB ingest throughput against a bare insert of the same rows, in one run.

    .venv/bin/python bench/ingest_throughput.py [--consumers 60] [--seed 1] [--limit N] [--keep DIR]
        [--postgres URL] [--workers 1,2,4] [--repeat 3]

1. `bot.demo.generate` writes a demo feed; every file is read into memory first (no disk reads are
   timed on either side).
2. **swbot, SQLite**: the feed through `storage.feed.ingest_feed` exactly as `swbot ingest` runs it
   (batches of 512 messages, one transaction each with a savepoint per message; parsed in a worker
   process when the machine has a core to spare, as the CLI decides), into a fresh migrated SQLite
   database (WAL, synchronous=FULL, BEGIN IMMEDIATE). Its process start-up is in the timing. The
   same again with parsing inline, for comparison. The statements SQLite runs are counted in that
   second run only (a trace callback on the writer's connection: SAVEPOINT and RELEASE included);
   the callback makes SQLite expand every statement's SQL, ≈ 10 % of the writer's CPU, which is
   the benchmark's and not swbot's, so the timed run the ratio uses has none.
3. **bare, one txn**: the same rows (derived from the same messages, untimed), inserted with the
   standard library's `sqlite3` into another fresh migrated database with the same pragmas, in a
   single transaction with `executemany` per table: the raw insert speed of this machine, no
   parsing, no lookups, no derived state. The target: swbot msg/s ÷ this ≥ 0.1. Steps 2 (with
   the parser process) and 3 take turns `--repeat` times, and the ratio is the median of the
   pairs': a bare run lasts a few tenths of a second, and this machine's speed moves by tens of
   percent from one minute to the next.
4. For context, the old floor: the same rows with one `BEGIN IMMEDIATE … COMMIT` per message.
5. **PostgreSQL** (with `--postgres URL`, default `$SWBOT_TEST_POSTGRES_URL`): the feed as
   `swbot ingest --workers N` runs it, for each N of `--workers`, each into a fresh database on that
   server (created and dropped here): N = 1 in this process (plus a parser process), N > 1 in N
   worker processes (`storage.feed.ingest_feed_parallel`). Their start-up is in the timing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
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
from storage.db import WRITER_CACHE_KIB, Database
from storage.feed import FeedItem, WorkerSetup, ingest_feed, ingest_feed_parallel
from storage.ingest import ACCEPTED, BATCH_SIZE, DUPLICATE, PG_BATCH_SIZE, Ingestor, iter_paths
from storage.migrate import upgrade
from storage.quarantine import Quarantine
from storage.vault import Keys, Vault

CLOCK = Clock.system()  # measurements run on the real clock


TARGET = 0.1  # swbot msg/s ÷ bare one-transaction msg/s
SECRET = b"bench-master-secret-0123456789-abcdefghijklmnop"
MAX_BYTES = 10 * 1024 * 1024


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
    pragmas = ("busy_timeout=10000", "journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL",
               "temp_store=MEMORY", f"cache_size=-{WRITER_CACHE_KIB}")  # as swbot's writer (storage.db)
    for pragma in pragmas:
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
             "tax_status_events", "list_requests", "list_request_lines", "request_receipts"]
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


async def fresh_db(url: str) -> Database:
    db = Database(url, clock=CLOCK)
    await db.check()
    await upgrade(db)
    return db


def _count_statements(db: Database) -> list[int]:
    """A counter of the statements SQLite runs on the writer's connections (every one, whichever
    layer sends it: a trace callback set as each connection opens)."""
    counter = [0]

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        def trace(_sql: str) -> None:
            counter[0] += 1

        dbapi_conn.set_trace_callback(trace)

    assert db.sync_write_engine is not None
    event.listen(db.sync_write_engine, "connect", on_connect)
    return counter


def _items(data: list[bytes]) -> list[FeedItem]:
    return [FeedItem(f"m{i:06d}.xml", d) for i, d in enumerate(data)]


def _tally(outcome: dict[str, int]) -> Any:
    def on_results(batch: Any) -> None:
        for _item, result in batch:
            outcome[result.status] = outcome.get(result.status, 0) + 1

    return on_results


async def swbot_sqlite(
    work: Path, vault: Vault, data: list[bytes], parsers: int, *, name: str, count: bool = False
) -> tuple[float, dict[str, int], int | None, float]:
    """Seconds, outcome counts, statements SQLite ran (with `count`, else None), CPU seconds of
    this process (its threads; not the parser processes)."""
    db = await fresh_db(f"sqlite+aiosqlite:///{work / f'{name}.db'}")
    counter = _count_statements(db) if count else None
    await db.dispose()  # connections open anew (with the trace callback)
    ing = Ingestor(db, vault, Quarantine(work / "quarantine", vault, CLOCK), max_bytes=MAX_BYTES)
    outcome: dict[str, int] = {}
    start, cpu = time.perf_counter(), time.process_time()
    await ingest_feed(ing, _items(data), _tally(outcome), parsers=parsers)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await db.dispose()
    return elapsed, outcome, None if counter is None else counter[0], cpu


async def swbot_postgres(server: str, work: Path, data: list[bytes], workers: int) -> tuple[float, dict[str, int]]:
    """`swbot ingest --workers N` into a fresh database on `server` (dropped afterwards)."""
    import asyncpg

    name = f"swbot_bench_{uuid.uuid4().hex[:10]}"
    admin = server.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = server.rsplit("/", 1)[0] + "/" + name
    try:
        db = await fresh_db(url)
        keys = Keys.derive(SECRET)
        vault = Vault(keys)
        quarantine_dir = work / f"quarantine-pg-{workers}"
        outcome: dict[str, int] = {}
        start = time.perf_counter()
        if workers == 1:
            ing = Ingestor(db, vault, Quarantine(quarantine_dir, vault, CLOCK), max_bytes=MAX_BYTES)
            await ingest_feed(ing, _items(data), _tally(outcome), parsers=_cli_parsers(len(data), PG_BATCH_SIZE))
        else:
            setup = WorkerSetup(url, keys, quarantine_dir, MAX_BYTES, PG_BATCH_SIZE, CLOCK)
            await ingest_feed_parallel(setup, _items(data), _tally(outcome), workers=workers)
        elapsed = time.perf_counter() - start
        await db.dispose()
        return elapsed, outcome
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def _check(outcome: dict[str, int], n: int) -> None:
    if outcome.get(ACCEPTED, 0) + outcome.get(DUPLICATE, 0) != n:
        raise SystemExit(f"ingest did not accept the demo feed: {outcome}")


def _cli_parsers(files: int, batch_size: int = BATCH_SIZE) -> int:
    from bot.cli import _parsers

    return _parsers(files, batch_size)


async def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--consumers", type=int, default=60, help="demo consumers (default 60 ≈ 4,700 messages)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N messages")
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    ap.add_argument("--postgres", default=os.environ.get("SWBOT_TEST_POSTGRES_URL"), metavar="URL",
                    help="a PostgreSQL server (postgresql+asyncpg://…/db); default $SWBOT_TEST_POSTGRES_URL")
    ap.add_argument("--workers", default="1,2,4", help="PostgreSQL worker counts to run (default 1,2,4)")
    ap.add_argument("--repeat", type=int, default=3, help="swbot/bare pairs on SQLite (default 3; the median counts)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat takes 1 or more")

    work = args.keep or Path(tempfile.mkdtemp(prefix="swbot-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        demo.generate(work / "demo", consumers=args.consumers, seed=args.seed)
        data = [p.read_bytes() for p in iter_paths([str(work / "demo" / "ceb")])]
        if args.limit:
            data = data[: args.limit]
        n = len(data)
        print(f"demo feed: {n} messages, {sum(map(len, data)) / 1e6:.1f} MB "
              f"({args.consumers} consumers, seed {args.seed}; generated in {time.perf_counter() - t:.1f} s); "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        vault = Vault(Keys.derive(SECRET))
        parsers = _cli_parsers(n)

        now = CLOCK.now()
        rows = [rows_of(m, vault, now) for m in data]  # the bare inserts' rows (untimed)
        n_rows = sum(r.count() for r in rows)
        print(f"rows per run: {n_rows} ({n_rows / n:.1f} per message)")
        # This machine's speed moves by tens of percent from one minute to the next (a bare run
        # lasts a few tenths of a second): swbot and the bare insert take turns, `--repeat` times,
        # and the ratio is the median of the pairs'.
        how = f"{parsers} parser process{'es' if parsers > 1 else ''}" if parsers else "parsing inline"
        ratios = []
        for i in range(args.repeat):
            secs, outcome, _, cpu = await swbot_sqlite(work, vault, data, parsers, name=f"swbot-{i}")
            _check(outcome, n)
            bare_db = work / f"bare-one-{i}.db"
            await (await fresh_db(f"sqlite+aiosqlite:///{bare_db}")).dispose()
            one_s = bare_one_transaction(bare_db, rows)
            ratios.append(one_s / secs)
            print(f"swbot, SQLite ({how:18}): {secs:7.2f} s  {n / secs:9.1f} msg/s  {n_rows / secs:10.0f} rows/s"
                  f"  ({cpu / n * 1e6:.0f} µs CPU here per message)")
            print(f"bare, one txn              : {one_s:7.2f} s  {n / one_s:9.1f} msg/s  {n_rows / one_s:10.0f} rows/s"
                  f"  ratio {ratios[-1]:.3f}")
        secs, outcome, statements, cpu = await swbot_sqlite(work, vault, data, 0, count=True, name="swbot-inline")
        _check(outcome, n)
        await (await fresh_db(f"sqlite+aiosqlite:///{work / 'bare.db'}")).dispose()
        bare_s = bare_per_message(work / "bare.db", rows)
        assert statements is not None
        print(f"swbot, SQLite (parsing inline    ): {secs:7.2f} s  {n / secs:9.1f} msg/s  {n_rows / secs:10.0f} rows/s"
              f"  ({statements / n:.2f} statements (counted here), {cpu / n * 1e6:.0f} µs CPU here per message)")
        print(f"bare, txn/message (context): {bare_s:7.2f} s  {n / bare_s:9.1f} msg/s  {n_rows / bare_s:10.0f} rows/s")
        ratio = statistics.median(ratios)
        print(f"ratio swbot/bare one txn: {ratio:.3f} (median of {', '.join(f'{r:.3f}' for r in ratios)})"
              f"  target >= {TARGET}: {'MET' if ratio >= TARGET else 'MISSED'}")

        if args.postgres:
            base = None
            for workers in (int(w) for w in args.workers.split(",")):
                secs, outcome = await swbot_postgres(args.postgres, work, data, workers)
                _check(outcome, n)
                base = base or n / secs
                print(f"swbot, PostgreSQL, {workers} worker{'s' if workers > 1 else ' '}: {secs:7.2f} s"
                      f"  {n / secs:9.1f} msg/s  ({n / secs / base:.2f}x one worker)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
