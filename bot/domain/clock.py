"""China local time, the time zone of every CEB timestamp.

Times are stored naive, meaning China Standard Time (UTC+8, no daylight saving), so that the
customs times and our own bookkeeping times compare directly.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

CN_TZ = timezone(timedelta(hours=8), "CST")


def now_cn() -> datetime:
    return datetime.now(CN_TZ).replace(tzinfo=None)


def today_cn() -> date:
    return now_cn().date()
