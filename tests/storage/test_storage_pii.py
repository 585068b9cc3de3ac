"""Personal data at rest (security.md §8 check 13): after importing 100 identities and their
clearance lists and tax slips, no ID number, phone (in any spelling) or name is anywhere in the
database: not in the SQLite file or its WAL, not in any PostgreSQL table (SELECT and pg_dump). The
blind index still finds every account."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import select, text

from storage.accounts import import_accounts
from storage.db import Database
from storage.ingest import ACCEPTED
from storage.models import Account, Base
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.conftest import POSTGRES_ENV
from tests.support.storage import (
    ListSpec,
    Person,
    accounts_csv,
    ceb621,
    ceb622,
    ceb816,
    ingest_all,
    ingestor,
    people,
    pre_no,
)

N = 100


def spellings(p: Person) -> list[bytes]:
    """Every form in which this person's data could have been written down."""
    ph = p.phone
    phones = [ph, "86" + ph, "+86" + ph, f"+86 {ph[:3]} {ph[3:7]} {ph[7:]}", f"{ph[:3]}-{ph[3:7]}-{ph[7:]}",
              f"{ph[:3]} {ph[3:7]} {ph[7:]}"]
    ids = [p.id_number, p.id_number.lower(), p.id_number[:17]]
    names = [p.name]
    out = [s.encode("utf-8") for s in (*phones, *ids, *names, p.address)]
    out += [s.encode("utf-16-le") for s in (*ids, *names)]
    return out


async def seed(db: Database, vault: Vault, quarantine: Quarantine) -> list[Person]:
    persons = people(N)
    report = await import_accounts(db, vault, accounts_csv(persons))
    assert report.imported == N
    messages = []
    for i, p in enumerate(persons):
        key = f"pii{i}"
        # the message spells the phone the international way; the account has the national form
        buyer = Person(p.account_id, p.name, p.id_number, "+86 " + p.phone, address=p.address)
        messages.append(ceb621(ListSpec(key, buyer, app_time=dt.datetime(2025, 1, 1) + dt.timedelta(hours=i))))
        messages.append(ceb622(key, 800, dt.datetime(2025, 2, 1) + dt.timedelta(hours=i), pre=pre_no(key)))
        messages.append(ceb816(key, dt.datetime(2025, 2, 2) + dt.timedelta(hours=i)))
    results = await ingest_all(ingestor(db, vault, quarantine), messages)
    assert {r.status for r in results} == {ACCEPTED}
    return persons


def assert_absent(blob: bytes, persons: list[Person], where: str) -> None:
    for p in persons:
        for s in spellings(p):
            assert s not in blob, f"personal data of {p.account_id} found in {where}"


async def test_no_personal_data_at_rest(db: Database, vault: Vault, quarantine: Quarantine, tmp_path: Path) -> None:
    persons = await seed(db, vault, quarantine)
    dumped: list[tuple[str, bytes]] = []
    if db.is_sqlite:
        files = [tmp_path / n for n in ("test.db", "test.db-wal", "test.db-shm")]
        dumped += [(f.name, f.read_bytes()) for f in files if f.exists()]
    else:
        dumped += await _postgres_select_dump(db)
        dumped += await _pg_dump(db)
    # Positive control: what is stored in the clear (platform, order and list numbers) is found,
    # so the search below would see a plaintext ID, phone or name if there were one.
    everything = b"".join(d for _, d in dumped)
    for visible in ("天猫国际", ListSpec("pii7", persons[7]).order, pre_no("pii42")):
        assert visible.encode() in everything
    for where, blob in dumped:
        assert_absent(blob, persons, where)
    # the masked phone is what the suspicious-record check keeps; it must not be the full number
    async with db.read() as s:
        masked = (await s.execute(text("SELECT buyer_phone_masked FROM inventories"))).scalars().all()
    assert len(masked) == N and all("****" in m for m in masked)


async def test_blind_index_finds_every_account(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    persons = await seed(db, vault, quarantine)
    async with db.read() as s:
        for p in persons:
            for spelling in (p.id_number, p.id_number.lower(), f" {p.id_number} "):
                row = (
                    await s.execute(select(Account).where(Account.identity_key == vault.identity_index("1", spelling)))
                ).scalar_one()
                assert row.account_id == p.account_id
            assert vault.decrypt(row.name_enc, "accounts.name") == p.name
            lists = (
                await s.execute(text("SELECT count(*) FROM inventories WHERE identity_key = :k"),
                                {"k": row.identity_key})
            ).scalar_one()
            assert lists == 1


async def test_after_checkpoint_the_main_file_is_clean_too(
    sqlite_db: Database, vault: Vault, quarantine: Quarantine, tmp_path: Path
) -> None:
    """Everything flushed from the WAL into the main file, and the file copied as a backup would be."""
    persons = await seed(sqlite_db, vault, quarantine)
    async with sqlite_db.write() as s:
        await s.execute(text("SELECT 1"))
    await sqlite_db.dispose()  # the last connection closing checkpoints the WAL
    backup = tmp_path / "backup.db"
    shutil.copyfile(tmp_path / "test.db", backup)
    blob = backup.read_bytes()
    assert pre_no("pii99").encode() in blob
    assert_absent(blob, persons, "backup.db")


async def _postgres_select_dump(db: Database) -> list[tuple[str, bytes]]:
    out = []
    async with db.read() as s:
        for table in Base.metadata.sorted_tables:
            rows = (await s.execute(text(f'SELECT CAST(t AS text) FROM "{table.name}" AS t'))).scalars().all()
            out.append((f"{table.name} (text)", "\n".join(rows).encode("utf-8")))
            raw = (await s.execute(select(table))).all()
            cells = b"".join(v for row in raw for v in row if isinstance(v, bytes))
            out.append((f"{table.name} (bytea)", cells))
    return out


async def _pg_dump(db: Database) -> list[tuple[str, bytes]]:
    exe = shutil.which("pg_dump")
    url = os.environ.get(POSTGRES_ENV, "")
    if exe is None or not url:
        return []
    async with db.read() as s:
        schema = (await s.execute(text("SELECT current_schema()"))).scalar_one()
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    done = subprocess.run(
        [exe, "--data-only", "--schema", schema, "--dbname", dsn], capture_output=True, timeout=120, check=True
    )
    assert b"COPY" in done.stdout
    return [("pg_dump", done.stdout)]
