"""Issue 11 end to end through the Bot API stand-in: the calculator (before and after binding), the
quota chart (a decoded PNG, cached by content), exports that match the screens to the fen, and the
copy of my data (once a day, logged without personal data)."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
import subprocess
import threading
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.domain import cbec
from bot.domain.records import MonthlyConsumption
from bot.files import chart
from bot.files.fonts import FontMissing, cjk_font
from bot.i18n import get_translator
from bot.sandbox.client import SandboxClient
from storage.models import Account, Inventory, TaxSlip
from tests.support.conversation import (
    account_ids_with_records,
    bind_by_link,
    demo_fixture,  # noqa: F401 (fixture)
    harness_fixture,  # noqa: F401 (fixture)
    identity_key_of,
    money,
)
from tests.support.cpu import cpu_time
from tests.support.harness import Harness

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)

MONEY = re.compile(r"CN¥[\d,]+\.\d{2}")


@pytest.fixture(name="font")
def font_fixture() -> None:
    """Charts and PDFs need Debian's fonts-noto-cjk; `.ci/run` installs it and makes this a failure."""
    try:
        cjk_font()
    except FontMissing as exc:
        if os.environ.get("SWBOT_REQUIRE_FONTS") == "1":
            pytest.fail(f"SWBOT_REQUIRE_FONTS=1 but {exc}")
        pytest.skip(str(exc))


async def bound(h: Harness, user_id: int, lang: str = "en") -> tuple[SandboxClient, str]:
    account = (await account_ids_with_records(h))[0]
    c = h.client(user_id, f"user{user_id}", lang)
    await bind_by_link(h, c, account)
    return c, account


def document_of(c: SandboxClient, name_suffix: str) -> bytes:
    view = next(m for m in reversed(c.messages()) if m.document and m.document["file_name"].endswith(name_suffix))
    stored = c.core.file(view.document["file_id"])  # type: ignore[index]
    # Exports and the copy of my data are the person's to keep: saved, opened elsewhere. Not protected,
    # and the caption says what the file holds.
    assert stored is not None and not view.protect_content
    assert "personal data" in view.caption or "个人信息" in view.caption
    return stored.data


# ---------------------------------------------------------------- calculator


async def test_calculator_before_binding_prices_a_cosmetic(h: Harness) -> None:
    c = h.client(1101, "Ann", "en")
    await c.send("/calc")
    assert "Tax and quota calculator" in c.visible_text()
    assert "💄 Cosmetics" in c.labels() and len(c.labels()) == 12  # 11 kinds + Menu
    await c.tap("💄 Cosmetics")
    assert "680 30ml" in c.visible_text()
    await c.send("680")  # the volume is missing
    assert "needs a quantity" in c.visible_text()
    await c.send("680 30ml")  # E3
    text = c.visible_text()
    assert "Consumption tax (15%): CN¥84.00" in text
    assert "VAT (13%): CN¥72.80" in text
    assert "Total tax: CN¥156.80" in text
    assert "Comprehensive rate: 23.06%" in text
    assert "Bind your account to see how this order fits" in text and "Quota" not in text
    # The answer is a view state in the codec like any screen: "Another amount" re-asks.
    await c.tap("✏️ Another amount")
    await c.send("４９５０＋６０ 500ml")  # Q8, full-width digits
    text = c.visible_text()
    assert "Over the ¥5,000 single limit" in text and "at least" in text and "Comprehensive rate" not in text
    await c.tap("◀ Other goods")
    await c.tap("📚 Books, edible oil, farm produce")
    await c.send("200")  # E2
    assert "VAT (9%): ≈ CN¥12.60" in c.visible_text() and "may be 13%" in c.visible_text()
    # Plain text afterwards is not taken as an amount any more.
    await c.send("hello")
    assert "Welcome" in c.visible_text()


async def test_an_amount_delivered_again_shows_its_estimate_again(h: Harness) -> None:
    """Telegram delivers the amount again (its answer was lost after the step committed): the same
    estimate, not the welcome a plain text gets. A newer plain text is still plain text."""
    c = h.client(1104, "Kim", "en")
    await c.send("/calc")
    await c.tap("💄 Cosmetics")
    amount = await c.send("680 30ml")
    first = c.visible_text()
    assert "Total tax: CN¥156.80" in first
    again = await c.deliver(amount.update)
    assert c.visible_text() == first and [x.method for x in again.calls] == ["sendMessage"]
    await c.send("hello")
    assert "Welcome" in c.visible_text()
    await c.deliver(amount.update)  # still recognised after a newer message
    assert c.visible_text() == first


async def test_calculator_in_chinese(h: Harness) -> None:
    c = h.client(1102, "李", "zh-hans")
    await c.send("/calc")
    await c.tap("🥃 白酒及其他烈酒")
    await c.send("800 2斤")  # E15
    text = c.visible_text()
    assert "消费税：¥140.88" in text and "增值税（13%）：¥91.11" in text and "¥231.99" in text


async def test_calculator_bound_shows_the_quota_and_a_refusal(h: Harness) -> None:
    c, account = await bound(h, 1103)
    today = h.db.clock.today()
    key = await identity_key_of(h, account)
    async with h.db.read() as s:
        used = (
            await s.execute(
                select(func.coalesce(func.sum(Inventory.total_value), 0)).where(
                    Inventory.identity_key == key, Inventory.decl_year == today.year, Inventory.counted.is_(True)
                )
            )
        ).scalar_one()
    used = cbec.round_fen(Decimal(used))
    limit = Decimal(26000)
    await c.send("/calc")
    await c.tap("🍼 General goods")
    fits = limit - used  # Q7: exactly at the limit passes
    await c.send(f"{fits:.2f}")
    text = c.visible_text()
    assert f"Quota {today.year}" in text and f"Used so far: {money(used)}" in text
    assert f"After this order: {money(limit)}" in text and "Left: CN¥0.00" in text
    assert "code 1313" not in text
    await c.tap("✏️ Another amount")
    await c.send(f"{fits + Decimal('0.01'):.2f}")  # Q6: one fen more refuses the whole order
    text = c.visible_text()
    assert "Customs refuses the whole order (code 1313)" in text
    assert f"After this order: still {money(used)}" in text


# ---------------------------------------------------------------- chart


def _bar_at(img: Image.Image, month: int, dy: int = 3) -> bool:
    r, g, b = img.getpixel((round(chart.month_x_px(month)), round(chart.baseline_y_px()) - dy))[:3]
    return (r, g, b) == (0x2B, 0x7D, 0xE9)


def _bar_height(img: Image.Image, month: int) -> int:
    x, y = round(chart.month_x_px(month)), round(chart.baseline_y_px()) - 2
    n = 0
    while y - n > 0 and img.getpixel((x, y - n))[:3] == (0x2B, 0x7D, 0xE9):
        n += 1
    return n


async def test_chart_draws_the_months_with_data_and_is_sent_once(
    h: Harness, monkeypatch: pytest.MonkeyPatch, font: None
) -> None:
    c, account = await bound(h, 1104)
    key = await identity_key_of(h, account)
    async with h.db.read() as s:
        rows = (
            await s.execute(
                select(Inventory.decl_year, Inventory.decl_date, Inventory.total_value).where(
                    Inventory.identity_key == key, Inventory.counted.is_(True)
                )
            )
        ).all()
    year = max({y for y, _, _ in rows}, key=lambda y: sum(1 for r in rows if r[0] == y))
    months = [Decimal(0)] * 12
    for y, d, v in rows:
        if y == year:
            months[d.month - 1] += v
    threads: list[str] = []
    real = chart.render

    def spy(*args):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(chart, "render", spy)
    await c.send("/quota")
    await c.tap(str(year)) if str(year) in c.labels() else None
    r = await c.tap("📊 Chart")
    photo_calls = [x for x in r.calls if x.method == "sendPhoto"]
    assert len(photo_calls) == 1 and photo_calls[0].params["protect_content"] is True
    assert threads and threads[0] != threading.main_thread().name  # drawn off the event loop
    view = c.last_message()
    assert view is not None and view.photo and view.caption.startswith(f"📊 {year}: counted")
    img = Image.open(io.BytesIO(c.core.file(view.photo[-1]["file_id"]).data)).convert("RGB")  # type: ignore[union-attr]
    assert img.size == (chart.WIDTH_PX, chart.HEIGHT_PX)
    for m in range(1, 13):
        assert _bar_at(img, m) == (months[m - 1] > 0), (m, months)
    # Heights follow the amounts (the running-total line and its marker may cover a bar's top).
    # A small month is drawn at its floor (chart.MIN_BAR of the axis) so that it stays visible.
    top = max(Decimal(26000), sum(months)) * Decimal("1.15")
    scale = Decimal(str(chart.HEIGHT_PX * chart.AXES[3])) / top
    for m in range(1, 13):
        if months[m - 1] > 0:
            drawn = max(months[m - 1], top * Decimal(str(chart.MIN_BAR)))
            assert abs(_bar_height(img, m) - float(drawn * scale)) <= 6
    # The same chart again: sent by file_id, not drawn or uploaded a second time.
    await c.tap("📊 Chart")
    again = c.core.calls("sendPhoto")[-1]
    assert again.params["photo"] == view.photo[-1]["file_id"]
    assert len(threads) == 1


def test_chart_renders_in_under_300_ms_and_without_data(font: None) -> None:
    t = get_translator("zh_CN")
    amounts = (900, 0, 4200, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    data = MonthlyConsumption(2025, Decimal(26000), tuple(Decimal(x) for x in amounts))
    chart.render(data, t)  # the first render loads the font
    with cpu_time() as cpu:
        png = chart.render(data, t)
    assert cpu.seconds < 0.3
    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert _bar_at(img, 1) and _bar_at(img, 3) and not _bar_at(img, 2)
    assert _bar_height(img, 3) > 4 * _bar_height(img, 1)  # 4200 vs 900
    empty = Image.open(io.BytesIO(chart.render(MonthlyConsumption(2025, Decimal(26000), (Decimal(0),) * 12), t)))
    assert not any(_bar_at(empty.convert("RGB"), m) for m in range(1, 13))
    # The annual limit is marked: a red dashed line at 26 000 on the y scale.
    top = 26000 * 1.15
    y = round(chart.HEIGHT_PX * (1 - chart.AXES[1] - chart.AXES[3] * 26000 / top))
    reds = sum(1 for x in range(0, chart.WIDTH_PX) if img.getpixel((x, y))[0] > 200 and img.getpixel((x, y))[1] < 80)
    assert reds > 300


# ---------------------------------------------------------------- exports


async def _tax_screens(c: SandboxClient) -> dict[str, str]:
    """tax slip no. → the total shown on its detail screen (first page of the list)."""
    totals = {}
    labels = [x for x in c.labels() if re.match(r"^\d\. ", x)]
    for label in labels:
        await c.tap(label)
        text = c.visible_text()
        number = re.search(r"Tax slip (\S+)", text).group(1)  # type: ignore[union-attr]
        totals[number] = re.search(r"Total tax: (CN¥[\d,.]+)", text).group(1)  # type: ignore[union-attr]
        await c.tap("◀ Back")
    return totals


async def test_tax_exports_match_the_screens(h: Harness, font: None) -> None:
    c, account = await bound(h, 1105)
    key = await identity_key_of(h, account)
    async with h.db.read() as s:
        stmt = select(func.max(TaxSlip.return_time)).where(TaxSlip.identity_key == key)
        newest = (await s.execute(stmt)).scalar_one()
    year = newest.year
    await c.send("/tax")
    screens = await _tax_screens(c)  # newest first: these are in the newest year
    assert screens
    await c.tap("⬇️ Export")
    assert "Export · 🧾 Tax slips" in c.visible_text()
    if f"• {year} •" not in c.labels():
        await c.tap(str(year))
    await c.tap("📄 CSV")
    raw = document_of(c, f"tax-slips-{year}.csv")
    assert raw.startswith("\ufeff".encode())  # Excel reads the BOM as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    by_no = {r["Tax slip no."]: r for r in rows}
    for number, shown in screens.items():
        if number in by_no:
            assert money(Decimal(by_no[number]["Total tax"])) == shown
    assert sum(1 for n in screens if n in by_no) >= 1
    for r in rows:  # components add up to the total, to the fen
        parts = sum(Decimal(r[k]) for k in ("Customs duty", "Consumption tax", "VAT"))
        assert parts == Decimal(r["Total tax"]), r
    async with h.db.read() as s:
        count = (
            await s.execute(
                select(func.count()).where(
                    TaxSlip.identity_key == key, func.strftime("%Y", TaxSlip.return_time) == str(year)
                )
            )
        ).scalar_one()
    assert len(rows) == count
    await c.tap("📕 PDF")
    pdf = document_of(c, f"tax-slips-{year}.pdf")
    assert pdf.startswith(b"%PDF")
    text = _pdf_text(pdf)
    if text is not None:
        for number, shown in screens.items():
            if number in by_no:
                assert number in text.replace("\n", "") and shown in text


def _pdf_text(pdf: bytes) -> str | None:
    """pdftotext's text, after checking with pdffonts that every font is embedded (poppler-utils)."""
    if not (shutil.which("pdftotext") and shutil.which("pdffonts")):
        return None
    fonts = subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    lines = fonts.splitlines()[2:]
    assert lines and all(" yes " in line for line in lines), fonts  # emb yes
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return out.stdout.decode()


async def test_clearance_exports_match_the_screens(h: Harness, font: None) -> None:
    c, account = await bound(h, 1106, "zh-hans")
    await c.send("/clearance")
    first = c.visible_text()
    shown = MONEY.findall(first.replace("¥", "CN¥"))  # zh_CN shows ¥1,234.50
    key = await identity_key_of(h, account)
    async with h.db.read() as s:
        stmt = select(func.max(Inventory.app_time)).where(Inventory.identity_key == key)
        newest = (await s.execute(stmt)).scalar_one()
    await c.tap("⬇️ 导出")
    if f"• {newest.year} •" not in c.labels():
        await c.tap(str(newest.year))
    await c.tap("📄 CSV")
    rows = list(csv.DictReader(io.StringIO(document_of(c, f"clearance-lists-{newest.year}.csv").decode("utf-8-sig"))))
    assert rows and {"入库时间", "预录入编号", "完税总价", "计入额度"} <= set(rows[0])  # Chinese headers
    amounts = {get_translator("zh_CN").money(Decimal(r["完税总价"])) for r in rows}
    for value in shown[:3]:  # the newest lists on the first page are in the newest year
        assert value.replace("CN¥", "¥") in amounts
    await c.tap("📕 PDF")
    text = _pdf_text(document_of(c, f"clearance-lists-{newest.year}.pdf"))
    if text is not None:
        assert "清单" in text and shown[0].replace("CN¥", "¥") in text


# ---------------------------------------------------------------- a copy of my data


async def test_copy_of_my_data_once_a_day_without_personal_data_in_the_log(
    h: Harness, caplog: pytest.LogCaptureFixture, font: None
) -> None:
    c, account = await bound(h, 1107)
    await c.send("/privacy")
    assert "/mydata" in c.visible_text() and "/unbind" in c.visible_text()
    await c.tap("📥 A copy of my data")
    caplog.set_level(logging.DEBUG)
    r = await c.tap("📥 Send my copy")
    assert [x.method for x in r.calls].count("sendDocument") == 2
    data = json.loads(document_of(c, ".json"))
    async with h.db.read() as s:
        acc = (await s.execute(select(Account).where(Account.account_id == account))).scalar_one()
        lists = (await s.execute(select(func.count()).where(Inventory.identity_key == acc.identity_key))).scalar_one()
        slips = (await s.execute(select(func.count()).where(TaxSlip.identity_key == acc.identity_key))).scalar_one()
    id_number = h.vault.decrypt(acc.id_number_enc, "accounts.id_number")
    name = h.vault.decrypt(acc.name_enc, "accounts.name")
    assert data["identity"]["id_number"] == id_number and data["identity"]["name"] == name
    assert data["binding"]["method"] == "link" and data["binding"]["bound_at"]
    assert len(data["clearance_lists"]) == lists and len(data["tax_slips"]) == slips
    assert all("receipts" in x and "lines" in x for x in data["clearance_lists"])
    assert {p["category"] for p in data["processing"]} >= {"telegram", "identity", "customs", "notifications"}
    assert all(p["retention"] for p in data["processing"])
    assert data["requests"] and data["requests"][-1]["kind"] == "copy"
    assert document_of(c, ".pdf").startswith(b"%PDF")
    ours = ("bot", "handlers", "storage")
    logged = "\n".join(rec.getMessage() for rec in caplog.records if rec.name.split(".")[0] in ours)
    assert "sent a copy of personal data" in logged
    for secret in (id_number, name, str(c.user_id)):
        assert secret not in logged
    # A second request the same day is refused, saying when the first was.
    r = await c.tap("📥 Send my copy")
    assert "sendDocument" not in [x.method for x in r.calls]
    assert "already received a copy today" in c.visible_text()


async def test_copy_of_my_data_before_binding(h: Harness, font: None) -> None:
    c = h.client(1108, "Ann", "en")
    await c.send("/mydata")
    assert "You are not bound" in c.visible_text()
    await c.tap("📥 Send my copy")
    data = json.loads(document_of(c, ".json"))
    assert data["binding"] is None and data["identity"] is None and data["telegram"]["user_id"] == 1108
