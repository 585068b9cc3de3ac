"""Keyboard builders: radio marks, pager clamping, and the calendar's months, weeks and edges."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from telegram import InlineKeyboardButton

from bot import callbacks as cb
from bot import widgets as w
from bot.domain import cbec
from bot.i18n import get_translator

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)


TAG = "aZ3k9Q"
TODAY = date(2025, 3, 9)


def ctx(lang: str = "en", today: date = TODAY) -> w.Ctx:
    return w.Ctx(get_translator(lang), TAG, today)


def state_of(button: InlineKeyboardButton) -> cb.State:
    assert isinstance(button.callback_data, str)
    assert len(button.callback_data.encode()) <= 64
    tag, state = cb.decode(button.callback_data)
    assert tag == TAG
    return state


def labels(rows: w.Rows) -> list[list[str]]:
    return [[b.text for b in row] for row in rows]


# ---------------------------------------------------------------- radio, years


def test_year_picker_marks_selected_and_adds_it() -> None:
    rows = w.year_picker(ctx(), [2024, 2023, 2025], 2026, cb.Quota)
    assert labels(rows) == [["2023", "2024", "2025", "• 2026 •"]]
    assert [state_of(b) for b in rows[0]] == [cb.Quota(y) for y in (2023, 2024, 2025, 2026)]


def test_year_picker_wraps_rows() -> None:
    rows = w.year_picker(ctx(), range(2016, 2027), 2020, cb.Quota, per_row=4)
    assert [len(r) for r in rows] == [4, 4, 3]
    assert sum(b.text == "• 2020 •" for r in rows for b in r) == 1


def test_status_radio_checks_one() -> None:
    options = [
        ("All", cb.TaxList(), False),
        ("Void", cb.TaxList(cbec.TAX_VOID), True),
    ]
    rows = w.status_radio(ctx(), options)
    assert labels(rows) == [["All", "✓ Void"]]
    assert state_of(rows[0][1]) == cb.TaxList(cbec.TAX_VOID)


# ---------------------------------------------------------------- date presets


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_date_presets(lang: str) -> None:
    c = ctx(lang)
    current = cb.DateFilter(cb.LAST_30_DAYS)
    calendar = cb.Calendar(cb.TaxList(), (2025, 3))
    rows = w.date_presets(c, current, lambda f: cb.TaxList(cbec.TAX_VOID, f), calendar)
    flat = [b for r in rows for b in r]
    assert len(flat) == 5
    checked = [b for b in flat if b.text.startswith("✓")]
    assert len(checked) == 1
    assert state_of(checked[0]) == cb.TaxList(cbec.TAX_VOID, current)
    assert state_of(flat[-1]) == calendar
    if lang == "zh_CN":
        assert [b.text for b in flat] == ["全部时间", "✓ 近30天", "近3个月", "今年", "📅 自选日期"]
    else:
        assert [b.text for b in flat] == ["Any time", "✓ 30 days", "3 months", "This year", "📅 Custom range"]


def test_custom_range_checked_and_labelled() -> None:
    f = cb.DateFilter.custom(date(2025, 1, 5), date(2025, 2, 3))
    rows = w.date_presets(ctx(), f, lambda f: cb.TaxList(dates=f), cb.Calendar(cb.TaxList(), (2025, 1)))
    assert rows[-1][-1].text == "✓ 📅 Custom range"
    assert w.date_filter_label(ctx(), f) == "Jan 5, 2025 – Feb 3, 2025"
    assert w.date_filter_label(ctx("zh_CN"), f) == "2025年1月5日 至 2025年2月3日"


def test_calendar_for_opens_at_range_start_or_today() -> None:
    assert w.calendar_for(cb.TaxList(), TODAY).month == (2025, 3)
    custom = cb.TaxList(dates=cb.DateFilter.custom(date(2023, 11, 2), date(2024, 1, 1)))
    assert w.calendar_for(custom, TODAY) == cb.Calendar(custom, (2023, 11))


# ---------------------------------------------------------------- calendar


def _days(rows: w.Rows) -> list[str]:
    """Day cells in order (rows after the header and weekday rows, before the bottom row)."""
    return [b.text for r in rows[2:-1] for b in r]


def _grid_checks(rows: w.Rows, year: int, month: int, n_days: int) -> None:
    assert all(len(r) == 7 for r in rows[1:-1])
    cells = _days(rows)
    lead = date(year, month, 1).weekday()
    assert all(c == w.BLANK for c in cells[:lead])
    assert cells[lead].strip("[]•") == "1"
    numbers = [c.strip("[]•") for c in cells if c.strip("[]•").isdigit()]
    assert numbers == [str(d) for d in range(1, n_days + 1)]
    assert all(c == w.BLANK for c in cells[lead + n_days :])
    for r in rows[2:-1]:
        for b in r:
            if b.text == w.BLANK:
                assert state_of(b) == cb.Noop()


@pytest.mark.parametrize(
    ("year", "month", "n_days"),
    [
        (2024, 2, 29),  # leap
        (2025, 2, 28),
        (2028, 2, 29),
        (2000, 2, 29),  # divisible by 400: leap
        (2025, 1, 31),
        (2025, 4, 30),
        (2025, 12, 31),
        (2026, 3, 31),
    ],
)
def test_month_lengths(year: int, month: int, n_days: int) -> None:
    assert w.month_days(year, month) == n_days
    rows = w.calendar(ctx(), cb.Calendar(cb.TaxList(), (year, month)))
    _grid_checks(rows, year, month, n_days)


def test_1900_is_not_leap() -> None:
    assert w.month_days(1900, 2) == 28


def test_calendar_header_weekdays_and_languages() -> None:
    rows = w.calendar(ctx("en"), cb.Calendar(cb.TaxList(), (2025, 3)))
    assert rows[0][1].text == "Mar 2025"
    assert [b.text for b in rows[1]] == ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
    assert all(state_of(b) == cb.Noop() for b in rows[1])
    rows = w.calendar(ctx("zh_CN"), cb.Calendar(cb.TaxList(), (2025, 3)))
    assert rows[0][1].text == "2025年3月"
    assert [b.text for b in rows[1]] == ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
    assert state_of(rows[0][1]) == cb.Noop()


def test_navigation_crosses_year_boundaries() -> None:
    back = cb.ClearanceList(cbec.RELEASED)
    dec = cb.Calendar(back, (2024, 12))
    rows = w.calendar(ctx(), dec)
    assert state_of(rows[0][2]) == cb.Calendar(back, (2025, 1))
    assert state_of(rows[0][0]) == cb.Calendar(back, (2024, 11))
    jan = cb.Calendar(back, (2025, 1), date(2024, 12, 20))
    rows = w.calendar(ctx(), jan)
    assert state_of(rows[0][0]) == cb.Calendar(back, (2024, 12), date(2024, 12, 20))
    assert rows[0][1].text == "Jan 2025"


def test_navigation_stops_at_codec_range() -> None:
    rows = w.calendar(ctx(), cb.Calendar(cb.TaxList(), (2000, 1)))
    assert rows[0][0].text == w.BLANK and state_of(rows[0][0]) == cb.Noop()
    rows = w.calendar(ctx(), cb.Calendar(cb.TaxList(), (2099, 12)))
    assert rows[0][2].text == w.BLANK


def test_today_marked() -> None:
    rows = w.calendar(ctx(), cb.Calendar(cb.TaxList(), (2025, 3)))
    assert "[9]" in _days(rows)
    rows = w.calendar(ctx(), cb.Calendar(cb.TaxList(), (2025, 4)))
    assert not any(c.startswith("[") for c in _days(rows))


def _button(rows: w.Rows, text: str) -> InlineKeyboardButton:
    return next(b for r in rows[2:-1] for b in r if b.text == text)


def test_picking_start_then_end() -> None:
    back = cb.TaxList(cbec.TAX_SUMMARISED, cb.DateFilter(cb.THIS_YEAR), 3)
    start_step = cb.Calendar(back, (2025, 2))
    rows = w.calendar(ctx(), start_step)
    assert state_of(_button(rows, "10")) == cb.Calendar(back, (2025, 2), date(2025, 2, 10))
    assert labels([rows[-1]]) == [["✖ Cancel"]]
    assert state_of(rows[-1][0]) == back  # cancel returns to the list unchanged

    end_step = cb.Calendar(back, (2025, 2), date(2025, 2, 10))
    rows = w.calendar(ctx(), end_step)
    cells = _days(rows)
    assert cells.count("·") == 9  # 1-9 February disabled
    for b in (b for r in rows[2:-1] for b in r if b.text == "·"):
        assert state_of(b) == cb.Noop()
    assert "•10•" in cells
    picked = state_of(_button(rows, "20"))
    assert picked == replace(back, dates=cb.DateFilter.custom(date(2025, 2, 10), date(2025, 2, 20)), page=0)
    same_day = state_of(_button(rows, "•10•"))
    assert same_day == replace(back, dates=cb.DateFilter.custom(date(2025, 2, 10), date(2025, 2, 10)), page=0)
    assert labels([rows[-1]]) == [["↺ Start over", "✖ Cancel"]]
    assert state_of(rows[-1][0]) == cb.Calendar(back, (2025, 2))


def test_end_step_in_a_later_month_and_an_earlier_month() -> None:
    back = cb.ClearanceList()
    later = w.calendar(ctx(), cb.Calendar(back, (2025, 1), date(2024, 12, 20)))
    assert "·" not in _days(later)
    state = state_of(_button(later, "3"))
    assert state == cb.ClearanceList(dates=cb.DateFilter.custom(date(2024, 12, 20), date(2025, 1, 3)))
    earlier = w.calendar(ctx(), cb.Calendar(back, (2024, 11), date(2024, 12, 20)))
    assert not any(c.isdigit() for c in _days(earlier))  # the whole month is before the start


def test_calendar_fits_telegram_limits() -> None:
    back = cb.ClearanceList(
        cbec.REJECTED,
        cb.DateFilter.custom(date(2099, 1, 1), date(2099, 12, 31)),
        cb.MAX_PAGE,
        cb.fingerprint("x"),
    )
    for month in [(2099, m) for m in range(1, 13)]:
        rows = w.calendar(ctx(), cb.Calendar(back, month, date(2099, 1, 1)))
        assert sum(len(r) for r in rows) <= 100 and all(len(r) <= 8 for r in rows)
        for r in rows:
            for b in r:
                state_of(b)


# ---------------------------------------------------------------- pager, nav, bar


def test_pager_hidden_on_single_page() -> None:
    assert w.pager(ctx(), 0, 1, lambda p: cb.TaxList(page=p)) == []
    assert w.pager(ctx(), 0, 0, lambda p: cb.TaxList(page=p)) == []


def test_pager_middle_and_edges() -> None:
    rows = w.pager(ctx(), 1, 7, lambda p: cb.TaxList(page=p))
    assert labels(rows) == [["◀", "2/7", "▶"]]
    assert [state_of(b) for b in rows[0]] == [cb.TaxList(page=0), cb.Noop(), cb.TaxList(page=2)]
    first = w.pager(ctx(), 0, 3, lambda p: cb.TaxList(page=p))
    assert labels(first) == [[w.BLANK, "1/3", "▶"]] and state_of(first[0][0]) == cb.Noop()
    last = w.pager(ctx(), 2, 3, lambda p: cb.TaxList(page=p))
    assert labels(last) == [["◀", "3/3", w.BLANK]]


def test_pager_clamps() -> None:
    assert labels(w.pager(ctx(), 40, 3, lambda p: cb.TaxList(page=p))) == [["◀", "3/3", w.BLANK]]
    assert labels(w.pager(ctx(), -5, 3, lambda p: cb.TaxList(page=p))) == [[w.BLANK, "1/3", "▶"]]


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("en", ["↺ Reset", "◀ Back", "🏠 Menu"]), ("zh_CN", ["↺ 重置", "◀ 返回", "🏠 菜单"])],
)
def test_nav_row_order(lang: str, expected: list[str]) -> None:
    row = w.nav_row(ctx(lang), back=cb.TaxList(page=2), reset=cb.TaxList())
    assert [b.text for b in row] == expected
    assert [state_of(b) for b in row] == [cb.TaxList(), cb.TaxList(page=2), cb.Menu()]
    assert [b.text for b in w.nav_row(ctx(lang))] == expected[-1:]


def test_unbound_tag() -> None:
    c = w.Ctx(get_translator("en"), cb.UNBOUND, TODAY)
    b = c.button("x", cb.Help())
    assert cb.decode(b.callback_data) == (cb.UNBOUND, cb.Help())


@pytest.mark.parametrize(
    ("ratio", "bar"),
    [
        ("0", "░░░░░░░░░░"),
        ("0.42", "▓▓▓▓░░░░░░"),
        ("0.999", "▓▓▓▓▓▓▓▓▓░"),
        ("1", "▓▓▓▓▓▓▓▓▓▓"),
        ("1.7", "▓▓▓▓▓▓▓▓▓▓"),
        ("-0.1", "░░░░░░░░░░"),
    ],
)
def test_progress_bar(ratio: str, bar: str) -> None:
    assert w.progress_bar(Decimal(ratio)) == bar
