"""No personal data in logs (security.md §8 check 12) on the storage side, and hostile XML through
the whole ingest (check 16): rejected fast, quarantined, no row changed."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from storage import ingest as ingest_module
from storage.accounts import import_accounts
from storage.db import Database
from storage.ingest import ACCEPTED, REJECTED
from storage.migrate import upgrade
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support.clock import test_clock
from tests.support.cpu import cpu_time
from tests.support.storage import (
    ListSpec,
    Person,
    accounts_csv,
    bind,
    ceb621,
    ceb622,
    ceb816,
    ingestor,
    people,
    pre_no,
    table_checksums,
)

ID_SHAPE = re.compile(r"\d{17}[\dXx]")
PHONE_SHAPE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def assert_clean(text: str, persons: list[Person]) -> None:
    assert not ID_SHAPE.search(text), ID_SHAPE.search(text)
    assert not PHONE_SHAPE.search(text), PHONE_SHAPE.search(text)
    for p in persons:
        for secret in (p.name, p.id_number, p.phone, p.address):
            assert secret not in text


async def test_storage_logs_hold_no_personal_data(
    tmp_path: Path, vault: Vault, quarantine: Quarantine, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Everything at DEBUG, the engine created after that (so SQLAlchemy logs its statements too):
    imports with bad rows, accepted, duplicate and rejected messages, an internal failure with its
    traceback. Not one ID number, phone, name or address in the captured log."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQLAlchemy sets itself to WARNING on import
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}", clock=test_clock())
    await db.check()
    await upgrade(db)
    try:
        persons = people(5)
        bad = Person("acct-bad", "坏名字", persons[0].id_number[:-1] + "Y", "13700000000")
        await import_accounts(db, vault, accounts_csv([*persons, bad]))
        await bind(db, persons[0].account_id, 9001)
        ing = ingestor(db, vault, quarantine)
        for i, p in enumerate(persons):
            key = f"log{i}"
            assert (await ing.ingest(ceb621(ListSpec(key, p)))).status == ACCEPTED
            await ing.ingest(ceb622(key, 800, ListSpec(key, p).app_time, pre=pre_no(key)))
            await ing.ingest(ceb816(key, ListSpec(key, p).app_time))
        await ing.ingest(ceb621(ListSpec("log0", persons[0])))  # duplicate
        spec = ListSpec("x", persons[1], id_number=bad.id_number, extra_head={"buyerIdType": "9"})
        assert (await ing.ingest(ceb621(spec))).status == REJECTED
        assert (await ing.ingest(ceb621(ListSpec("y", persons[2], freight="99999999999999")))).status == REJECTED

        async def boom(self: object, *args: object) -> None:
            raise RuntimeError("injected")

        monkeypatch.setattr(ingest_module._Applier, "_refresh_inventory", boom)
        assert (await ing.ingest(ceb621(ListSpec("z", persons[3])))).status == REJECTED
    finally:
        await db.dispose()
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)  # statements were logged
    assert any(r.exc_info for r in caplog.records)  # and a traceback
    assert_clean(caplog.text, [*persons, bad])


HOSTILE = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">'
    b']><CEB621Message xmlns="http://www.chinaport.gov.cn/ceb">&b;</CEB621Message>',
    "xxe": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<CEB621Message xmlns="http://www.chinaport.gov.cn/ceb">&e;</CEB621Message>',
    "deep nesting": b'<CEB621Message xmlns="http://www.chinaport.gov.cn/ceb" guid="x">' + b"<a>" * 100_000,
    "many siblings": b'<CEB622Message xmlns="http://www.chinaport.gov.cn/ceb" guid="x">'
    + b"<InventoryReturn/>" * 200_000 + b"</CEB622Message>",
    "oversize": b"<" + b"x" * (10 * 1024 * 1024 + 1),
    "wrong namespace": b'<CEB621Message xmlns="http://example.com/">x</CEB621Message>',
    "utf-16": "<CEB621Message/>".encode("utf-16"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_hostile_input_rejected_fast_and_quarantined(
    db: Database, vault: Vault, quarantine: Quarantine, case: str
) -> None:
    ing = ingestor(db, vault, quarantine)
    await ing.ingest(ceb621(ListSpec("before", people(1)[0])))
    before = await table_checksums(db)
    with cpu_time() as cpu:  # the parsing runs on this thread
        result = await ing.ingest(HOSTILE[case], name=f"{case}.xml")
    assert cpu.seconds < 1.0
    assert result.status == REJECTED and result.quarantined is not None
    assert await table_checksums(db) == before
    assert quarantine.read(result.quarantined.name) == HOSTILE[case]
