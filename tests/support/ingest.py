"""Scenarios for the ingest tests: people, messages in time order, and their arrival orders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from bot.domain import cbec
from storage.db import Database
from storage.models import Inventory, Receipt, TaxSlip
from storage.vault import Vault
from tests.support.storage import (
    ListSpec,
    ceb621,
    ceb622,
    ceb816,
    ceb818,
    invt_no,
    person,
    pre_no,
)

T0 = dt.datetime(2025, 3, 1, 10, 0, 0)
BUYER = person(1)
OTHER = person(2)


def ms(minutes: int, millis: int = 0) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes, milliseconds=millis)


# -- the order-independence scenario ---------------------------------------------------------------
#
# A list that carries only its pre-entry number; three receipts that name it by pre-entry number
# only (R1), by both numbers (R2, which is how the list number becomes known) and by list number only
# (R3); a tax slip and two tax-slip statuses that name it by list number. The newest receipt (R3,
# status 500) has a LOWER code than an older one (800): newest returnTime wins, not the biggest code.

KEY = "scenario"
LIST = ListSpec(KEY, BUYER, app_time=T0, invt_no=None)
R1 = (120, ms(5, 100))
R2 = (800, ms(7, 200))
R3 = (500, ms(9, 300))
TAX_AT = ms(10, 400)
S2 = (2, dt.datetime(2025, 3, 5, 9, 0, 0, 120_000), "292420250305000001")
S3 = (3, dt.datetime(2025, 3, 6, 9, 0, 0, 500_000))


def scenario() -> dict[str, bytes]:
    return {
        "list": ceb621(LIST),
        "r1": ceb622(KEY + "1", R1[0], R1[1], pre=pre_no(KEY)),
        "r2": ceb622(KEY + "2", R2[0], R2[1], pre=pre_no(KEY), invt=invt_no(KEY)),
        "r3": ceb622(KEY + "3", R3[0], R3[1], invt=invt_no(KEY), info="[Code:3000;Desc:查验]"),
        "tax": ceb816(KEY, TAX_AT),
        "s2": ceb818(KEY, S2[0], S2[1], ent_duty_no=S2[2]),
        "s3": ceb818(KEY, S3[0], S3[1]),
    }


async def check_final(db: Database, vault: Vault) -> None:
    identity = vault.identity_index("1", BUYER.id_number)
    async with db.read() as s:
        inv = (await s.execute(select(Inventory))).scalar_one()
        assert (inv.status, inv.status_time) == R3  # newest returnTime, though 800 > 500
        assert inv.status_info == "[Code:3000;Desc:查验]"
        assert inv.status_group == cbec.IN_PROGRESS
        assert inv.counted is True
        assert (inv.pre_no, inv.invt_no) == (pre_no(KEY), invt_no(KEY))
        assert inv.identity_key == identity
        receipts = (await s.execute(select(Receipt))).scalars().all()
        assert len(receipts) == 3
        assert {r.inventory_id for r in receipts} == {inv.id}
        slip = (await s.execute(select(TaxSlip))).scalar_one()
        assert (slip.status, slip.status_time) == S3[:2]
        assert slip.ent_duty_no == S2[2]
        assert slip.inventory_id == inv.id
        assert slip.identity_key == identity
        assert slip.order_no == LIST.order
        assert slip.total_tax == Decimal("55.42")
