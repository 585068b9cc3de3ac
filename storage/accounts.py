"""The account registry: Single Window real-name personal accounts imported from CSV.

CSV columns `account_id,name,id_type,id_number,phone` (UTF-8, BOM tolerated). ID numbers of type 1
are checked (length, MOD 11-2, real birth date not in the future; an unknown region is fine),
phones normalised; rows are upserted by account id. Rejection reasons name the row and the
column, never the value.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.identity import InvalidIdNumber, InvalidPhone, check_id_number, normalize_phone
from storage.db import Database
from storage.models import Account
from storage.vault import Vault

COLUMNS = ("account_id", "name", "id_type", "id_number", "phone")
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class AccountRow:
    account_id: str
    name: str
    id_type: str
    id_number: str
    phone: str


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"imported={self.imported} updated={self.updated} rejected={self.rejected}"


class RowRejected(ValueError):
    pass


def parse_row(raw: dict[str, str | None], today: date) -> AccountRow:
    def get(col: str) -> str:
        return (raw.get(col) or "").strip()

    account_id = get("account_id")
    if not _ACCOUNT_ID.match(account_id):
        raise RowRejected("account_id: missing or not 1-64 letters, digits, '_', '-', '.'")
    name = " ".join(get("name").split())
    if not name or len(name) > 60:
        raise RowRejected("name: missing or longer than 60 characters")
    id_type = get("id_type")
    if id_type not in {"1", "2"}:
        raise RowRejected("id_type: must be 1 (resident ID card) or 2 (other)")
    id_number = get("id_number")
    if id_type == "1":
        try:
            id_number = check_id_number(id_number, today)
        except InvalidIdNumber as exc:
            raise RowRejected(f"id_number: invalid ({exc.reason})") from None
    elif not id_number or len(id_number) > 60:
        raise RowRejected("id_number: missing or longer than 60 characters")
    try:
        phone = normalize_phone(get("phone"))
    except InvalidPhone:
        raise RowRejected("phone: missing or not a phone number") from None
    return AccountRow(account_id, name, id_type, id_number, phone)


def read_csv(data: bytes) -> tuple[list[tuple[int, dict[str, str | None]]], str | None]:
    """Rows with their line numbers, or a file-level problem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], "file is not UTF-8"
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], f"header must be {','.join(COLUMNS)} (missing {','.join(missing)})"
    reader.fieldnames = header
    return [(reader.line_num, row) for row in reader if any((v or "").strip() for v in row.values())], None


async def import_accounts(db: Database, vault: Vault, data: bytes) -> ImportReport:
    report = ImportReport()
    rows, problem = read_csv(data)
    if problem:
        report.rejected = 1
        report.problems.append(problem)
        return report
    async with db.write() as session:
        for line, raw in rows:
            try:
                row = parse_row(raw, db.clock.today())
                created = await upsert_account(session, vault, row)
            except RowRejected as exc:
                report.rejected += 1
                report.problems.append(f"line {line}: {exc}")
                continue
            if created:
                report.imported += 1
            else:
                report.updated += 1
    return report


async def upsert_account(session: AsyncSession, vault: Vault, row: AccountRow) -> bool:
    """Insert or update by account id; returns True when the account is new."""
    identity_key = vault.identity_index(row.id_type, row.id_number)
    owner = (
        await session.execute(select(Account.account_id).where(Account.identity_key == identity_key))
    ).scalar_one_or_none()
    if owner is not None and owner != row.account_id:
        raise RowRejected("id_number: already registered to another account")
    account = (
        await session.execute(select(Account).where(Account.account_id == row.account_id))
    ).scalar_one_or_none()
    created = account is None
    if account is None:
        account = Account(account_id=row.account_id)
        session.add(account)
    account.id_type = row.id_type
    account.identity_key = identity_key
    account.phone_key = vault.phone_index(row.phone)
    account.name_enc = vault.encrypt(row.name, "accounts.name")
    account.id_number_enc = vault.encrypt(row.id_number, "accounts.id_number")
    account.phone_enc = vault.encrypt(row.phone, "accounts.phone")
    await session.flush()
    return created
