"""Screens rendered from hand-built records, in both languages."""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal as D

import pytest
from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove

from bot import callbacks as cb
from bot import commands
from bot.domain import cbec
from bot.domain.notices import NoticeKind
from bot.domain.records import (
    Page,
    QuotaOverview,
    UserSettings,
)
from bot.i18n import get_translator
from bot.views import binding, clearance, menu, notices, quota, settings, tax
from bot.views.common import MAX_TEXT, Screen, calendar_screen, split_message, text_len
from tests.support.views import (
    DETAIL,
    EVIL,
    EVIL_HTML,
    HOLDER,
    LANGS,
    TAX,
    _sandbox_parse,
    buttons,
    check,
    ctx,
    labels,
    list_line,
    list_row,
    no_plain_pii,
    tax_row,
    visible,
)

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)


@pytest.mark.parametrize("lang", LANGS)
def test_main_menu(lang: str) -> None:
    s = check(menu.main_menu(ctx(lang), HOLDER))
    assert "张**" in s.text and "110105********002X" in s.text
    no_plain_pii(s)
    states = list(buttons(s).values())
    assert states == [cb.Quota(2026), cb.TaxList(), cb.ClearanceList(), cb.Calc(), cb.Settings(), cb.Help()]
    if lang == "zh_CN":
        assert labels(s) == ["💳 个人额度", "🧾 税单", "📦 通关", "🧮 计算器", "⚙️ 设置", "❓ 帮助"]
    else:
        assert labels(s) == ["💳 Quota", "🧾 Tax slips", "📦 Clearance", "🧮 Calculator", "⚙️ Settings", "❓ Help"]


@pytest.mark.parametrize("lang", LANGS)
def test_help_privacy_and_short_texts(lang: str) -> None:
    t = get_translator(lang)
    h = check(menu.help_screen(ctx(lang), bound=True))
    for command in (c.name for c in commands.COMMANDS):
        if command != "help":
            assert f"/{command}" in h.text
    assert "12360" in h.text and "010-95198" in h.text
    assert buttons(h)[t.gettext("🔒 Privacy")] == cb.Privacy()
    unbound = check(menu.help_screen(ctx(lang, cb.UNBOUND), bound=False), cb.UNBOUND)
    assert cb.Menu() in buttons(unbound).values()
    p = check(menu.privacy(ctx(lang)))
    assert "/unbind" in p.text
    words = {"zh_CN": ["加密", "Telegram 用户 ID", "语言和通知设置"], "en": ["encrypted", "chat id", "notification"]}
    for w in words[lang]:
        assert w in p.text
    g = menu.group_hint(t, "swbot")
    assert g.keyboard.inline_keyboard[0][0].url == "https://t.me/swbot"
    assert menu.group_hint(t).keyboard is None
    for text in (menu.error_text(t), menu.expired_text(t), menu.not_found_text(t), menu.slow_down_text(t)):
        assert 0 < len(text) <= 200  # fits answerCallbackQuery
    assert ("失效" if lang == "zh_CN" else "expired") in menu.expired_text(t)
    assert ("重试" if lang == "zh_CN" else "try again") in menu.error_text(t)


# ---------------------------------------------------------------- binding


@pytest.mark.parametrize("lang", LANGS)
def test_welcome_for_unbound_users(lang: str) -> None:
    c = ctx(lang, cb.UNBOUND)
    s = check(binding.welcome(c), cb.UNBOUND)
    states = list(buttons(s).values())
    other = "en" if lang == "zh_CN" else "zh_CN"
    assert states == [cb.BindStart(), cb.SetLanguage(other), cb.Help(), cb.Calc()]
    assert "1." in s.text and "2." in s.text


@pytest.mark.parametrize("lang", LANGS)
def test_binding_steps(lang: str) -> None:
    c = ctx(lang, cb.UNBOUND)
    t = c.t
    for step in (binding.ask_name(c), binding.ask_id(c), binding.id_invalid(c), binding.name_invalid(c)):
        check(step, cb.UNBOUND)
        assert list(buttons(step).values()) == [cb.BindCancel()]
    assert ("删除" if lang == "zh_CN" else "delete") in binding.ask_id(c).text
    phone = binding.ask_phone(c)
    kb = phone.keyboard
    assert isinstance(kb, ReplyKeyboardMarkup) and kb.one_time_keyboard and kb.resize_keyboard
    share, cancel = kb.keyboard[0][0], kb.keyboard[1][0]
    assert share.request_contact and share.text == binding.share_label(t)
    assert share.text == ("📱 分享我的手机号" if lang == "zh_CN" else "📱 Share my phone number")
    assert cancel.text == binding.cancel_label(t) and not cancel.request_contact
    retry = binding.not_own_contact(c)
    assert isinstance(retry.keyboard, ReplyKeyboardMarkup)


@pytest.mark.parametrize("lang", LANGS)
def test_binding_results(lang: str) -> None:
    c = ctx(lang)
    ok = check(binding.bound(c, HOLDER))
    assert isinstance(ok.keyboard, ReplyKeyboardRemove)
    assert "张**" in ok.text and "110105********002X" in ok.text
    no_plain_pii(ok)

    bad = check(binding.mismatch(c, attempts_left=2))
    assert isinstance(bad.keyboard, ReplyKeyboardRemove)
    assert ("2 次" if lang == "zh_CN" else "2 attempts left") in bad.text
    one = binding.mismatch(c, attempts_left=1).text
    assert "1 attempt left" in one if lang == "en" else "1 次" in one
    # never says which detail was wrong
    assert binding.mismatch(c).text.count("\n") == 1

    lock = check(binding.locked(c, datetime(2026, 3, 10, 9, 30)))
    assert ("2026年3月10日 09:30" if lang == "zh_CN" else "Mar 10, 2026, 09:30") in lock.text

    texts = {binding.link_invalid(c).text, binding.link_expired(c).text, binding.link_used(c).text}
    assert len(texts) == 3
    for s in (binding.link_invalid(c), binding.link_expired(c), binding.link_used(c)):
        check(s)
        assert cb.BindStart() in buttons(s).values()

    moved = check(binding.moved_away(c.t))
    assert moved.keyboard is None and "12360" in moved.text
    assert ("另一个 Telegram 账号" if lang == "zh_CN" else "another Telegram account") in moved.text

    ask = check(binding.unbind_ask(c, HOLDER))
    assert list(buttons(ask).values()) == [cb.UnbindConfirm(), cb.Settings(), cb.Menu()]
    no_plain_pii(ask)
    done = check(binding.unbound(ctx(lang, cb.UNBOUND)), cb.UNBOUND)
    assert list(buttons(done).values()) == [cb.BindStart()]
    again = check(binding.already_bound(c, HOLDER))
    assert cb.UnbindAsk() in buttons(again).values()
    assert isinstance(binding.cancelled(c).keyboard, ReplyKeyboardRemove)


# ---------------------------------------------------------------- quota

OVERVIEW = QuotaOverview(2025, D("26000"), D("10920.5"), D("15079.5"), 7, (2023, 2025))


@pytest.mark.parametrize("lang", LANGS)
def test_quota(lang: str) -> None:
    s = check(quota.quota(ctx(lang), cb.Quota(2025), OVERVIEW))
    cur = "¥" if lang == "zh_CN" else "CN¥"
    for amount in ("26,000.00", "10,920.50", "15,079.50"):
        assert f"{cur}{amount}" in s.text
    assert "▓▓▓▓░░░░░░" in s.text and "42%" in s.text
    assert ("计入额度的清单：7" if lang == "zh_CN" else "Counted lists: 7") in s.text
    b = buttons(s)
    # years with data plus the current one (2026), the shown one marked
    assert [k for k in b if k.strip("• ").isdigit()] == ["2023", "• 2025 •", "2026"]
    assert b["2026"] == cb.Quota(2026)
    details = "📋 消费明细" if lang == "zh_CN" else "📋 Consumption details"
    assert b[details] == cb.QuotaDetails(2025, 0)
    assert list(b.values())[-1] == cb.Menu()


@pytest.mark.parametrize("lang", LANGS)
def test_quota_over_the_limit(lang: str) -> None:
    data = QuotaOverview(2026, D("26000"), D("27000.01"), D("-1000.01"), 12, (2026,))
    s = check(quota.quota(ctx(lang), cb.Quota(2026), data))
    expected = "已超出限值 ¥1,000.01" if lang == "zh_CN" else "Over the limit by CN¥1,000.01"
    assert expected in s.text
    assert "▓▓▓▓▓▓▓▓▓▓" in s.text and "104%" in s.text
    assert ("可用额度" if lang == "zh_CN" else "Available") not in s.text


def test_quota_without_limit() -> None:
    data = QuotaOverview(2015, None, D("500"), None, 1, (2015,))
    s = check(quota.quota(ctx("en"), cb.Quota(2015), data))
    assert "Annual limit: -" in s.text and "Available: -" in s.text and "▓" not in s.text


@pytest.mark.parametrize("lang", LANGS)
def test_quota_details_paged(lang: str) -> None:
    rows = tuple(list_row(i, decl_date=date(2025, 3, i)) for i in range(1, 6))
    state = cb.QuotaDetails(2025, 9)  # asked for page 10; the query clamped it to 2
    s = check(quota.quota_details(ctx(lang), state, Page(rows, 2, 3, 12)))
    assert ("12 张计入额度的清单 · 第 3/3 页" if lang == "zh_CN" else "12 counted lists · page 3/3") in s.text
    assert EVIL_HTML in s.text and "ORD-3" in s.text
    assert ("2025年3月3日" if lang == "zh_CN" else "Mar 3, 2025") in s.text
    b = buttons(s)
    assert b["3/3"] == cb.Noop()
    assert b["◀"] == cb.QuotaDetails(2025, 1)
    opened = [v for v in b.values() if isinstance(v, cb.ClearanceDetail)]
    assert opened == [cb.ClearanceDetail(i, cb.QuotaDetails(2025, 2)) for i in range(1, 6)]
    assert cb.Quota(2025) in b.values()  # back


def test_quota_details_single_page_and_empty() -> None:
    s = check(quota.quota_details(ctx("en"), cb.QuotaDetails(2025), Page((list_row(1),), 0, 1, 1)))
    assert "1 counted list" in s.text and "page" not in s.text
    assert cb.Noop() not in buttons(s).values() and "▶" not in buttons(s)  # no pager
    empty = check(quota.quota_details(ctx("en"), cb.QuotaDetails(2019), Page((), 0, 1, 0)))
    assert "No declarations counted toward the 2019 quota." in empty.text


# ---------------------------------------------------------------- tax slips


@pytest.mark.parametrize("lang", LANGS)
def test_tax_list(lang: str) -> None:
    state = cb.TaxList(cbec.TAX_GENERATED, cb.DateFilter(cb.LAST_3_MONTHS), 1)
    rows = tuple(tax_row(i) for i in range(6, 11))
    s = check(tax.tax_list(ctx(lang), state, Page(rows, 1, 3, 12)))
    zh = lang == "zh_CN"
    assert ("12 张税单 · 第 2/3 页" if zh else "12 tax slips · page 2/3") in s.text
    assert ("状态：已生成 · 日期：近3个月" if zh else "Status: Generated · Dates: Last 3 months") in s.text
    assert "TAX0000000006" in s.text
    assert ("¥43.05" if zh else "CN¥43.05") in s.text
    b = buttons(s)
    radio = [k for k in b if k.startswith("✓")]
    assert radio == (["✓ 已生成", "✓ 近3个月"] if zh else ["✓ Generated", "✓ 3 months"])
    assert b["作废" if zh else "Void"] == cb.TaxList(cbec.TAX_VOID, state.dates)  # keeps dates, page 0
    assert b["全部" if zh else "All"] == cb.TaxList(None, state.dates)
    assert b["今年" if zh else "This year"] == cb.TaxList(cbec.TAX_GENERATED, cb.DateFilter(cb.THIS_YEAR))
    assert b["📅 自选日期" if zh else "📅 Custom range"] == cb.Calendar(state, (2026, 3))
    details = [v for v in b.values() if isinstance(v, cb.TaxDetail)]
    assert details == [cb.TaxDetail(i, state) for i in range(6, 11)]  # back to this exact list
    assert b["◀"] == replace(state, page=0) and b["▶"] == replace(state, page=2)
    assert b["↺ 重置" if zh else "↺ Reset"] == cb.TaxList()
    assert list(b.values())[-1] == cb.Menu()


@pytest.mark.parametrize("lang", LANGS)
def test_tax_list_empty_states(lang: str) -> None:
    zh = lang == "zh_CN"
    fresh = check(tax.tax_list(ctx(lang), cb.TaxList(), Page((), 0, 1, 0)))
    assert ("暂无税单" if zh else "No tax slips yet") in fresh.text
    assert "◀" not in buttons(fresh)  # no pager
    filtered = check(tax.tax_list(ctx(lang), cb.TaxList(cbec.TAX_VOID), Page((), 0, 1, 0)))
    assert ("没有符合筛选条件的税单" if zh else "No tax slips match these filters") in filtered.text


@pytest.mark.parametrize("lang", LANGS)
def test_tax_detail(lang: str) -> None:
    back = cb.TaxList(cbec.TAX_SUMMARISED, cb.DateFilter.custom(date(2026, 1, 1), date(2026, 2, 1)), 4)
    s = check(tax.tax_detail(ctx(lang), cb.TaxDetail(77, back), TAX))
    zh = lang == "zh_CN"
    cur = "¥" if zh else "CN¥"
    text = s.text
    for value in ("290020261234567890", "29002026I000000001", "ORD-&lt;1&gt;", EVIL_HTML, "PAY-42"):
        assert value in text
    assert ("状态：已汇总" if zh else "Status: Summarised") in text
    assert ("入库时间：2026年3月2日 14:05" if zh else "Stored: Mar 2, 2026, 14:05") in text
    if zh:
        for piece in (
            "应征关税：¥0.00",
            "应征消费税：¥15.75",
            "应征增值税：¥27.30",
            "税款合计：¥43.05",
            "序号 1",
            "商品编码：<code>3304990099</code>",
            "申报数量：2 瓶",
            "单价：¥50.00",
            "完税总价：¥100.00",
            "关税率：0%",
            "消费税率：15%",
            "增值税率：9.1%",
        ):
            assert piece in text, piece
    else:
        for piece in (
            "Customs duty: CN¥0.00",
            "Consumption tax: CN¥15.75",
            "VAT: CN¥27.30",
            "Total tax: CN¥43.05",
            "No. 1",
            "HS code: <code>3304990099</code>",
            "Declared quantity: 2 bottle",
            "Unit price: CN¥50.00",
            "Dutiable value: CN¥100.00",
            "Tariff rate: 0%",
            "Consumption tax rate: 15%",
            "VAT rate: 9.1%",
        ):
            assert piece in text, piece
    # the second line has unknown quantity, price and rates: "-"
    second = text[text.index("序号 2" if zh else "No. 2") :]
    assert ("申报数量：- · 单价：-" if zh else "Declared quantity: - · Unit price: -") in second
    assert ("关税率：-" if zh else "Tariff rate: -") in second
    assert f"{cur}10.01" in second and f"{cur}0.91" in second
    assert list(buttons(s).values()) == [back, cb.Menu()]


# ---------------------------------------------------------------- clearance


@pytest.mark.parametrize("lang", LANGS)
def test_clearance_list(lang: str) -> None:
    zh = lang == "zh_CN"
    fp = cb.fingerprint("ORD-<1>")
    state = cb.ClearanceList(cbec.REJECTED, cb.DateFilter(cb.LAST_30_DAYS), 0, fp)
    rows = (list_row(1, status=100, group=cbec.REJECTED, disputed=True), list_row(2, status=None, pre_no=None))
    s = check(clearance.clearance_list(ctx(lang), state, Page(rows, 0, 1, 2), "ORD-<1>"))
    text = s.text
    assert ("状态：退单或退货 · 日期：近30天" if zh else "Status: Rejected or returned · Dates: Last 30 days") in text
    assert "<code>ORD-&lt;1&gt;</code>" in text
    assert ("2 张清单" if zh else "2 lists") in text and ("页" if zh else "page") not in text
    assert "I202600000000000001</code> ⚠️" in text
    assert ("海关退单" if zh else "Rejected by customs") in text
    assert f"<code>2900{2:014d}</code>" in text  # no pre-entry no. yet: the list number
    assert ("尚无海关回执" if zh else "no customs receipt yet") in text
    b = buttons(s)
    assert ("✓ 退单/退货" if zh else "✓ Rejected") in b
    assert b["已放行" if zh else "Released"] == cb.ClearanceList(cbec.RELEASED, state.dates, 0, fp)
    assert b["🔎 按编号查找" if zh else "🔎 Find by number"] == cb.ClearanceSearch(state)
    assert b["✖ 清除搜索" if zh else "✖ Clear search"] == replace(state, search=None)
    details = [v for v in b.values() if isinstance(v, cb.ClearanceDetail)]
    assert details == [cb.ClearanceDetail(1, state), cb.ClearanceDetail(2, state)]
    assert any(k.startswith("1. ⚠️") for k in b)
    assert "◀" not in b  # single page: no pager
    assert b["↺ 重置" if zh else "↺ Reset"] == cb.ClearanceList()


def test_clearance_list_empty_and_search_screens() -> None:
    c = ctx("en")
    fresh = check(clearance.clearance_list(c, cb.ClearanceList(), Page((), 0, 1, 0)))
    assert "No clearance lists yet." in fresh.text and "Clear search" not in " ".join(labels(fresh))
    search = cb.ClearanceList(search=cb.fingerprint("x"))
    none = check(clearance.clearance_list(c, search, Page((), 0, 1, 0), "x"))
    assert "Nothing found" in none.text
    prompt = check(clearance.search_prompt(c, cb.ClearanceSearch(search)))
    assert list(buttons(prompt).values()) == [search]
    assert "order number" in prompt.text
    bad = check(clearance.search_invalid(c, cb.ClearanceSearch(search)))
    assert "60" in bad.text


@pytest.mark.parametrize("lang", LANGS)
def test_clearance_detail(lang: str) -> None:
    zh = lang == "zh_CN"
    back = cb.QuotaDetails(2026, 1)
    s = check(clearance.clearance_detail(ctx(lang), cb.ClearanceDetail(9, back), DETAIL))
    text = s.text
    for value in (
        "I20260000000000001",
        "29002026I000000001",
        "ORD-1",
        EVIL_HTML,
        "Shop &lt;b&gt;Co&lt;/b&gt;",
        "顺丰速运",
        "SF1234567890",
        "放行 &amp; &lt;ok&gt;",
    ):
        assert value in text, value
    if zh:
        for piece in (
            "申报日期：2026年3月1日",
            "状态：放行",
            "申报海关：杭州关区",
            "贸易方式：保税跨境贸易电子商务",
            "运费：¥10.00",
            "保费：¥1.50",
            "货值：¥200.00",
            "合计：¥211.50",
            "序号 1",
            "商品编号：<code>3304990099</code>",
            "数量：2 · 计量单位：瓶",
            "单价：¥100.00",
            "总价：¥200.00",
            "币制：人民币",
            "原产国（地区）：日本",
            "计量单位：千克",
            "单价：3.50 美元",
            "原产国（地区）：美国",
        ):
            assert piece in text, piece
    else:
        for piece in (
            "Declared: Mar 1, 2026",
            "Status: Released",
            "Customs office: Hangzhou Customs",
            "Freight: CN¥10.00",
            "Insurance: CN¥1.50",
            "Goods value: CN¥200.00",
            "Total: CN¥211.50",
            "No. 1",
            "Goods code: <code>3304990099</code>",
            "Quantity: 2 · Unit: bottle",
            "Currency: Chinese yuan",
            "Origin: Japan",
            "Unit: kilogram",
            "3.50 US dollar",
        ):
            assert piece in text, piece
    assert "⚠️" not in text
    b = buttons(s)
    assert list(b.values()) == [cb.Suspicious(9, cb.NOT_ME), back, cb.Menu()]


@pytest.mark.parametrize("lang", LANGS)
def test_clearance_detail_disputed_and_unknowns(lang: str) -> None:
    data = replace(
        DETAIL,
        disputed=True,
        status=None,
        status_info=None,
        status_time=None,
        trade_mode="",
        customs_code="",
        pre_no=None,
        lines=(list_line(1, unit="", country="999999", currency=""),),
    )
    s = check(clearance.clearance_detail(ctx(lang), cb.ClearanceDetail(9), data))
    zh = lang == "zh_CN"
    assert ("有异议：您已报告这笔申报不是本人所为" if zh else "Disputed: you reported this") in s.text
    assert ("预录入编号：<code>-</code>" if zh else "Pre-entry no.: <code>-</code>") in s.text
    assert ("贸易方式：-" if zh else "Trade mode: -") in s.text
    assert ("计量单位：-" if zh else "Unit: -") in s.text
    assert "999999" in s.text  # an unknown code is shown as it is
    assert list(buttons(s).values()) == [cb.ClearanceList(), cb.Menu()]  # no "not me" twice


# ---------------------------------------------------------------- splitting


def test_long_detail_is_split_with_no_line_lost() -> None:
    long_name = "Très long produit & <spécial> " * 8  # ~250 chars, escaped longer
    lines = tuple(list_line(n, gname=f"{n:02d} {long_name}") for n in range(1, 61))
    data = replace(DETAIL, lines=lines)
    s = check(clearance.clearance_detail(ctx("en"), cb.ClearanceDetail(9), data))
    assert s.parts is not None and len(s.parts) >= 2
    assert s.text == s.parts[0]
    whole = "\n".join(s.parts)
    for n in range(1, 61):
        assert whole.count(f"{n:02d} Très long produit") == 1
    # nothing cut: every part ends at a line boundary and they join back to the full render
    single = clearance.clearance_detail(ctx("en"), cb.ClearanceDetail(9), data).messages
    assert "\n".join(single) == whole
    assert all(text_len(p) <= MAX_TEXT for p in s.parts)
    assert isinstance(s.keyboard, InlineKeyboardMarkup)  # sent with the last part


def test_tax_detail_with_many_lines_splits() -> None:
    lines = tuple(replace(TAX.lines[0], gnum=n) for n in range(1, 61))
    s = check(tax.tax_detail(ctx("zh_CN"), cb.TaxDetail(77), replace(TAX, lines=lines)))
    whole = "\n".join(s.messages)
    assert all(whole.count(f"序号 {n}<") == 1 for n in range(1, 61))


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("lang", LANGS)
def test_settings(lang: str) -> None:
    data = UserSettings(lang, frozenset({NoticeKind.TAX_NEW, NoticeKind.QUOTA}))
    s = check(settings.settings(ctx(lang), data))
    b = buttons(s)
    zh = lang == "zh_CN"
    assert ("✓ 中文" in b and "English" in b) if zh else ("中文" in b and "✓ English" in b)
    assert b["English" if zh else "✓ English"] == cb.SetLanguage("en")
    switches = [v for v in b.values() if isinstance(v, cb.SetNotify)]
    assert switches == [
        cb.SetNotify(NoticeKind.LIST_STATUS, True),
        cb.SetNotify(NoticeKind.VERIFY, True),
        cb.SetNotify(NoticeKind.OVER_LIMIT, True),
        cb.SetNotify(NoticeKind.MISMATCH, True),
        cb.SetNotify(NoticeKind.TAX_NEW, False),
        cb.SetNotify(NoticeKind.TAX_STATUS, True),
        cb.SetNotify(NoticeKind.QUOTA, False),
        cb.SetNotify(NoticeKind.SUSPICIOUS, True),
    ]
    assert ("🔔 新税单：开" if zh else "🔔 New tax slip: on") in b
    assert ("🔕 可疑申报：关" if zh else "🔕 Suspicious declaration: off") in b
    assert list(b.values())[-2:] == [cb.UnbindAsk(), cb.Menu()]


# ---------------------------------------------------------------- notices


@pytest.mark.parametrize("lang", LANGS)
def test_new_tax_notice(lang: str) -> None:
    s = check(notices.new_tax(ctx(lang), TAX))
    cur = "¥" if lang == "zh_CN" else "CN¥"
    for value in (
        "290020261234567890",
        "29002026I000000001",
        EVIL_HTML,
        f"{cur}0.00",
        f"{cur}15.75",
        f"{cur}27.30",
        f"{cur}43.05",
    ):
        assert value in s.text
    assert list(buttons(s).values()) == [cb.OpenTaxFromNotice(77)]


@pytest.mark.parametrize("lang", LANGS)
def test_tax_status_notices(lang: str) -> None:
    summarised = check(notices.tax_status(ctx(lang), TAX))
    assert "PAY-42" in summarised.text and ("已汇总" if lang == "zh_CN" else "summarised") in summarised.text
    void = check(notices.tax_status(ctx(lang), replace(TAX, status=cbec.TAX_VOID, ent_duty_no=None)))
    assert ("作废" if lang == "zh_CN" else "void") in void.text
    assert list(buttons(void).values()) == [cb.OpenTaxFromNotice(77)]


@pytest.mark.parametrize("lang", LANGS)
def test_quota_notices(lang: str) -> None:
    data = QuotaOverview(2026, D("26000"), D("21000"), D("5000"), 9, (2026,))
    s80 = check(notices.quota_threshold(ctx(lang), data, 80))
    assert "80%" in s80.text and ("¥5,000.00" in s80.text)
    over = replace(data, consumed=D("26500"), available=D("-500"))
    s100 = check(notices.quota_threshold(ctx(lang), over, 100))
    assert ("年度额度已用完" if lang == "zh_CN" else "Annual quota used up") in s100.text
    assert "¥500.00" in s100.text
    assert list(buttons(s100).values()) == [cb.Quota(2026), cb.ClearanceList()]


@pytest.mark.parametrize("lang", LANGS)
def test_suspicious_notice_and_report(lang: str) -> None:
    zh = lang == "zh_CN"
    s = check(notices.suspicious(ctx(lang), HOLDER, DETAIL))
    for value in ("张**", "29002026I000000001", "ORD-1", EVIL_HTML, "¥211.50"):
        assert value in s.text
    assert ("2026年3月1日" if zh else "Mar 1, 2026") in s.text
    no_plain_pii(s)
    assert list(buttons(s).values()) == [cb.Suspicious(9, cb.ME), cb.Suspicious(9, cb.NOT_ME), cb.ClearanceDetail(9)]
    assert labels(s)[:2] == (["✅ 是我本人", "🚨 不是我"] if zh else ["✅ It was me", "🚨 Not me"])

    r = check(notices.not_me_report(ctx(lang), HOLDER, DETAIL))
    for value in (
        "12360",
        "010-95198",
        "张**",
        "29002026I000000001",
        "ORD-1",
        "SF1234567890",
        EVIL_HTML,
        "Shop &lt;b&gt;Co&lt;/b&gt;",
        "¥211.50",
    ):
        assert value in r.text, value
    assert ("杭州关区" if zh else "Hangzhou Customs") in r.text
    assert ("举报" if zh else "Report") in r.text
    assert "<pre>" in r.text
    no_plain_pii(r)
    check(notices.suspicious_confirmed(ctx(lang)))


# ---------------------------------------------------------------- calendar screen


@pytest.mark.parametrize("lang", LANGS)
def test_calendar_screen(lang: str) -> None:
    back = cb.ClearanceList(cbec.RELEASED, page=3)
    s = check(calendar_screen(ctx(lang), cb.Calendar(back, (2026, 2))))
    assert ("开始日期" if lang == "zh_CN" else "first day") in s.text
    s = check(calendar_screen(ctx(lang), cb.Calendar(back, (2026, 2), date(2026, 2, 10))))
    assert ("2026年2月10日" if lang == "zh_CN" else "Feb 10, 2026") in s.text
    assert ("2026年2月" if lang == "zh_CN" else "Feb 2026") in labels(s)


# ---------------------------------------------------------------- every screen, both languages


def _all_screens(lang: str) -> list[Screen]:
    c = ctx(lang)
    t = c.t
    rows = tuple(list_row(i) for i in range(1, 6))
    return [
        menu.main_menu(c, HOLDER),
        menu.help_screen(c, bound=True),
        menu.privacy(c),
        menu.group_hint(t),
        binding.welcome(c),
        binding.ask_name(c),
        binding.ask_id(c),
        binding.ask_phone(c),
        binding.bound(c, HOLDER),
        binding.mismatch(c, 3),
        binding.locked(c, datetime(2026, 1, 1)),
        binding.link_used(c),
        binding.moved_away(t),
        binding.unbind_ask(c, HOLDER),
        binding.unbound(c),
        quota.quota(c, cb.Quota(2025), OVERVIEW),
        quota.quota_details(c, cb.QuotaDetails(2025), Page(rows, 0, 2, 7)),
        tax.tax_list(c, cb.TaxList(), Page(tuple(tax_row(i) for i in range(1, 6)), 0, 4, 17)),
        tax.tax_detail(c, cb.TaxDetail(77), TAX),
        clearance.clearance_list(c, cb.ClearanceList(), Page(rows, 0, 2, 6)),
        clearance.clearance_detail(c, cb.ClearanceDetail(9), DETAIL),
        settings.settings(c, UserSettings(lang)),
        notices.new_tax(c, TAX),
        notices.tax_status(c, TAX),
        notices.suspicious(c, HOLDER, DETAIL),
        notices.not_me_report(c, HOLDER, DETAIL),
        notices.quota_threshold(c, OVERVIEW, 80),
        calendar_screen(c, cb.Calendar(cb.TaxList(), (2024, 2))),
    ]


@pytest.mark.parametrize("lang", LANGS)
def test_every_screen_is_valid(lang: str) -> None:
    for s in _all_screens(lang):
        check(s)
        no_plain_pii(s)
        if _sandbox_parse is not None:
            for part in s.messages:
                parsed = _sandbox_parse(part)
                assert len(parsed.text) <= MAX_TEXT
                assert EVIL not in part or html.escape(EVIL) in part


def test_languages_differ() -> None:
    zh, en = _all_screens("zh_CN"), _all_screens("en")
    for a, b in zip(zh, en, strict=True):
        assert a.text != b.text


# ---------------------------------------------------------------- split_message


def test_sandbox_parser_was_used() -> None:
    pytest.importorskip("bot.sandbox.tghtml")
    assert _sandbox_parse is not None


def test_split_message_sixty_lines() -> None:
    lines = [f"<b>{n:02d}</b> " + html.escape(f"line {n} & <more> ") * 12 for n in range(60)]
    parts = split_message(lines, limit=1000)
    assert len(parts) > 1
    assert "\n".join(parts) == "\n".join(lines)  # no line lost, repeated or cut
    assert sum(p.count("</b> line") for p in parts) == 60
    for p in parts:
        assert text_len(p) <= 1000
        visible(p)  # every part is valid HTML on its own
    # greedy: no part could have taken the next part's first line
    for a, b in itertools.pairwise(parts):
        assert text_len(a) + 1 + text_len(b.split("\n", 1)[0]) > 1000


def test_split_message_default_limit_and_single_part() -> None:
    lines = ["x" * 200] * 60  # 12,059 characters
    parts = split_message(lines)
    assert len(parts) == 3 and all(text_len(p) <= MAX_TEXT for p in parts)
    assert "\n".join(parts) == "\n".join(lines)
    assert split_message(["short", "", "text"]) == ("short\n\ntext",)
    assert split_message([]) == ("",)


def test_split_counts_utf16_units() -> None:
    emoji = "🧾" * 600  # 1,200 UTF-16 units in 600 characters
    parts = split_message([emoji] * 4, limit=2500)
    assert len(parts) == 2 and all(text_len(p) <= 2500 for p in parts)


def test_split_overlong_line_at_a_safe_point() -> None:
    long_line = "<b>Name</b> " + "Tom &amp; Jerry " * 40
    parts = split_message([long_line], limit=100)
    assert "".join(parts) == long_line
    for p in parts:
        assert text_len(p) <= 100
        visible(p)
        assert not re.search(r"&[a-z]*$", p)  # never inside an entity
    assert parts[0].startswith("<b>Name</b>")


def test_split_overlong_line_between_normal_lines() -> None:
    long_line = "word " * 50  # 250 characters: pieces of 100, 100, and 50 that shares a part with "after"
    lines = ["before", long_line, "after"]
    parts = split_message(lines, limit=100)
    assert parts[0] == "before"
    assert "".join(parts[1:-1]) + parts[-1].split("\n")[0] == long_line
    assert parts[-1].endswith("\nafter")
    assert all(text_len(p) <= 100 for p in parts)
