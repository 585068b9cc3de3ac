"""What a customs receipt asks of the buyer: ``returnInfo`` parsed, and the cases that need action.

Pure. Sources: reference/next-features.md §1 (returnInfo formats, 1313, 交易真实性验核 / 挂起, identity
mismatches) and reference/domain.md §4 (个人交易确认, hotlines).

``returnInfo`` is ``[Code:N;Desc:…]`` followed by free text, or free text alone
(``清单新增申报成功[…]``, ``挂起``); both parts are kept. A receipt *asks the buyer to act* when:

* ``VERIFY``: customs suspended the list for a 交易真实性验核 — the buyer confirms within 15 days in
  掌上海关 or 掌上单一窗口 (or, if it is not their order, does not confirm and reports it). Detected
  from the text (验核, 掌上海关, 掌上单一窗口, 个人交易确认), or from 挂起 / status 600 with no other
  reason: no official source gives the status code (next-features §1.1).
* ``OVER_LIMIT``: refused with code 1313, the annual limit: with the receipt's totals when it
  carries them (``totalPrice：26,114.44 > limitPrice: 26,000``).
* ``MISMATCH``: refused because the buyer's name / ID (FAIL_153, 身份验证未通过) or phone (130126)
  differs between the list and the order: the seller must correct it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Final

__all__ = [
    "MISMATCH",
    "OVER_LIMIT",
    "SUSPENDED",
    "VERIFY",
    "VERIFY_DAYS",
    "Action",
    "ReturnInfo",
    "action_needed",
    "parse_return_info",
    "verify_deadline",
]

VERIFY: Final = "verify"
OVER_LIMIT: Final = "over_limit"
MISMATCH: Final = "mismatch"
SUSPENDED: Final = 600  # 挂起: in two non-official code bases, not in the official list
VERIFY_DAYS: Final = 15  # "在15天内…完成验核" (calendar days assumed: next-features §1.2)

_INFO = re.compile(r"\s*\[\s*Code\s*[:：]\s*(-?\d+)\s*[;；]\s*Desc\s*[:：]([^\]]*)\](.*)", re.S | re.I)
_VERIFY_WORDS = ("验核", "掌上海关", "掌上单一窗口", "个人交易确认", "交易真实性")
_LIMIT_WORDS = ("超过年度限额", "年度购买额度", "超过个人年度", "年度交易限值", "年度限额")
_ID_WORDS = ("姓名或身份证", "身份验证未通过", "身份信息不一致", "实名认证")
_NUMBER = r"([0-9][0-9,，]*(?:\.[0-9]+)?)"
_TOTALS = re.compile(rf"totalPrice\s*[:：]?\s*{_NUMBER}\s*(?:>|&gt;|＞)\s*limitPrice\s*[:：]?\s*{_NUMBER}", re.I)


@dataclass(frozen=True)
class ReturnInfo:
    """``[Code:N;Desc:…]`` split up; ``text`` is everything else (or the whole note)."""

    code: int | None
    desc: str | None
    text: str

    @property
    def summary(self) -> str:
        """The note in words: the description and the free text, without the code brackets."""
        parts = [p for p in (self.desc, self.text.strip(" ,，;；")) if p]
        return "，".join(parts)


def parse_return_info(raw: str | None) -> ReturnInfo:
    if not raw:
        return ReturnInfo(None, None, "")
    match = _INFO.match(raw)
    if match is None:
        return ReturnInfo(None, None, raw.strip())
    return ReturnInfo(int(match.group(1)), match.group(2).strip(), match.group(3).strip())


@dataclass(frozen=True)
class Action:
    """A receipt that needs the buyer: its kind, and what the bot can tell them about it."""

    kind: str  # VERIFY, OVER_LIMIT or MISMATCH
    info: ReturnInfo
    detail: str | None = None  # MISMATCH: "id" or "phone"
    total: Decimal | None = None  # OVER_LIMIT: the year's total customs counted, and the limit
    limit: Decimal | None = None


def _money(raw: str) -> Decimal | None:
    try:
        return Decimal(raw.replace(",", "").replace("，", ""))
    except InvalidOperation:
        return None


def action_needed(status: int | None, raw_info: str | None) -> Action | None:
    """The action a list's current receipt asks of the buyer, if any.

    Released, closed and shipped-back lists (800, 899, 700) need nothing, whatever their note says.
    """
    if status is None or status in (800, 899, 700):
        return None
    info = parse_return_info(raw_info)
    text = raw_info or ""
    if status == 100 or status < 0:  # refused (退单) or a processing error
        if info.code == 1313 or any(w in text for w in _LIMIT_WORDS):
            totals = _TOTALS.search(text)
            total, limit = (_money(totals.group(1)), _money(totals.group(2))) if totals else (None, None)
            return Action(OVER_LIMIT, info, total=total, limit=limit)
        differs = "不一致" in text or "不匹配" in text
        if info.code == 130126 or (differs and ("电话" in text or "手机" in text)):
            return Action(MISMATCH, info, detail="phone")
        if any(w in text for w in _ID_WORDS) or (differs and ("身份证" in text or "姓名" in text)):
            return Action(MISMATCH, info, detail="id")
        return None
    if any(w in text for w in _VERIFY_WORDS):
        return Action(VERIFY, info)
    bare = info.summary.strip(" ,，。.") in ("", "挂起")
    if (status == SUSPENDED or "挂起" in text) and bare:
        return Action(VERIFY, info)
    return None


def verify_deadline(suspended_at: datetime) -> date:
    """The last day to confirm: the suspension receipt's day + 15 calendar days."""
    return suspended_at.date() + timedelta(days=VERIFY_DAYS)
