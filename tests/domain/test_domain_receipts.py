"""bot.domain.receipts (returnInfo and the receipts that ask the buyer to act) and
bot.domain.cbec.returned_value (what a return gives back), on the texts of next-features.md §1."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

import pytest

from bot.domain import cbec, receipts
from bot.domain.receipts import MISMATCH, OVER_LIMIT, VERIFY, action_needed, parse_return_info


@pytest.mark.parametrize(
    ("raw", "code", "desc", "text"),
    [
        ("[Code:1800;Desc:逻辑校验通过]", 1800, "逻辑校验通过", ""),
        ("[Code:2600;Desc:放行]", 2600, "放行", ""),
        (
            "[Code:2300;Desc:审核通过],撤单申请审核通过,清单[29242020I426334468]已成功撤单",
            2300,
            "审核通过",
            ",撤单申请审核通过,清单[29242020I426334468]已成功撤单",
        ),
        ("[Code:-1;Desc:x]", -1, "x", ""),
        ("[code：1313；desc：超限]", 1313, "超限", ""),  # case and full-width punctuation
        ("清单新增申报成功[电商企业编码：4401962010订单编号：124183351885]", None, None,
         "清单新增申报成功[电商企业编码：4401962010订单编号：124183351885]"),
        ("挂起", None, None, "挂起"),
        ("", None, None, ""),
        (None, None, None, ""),
    ],
)  # fmt: skip
def test_parse_return_info_keeps_the_free_text(raw: str | None, code: int | None, desc: str | None, text: str) -> None:
    info = parse_return_info(raw)
    assert (info.code, info.desc, info.text) == (code, desc, text)


def test_summary_joins_description_and_free_text() -> None:
    info = parse_return_info("[Code:2300;Desc:审核通过],撤单申请审核通过")
    assert info.summary == "审核通过，撤单申请审核通过"


VERIFY_TEXT = (
    "挂起,向订购人发起交易真实性验核，请及时联系订购人在15天内登入“掌上海关”APP、微信小程序或“掌上单一窗口”APP完成验核"
)


@pytest.mark.parametrize(
    ("status", "info", "kind", "detail"),
    [
        (600, VERIFY_TEXT, VERIFY, None),
        (300, VERIFY_TEXT, VERIFY, None),  # the text decides, whatever the code
        (600, "挂起", VERIFY, None),
        (600, None, VERIFY, None),
        (2, "请订购人在掌上海关完成个人交易确认", VERIFY, None),
        (600, "挂起,地址不详", None, None),  # suspended for another reason: nothing the buyer can confirm
        (100, "[Code:1313;Desc:订购人购买超过年度限额,超过个人年度购买额度]", OVER_LIMIT, None),
        (100, "订购人购买超过年度限额", OVER_LIMIT, None),
        (100, "[Code:130126;Desc:清单上的订购人电话号码与订单上的订购人电话号码不一致]", MISMATCH, "phone"),
        (100, "订购人姓名或身份证信息不一致", MISMATCH, "id"),
        (100, "身份验证未通过，请核对身份信息", MISMATCH, "id"),
        (-621049, "订购人手机号不一致", MISMATCH, "phone"),
        (100, "[Code:1322;Desc:订单清单表体商品项不一致]", None, None),  # the seller's error alone
        (100, "收件地址不详", None, None),
        (800, VERIFY_TEXT, None, None),  # released: nothing to do any more
        (899, "[Code:1313;Desc:超过年度限额]", None, None),
        (700, "挂起", None, None),
        (120, "[Code:1800;Desc:逻辑校验通过]", None, None),
        (None, VERIFY_TEXT, None, None),
    ],
)
def test_action_needed(status: int | None, info: str | None, kind: str | None, detail: str | None) -> None:
    action = action_needed(status, info)
    assert (action.kind if action else None) == kind
    if action is not None:
        assert action.detail == detail


def test_over_limit_totals() -> None:
    info = "[Code:1313;Desc:订购人购买超过年度限额,超过个人年度购买额度;totalPrice：26,114.44 > limitPrice: 26,000;]"
    action = action_needed(100, info)
    assert action is not None and (action.total, action.limit) == (D("26114.44"), D("26000"))
    escaped = info.replace(">", "&gt;")  # as some senders double-escape
    assert action_needed(100, escaped).total == D("26114.44")  # type: ignore[union-attr]
    assert action_needed(100, "[Code:1313;Desc:超过年度限额]").total is None  # type: ignore[union-attr]


def test_verify_deadline_is_fifteen_calendar_days() -> None:
    assert receipts.verify_deadline(datetime(2026, 12, 20, 23, 59)) == date(2027, 1, 4)


# -- returned value (domain.md §1.5, Q5) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "lines", "expected"),
    [
        (D("510"), [(D("400"), D("2"), D("1")), (D("100"), D("1"), D("0"))], D("204.00")),  # 200 + 4 freight
        (D("510"), [(D("400"), D("2"), D("2")), (D("100"), D("1"), D("1"))], D("510")),  # all of it, exactly
        (D("510"), [(D("400"), D("2"), D("9")), (D("100"), D("1"), D("1"))], D("510")),  # capped at what was bought
        (D("100.01"), [(D("33.33"), D("3"), D("1")), (D("66.67"), D("1"), D("0"))], D("11.11")),
        (D("10"), [(D("0"), D("1"), D("1")), (D("0"), D("1"), D("0"))], D("0")),  # no goods value to share
        (D("510"), [(D("400"), D("2"), D("0"))], D("0")),
    ],
)
def test_returned_value(total: D, lines: list[tuple[D, D, D]], expected: D) -> None:
    assert cbec.returned_value(total, lines) == expected
