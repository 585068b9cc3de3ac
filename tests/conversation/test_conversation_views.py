"""The views, end to end through the Bot API stand-in on the ingested demo data: quota, tax slips
and clearance lists with every filter, paging, the calendar, details checked field by field
against the database rows they come from (amounts to the fen), long details, HTML in record data,
and Reset."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

import pytest
from sqlalchemy import select

from bot.demo import product_named
from bot.domain import cbec
from bot.sandbox.client import Reaction, SandboxClient
from storage.models import Inventory, TaxSlip
from tests.support.conversation import (
    HTML_NAME,
    DemoDB,
    account_ids_with_records,
    account_with_line,
    all_text,
    bind_by_link,
    demo_fixture,  # noqa: F401 (fixture)
    harness_fixture,  # noqa: F401 (fixture)
    identity_key_of,
    longest_list,
    money,
    who,
)
from tests.support.harness import Harness

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)

ROW = re.compile(r"^(\d+)\. (.+)$")
PAGE = re.compile(r"page (\d+)/(\d+)")


def en_date(d: date) -> str:
    return f"{d:%b} {d.day}, {d.year}"


def rows_on_screen(c: SandboxClient) -> list[str]:
    """The numbered rows' first lines ("1. B2026…") of the newest screen, numbers stripped."""
    return [m.group(2) for line in c.visible_text().splitlines() if (m := ROW.match(line))]


def page_of(c: SandboxClient) -> tuple[int, int]:
    m = PAGE.search(c.visible_text())
    return (int(m.group(1)), int(m.group(2))) if m else (1, 1)


async def collect_pages(c: SandboxClient) -> list[str]:
    """Every row of a paged list: page forward to the last page, then back to the first."""
    rows = rows_on_screen(c)
    page, pages = page_of(c)
    assert page == 1
    while page < pages:
        await c.tap("▶")
        page, _ = page_of(c)
        rows += rows_on_screen(c)
    assert "▶" not in c.labels()  # the last page has no way further
    assert f"{pages}/{pages}" in c.labels() or pages == 1
    while page > 1:
        await c.tap("◀")
        page, _ = page_of(c)
    assert "◀" not in c.labels() and page == 1
    return rows


async def tap_row(c: SandboxClient, n: int) -> Reaction:
    """Tap the n-th (1-based) row button of the list on screen."""
    label = next(x for x in c.labels() if x.startswith(f"{n}. ") or x.startswith(f"{n}.⚠"))
    return await c.tap(label)


async def bound_client(h: Harness, user_id: int, lang: str = "en", account: str | None = None) -> SandboxClient:
    account = account or (await account_ids_with_records(h))[0]
    c = h.client(user_id, f"user{user_id}", lang)
    await bind_by_link(h, c, account)
    return c


async def my_slips(h: Harness, account: str) -> list[TaxSlip]:
    key = await identity_key_of(h, account)
    async with h.db.read() as s:
        stmt = (
            select(TaxSlip).where(TaxSlip.identity_key == key).order_by(TaxSlip.return_time.desc(), TaxSlip.id.desc())
        )
        return list((await s.execute(stmt)).scalars())


async def my_lists(h: Harness, account: str) -> list[Inventory]:
    key = await identity_key_of(h, account)
    async with h.db.read() as s:
        stmt = (
            select(Inventory)
            .where(Inventory.identity_key == key)
            .order_by(Inventory.app_time.desc(), Inventory.id.desc())
        )
        return list((await s.execute(stmt)).scalars())


def in_range(t: datetime, start: date | None, end: date | None) -> bool:
    return (start is None or t.date() >= start) and (end is None or t.date() <= end)


def presets(today: date) -> dict[str, tuple[date | None, date | None]]:
    # "3 months": the same day three months back (clamped to the month's end), exclusive.
    y, m = (today.year, today.month - 3) if today.month > 3 else (today.year - 1, today.month + 9)
    last = (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)).day
    three_months_back = date(y, m, min(today.day, last))
    return {
        "Any time": (None, None),
        "30 days": (today - timedelta(days=29), today),
        "3 months": (three_months_back + timedelta(days=1), today),
        "This year": (date(today.year, 1, 1), today),
    }


# ---------------------------------------------------------------- quota


async def test_quota_every_year_against_the_generator(h: Harness, demo: DemoDB) -> None:
    account = (await account_ids_with_records(h))[0]
    person = who(demo, account)
    c = await bound_client(h, 2001, account=account)
    await c.send("/quota")
    today = h.db.clock.today()
    data_years = sorted({x.decl_year for x in await my_lists(h, account)})
    assert c.labels()[: len(data_years)] == [f"• {y} •" if y == today.year else str(y) for y in data_years]
    assert f"• {today.year} •" in c.labels()
    for year in data_years:
        if year != today.year:
            await c.tap(str(year))
        text = c.visible_text()
        limit = cbec.annual_limit(year)
        assert limit == Decimal(26000)
        consumed = person.consumed[year]
        assert text.splitlines()[0] == f"💳 Annual quota · {year}"
        assert f"Annual limit: {money(limit)}" in text and "CN¥26,000.00" in text
        assert f"Consumed: {money(consumed)}" in text
        if consumed > limit:  # the heavy buyer's year: how far over, not a negative "available"
            assert f"⚠️ Over the limit by {money(consumed - limit)}" in text
            assert "Available" not in text
        else:
            assert f"Available: {money(limit - consumed)}" in text
        assert f"Counted lists: {person.counted[year]}" in text
        filled = min(10, int((consumed / limit * 10).to_integral_value(rounding=ROUND_FLOOR)))
        assert "▓" * filled + "░" * (10 - filled) in text
        assert f"• {year} •" in c.labels()
        await c.tap("🏠 Menu")
        await c.tap("💳 Quota")
        assert f"💳 Annual quota · {today.year}" in c.visible_text()


async def test_consumption_details_list_to_clearance_detail_and_back(h: Harness, demo: DemoDB) -> None:
    account = (await account_ids_with_records(h))[0]
    person = who(demo, account)
    year = max(person.counted, key=lambda y: person.counted[y])  # the busiest year: several pages
    c = await bound_client(h, 2002, account=account)
    await c.send("/quota")
    if str(year) in c.labels():
        await c.tap(str(year))
    await c.tap("📋 Consumption details")
    assert c.visible_text().startswith(f"📋 Consumption details · {year}")
    assert f"{person.counted[year]} counted lists" in c.visible_text()
    counted = [x for x in await my_lists(h, account) if x.decl_year == year and x.counted]
    rows = await collect_pages(c)
    assert rows == [f"{en_date(x.decl_date)} · {x.ebp_name}" for x in counted]
    assert sum((x.total_value for x in counted), Decimal(0)) == person.consumed[year]
    # The second page's first row opens that list's clearance detail; Back returns to page 2.
    if page_of(c)[1] > 1:
        await c.tap("▶")
        target = counted[5]
        await tap_row(c, 1)
        assert f"Pre-entry no.: {target.pre_no}" in c.visible_text()
        assert f"Order no.: {target.order_no}" in c.visible_text()
        await c.tap("◀ Back")
        assert page_of(c)[0] == 2 and "📋 Consumption details" in c.visible_text()
    await c.tap("◀ Back")
    assert f"💳 Annual quota · {year}" in c.visible_text()


async def test_quota_without_records_shows_zero(h: Harness) -> None:
    from tests.support.conversation import account_without_records

    c = await bound_client(h, 2003, account=await account_without_records(h))
    await c.send("/quota")
    text = c.visible_text()
    assert "Consumed: CN¥0.00" in text and "Available: CN¥26,000.00" in text and "Counted lists: 0" in text
    assert "░" * 10 in text
    await c.tap("📋 Consumption details")
    assert f"No declarations counted toward the {h.db.clock.today().year} quota." in c.visible_text()
    assert "▶" not in c.labels() and "◀" not in c.labels()  # one page: no pager


# ---------------------------------------------------------------- tax slips


async def test_tax_list_paging_status_filters_and_reset(h: Harness, demo: DemoDB) -> None:
    account = (await account_ids_with_records(h))[0]
    slips = await my_slips(h, account)
    assert len(slips) == who(demo, account).tax_slips and len(slips) > 10
    c = await bound_client(h, 2010, account=account)
    await c.send("/tax")
    assert f"{len(slips)} tax slips · page 1/{-(-len(slips) // 5)}" in c.visible_text()
    assert await collect_pages(c) == [s.tax_no for s in slips]
    names = {cbec.TAX_GENERATED: "Generated", cbec.TAX_SUMMARISED: "Summarised", cbec.TAX_VOID: "Void"}
    for status, label in names.items():
        await c.tap(label)
        expected = [s for s in slips if s.status == status]
        assert f"✓ {label}" in c.labels() and "✓ All" not in c.labels()
        assert f"Status: {label}" in c.visible_text()
        if expected:
            assert await collect_pages(c) == [s.tax_no for s in expected]
        else:
            assert "No tax slips match these filters." in c.visible_text()
    await c.tap("▶") if "▶" in c.labels() else None
    await c.tap("↺ Reset")
    assert "Status: All · Dates: Any time" in c.visible_text()
    assert page_of(c)[0] == 1 and "✓ All" in c.labels() and "✓ Any time" in c.labels()
    assert rows_on_screen(c) == [s.tax_no for s in slips[:5]]


async def test_tax_list_date_presets(h: Harness) -> None:
    account = (await account_ids_with_records(h))[0]
    slips = await my_slips(h, account)
    c = await bound_client(h, 2011, account=account)
    await c.send("/tax")
    seen_some = False
    for label, (start, end) in presets(h.db.clock.today()).items():
        await c.tap(label)
        assert f"✓ {label}" in c.labels()
        expected = [s.tax_no for s in slips if in_range(s.return_time, start, end)]
        seen_some |= 0 < len(expected) < len(slips)
        if expected:
            assert await collect_pages(c) == expected, label
        else:
            assert "No tax slips match these filters." in c.visible_text()
    assert seen_some  # at least one preset really filters
    # Status and date combine.
    await c.tap("This year")
    await c.tap("Summarised")
    start, end = presets(h.db.clock.today())["This year"]
    expected = [s.tax_no for s in slips if s.status == cbec.TAX_SUMMARISED and in_range(s.return_time, start, end)]
    assert (await collect_pages(c) if expected else []) == expected


async def test_tax_custom_range_on_the_calendar_across_months(h: Harness) -> None:
    account = (await account_ids_with_records(h))[0]
    slips = await my_slips(h, account)
    # A range from the 20th of the month before the newest slip's month to its last day.
    newest = slips[0].return_time.date()
    prev = date(newest.year - (newest.month == 1), (newest.month - 2) % 12 + 1, 20)
    last = date(newest.year + (newest.month == 12), newest.month % 12 + 1, 1) - timedelta(days=1)
    c = await bound_client(h, 2012, account=account)
    await c.send("/tax")
    await c.tap("📅 Custom range")
    assert "📅 Pick the first day." in c.visible_text()
    today = h.db.clock.today()
    months_back = (today.year - prev.year) * 12 + today.month - prev.month
    for _ in range(months_back):
        await c.tap("◀")
    assert f"{prev:%b} {prev.year}" in c.labels()
    await c.tap(str(prev.day))
    assert f"From {en_date(prev)}. Now pick the last day." in c.visible_text()
    assert f"•{prev.day}•" in c.labels() and "·" in c.labels()  # earlier days are inert
    await c.tap("▶")
    for _ in range(newest.month - prev.month - 1 if newest.year == prev.year else newest.month + 11 - prev.month):
        await c.tap("▶")
    assert f"{last:%b} {last.year}" in c.labels()
    await c.tap(str(last.day) if last != today else f"[{last.day}]")
    assert f"Dates: {en_date(prev)} – {en_date(last)}" in c.visible_text()
    assert "✓ 📅 Custom range" in c.labels()
    expected = [s.tax_no for s in slips if in_range(s.return_time, prev, last)]
    assert expected and await collect_pages(c) == expected
    # Reopening the calendar starts at the range's first month; Cancel keeps the range.
    await c.tap("✓ 📅 Custom range")
    assert f"{prev:%b} {prev.year}" in c.labels()
    await c.tap("✖ Cancel")
    assert f"Dates: {en_date(prev)} – {en_date(last)}" in c.visible_text()
    await c.tap("↺ Reset")
    assert "Dates: Any time" in c.visible_text()


async def test_calendar_month_and_year_boundaries_and_leap_february(h: Harness) -> None:
    c = await bound_client(h, 2013)
    await c.send("/tax")
    await c.tap("📅 Custom range")
    today = h.db.clock.today()
    y, m = today.year, today.month

    def day_labels() -> list[str]:
        return [x for x in c.labels() if re.fullmatch(r"\[?\d{1,2}\]?|•\d{1,2}•", x)]

    seen: dict[tuple[int, int], int] = {}
    while (y, m) != (2024, 1):
        assert f"{date(y, m, 1):%b} {y}" in c.labels()
        seen[(y, m)] = len(day_labels())
        await c.tap("◀")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    assert "Jan 2024" in c.labels() and len(day_labels()) == 31
    assert seen[(2024, 2)] == 29  # leap year
    assert seen[(2025, 2)] == 28
    assert seen[(2024, 12)] == 31 and seen[(2025, 1)] == 31 and seen[(2024, 4)] == 30
    # Monday-first grid: 1 February 2024 was a Thursday, so three blanks lead the first week.
    await c.tap("▶")
    assert "Feb 2024" in c.labels()
    view = c.core.last_with_keyboard(c.chat_id)
    assert view is not None
    first_week = [b["text"] for b in view.buttons[2]]
    assert first_week[3] == "1" and all(x.strip("\u3164") == "" for x in first_week[:3])
    # Year boundary forwards: Dec 2024 ▶ Jan 2025.
    for _ in range(10):
        await c.tap("▶")
    assert "Dec 2024" in c.labels()
    await c.tap("▶")
    assert "Jan 2025" in c.labels()
    # A range that crosses the year boundary: 30 Dec 2024 – 2 Jan 2025.
    await c.tap("◀")
    await c.tap("30")
    await c.tap("▶")
    assert "·" not in c.labels()  # the whole next month is after the start
    await c.tap("2")
    assert "Dates: Dec 30, 2024 – Jan 2, 2025" in c.visible_text()
    # Leap day as the end of a range.
    await c.tap("✓ 📅 Custom range")
    for _ in range(10):
        await c.tap("◀")
    assert "Feb 2024" in c.labels()
    await c.tap("29")
    await c.tap("29")
    assert "Dates: Feb 29, 2024 – Feb 29, 2024" in c.visible_text()


async def test_tax_detail_against_the_database(h: Harness) -> None:
    account = (await account_ids_with_records(h))[0]
    slips = await my_slips(h, account)
    multi = [s for s in slips if len(s.lines) > 1 and s.ent_duty_no and s.customs_tax == 0]
    slip = multi[0] if multi else next(s for s in slips if s.customs_tax == 0)
    index = slips.index(slip)
    c = await bound_client(h, 2014, account=account)
    await c.send("/tax")
    for _ in range(index // 5):
        await c.tap("▶")
    await tap_row(c, index % 5 + 1)
    text = c.visible_text()
    async with h.db.read() as s:
        inv = (await s.execute(select(Inventory).where(Inventory.id == slip.inventory_id))).scalar_one()
    status = {1: "Generated", 2: "Summarised", 3: "Void"}[slip.status]
    rt = slip.return_time
    head = [
        f"🧾 Tax slip {slip.tax_no}",
        f"List no.: {slip.invt_no}",
        f"Order no.: {inv.order_no}",
        f"Platform: {inv.ebp_name}",
        f"Status: {status}",
        f"Stored: {en_date(rt.date())}, {rt:%H:%M}",
        f"Payment note no.: {slip.ent_duty_no or '-'}",
        "",
        f"Customs duty: {money(slip.customs_tax)}",
        f"Consumption tax: {money(slip.consumption_tax)}",
        f"VAT: {money(slip.value_added_tax)}",
        f"Total tax: {money(slip.total_tax)}",
    ]
    assert text.splitlines()[: len(head)] == head
    assert slip.total_tax == slip.customs_tax + slip.consumption_tax + slip.value_added_tax
    by_gnum = {ln.gnum: ln for ln in inv.lines}
    vat = cbec.vat_rate_on(inv.decl_date)
    units = {"142": "bottle", "122": "can", "140": "box", "136": "bag", "125": "pack"}
    for tl in slip.lines:
        src = by_gnum[tl.gnum]
        product = product_named(src.gname)  # the generator's input: the goods' tax rates
        # Within the limits: no tariff, 70 % of consumption tax and VAT — to the fen.
        expected = cbec.line_tax(
            tl.tax_price, tariff_rate=product.tariff, consumption_rate=product.consumption, vat_rate=vat,
            within_limits=True,
        )  # fmt: skip
        assert (tl.customs_tax, tl.consumption_tax, tl.value_added_tax) == (
            expected.customs,
            expected.consumption,
            expected.vat,
        )
        block = text.split(f"No. {tl.gnum} · HS code: ")[1].split("\n\nNo. ")[0].splitlines()
        qty = f"{src.qty.normalize():f}" + (f" {units[src.unit]}" if src.unit in units else "")
        assert block[0] == tl.gcode == product.gcode
        assert block[1].startswith(f"Declared quantity: {qty}")
        assert block[1].endswith(f" · Unit price: {money(src.price)}")
        assert block[2] == f"Dutiable value: {money(tl.tax_price)}"
        assert block[3] == f"Tariff rate: 0% · Customs duty: {money(tl.customs_tax)}"
        c_rate = f"{(product.consumption * 100).normalize():f}%"
        assert block[4] == f"Consumption tax rate: {c_rate} · Consumption tax: {money(tl.consumption_tax)}"
        assert block[5] == f"VAT rate: {(vat * 100).normalize():f}% · VAT: {money(tl.value_added_tax)}"
    assert sum((tl.value_added_tax for tl in slip.lines), Decimal(0)) == slip.value_added_tax
    await c.tap("◀ Back")
    assert page_of(c)[0] == index // 5 + 1 and "🧾 Tax slips" in c.visible_text()


# ---------------------------------------------------------------- clearance lists


async def test_clearance_list_groups_dates_paging_and_reset(h: Harness, demo: DemoDB) -> None:
    account = (await account_ids_with_records(h))[0]
    lists = await my_lists(h, account)
    assert len(lists) == who(demo, account).lists
    c = await bound_client(h, 2020, account=account)
    await c.send("/clearance")
    assert await collect_pages(c) == [x.pre_no or x.invt_no or x.order_no for x in lists]
    groups = {"In progress": cbec.IN_PROGRESS, "Released": cbec.RELEASED, "Rejected": cbec.REJECTED}
    for label, group in groups.items():
        await c.tap(label)
        expected = [x.pre_no for x in lists if x.status_group == group]
        assert f"✓ {label}" in c.labels()
        assert (await collect_pages(c) if expected else []) == expected, label
    await c.tap("All")
    for label, (start, end) in presets(h.db.clock.today()).items():
        await c.tap(label)
        expected = [x.pre_no for x in lists if in_range(x.app_time, start, end)]
        assert (await collect_pages(c) if expected else []) == expected, label
    await c.tap("Released")
    await c.tap("▶") if "▶" in c.labels() else None
    await c.tap("↺ Reset")
    assert "Status: All · Dates: Any time" in c.visible_text()
    assert rows_on_screen(c) == [x.pre_no for x in lists[:5]]


async def test_a_searched_number_delivered_again_shows_the_same_list(h: Harness) -> None:
    """Telegram delivers the typed number again (its answer was lost after the search committed):
    the list found for it, not the main menu a plain text gets."""
    account = (await account_ids_with_records(h))[0]
    lists = await my_lists(h, account)
    target = next(x for x in lists if x.pre_no)
    c = await bound_client(h, 2029, account=account)
    await c.send("/clearance")
    await c.tap("🔎 Find by number")
    number = await c.send(target.pre_no)
    first = c.visible_text()
    assert rows_on_screen(c) == [target.pre_no] and "🔎 Number" in first
    await c.deliver(number.update)
    assert c.visible_text() == first and rows_on_screen(c) == [target.pre_no]
    await c.send("hello")  # newer plain text: the menu
    assert "🏠 Main menu" in c.visible_text()


async def test_clearance_find_by_pre_entry_list_and_order_number(h: Harness) -> None:
    account = (await account_ids_with_records(h))[0]
    lists = await my_lists(h, account)
    target = next(x for x in lists if x.invt_no and x.pre_no)
    c = await bound_client(h, 2021, account=account)
    for number in (target.pre_no, target.invt_no, target.order_no, f"  {target.order_no[:6]} {target.order_no[6:]} "):
        await c.send("/clearance")
        await c.tap("🔎 Find by number")
        assert "Send the pre-entry number, list number or order number." in c.visible_text()
        await c.send(number)
        assert rows_on_screen(c) == [target.pre_no], number
        assert f"🔎 Number: {''.join(number.split())}" in c.visible_text()
        assert "✖ Clear search" in c.labels()
    # The search combines with a status filter and survives paging state; Clear search drops it.
    await c.tap("✖ Clear search")
    assert "🔎 Number" not in c.visible_text() and len(rows_on_screen(c)) == min(5, len(lists))
    # Another person's number finds nothing here.
    other = (await account_ids_with_records(h))[1]
    theirs = (await my_lists(h, other))[0]
    await c.tap("🔎 Find by number")
    await c.send(theirs.pre_no)
    assert rows_on_screen(c) == [] and "Nothing found for this number with these filters." in c.visible_text()
    # Not a number: asked again, nothing searched.
    await c.tap("🔎 Find by number")
    await c.send("订单号码")
    assert "Please send one number: letters and digits, up to 60 characters." in c.visible_text()
    await c.send(target.invt_no)
    assert rows_on_screen(c) == [target.pre_no]
    await c.tap("↺ Reset")
    assert "🔎 Number" not in c.visible_text() and "Status: All · Dates: Any time" in c.visible_text()


async def test_clearance_detail_against_the_database(h: Harness) -> None:
    account = (await account_ids_with_records(h))[0]
    lists = await my_lists(h, account)
    inv = next(x for x in lists if x.status in (800, 899) and len(x.lines) > 1)
    c = await bound_client(h, 2022, "zh-hans", account=account)
    await c.send("/clearance")
    await c.tap("🔎 按编号查找")
    await c.send(inv.pre_no)
    await tap_row(c, 1)
    text = c.visible_text()
    zh_money = lambda x: money(x, "zh_CN")  # noqa: E731
    head = [
        "📦 通关清单",
        f"预录入编号：{inv.pre_no}",
        f"清单编号：{inv.invt_no}",
        f"订单编号：{inv.order_no}",
        f"电商平台：{inv.ebp_name}",
        f"电商企业：{inv.ebc_name}",
        f"物流企业：{inv.logistics_name}",
        f"物流运单号：{inv.logistics_no}",
        f"申报日期：{inv.decl_date.year}年{inv.decl_date.month}月{inv.decl_date.day}日",
    ]
    assert text.splitlines()[: len(head)] == head
    assert ("状态：放行" if inv.status == 800 else "状态：结关") in text
    assert f"货值：{zh_money(inv.goods_value)}" in text
    assert f"运费：{zh_money(inv.freight)}" in text and f"保费：{zh_money(inv.insured_fee)}" in text
    assert f"合计：{zh_money(inv.total_value)}" in text
    assert inv.total_value == sum((ln.total_price for ln in inv.lines), Decimal(0)) + inv.freight + inv.insured_fee
    assert "贸易方式：" in text and "申报海关：" in text
    countries = {"116": "日本", "502": "美国", "601": "澳大利亚", "305": "法国", "304": "德国", "133": "韩国"}
    for ln in inv.lines:
        block = text.split(f"序号 {ln.gnum} · ")[1].split("\n\n")[0].splitlines()
        assert block[0] == html.unescape(html.escape(ln.gname))
        assert block[1] == f"商品编号：{ln.gcode}"
        assert block[2].startswith(f"数量：{ln.qty.normalize():f} · 计量单位：")
        assert block[3] == f"单价：{zh_money(ln.price)} · 总价：{zh_money(ln.total_price)}"
        assert block[4].startswith("币制：人民币 · 原产国（地区）：")
        if ln.country in countries:
            assert block[4].endswith(countries[ln.country])
        assert ln.total_price == ln.price * ln.qty
    assert c.labels() == ["🚨 这不是我", "◀ 返回", "🏠 菜单"]


async def test_a_long_detail_is_split_without_losing_a_line(h: Harness) -> None:
    account, list_id, n_lines = await longest_list(h)
    assert n_lines >= 40
    async with h.db.read() as s:
        inv = (await s.execute(select(Inventory).where(Inventory.id == list_id))).scalar_one()
    c = await bound_client(h, 2023, account=account)
    await c.send("/clearance")
    await c.tap("🔎 Find by number")
    await c.send(inv.pre_no)
    list_msg = c.core.last_with_keyboard(c.chat_id)
    assert list_msg is not None
    r = await tap_row(c, 1)
    parts = [m for m in c.messages() if m.from_bot and m.message_id >= list_msg.message_id]
    assert len(parts) >= 2, "a 40-line list does not fit one message"
    assert [x.method for x in r.calls].count("sendMessage") == len(parts) - 1  # the rest follow the edit
    assert all(len(p.text) <= 4096 for p in parts)
    assert all(not p.buttons for p in parts[:-1]) and parts[-1].labels == ["🚨 This was not me", "◀ Back", "🏠 Menu"]
    assert all(p.protect_content for p in parts)
    joined = "\n".join(p.text for p in parts)
    for ln in inv.lines:
        assert joined.count(f"No. {ln.gnum} · {ln.gname}") == 1
    order = [int(m.group(1)) for m in re.finditer(r"^No\. (\d+) · ", joined, re.M)]
    assert order == list(range(1, n_lines + 1))
    assert joined.count("Goods code: ") == n_lines and joined.count("Unit price: ") == n_lines
    assert f"Total: {money(inv.total_value)}" in joined
    # Back (on the last part) still works.
    await c.tap("◀ Back")
    assert rows_on_screen(c) == [inv.pre_no]


async def test_html_special_product_name_is_shown_literally(h: Harness) -> None:
    account, list_id = await account_with_line(h, HTML_NAME)
    async with h.db.read() as s:
        inv = (await s.execute(select(Inventory).where(Inventory.id == list_id))).scalar_one()
    c = await bound_client(h, 2024, account=account)
    await c.send("/clearance")
    await c.tap("🔎 Find by number")
    await c.send(inv.pre_no)
    await tap_row(c, 1)
    view = c.last_message()
    assert view is not None
    assert f"No. 1 · {HTML_NAME}" in view.text
    assert "Tom &amp; Jerry &lt;Limited&gt;" in view.html  # escaped on the wire, literal on screen
    if inv.invt_no and inv.status is not None and inv.status >= 399:
        # Its tax slip's detail comes from the same list line.
        await c.send("/tax")
        slips = await my_slips(h, account)
        idx = next(i for i, s in enumerate(slips) if s.inventory_id == list_id)
        for _ in range(idx // 5):
            await c.tap("▶")
        await tap_row(c, idx % 5 + 1)
        assert "No. 1 · HS code: 9503002100" in c.visible_text()


async def test_page_out_of_range_is_clamped(h: Harness) -> None:
    from bot import callbacks as cb
    from tests.support.conversation import binding_of

    account = (await account_ids_with_records(h))[0]
    slips = await my_slips(h, account)
    c = await bound_client(h, 2025, account=account)
    await c.send("/tax")
    b = await binding_of(h, 2025)
    assert b is not None
    pages = -(-len(slips) // 5)
    r = await c.tap_data(cb.encode(cb.TaxList(page=cb.MAX_PAGE), b.tag))
    assert r.answer is not None and r.answer.text is None  # a normal tap, not "expired"
    assert f"page {pages}/{pages}" in c.visible_text()
    assert rows_on_screen(c) == [s.tax_no for s in slips[(pages - 1) * 5 :]]
    await c.tap_data(cb.encode(cb.QuotaDetails(h.db.clock.today().year, 500), b.tag))
    assert "📋 Consumption details" in c.visible_text() and "▶" not in c.labels()
    await c.tap_data(cb.encode(cb.ClearanceList(page=777), b.tag))
    lists = await my_lists(h, account)
    last = -(-len(lists) // 5)
    assert f"page {last}/{last}" in c.visible_text()


async def test_reset_on_every_list_view(h: Harness) -> None:
    c = await bound_client(h, 2026)
    year = h.db.clock.today().year
    # Quota: another year → Reset → this year.
    await c.send("/quota")
    await c.tap(next(x for x in c.labels() if x.isdigit()))
    await c.tap("↺ Reset")
    assert c.visible_text().startswith(f"💳 Annual quota · {year}")
    await c.tap("📋 Consumption details")
    await c.tap("▶") if "▶" in c.labels() else None
    await c.tap("↺ Reset")
    assert c.visible_text().startswith(f"📋 Consumption details · {year}") and page_of(c)[0] == 1
    for cmd, default in (("/tax", "Status: All · Dates: Any time"), ("/clearance", "Status: All · Dates: Any time")):
        await c.send(cmd)
        await c.tap("30 days")
        await c.tap("↺ Reset")
        assert default in c.visible_text() and "✓ Any time" in c.labels()


async def test_menu_navigation_edits_one_message_in_place(h: Harness) -> None:
    c = await bound_client(h, 2027)
    await c.send("/menu")
    menu = c.last_message()
    assert menu is not None
    for label in ("💳 Quota", "🏠 Menu", "🧾 Tax slips", "🏠 Menu", "📦 Clearance", "🏠 Menu", "⚙️ Settings"):
        r = await c.tap(label)
        assert [x.method for x in r.calls if x.method != "answerCallbackQuery"] == ["editMessageText"], label
        assert r.answer is not None and r.answer.text is None
    assert c.last_message() is not None and c.last_message().message_id == menu.message_id  # type: ignore[union-attr]
    assert "⚙️ Settings" in all_text(c)


def texts_of(reaction: Reaction) -> str:
    """Everything the reaction showed (edited and sent messages), as plain text, in order."""
    return "\n".join(
        str(c.result.get("text", ""))
        for c in reaction.calls
        if c.method in ("editMessageText", "sendMessage") and c.ok and isinstance(c.result, dict)
    )


async def test_every_detail_of_a_person_matches_the_database(h: Harness) -> None:
    from bot import callbacks as cb
    from tests.support.conversation import binding_of

    account = (await account_ids_with_records(h))[0]
    c = await bound_client(h, 2030, account=account)
    tag = (await binding_of(h, 2030)).tag  # type: ignore[union-attr]
    await c.send("/tax")
    for slip in await my_slips(h, account):
        text = texts_of(await c.tap_data(cb.encode(cb.TaxDetail(slip.id), tag)))
        assert text.startswith(f"🧾 Tax slip {slip.tax_no}\nList no.: {slip.invt_no}\n"), slip.tax_no
        assert f"Total tax: {money(slip.total_tax)}" in text
        assert f"Customs duty: {money(slip.customs_tax)}\nConsumption tax: {money(slip.consumption_tax)}" in text
        for tl in slip.lines:
            assert f"No. {tl.gnum} · HS code: {tl.gcode}" in text
            assert f"Dutiable value: {money(tl.tax_price)}" in text and f"VAT: {money(tl.value_added_tax)}" in text
        taxes = sum((tl.customs_tax + tl.consumption_tax + tl.value_added_tax for tl in slip.lines), Decimal(0))
        assert taxes == slip.total_tax
    await c.send("/clearance")
    for inv in await my_lists(h, account):
        text = texts_of(await c.tap_data(cb.encode(cb.ClearanceDetail(inv.id), tag)))
        assert text.startswith(f"📦 Clearance list\nPre-entry no.: {inv.pre_no}\nList no.: {inv.invt_no or '-'}\n")
        assert f"Order no.: {inv.order_no}\n" in text and f"Waybill no.: {inv.logistics_no}\n" in text
        assert f"Total: {money(inv.total_value)}" in text and f"Freight: {money(inv.freight)}" in text
        for ln in inv.lines:
            assert f"No. {ln.gnum} · {ln.gname}\nGoods code: {ln.gcode}\n" in text
            assert f"Unit price: {money(ln.price)} · Total price: {money(ln.total_price)}" in text


async def test_clearance_custom_range_on_the_calendar(h: Harness) -> None:
    account = (await account_ids_with_records(h))[0]
    lists = await my_lists(h, account)
    today = h.db.clock.today()
    # From the 1st of the month of the newest list to that list's day (this month has none on the 1st).
    last = max(x.app_time for x in lists).date()
    first = last.replace(day=1)

    def label(d: date, picked: date | None = None) -> str:
        return f"•{d.day}•" if d == picked else f"[{d.day}]" if d == today else str(d.day)

    c = await bound_client(h, 2031, account=account)
    await c.send("/clearance")
    await c.tap("📅 Custom range")
    assert "📦 Clearance · custom range" in c.visible_text()
    assert f"{today:%b} {today.year}" in c.labels() and f"[{today.day}]" in c.labels()
    for _ in range((today.year - first.year) * 12 + today.month - first.month):
        await c.tap("◀")
    assert f"{first:%b} {first.year}" in c.labels()
    await c.tap(label(first))
    await c.tap(label(last, picked=first))
    assert f"Dates: {en_date(first)} – {en_date(last)}" in c.visible_text()
    expected = [x.pre_no for x in lists if in_range(x.app_time, first, last)]
    assert expected  # the newest list at least
    assert await collect_pages(c) == expected
    await c.tap("Released")  # the range stays while the status changes
    assert f"Dates: {en_date(first)} – {en_date(last)}" in c.visible_text()
    released = [x.pre_no for x in lists if in_range(x.app_time, first, last) and x.status_group == cbec.RELEASED]
    assert rows_on_screen(c) == released[:5]
