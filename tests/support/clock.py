"""The tests' clock: the real one, or pinned to an instant for the whole run.

`pytest --now 2027-01-01T00:30` (or `SWBOT_TEST_NOW=2027-01-01T00:30 pytest`) runs the suite as of
that instant, China time; the `clock` fixture and everything built by the test helpers use it.
Each `test_clock()` starts at the pinned instant and runs on at real speed, so timeouts and
backoffs still elapse.
"""

from __future__ import annotations

import os
from datetime import datetime

from bot.domain.clock import Clock, parse_instant

NOW_ENV = "SWBOT_TEST_NOW"


def pinned_instant() -> datetime | None:
    raw = os.environ.get(NOW_ENV, "").strip()
    return parse_instant(raw) if raw else None


def test_clock() -> Clock:
    instant = pinned_instant()
    return Clock.system() if instant is None else Clock.as_of(instant)


test_clock.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name
