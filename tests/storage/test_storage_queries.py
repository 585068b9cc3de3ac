"""storage.queries: every query is scoped to the bound identity; filters, ordering, paging, the
quota overview, and tax-slip details joined to list lines. Records are made through the real
ingest, two identities interleaved in time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.domain import cbec
from bot.domain.records import PAGE_SIZE, DateRange, ListFilter, TaxFilter
from storage import queries
from storage.db import Database
from storage.ingest import ACCEPTED
from storage.models import Inventory, TaxSlip
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support.storage import (
    Line,
    ListSpec,
    TaxLineSpec,
    ceb621,
    ceb622,
    ceb816,
    ceb818,
    ingestor,
    invt_no,
    person,
    pre_no,
    tax_no,
)

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)


A, B = person(10), person(11)
TODAY = dt.date(2026, 11, 25)


@dataclass(frozen=True)
class L:
    key: str
    at: dt.datetime
    status: int | None
    decl: dt.date | None = None
    cancelled: bool = False
    lines: tuple[Line, ...] = (Line(1, "100.10"), Line(2, "23.45", qty="3"))
    freight: str = "10.01"
    insured: str = "0.5"


def d(*args: int) -> dt.datetime:
    return dt.datetime(*args)  # type: ignore[arg-type]


# A's lists: every status group, both ends of March, three quota years, and enough for paging.
A_LISTS = [
    L("a-none", d(2025, 3, 1, 0, 0, 0), None),
    L("a-120", d(2025, 3, 10, 12, 0, 0), 120),
    L("a-800", d(2025, 3, 31, 23, 59, 59), 800),
    L("a-899", d(2025, 4, 1, 0, 0, 0), 899),
    L("a-100", d(2025, 2, 28, 23, 59, 59), 100),
    L("a-700", d(2025, 2, 15, 8, 0, 0), 700),
    L("a-neg", d(2025, 2, 10, 8, 0, 0), -301),
    L("a-cancel", d(2025, 2, 5, 8, 0, 0), 800, cancelled=True),
    L("a-500", d(2025, 1, 20, 8, 0, 0), 500),
    L("a-2018", d(2018, 6, 1, 9, 0, 0), 800, freight="0", insured="0"),
    L("a-2019", d(2019, 6, 1, 9, 0, 0), 800, lines=(Line(1, "5200.00"),)),
    *(L(f"a-p{i}", d(2025, 5, 1 + i, 9, 0, 0), 800, lines=(Line(1, f"{1000 + i}.99"),)) for i in range(6)),
]
# B's lists sit a minute after A's, with the same statuses, so any leak would show in every view.
B_LISTS = [L("b" + x.key[1:], x.at + dt.timedelta(minutes=1), x.status, x.decl, x.cancelled) for x in A_LISTS[:9]]

COSMETICS = cbec.line_tax(Decimal(200), tariff_rate=Decimal(0), consumption_rate=Decimal("0.15"),
                          vat_rate=Decimal("0.13"), within_limits=True)
A_TAX = {  # list key → (returnTime, lines, status events)
    "a-800": (d(2025, 4, 2, 10, 0, 0), (
        TaxLineSpec(1, "100.10", "9.11"),
        TaxLineSpec(2, "200", str(COSMETICS.vat), consumption=str(COSMETICS.consumption), gcode="3304990099"),
        TaxLineSpec(3, "5", "0.46"),  # no list line 3: quantity and price unknown
    ), []),
    "a-899": (d(2025, 4, 3, 10, 0, 0), (TaxLineSpec(1, "100.10", "9.11"),), [(2, d(2025, 4, 20, 9, 0, 0))]),
    "a-120": (d(2025, 3, 11, 10, 0, 0), (TaxLineSpec(1, "100.10", "9.11"),), [(3, d(2025, 3, 12, 9, 0, 0))]),
    "a-p0": (d(2025, 5, 2, 10, 0, 0), (TaxLineSpec(1, "1000.99", "91.09"),), []),
}
B_TAX = {"b-800": (d(2025, 4, 2, 10, 1, 0), (TaxLineSpec(1, "100.10", "9.11"),), [(2, d(2025, 4, 20, 9, 1, 0))]),
         "b-120": (d(2025, 3, 11, 10, 1, 0), (TaxLineSpec(1, "100.10", "9.11"),), [])}


async def build(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    ing = ingestor(db, vault, quarantine)
    msgs: list[bytes] = []
    for buyer, lists in ((A, A_LISTS), (B, B_LISTS)):
        for x in lists:
            msgs.append(ceb621(ListSpec(
                x.key, buyer, app_time=x.at, decl_date=x.decl, lines=x.lines, freight=x.freight,
                insured=x.insured, app_type="3" if x.cancelled else "1",
            )))
            if x.status is not None:
                msgs.append(ceb622(x.key, x.status, x.at + dt.timedelta(hours=1), pre=pre_no(x.key)))
    for slips in (A_TAX, B_TAX):
        for key, (at, lines, events) in slips.items():
            msgs.append(ceb816(key, at, lines))
            msgs += [ceb818(key, st, when, ent_duty_no=f"EDN{key}" if st == 2 else None) for st, when in events]
    # interleave the two people's messages (and put some slips before their lists)
    msgs = msgs[::2] + msgs[1::2]
    for m in msgs:
        result = await ing.ingest(m)
        assert result.status == ACCEPTED, result.reason


@pytest.fixture
async def data(db: Database, vault: Vault, quarantine: Quarantine) -> Database:
    await build(db, vault, quarantine)
    return db


def ident(vault: Vault, p: object) -> bytes:
    return vault.identity_index("1", p.id_number)  # type: ignore[attr-defined]


async def ids_of(db: Database, model: type, identity: bytes) -> set[int]:
    async with db.read() as s:
        return set((await s.execute(select(model.id).where(model.identity_key == identity))).scalars())


async def all_list_rows(s: object, identity: bytes, flt: ListFilter) -> list:
    out, page = [], 0
    while True:
        p = await queries.clearance_lists(s, identity, flt, page)  # type: ignore[arg-type]
        out += list(p.items)
        if page >= p.pages - 1:
            return out
        page += 1


async def all_tax_rows(s: object, identity: bytes, flt: TaxFilter) -> list:
    out, page = [], 0
    while True:
        p = await queries.tax_slips(s, identity, flt, page)  # type: ignore[arg-type]
        out += list(p.items)
        if page >= p.pages - 1:
            return out
        page += 1


# -- isolation -------------------------------------------------------------------------------------


async def test_every_query_returns_only_the_callers_records(data: Database, vault: Vault) -> None:
    a, b = ident(vault, A), ident(vault, B)
    a_lists, b_lists = await ids_of(data, Inventory, a), await ids_of(data, Inventory, b)
    a_slips, b_slips = await ids_of(data, TaxSlip, a), await ids_of(data, TaxSlip, b)
    assert len(a_lists) == len(A_LISTS) and len(b_lists) == len(B_LISTS)
    assert len(a_slips) == len(A_TAX) and len(b_slips) == len(B_TAX)
    async with data.read() as s:
        for group in (None, *cbec.STATUS_GROUPS):
            rows = await all_list_rows(s, a, ListFilter(group=group))
            assert rows and {r.id for r in rows} <= a_lists
        assert {r.id for r in await all_list_rows(s, a, ListFilter())} == a_lists
        for status in (None, 1, 2, 3):
            assert {r.id for r in await all_tax_rows(s, a, TaxFilter(status=status))} <= a_slips
        assert {r.id for r in await all_tax_rows(s, a, TaxFilter())} == a_slips
        for year in (2018, 2019, 2025):
            counted = await queries.counted_lists(s, a, year, 0)
            assert counted.items and {r.id for r in counted.items} <= a_lists
        # B's record ids, asked for by A: nothing
        for list_id in b_lists:
            assert await queries.list_detail(s, a, list_id) is None
            assert await queries.list_detail(s, b, list_id) is not None
        for tax_id in b_slips:
            assert await queries.tax_slip_detail(s, a, tax_id) is None
            assert await queries.tax_slip_detail(s, b, tax_id) is not None
        # B's numbers searched by A: nothing
        for key in ("b-800", "b-120"):
            for term in (pre_no(key), invt_no(key), ListSpec(key, B).order):
                assert (await queries.clearance_lists(s, a, ListFilter(number=term), 0)).total == 0
        # an identity with no records at all
        nobody = ident(vault, person(99))
        assert (await queries.clearance_lists(s, nobody, ListFilter(), 0)).total == 0
        assert (await queries.tax_slips(s, nobody, TaxFilter(), 0)).total == 0
        q = await queries.quota_overview(s, nobody, 2025, TODAY)
        assert (q.consumed, q.counted, q.years) == (Decimal(0), 0, (2026,))


async def test_quota_is_per_identity(data: Database, vault: Vault) -> None:
    async with data.read() as s:
        qa = await queries.quota_overview(s, ident(vault, A), 2025, TODAY)
        qb = await queries.quota_overview(s, ident(vault, B), 2025, TODAY)
    assert qa.counted == 10 and qb.counted == 4  # B has no paging lists
    assert qa.consumed != qb.consumed


# -- lists: filters, order, paging -----------------------------------------------------------------


def keys_of(rows: list) -> list[str]:
    return [r.order_no.removeprefix("ORD-") for r in rows]


async def test_lists_newest_stored_time_first(data: Database, vault: Vault) -> None:
    async with data.read() as s:
        rows = await all_list_rows(s, ident(vault, A), ListFilter())
    times = [r.stored_at for r in rows]
    assert times == sorted(times, reverse=True)
    assert keys_of(rows)[:2] == ["a-p5", "a-p4"]
    assert keys_of(rows)[-1] == "a-2018"


GROUP_CASES = [
        (cbec.IN_PROGRESS, {"a-none", "a-120", "a-500"}),
        (cbec.RELEASED, {"a-800", "a-899", "a-2018", "a-2019", *(f"a-p{i}" for i in range(6))}),
        (cbec.REJECTED, {"a-100", "a-700", "a-neg", "a-cancel"}),
]


async def test_list_status_groups(data: Database, vault: Vault) -> None:
    async with data.read() as s:
        for group, expected in GROUP_CASES:
            rows = await all_list_rows(s, ident(vault, A), ListFilter(group=group))
            assert set(keys_of(rows)) == expected, group
            assert all(r.group == group for r in rows)


LIST_DATE_CASES = [
        (DateRange(dt.date(2025, 3, 1), dt.date(2025, 3, 31)), {"a-none", "a-120", "a-800"}),  # both ends in
        (DateRange(dt.date(2025, 3, 31), dt.date(2025, 3, 31)), {"a-800"}),  # 23:59:59 on the last day
        (DateRange(dt.date(2025, 4, 1), dt.date(2025, 4, 1)), {"a-899"}),  # 00:00:00 on the first day
        (DateRange(dt.date(2025, 2, 28), dt.date(2025, 3, 1)), {"a-100", "a-none"}),
        (DateRange(None, dt.date(2019, 12, 31)), {"a-2018", "a-2019"}),
        (DateRange(dt.date(2025, 5, 5), None), {"a-p4", "a-p5"}),
        (DateRange(dt.date(2024, 1, 1), dt.date(2024, 12, 31)), set()),
]


async def test_list_date_range_inclusive(data: Database, vault: Vault) -> None:
    async with data.read() as s:
        for dates, expected in LIST_DATE_CASES:
            rows = await all_list_rows(s, ident(vault, A), ListFilter(dates=dates))
            assert set(keys_of(rows)) == expected, dates


async def test_list_filters_combine(data: Database, vault: Vault) -> None:
    flt = ListFilter(group=cbec.RELEASED, dates=DateRange(dt.date(2025, 3, 1), dt.date(2025, 4, 30)))
    async with data.read() as s:
        rows = await all_list_rows(s, ident(vault, A), flt)
    assert keys_of(rows) == ["a-899", "a-800"]


NUMBER_TERMS = [
        pre_no("a-700"),
        pre_no("a-700").lower(),
        " " + pre_no("a-700")[:9] + " " + pre_no("a-700")[9:] + " ",
        invt_no("a-700"),
        invt_no("a-700").replace("I", "i"),
        "ORD-a-700",
]


async def test_list_number_search(data: Database, vault: Vault) -> None:
    """By pre-entry, list or order number; case and spaces in the typed numbers do not matter."""
    async with data.read() as s:
        for term in NUMBER_TERMS:
            page = await queries.clearance_lists(s, ident(vault, A), ListFilter(number=term), 0)
            assert keys_of(list(page.items)) == ["a-700"], term


async def test_list_number_search_is_exact(data: Database, vault: Vault) -> None:
    async with data.read() as s:
        for term in (pre_no("a-700")[:-1], "ORD-a-70", "ORD-A-700"):
            assert (await queries.clearance_lists(s, ident(vault, A), ListFilter(number=term), 0)).total == 0


async def test_paging_and_clamping(data: Database, vault: Vault) -> None:
    a = ident(vault, A)
    total = len(A_LISTS)
    pages = -(-total // PAGE_SIZE)
    async with data.read() as s:
        first = await queries.clearance_lists(s, a, ListFilter(), 0)
        assert (first.page, first.pages, first.total, len(first.items)) == (0, pages, total, PAGE_SIZE)
        last = await queries.clearance_lists(s, a, ListFilter(), pages - 1)
        assert len(last.items) == total - PAGE_SIZE * (pages - 1)
        past = await queries.clearance_lists(s, a, ListFilter(), 99)
        assert (past.page, past.items) == (pages - 1, last.items)
        negative = await queries.clearance_lists(s, a, ListFilter(), -3)
        assert (negative.page, negative.items) == (0, first.items)
        seen = [r.id for p in range(pages) for r in (await queries.clearance_lists(s, a, ListFilter(), p)).items]
        assert len(seen) == len(set(seen)) == total
        empty = await queries.clearance_lists(s, a, ListFilter(dates=DateRange(dt.date(2000, 1, 1),
                                                                               dt.date(2000, 1, 2))), 3)
        assert (empty.page, empty.pages, empty.total, empty.items) == (0, 1, 0, ())


async def test_same_stored_time_orders_by_id(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    ing = ingestor(db, vault, quarantine)
    at = d(2025, 6, 1, 9, 0, 0)
    for i in range(7):
        await ing.ingest(ceb621(ListSpec(f"tie{i}", A, app_time=at)))
    async with db.read() as s:
        rows = await all_list_rows(s, ident(vault, A), ListFilter())
    assert keys_of(rows) == [f"tie{i}" for i in reversed(range(7))]


async def test_list_detail(data: Database, vault: Vault) -> None:
    a = ident(vault, A)
    async with data.read() as s:
        (row,) = (await queries.clearance_lists(s, a, ListFilter(number="ORD-a-800"), 0)).items
        detail = await queries.list_detail(s, a, row.id)
    assert detail is not None
    assert (detail.pre_no, detail.invt_no, detail.order_no) == (pre_no("a-800"), invt_no("a-800"), "ORD-a-800")
    assert (detail.status, detail.group, detail.status_info) == (800, cbec.RELEASED, "[Code:2600;Desc:放行]")
    assert detail.status_time == d(2025, 4, 1, 0, 59, 59)
    assert detail.stored_at == d(2025, 3, 31, 23, 59, 59)
    assert (detail.platform, detail.trade_mode, detail.customs_code) == ("天猫国际", "1210", "2924")
    assert (detail.freight, detail.insured_fee, detail.goods_value) == (
        Decimal("10.01"), Decimal("0.5"), Decimal("123.55"))
    assert detail.total == Decimal("134.06")
    assert [(ln.gnum, ln.qty, ln.price, ln.total_price, ln.unit, ln.country) for ln in detail.lines] == [
        (1, Decimal(1), Decimal("100.1"), Decimal("100.10"), "122", "116"),
        (2, Decimal(3), Decimal("7.81667"), Decimal("23.45"), "122", "116"),
    ]


# -- tax slips -------------------------------------------------------------------------------------


async def test_tax_slips_order_and_status_filter(data: Database, vault: Vault) -> None:
    a = ident(vault, A)
    async with data.read() as s:
        rows = await all_tax_rows(s, a, TaxFilter())
        assert [r.tax_no for r in rows] == [tax_no(k) for k in ("a-p0", "a-899", "a-800", "a-120")]
        assert [r.status for r in rows] == [1, 2, 1, 3]
        for status, keys in ((1, ["a-p0", "a-800"]), (2, ["a-899"]), (3, ["a-120"])):
            got = await all_tax_rows(s, a, TaxFilter(status=status))
            assert [r.tax_no for r in got] == [tax_no(k) for k in keys]


TAX_DATE_CASES = [
        (DateRange(dt.date(2025, 4, 2), dt.date(2025, 4, 3)), ["a-899", "a-800"]),
        (DateRange(dt.date(2025, 4, 3), None), ["a-p0", "a-899"]),
        (DateRange(None, dt.date(2025, 3, 11)), ["a-120"]),
        (DateRange(dt.date(2025, 3, 12), dt.date(2025, 4, 1)), []),
]


async def test_tax_slip_date_filter(data: Database, vault: Vault) -> None:
    async with data.read() as s:
        for dates, expected in TAX_DATE_CASES:
            rows = await all_tax_rows(s, ident(vault, A), TaxFilter(dates=dates))
            assert [r.tax_no for r in rows] == [tax_no(k) for k in expected], dates


async def test_tax_slip_paging_clamps(data: Database, vault: Vault) -> None:
    async with data.read() as s:
        page = await queries.tax_slips(s, ident(vault, A), TaxFilter(), 7)
        assert (page.page, page.pages, page.total, len(page.items)) == (0, 1, 4, 4)


async def test_tax_detail_joins_list_lines(data: Database, vault: Vault) -> None:
    a = ident(vault, A)
    async with data.read() as s:
        rows = await all_tax_rows(s, a, TaxFilter())
        row = next(r for r in rows if r.tax_no == tax_no("a-800"))
        detail = await queries.tax_slip_detail(s, a, row.id)
    assert detail is not None
    assert (detail.invt_no, detail.order_no, detail.platform, detail.status) == (
        invt_no("a-800"), "ORD-a-800", "天猫国际", 1)
    assert detail.vat == Decimal("9.11") + COSMETICS.vat + Decimal("0.46")
    assert detail.consumption_tax == COSMETICS.consumption
    assert detail.total == detail.vat + detail.consumption_tax + detail.customs_tax
    one, two, three = detail.lines
    assert (one.gnum, one.qty, one.price, one.tax_price) == (1, Decimal(1), Decimal("100.1"), Decimal("100.10"))
    assert (one.tariff_rate, one.consumption_rate, one.vat_rate) == (Decimal(0), Decimal(0), Decimal("0.13"))
    assert (two.qty, two.price, two.unit, two.gcode) == (Decimal(3), Decimal("7.81667"), "122", "3304990099")
    assert (two.consumption_rate, two.vat_rate) == (Decimal("0.15"), Decimal("0.13"))
    assert (three.gnum, three.qty, three.price, three.unit) == (3, None, None, None)
    assert three.vat_rate == Decimal("0.13")  # derived from the amounts alone


async def test_tax_detail_status_and_payment_note(data: Database, vault: Vault) -> None:
    a = ident(vault, A)
    async with data.read() as s:
        rows = await all_tax_rows(s, a, TaxFilter(status=2))
        detail = await queries.tax_slip_detail(s, a, rows[0].id)
    assert detail is not None
    assert (detail.status, detail.ent_duty_no) == (2, "EDNa-899")


async def test_tax_detail_without_list_lines(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    """A slip whose list number came from a receipt, for a list whose lines are all different gnums:
    every per-line quantity and price shows as unknown."""
    ing = ingestor(db, vault, quarantine)
    spec = ListSpec("nolines", A, invt_no=None, lines=(Line(1, "10"),))
    await ing.ingest(ceb621(spec))
    await ing.ingest(ceb816("nolines", d(2025, 7, 1, 0, 0, 0), [TaxLineSpec(1, "10", "0.91"),
                                                               TaxLineSpec(2, "20", "1.82")]))
    await ing.ingest(ceb622("nolines", 800, d(2025, 6, 30, 0, 0, 0), pre=spec.pre, invt=invt_no("nolines")))
    async with db.read() as s:
        (row,) = (await queries.tax_slips(s, ident(vault, A), TaxFilter(), 0)).items
        detail = await queries.tax_slip_detail(s, ident(vault, A), row.id)
    assert detail is not None
    assert [(ln.gnum, ln.qty is None, ln.price is None) for ln in detail.lines] == [(1, False, False),
                                                                                   (2, True, True)]


# -- quota -----------------------------------------------------------------------------------------


def expected_consumed(year: int) -> tuple[Decimal, int]:
    total, n = Decimal(0), 0
    for x in A_LISTS:
        decl_year = (x.decl or x.at.date()).year
        if decl_year == year and x.status in cbec.COUNTED_STATUSES and not x.cancelled:
            total += sum((Decimal(ln.total) for ln in x.lines), Decimal(0)) + Decimal(x.freight) + Decimal(x.insured)
            n += 1
    return cbec.round_fen(total), n


async def test_quota_overview(data: Database, vault: Vault) -> None:
    """Limit 20,000 up to 2018 and 26,000 from 2019; consumed = Σ counted (goods + freight +
    insurance); the year keyboard lists the years with data and the current one."""
    async with data.read() as s:
        for year, limit in ((2018, Decimal(20000)), (2019, Decimal(26000)), (2025, Decimal(26000))):
            consumed, n = expected_consumed(year)
            assert n > 0
            q = await queries.quota_overview(s, ident(vault, A), year, TODAY)
            assert (q.year, q.limit, q.consumed, q.counted) == (year, limit, consumed, n)
            assert q.available == limit - consumed
            assert q.years == (2026, 2025, 2019, 2018)


async def test_quota_2025_to_the_fen(data: Database, vault: Vault) -> None:
    # 100.10 + 23.45 + 10.01 + 0.5 = 134.06 for a-120, a-800, a-899, a-500; the six paging lists
    # 1000.99 … 1005.99 plus 10.51 each.
    expected = 4 * Decimal("134.06") + sum(Decimal(f"{1000 + i}.99") + Decimal("10.51") for i in range(6))
    async with data.read() as s:
        q = await queries.quota_overview(s, ident(vault, A), 2025, TODAY)
    assert q.consumed == expected == Decimal("6620.24")
    assert q.available == Decimal("19379.76")


async def test_quota_year_without_data_and_before_limits(data: Database, vault: Vault) -> None:
    async with data.read() as s:
        q = await queries.quota_overview(s, ident(vault, A), 2026, TODAY)
        assert (q.limit, q.consumed, q.available, q.counted) == (Decimal(26000), Decimal(0), Decimal(26000), 0)
        old = await queries.quota_overview(s, ident(vault, A), 2015, TODAY)
        assert (old.limit, old.available) == (None, None)


async def test_quota_over_the_limit(db: Database, vault: Vault, quarantine: Quarantine) -> None:
    ing = ingestor(db, vault, quarantine)
    for i, amount in enumerate(("20000.00", "6000.01")):
        key = f"over{i}"
        await ing.ingest(ceb621(ListSpec(key, A, lines=(Line(1, amount),), freight="0", insured="0")))
        await ing.ingest(ceb622(key, 899, d(2025, 3, 2, 0, 0, 0), pre=pre_no(key)))
    async with db.read() as s:
        q = await queries.quota_overview(s, ident(vault, A), 2025, TODAY)
    assert (q.consumed, q.available) == (Decimal("26000.01"), Decimal("-0.01"))


async def test_counted_lists(data: Database, vault: Vault) -> None:
    a = ident(vault, A)
    async with data.read() as s:
        first = await queries.counted_lists(s, a, 2025, 0)
        second = await queries.counted_lists(s, a, 2025, 1)
        clamped = await queries.counted_lists(s, a, 2025, 50)
    assert (first.total, first.pages) == (10, 2)
    assert keys_of(list(first.items)) == ["a-p5", "a-p4", "a-p3", "a-p2", "a-p1"]
    assert keys_of(list(second.items)) == ["a-p0", "a-899", "a-800", "a-120", "a-500"]
    assert clamped.items == second.items
