"""Demo data end to end: `swbot demo-data`, `swbot accounts import`, `swbot ingest` (twice), and
every account's figures against what the generator says a correct ingest must show — through the
CLI on SQLite, and through the storage API on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import cli
from bot.demo import DemoSummary, generate
from bot.domain.records import ListFilter, TaxFilter
from bot.settings import load_settings
from storage import queries
from storage.accounts import import_accounts
from storage.db import Database
from storage.ingest import ACCEPTED, Ingestor, iter_paths
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support.clock import test_clock

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)

CONSUMERS, SEED = 30, 7


async def check_expectations(db: Database, vault: Vault, summary: DemoSummary) -> None:
    """Every account's quota per year, list count and tax-slip count, as the generator computed."""
    checked_years = 0
    async with db.read() as s:
        for e in summary.expectations:
            identity = vault.identity_index("1", e.id_number)
            lists = await queries.clearance_lists(s, identity, ListFilter(), 0)
            slips = await queries.tax_slips(s, identity, TaxFilter(), 0)
            assert (lists.total, slips.total) == (e.lists, e.tax_slips), e.account_id
            for year, consumed in e.consumed.items():
                q = await queries.quota_overview(s, identity, year, summary.today)
                assert (q.consumed, q.counted) == (consumed, e.counted.get(year, 0)), (e.account_id, year)
                checked_years += 1
    assert checked_years >= len(summary.expectations)


def test_demo_data_end_to_end_through_the_cli(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:

    out = tmp_path / "demo"
    today = test_clock().today()
    args = ["demo-data", "--out", str(out), "--consumers", str(CONSUMERS), "--seed", str(SEED)]
    assert cli.main([*args, "--today", today.isoformat()]) == 0
    printed = capsys.readouterr().out.splitlines()
    # the generator's own summary, for the same arguments and day, to compare with
    summary = generate(tmp_path / "again", consumers=CONSUMERS, seed=SEED, today=today)
    assert printed[-1] == (
        f"accounts={summary.accounts} lists={summary.lists} receipts={summary.receipts} "
        f"tax_slips={summary.tax_slips} tax_statuses={summary.tax_statuses} files={summary.files}"
    )
    assert summary.accounts == CONSUMERS and summary.files > CONSUMERS

    assert cli.main(["accounts", "import", str(out / "accounts.csv")]) == 0
    assert capsys.readouterr().out.splitlines() == [f"imported={CONSUMERS} updated=0 rejected=0"]

    assert cli.main(["ingest", str(out / "ceb")]) == 0
    assert capsys.readouterr().out.splitlines() == [f"accepted={summary.files} duplicate=0 rejected=0"]
    assert cli.main(["ingest", str(out / "ceb")]) == 0
    assert capsys.readouterr().out.splitlines() == [f"accepted=0 duplicate={summary.files} rejected=0"]
    assert cli.main(["accounts", "import", str(out / "accounts.csv")]) == 0
    assert capsys.readouterr().out.splitlines() == [f"imported=0 updated={CONSUMERS} rejected=0"]

    settings = load_settings()

    async def verify() -> None:
        db = Database(settings.db_url, clock=test_clock())
        try:
            await check_expectations(db, Vault(settings.keys()), summary)
            from sqlalchemy import func, select

            from storage.models import Inventory, Receipt, TaxSlip, TaxStatusEvent

            async with db.read() as s:

                def count(model: type) -> object:
                    return select(func.count()).select_from(model)

                assert (await s.execute(count(Inventory))).scalar_one() == summary.lists
                assert (await s.execute(count(Receipt))).scalar_one() == summary.receipts
                assert (await s.execute(count(TaxSlip))).scalar_one() == summary.tax_slips
                events = (await s.execute(count(TaxStatusEvent))).scalar_one()
                assert events == summary.tax_slips + summary.tax_statuses
        finally:
            await db.dispose()

    asyncio.run(verify())


async def test_demo_data_on_both_backends(db: Database, vault: Vault, quarantine: Quarantine, tmp_path: Path) -> None:
    """A smaller feed (it still has every awkwardness: lists after their receipts, receipts out of
    order, two lists in one message, a lower-case x) through the storage API, SQLite and PostgreSQL."""
    consumers = 12
    summary = generate(tmp_path / "demo", consumers=consumers, seed=SEED)
    report = await import_accounts(db, vault, (tmp_path / "demo" / "accounts.csv").read_bytes())
    assert (report.imported, report.rejected) == (consumers, 0)
    ing = Ingestor(db, vault, quarantine, max_bytes=10 * 1024 * 1024)
    paths = iter_paths([str(tmp_path / "demo" / "ceb")])
    assert len(paths) == summary.files
    for p in paths:
        result = await ing.ingest(p.read_bytes(), name=p.name)
        assert result.status == ACCEPTED, (p.name, result.reason)
    await check_expectations(db, vault, summary)
