"""The one clock: China local time, the time zone of every CEB timestamp.

Times are stored naive, meaning China Standard Time (UTC+8, no daylight saving), so that the
customs times and our own bookkeeping times compare directly.

Time is an input. A `Clock` is made once where the application (or a CLI command) is built and
handed to everything that needs "now" or "today": services, the database, the notifier, views
(through their render context). `Clock._wall` is the only place in the code base that reads the
wall clock; a clock may be shifted (the sandbox's `--today`, a test run pinned to a date) or
frozen (unit tests), and everything downstream sees the same shifted time.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

CN_TZ = timezone(timedelta(hours=8), "CST")
_EPOCH_CN = datetime(1970, 1, 1, 8, 0, 0)  # the Unix epoch, in naive China time


class Clock:
    """Wall time shifted by a fixed offset (zero for the real clock); it runs at real speed."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    @staticmethod
    def _wall() -> float:
        """Seconds since the Unix epoch, from the system: the one read of the wall clock."""
        return time.time()

    @classmethod
    def system(cls) -> Clock:
        return cls()

    @classmethod
    def as_of(cls, at: datetime) -> Clock:
        """A clock that reads `at` (naive China time) now, and runs on from there."""
        return cls(at - _from_timestamp(cls._wall()))

    @classmethod
    def on_day(cls, day: date) -> Clock:
        """A clock on `day` at the real time of day (the sandbox's and demo data's `--today`)."""
        real = _from_timestamp(cls._wall())
        return cls(datetime.combine(day, real.time()) - real)

    def timestamp(self) -> float:
        """Seconds since the Unix epoch, as this clock reads it."""
        return self._wall() + self.offset.total_seconds()

    def now(self) -> datetime:
        """Naive China time."""
        return _from_timestamp(self.timestamp())

    def today(self) -> date:
        return self.now().date()

    def advance(self, delta: timedelta) -> None:
        """Move the clock (tests: let a link expire without waiting)."""
        self.offset += delta

    def __repr__(self) -> str:
        return f"{type(self).__name__}(now={self.now():%Y-%m-%d %H:%M:%S})"


class FrozenClock(Clock):
    """A clock that stands still until told to move (unit tests)."""

    def __init__(self, at: datetime) -> None:
        super().__init__()
        self._at = at

    def timestamp(self) -> float:
        return (self._at - _EPOCH_CN).total_seconds()

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set(self, at: datetime) -> None:
        self._at = at


def _from_timestamp(ts: float) -> datetime:
    return _EPOCH_CN + timedelta(seconds=ts)


def parse_instant(text: str) -> datetime:
    """`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]`, China time (the tests' pinned date)."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is not None:
        value = value.astimezone(CN_TZ).replace(tzinfo=None)
    return value
