"""bench/query_latency.py builds its 1,000,000-list database straight into the migrated tables,
around the application. Built small here, so that a migration that adds a column it must fill
breaks this test rather than the benchmark (0003's `draft` did, unnoticed), and so that the rows
it writes are the ones the application's first pages show."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

from bot.domain.records import ListFilter, TaxFilter
from storage import queries
from storage.db import Database
from storage.migrate import upgrade

BENCH = Path(__file__).resolve().parents[2] / "bench" / "query_latency.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_query_latency", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_the_benchmarks_database_builds_into_the_migrated_schema_and_reads_as_the_bot_reads_it(
    tmp_path: Path,
) -> None:
    bench = _bench()
    path = tmp_path / "scale.db"
    url = f"sqlite+aiosqlite:///{path}"
    db = Database(url, clock=bench.CLOCK)
    await upgrade(db)
    await db.dispose()

    keys = bench.build(path, 40, 600, seed=3)

    raw = sqlite3.connect(path)
    try:
        heavy_key, heavy_lists = raw.execute(
            "SELECT identity_key, count(*) FROM inventories GROUP BY identity_key ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        (heavy_slips,) = raw.execute("SELECT count(*) FROM tax_slips WHERE identity_key = ?", (heavy_key,)).fetchone()
        (lists,) = raw.execute("SELECT count(*) FROM inventories").fetchone()
    finally:
        raw.close()
    assert lists == 600
    assert heavy_key in keys and heavy_lists > 1 and heavy_slips > 0

    db = Database(url, clock=bench.CLOCK)
    try:
        page = await db.run_read(queries.clearance_lists_sync, heavy_key, ListFilter(), 0)
        slips = await db.run_read(queries.tax_slips_sync, heavy_key, TaxFilter(), 0)
    finally:
        await db.dispose()
    # every list the builder wrote for that person is one the bot shows (none taken for a draft)
    assert page.total == heavy_lists
    assert slips.total == heavy_slips
    assert page.items and page.items[0].stored_at >= page.items[-1].stored_at
