"""storage.accounts: the CSV rules, upsert by account id, and what a rejected row leaves behind."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.domain.identity import make_id_number
from storage.accounts import COLUMNS, import_accounts
from storage.db import Database
from storage.models import Account
from storage.vault import Vault
from tests.support.clock import test_clock
from tests.support.storage import Person, accounts_csv, people, table_checksums

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)


HEADER = ",".join(COLUMNS) + "\n"


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(r + "\n" for r in rows)).encode("utf-8")


async def account(db: Database, account_id: str) -> Account | None:
    async with db.read() as s:
        return (await s.execute(select(Account).where(Account.account_id == account_id))).scalar_one_or_none()


async def test_import_encrypts_and_indexes(db: Database, vault: Vault) -> None:
    persons = people(3)
    report = await import_accounts(db, vault, accounts_csv(persons))
    assert (report.imported, report.updated, report.rejected, report.problems) == (3, 0, 0, [])
    for p in persons:
        row = await account(db, p.account_id)
        assert row is not None
        assert row.id_type == "1"
        assert row.identity_key == vault.identity_index("1", p.id_number)
        assert row.phone_key == vault.phone_index(p.phone)
        assert vault.decrypt(row.name_enc, "accounts.name") == p.name
        assert vault.decrypt(row.id_number_enc, "accounts.id_number") == p.id_number
        assert vault.decrypt(row.phone_enc, "accounts.phone") == p.phone
    assert report.line() == "imported=3 updated=0 rejected=0"


async def test_bom_is_tolerated(db: Database, vault: Vault) -> None:
    report = await import_accounts(db, vault, accounts_csv(people(2), bom=True))
    assert (report.imported, report.rejected) == (2, 0)


async def test_header_with_spaces_and_other_order(db: Database, vault: Vault) -> None:
    p = people(1)[0]
    data = csv_bytes(f"{p.phone},{p.id_number},{p.name},1,{p.account_id}",
                     header="phone, id_number ,name,id_type,account_id\n")
    report = await import_accounts(db, vault, data)
    assert (report.imported, report.rejected) == (1, 0)
    row = await account(db, p.account_id)
    assert row is not None and vault.decrypt(row.name_enc, "accounts.name") == p.name


@pytest.mark.parametrize(
    "header", ["account_id,name,id_type,id_number\n", "id,name,id_type,id_number,phone\n", "", "\n"]
)
async def test_bad_header_rejects_the_file(db: Database, vault: Vault, header: str) -> None:
    p = people(1)[0]
    report = await import_accounts(db, vault, csv_bytes(p.csv_row(), header=header))
    assert (report.imported, report.updated, report.rejected) == (0, 0, 1)
    assert "header must be" in report.problems[0]
    assert await account(db, p.account_id) is None


async def test_not_utf8_rejects_the_file(db: Database, vault: Vault) -> None:
    p = people(1)[0]
    report = await import_accounts(db, vault, (HEADER + p.csv_row() + "\n").encode("gbk"))
    assert report.rejected == 1 and report.problems == ["file is not UTF-8"]


def _bad_ids() -> dict[str, str]:
    good = make_id_number("110105", dt.date(1949, 12, 31), 2)
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    future = make_id_number("110105", test_clock().today() + dt.timedelta(days=400), 5)
    return {
        "length": good[:-1],
        "format": good[:10] + "A" + good[11:],
        "checksum": wrong_check,
        "birth_date": make_id_number("110105", dt.date(1949, 1, 1), 1)[:10] + "1340" + "0019",
        "future": future,
    }


@pytest.mark.parametrize("reason", list(_bad_ids()))
async def test_bad_id_numbers_are_rejected_with_their_reason(db: Database, vault: Vault, reason: str) -> None:
    bad = _bad_ids()[reason]
    if reason == "birth_date":
        # a 13th month with a valid check digit, so the date check is what fails
        from stdnum.cn import ric

        bad = bad[:17] + ric.calc_check_digit(bad[:17] + "0")
    report = await import_accounts(db, vault, csv_bytes(f"acct1,张三,1,{bad},13800138000"))
    assert (report.imported, report.rejected) == (0, 1)
    assert report.problems == [f"line 2: id_number: invalid ({reason})"]
    assert bad not in report.problems[0]
    assert await account(db, "acct1") is None


async def test_unknown_region_is_accepted(db: Database, vault: Vault) -> None:
    odd = make_id_number("990426", dt.date(1991, 12, 1), 7)
    report = await import_accounts(db, vault, csv_bytes(f"acct1,张三,1,{odd},13800138000"))
    assert (report.imported, report.rejected) == (1, 0)


async def test_lower_case_x_and_spaces_normalised(db: Database, vault: Vault) -> None:
    report = await import_accounts(db, vault, csv_bytes("acct1,张三,1, 11010519491231002x ,13800138000"))
    assert report.imported == 1
    row = await account(db, "acct1")
    assert row is not None
    assert vault.decrypt(row.id_number_enc, "accounts.id_number") == "11010519491231002X"
    assert row.identity_key == vault.identity_index("1", "11010519491231002X")


@pytest.mark.parametrize(
    "phone", ["13800138000", "+86 138 0013 8000", "8613800138000", "138-0013-8000", "0086-138-0013-8000"]
)
async def test_phone_formats_normalised(db: Database, vault: Vault, phone: str) -> None:
    report = await import_accounts(db, vault, csv_bytes(f"acct1,张三,1,11010519491231002X,{phone}"))
    assert report.imported == 1
    row = await account(db, "acct1")
    assert row is not None
    assert vault.decrypt(row.phone_enc, "accounts.phone") == "13800138000"
    assert row.phone_key == vault.phone_index("+8613800138000")


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("bad id!,张三,1,11010519491231002X,13800138000", "account_id"),
        (",张三,1,11010519491231002X,13800138000", "account_id"),
        ("acct1,,1,11010519491231002X,13800138000", "name"),
        ("acct1," + "张" * 61 + ",1,11010519491231002X,13800138000", "name"),
        ("acct1,张三,3,11010519491231002X,13800138000", "id_type"),
        ("acct1,张三,1,11010519491231002X,", "phone"),
        ("acct1,张三,1,11010519491231002X,call me", "phone"),
        ("acct1,张三,2,,13800138000", "id_number"),
    ],
)
async def test_row_rules(db: Database, vault: Vault, row: str, problem: str) -> None:
    report = await import_accounts(db, vault, csv_bytes(row))
    assert (report.imported, report.rejected) == (0, 1)
    assert report.problems[0].startswith(f"line 2: {problem}:")
    for secret in ("11010519491231002X", "13800138000", "张三"):
        assert secret not in report.problems[0]


async def test_other_id_type_is_not_checked_as_resident_id(db: Database, vault: Vault) -> None:
    report = await import_accounts(db, vault, csv_bytes("acct1,John Smith,2,P1234567,+44 20 7946 0958"))
    assert report.imported == 1
    row = await account(db, "acct1")
    assert row is not None and row.identity_key == vault.identity_index("2", "P1234567")


async def test_upsert_counts_and_changes(db: Database, vault: Vault) -> None:
    a, b, c, d = people(4)
    first = await import_accounts(db, vault, accounts_csv([a, b, c]))
    assert (first.imported, first.updated, first.rejected) == (3, 0, 0)
    moved = Person(b.account_id, "改名字", b.id_number, "13900000001")
    second = await import_accounts(db, vault, accounts_csv([a, moved, c, d]))
    assert (second.imported, second.updated, second.rejected) == (1, 3, 0)
    row = await account(db, b.account_id)
    assert row is not None
    assert vault.decrypt(row.name_enc, "accounts.name") == "改名字"
    assert row.phone_key == vault.phone_index("13900000001")
    async with db.read() as s:
        assert len((await s.execute(select(Account))).scalars().all()) == 4


async def test_id_registered_to_another_account_is_rejected(db: Database, vault: Vault) -> None:
    a, b = people(2)
    await import_accounts(db, vault, accounts_csv([a, b]))
    before = await table_checksums(db)
    thief = Person("acct-new", "冒名者", a.id_number, "13700000000")
    also = Person(b.account_id, b.name, a.id_number, b.phone)  # b taking a's number
    report = await import_accounts(db, vault, accounts_csv([thief, also]))
    assert (report.imported, report.updated, report.rejected) == (0, 0, 2)
    assert all("already registered to another account" in p for p in report.problems)
    assert await table_checksums(db) == before


async def test_same_id_twice_in_one_file(db: Database, vault: Vault) -> None:
    a = people(1)[0]
    twin = Person("acct-twin", "双胞胎", a.id_number, "13700000000")
    report = await import_accounts(db, vault, accounts_csv([a, twin]))
    assert (report.imported, report.rejected) == (1, 1)
    assert report.problems == ["line 3: id_number: already registered to another account"]


async def test_rejected_rows_change_nothing(db: Database, vault: Vault) -> None:
    """A bad row for an existing account leaves that account exactly as it was; good rows around
    it still go in."""
    a, b, c = people(3)
    await import_accounts(db, vault, accounts_csv([a, b]))
    before = await account(db, a.account_id)
    assert before is not None
    data = csv_bytes(
        f"{a.account_id},新名字,1,{a.id_number},not-a-phone",
        c.csv_row(),
        f"{b.account_id},{b.name},1,123,{b.phone}",
    )
    report = await import_accounts(db, vault, data)
    assert (report.imported, report.updated, report.rejected) == (1, 0, 2)
    assert [p.split(":")[0] for p in report.problems] == ["line 2", "line 4"]
    after = await account(db, a.account_id)
    assert after is not None
    assert (after.name_enc, after.phone_enc, after.phone_key, after.updated_at) == (
        before.name_enc, before.phone_enc, before.phone_key, before.updated_at,
    )


async def test_blank_lines_are_skipped(db: Database, vault: Vault) -> None:
    a, b = people(2)
    data = csv_bytes(a.csv_row(), "", ",,,,", b.csv_row())
    report = await import_accounts(db, vault, data)
    assert (report.imported, report.rejected) == (2, 0)
