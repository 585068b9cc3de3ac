"""Views of what happened to a list and what the buyer should do: the clearance detail (cancelled,
returned, 验核 with its countdown, over the limit, details that differ) and the matching notices,
in both languages. Pure renders: no Telegram, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal as D

import pytest

from bot import callbacks as cb
from bot.domain import cbec, receipts
from bot.domain.records import ListRow, Page, QuotaOverview
from bot.i18n import get_translator
from bot.views import clearance, notices
from bot.widgets import Ctx
from tests.support.views import DETAIL, LANGS, TAG, buttons, check, list_line, list_row

VERIFY_INFO = "挂起,向订购人发起交易真实性验核，请及时联系订购人在15天内登入“掌上海关”APP完成验核"
SUSPENDED = datetime(2026, 3, 1, 16, 20, 5)  # the deadline is 2026-03-16


def ctx(lang: str, today: date) -> Ctx:
    return Ctx(get_translator(lang), TAG, today)


def detail(**kw: object):  # type: ignore[no-untyped-def]
    return replace(DETAIL, decl_year=2026, **kw)


def render(lang: str, data, today: date = date(2026, 3, 9)) -> str:  # type: ignore[no-untyped-def]
    return check(clearance.clearance_detail(ctx(lang, today), cb.ClearanceDetail(data.id), data)).text


@pytest.mark.parametrize("lang", LANGS)
def test_cancelled_list_says_when_and_what_came_back(lang: str) -> None:
    data = detail(
        status=399, cancelled=True, cancel_state="approved", cancel_time=datetime(2026, 3, 4, 10, 0),
        cancel_info="[Code:2300;Desc:审核通过],撤单申请审核通过", group=cbec.REJECTED,
    )
    text = render(lang, data)
    if lang == "en":
        assert "Status: Cancelled" in text
        assert "🚫 Cancelled on Mar 4, 2026" in text
        assert "CN¥211.50 went back to your 2026 quota." in text
    else:
        assert "状态：已撤单" in text
        assert "🚫 已于2026年3月4日撤单" in text
        assert "¥211.50已退回您的2026年度额度。" in text


@pytest.mark.parametrize("lang", LANGS)
def test_cancelling_a_refused_list_gives_nothing_back(lang: str) -> None:
    data = detail(status=100, cancelled=True, cancel_state="approved", cancel_time=datetime(2026, 3, 4))
    text = render(lang, data)
    assert ("It does not count toward your quota." if lang == "en" else "该清单不计入您的额度。") in text
    assert "went back" not in text and "已退回" not in text


@pytest.mark.parametrize("lang", LANGS)
def test_pending_and_refused_requests(lang: str) -> None:
    pending = render(lang, detail(cancel_state="pending", cancel_time=datetime(2026, 3, 4, 10, 0)))
    refused = render(lang, detail(refund_state="refused", refund_info="[Code:2301;Desc:审核不通过],超过退货期限"))
    if lang == "en":
        assert "⏳ Cancellation requested on Mar 4, 2026, waiting for customs." in pending
        assert "Return refused: 审核不通过，超过退货期限 (code 2301)" in refused
    else:
        assert "⏳ 已于2026年3月4日申请撤单，等待海关审核。" in pending
        assert "退货未通过：审核不通过，超过退货期限（代码 2301）" in refused  # no space before "（"


@pytest.mark.parametrize("lang", LANGS)
def test_returned_items(lang: str) -> None:
    data = detail(
        refund_state="approved", refund_time=datetime(2026, 3, 20), returned_items=2, returned_value=D("150.00"),
        lines=(list_line(1, returned_qty=D("1")), list_line(2, returned_qty=D("2")), list_line(3)),
    )
    text = render(lang, data, today=date(2026, 3, 21))
    if lang == "en":
        assert "↩️ Returned: 2 items</b> (Mar 20, 2026)" in text
        assert "CN¥150.00 went back to your 2026 quota." in text
        assert "Counted toward the quota: CN¥61.50" in text
        assert text.count("↩️ Returned: ") == 3  # the summary, then lines 1 and 2
    else:
        assert "↩️ 已退货：2项商品</b> (2026年3月20日)" in text
        assert "计入额度：¥61.50" in text
    one = render(lang, replace(data, returned_items=1))
    assert ("↩️ Returned: 1 item</b>" if lang == "en" else "↩️ 已退货：1项商品</b>") in one


@pytest.mark.parametrize(
    ("today", "en", "zh"),
    [
        (date(2026, 3, 9), "Confirm it by Mar 16, 2026: 7 days left.", "请在2026年3月16日前完成确认：还剩7天。"),
        (date(2026, 3, 15), "Confirm it by Mar 16, 2026: 1 day left.", "请在2026年3月16日前完成确认：还剩1天。"),
        (date(2026, 3, 16), "Confirm it today (Mar 16, 2026): it is the last day.", "今天（2026年3月16日）是最后一天"),
        (date(2026, 3, 20), "The deadline passed on Mar 16, 2026. Contact the seller.", "确认期限已于2026年3月16日"),
    ],
)
@pytest.mark.parametrize("lang", LANGS)
def test_verify_countdown_from_the_render_context(lang: str, today: date, en: str, zh: str) -> None:
    data = detail(status=600, status_time=SUSPENDED, status_info=VERIFY_INFO, group=cbec.IN_PROGRESS)
    text = render(lang, data, today=today)
    assert (en if lang == "en" else zh) in text
    for piece in ("掌上海关", "跨境电商个人交易确认", "12360", "010-95198"):
        assert piece in text
    assert buttons(clearance.clearance_detail(ctx(lang, today), cb.ClearanceDetail(9), data))  # "This was not me"


@pytest.mark.parametrize("lang", LANGS)
def test_over_limit_and_mismatch_guidance(lang: str) -> None:
    info = "[Code:1313;Desc:订购人购买超过年度限额,超过个人年度购买额度;totalPrice：26,114.44 > limitPrice: 26,000;]"
    over = render(lang, detail(status=100, status_info=info, group=cbec.REJECTED))
    phone = render(lang, detail(status=100, status_info="[Code:130126;Desc:订购人电话号码不一致]"))
    ident = render(lang, detail(status=100, status_info="订购人姓名或身份证信息不一致"))
    if lang == "en":
        assert "⛔ Refused: over the annual limit" in over
        assert "Total with this order: CN¥26,114.44" in over and "Annual limit: CN¥26,000.00" in over
        assert "phone number does not match" in phone
        assert "name or ID number does not match" in ident
    else:
        assert "⛔ 退单：超过年度限值" in over
        assert "含本单累计：¥26,114.44" in over
        assert "订购人电话不一致" in phone
        assert "订购人姓名或身份证号不一致" in ident


def test_no_guidance_once_released() -> None:
    text = render("en", detail(status=800, status_info="[Code:2600;Desc:放行]"))
    assert "Action needed" not in text and "Refused" not in text
    assert "Customs note: 放行 (code 2600)" in text


def test_list_rows_mark_cancelled_and_returned() -> None:
    page = Page((list_row(1, cancelled=True, group=cbec.REJECTED), list_row(2, returned=True)), 0, 1, 2)
    text = check(clearance.clearance_list(ctx("en", date(2026, 3, 9)), cb.ClearanceList(), page)).text
    assert "Cancelled" in text
    assert "↩️" in text
    assert isinstance(page.items[0], ListRow)


# ---------------------------------------------------------------- notices


@pytest.mark.parametrize("lang", LANGS)
def test_action_notice_has_a_button_to_the_list(lang: str) -> None:
    data = detail(status=600, status_time=SUSPENDED, status_info=VERIFY_INFO)
    action = receipts.action_needed(data.status, data.status_info)
    assert action is not None
    s = check(notices.action_needed(ctx(lang, date(2026, 3, 9)), data, action))
    states = list(buttons(s).values())
    assert cb.ClearanceDetail(data.id) in states
    assert cb.Suspicious(data.id, cb.NOT_ME) in states
    assert ("7 days left" if lang == "en" else "还剩7天") in s.text
    assert "ORD-1" in s.text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("status", "outcome"), [(800, "released"), (100, "refused"), (700, "refused")])
def test_status_push(lang: str, status: int, outcome: str) -> None:
    data = detail(status=status, status_info="[Code:1322;Desc:订单清单表体商品项不一致]" if status == 100 else None)
    s = check(notices.list_status(ctx(lang, date(2026, 3, 9)), data, outcome))
    assert list(buttons(s).values()) == [cb.ClearanceDetail(data.id)]
    if lang == "en":
        expected = {800: "✅ Cleared customs", 100: "⛔ Refused by customs", 700: "⛔ Shipped back"}[status]
        assert expected in s.text
        if status == 100:
            assert "Reason: 订单清单表体商品项不一致 (code 1322)" in s.text


@pytest.mark.parametrize("lang", LANGS)
def test_quota_back_notice(lang: str) -> None:
    data = detail(status=800, cancelled=True, cancel_state="approved", cancel_time=datetime(2026, 3, 4))
    quota = QuotaOverview(2026, D(26000), D("1000"), D("25000"), 3, (2026,))
    s = check(notices.quota_back(ctx(lang, date(2026, 3, 9)), data, quota))
    if lang == "en":
        assert "💳 CN¥211.50 of your 2026 quota is back" in s.text
        assert "Available now: CN¥25,000.00" in s.text
    else:
        assert "💳 ¥211.50已退回您的2026年度额度" in s.text
    assert cb.Quota(2026) in buttons(s).values()
    returned = replace(data, cancelled=False, returned_items=2, returned_value=D("80"))
    r = check(notices.quota_back(ctx(lang, date(2026, 3, 9)), returned, quota))
    assert ("CN¥80.00 of your 2026 quota is back" if lang == "en" else "¥80.00已退回") in r.text
    assert ("return of 2 items" if lang == "en" else "2项商品的退货") in r.text


def test_deadline_is_fifteen_calendar_days() -> None:
    assert receipts.verify_deadline(SUSPENDED) == SUSPENDED.date() + timedelta(days=15)
