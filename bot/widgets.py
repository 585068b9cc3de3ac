"""Small reusable keyboard builders, in the spirit of aiogram-dialog's widgets (telegram.md §1.2).

Pure: each takes the render context (translator, binding tag, today) and the states its buttons
lead to, and returns rows of `InlineKeyboardButton`. A widget never decides what a tap does
beyond "show this state": the state is in the button (see bot.callbacks).
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks as cb
from bot.i18n import N_, Translator

Row = list[InlineKeyboardButton]
Rows = list[Row]

# Label of inert buttons (calendar padding, the pager's missing arrow). Telegram trims button
# text and refuses an empty label, so a plain space fails the whole message; the Hangul filler
# is not trimmed and shows as blank.
BLANK = "\u3164"
CHECK = "✓"


@dataclass(frozen=True)
class Ctx:
    """What every render needs besides the data: language, the caller's binding tag, today."""

    t: Translator
    tag: str
    today: date

    def _(self, message: str) -> str:
        return self.t.gettext(message)

    def button(self, label: str, state: cb.State) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=cb.encode(state, self.tag))

    def noop(self, label: str = BLANK) -> InlineKeyboardButton:
        return self.button(label, cb.Noop())


def markup(rows: Iterable[Row]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([row for row in rows if row])


def chunk(buttons: Sequence[InlineKeyboardButton], per_row: int) -> Rows:
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


# ---------------------------------------------------------------- radio groups


def radio(ctx: Ctx, options: Sequence[tuple[str, cb.State, bool]], per_row: int = 4) -> Rows:
    """A row (or rows) of choices; the checked one is marked ✓ (status filters, language)."""
    buttons = [ctx.button(f"{CHECK} {label}" if checked else label, state) for label, state, checked in options]
    return chunk(buttons, per_row)


status_radio = radio


def year_picker(
    ctx: Ctx, years: Iterable[int], selected: int, to_state: Callable[[int], cb.State], per_row: int = 4
) -> Rows:
    """Years ascending, the shown one marked • 2026 •; always includes the selected year."""
    shown = sorted({*years, selected})
    buttons = [ctx.button(f"• {y} •" if y == selected else str(y), to_state(y)) for y in shown]
    return chunk(buttons, per_row)


# ---------------------------------------------------------------- date filter

PRESET_LABELS: dict[str, str] = {
    cb.ALL: N_("Any time"),
    cb.LAST_30_DAYS: N_("30 days"),
    cb.LAST_3_MONTHS: N_("3 months"),
    cb.THIS_YEAR: N_("This year"),
}


def date_filter_label(ctx: Ctx, f: cb.DateFilter) -> str:
    """The filter in words for a list's summary line ("Last 30 days", "Mar 1 – 9, 2025" …)."""
    if f.preset == cb.CUSTOM:
        assert f.start is not None and f.end is not None
        return ctx._("{start} – {end}").format(start=ctx.t.date(f.start), end=ctx.t.date(f.end))
    return {
        cb.ALL: ctx._("Any time"),
        cb.LAST_30_DAYS: ctx._("Last 30 days"),
        cb.LAST_3_MONTHS: ctx._("Last 3 months"),
        cb.THIS_YEAR: ctx._("This year"),
    }[f.preset]


def date_presets(
    ctx: Ctx,
    current: cb.DateFilter,
    to_state: Callable[[cb.DateFilter], cb.State],
    calendar: cb.Calendar,
) -> Rows:
    """[Any time] [30 days] [3 months] / [This year] [📅 Custom range]; the active one checked."""
    presets = [(ctx._(PRESET_LABELS[p]), to_state(cb.DateFilter(p)), current.preset == p) for p in cb.PRESETS]
    custom = ctx._("📅 Custom range")
    custom_btn = ctx.button(f"{CHECK} {custom}" if current.preset == cb.CUSTOM else custom, calendar)
    rows = radio(ctx, presets, per_row=3)
    rows[-1].append(custom_btn)
    return rows


# ---------------------------------------------------------------- calendar


def month_days(year: int, month: int) -> int:
    return _calendar.monthrange(year, month)[1]


def _month_in_range(ym: tuple[int, int]) -> bool:
    return cb.MIN_YEAR <= ym[0] <= cb.MAX_YEAR


def calendar(ctx: Ctx, state: cb.Calendar) -> Rows:
    """Month grid, Monday first. ◀ ▶ change month (across years); padding cells are inert.

    Picking the start: every day is enabled. Picking the end: days before the start are shown
    as "·" and inert; the start is marked •d•. Today is marked [d].
    """
    y, m = state.month
    prev_m, next_m = cb.add_months(y, m, -1), cb.add_months(y, m, 1)
    nav = [
        ctx.button("◀", replace(state, month=prev_m)) if _month_in_range(prev_m) else ctx.noop(),
        ctx.noop(ctx.t.month(date(y, m, 1))),
        ctx.button("▶", replace(state, month=next_m)) if _month_in_range(next_m) else ctx.noop(),
    ]
    rows: Rows = [nav, [ctx.noop(name) for name in ctx.t.weekday_names()]]
    week: Row = [ctx.noop() for _ in range(date(y, m, 1).weekday())]
    for day in range(1, month_days(y, m) + 1):
        d = date(y, m, day)
        week.append(_day_button(ctx, state, d))
        if len(week) == 7:
            rows.append(week)
            week = []
    if week:
        rows.append(week + [ctx.noop() for _ in range(7 - len(week))])
    bottom = [ctx.button(ctx._("✖ Cancel"), state.back)]
    if state.start is not None:
        bottom.insert(0, ctx.button(ctx._("↺ Start over"), replace(state, start=None)))
    rows.append(bottom)
    return rows


def _day_button(ctx: Ctx, state: cb.Calendar, d: date) -> InlineKeyboardButton:
    if state.start is None:
        target: cb.State = replace(state, start=d)
    elif d < state.start:
        return ctx.noop("·")
    else:
        target = replace(state.back, dates=cb.DateFilter.custom(state.start, d), page=0)
    if d == state.start:
        label = f"•{d.day}•"
    elif d == ctx.today:
        label = f"[{d.day}]"
    else:
        label = str(d.day)
    return ctx.button(label, target)


def calendar_for(back: cb.TaxList | cb.ClearanceList, today: date) -> cb.Calendar:
    """The calendar a list's "Custom range" opens: at the current range's start, else this month."""
    first = back.dates.start if back.dates.preset == cb.CUSTOM and back.dates.start else today
    return cb.Calendar(back, (first.year, first.month))


# ---------------------------------------------------------------- pager and navigation


def pager(ctx: Ctx, page: int, pages: int, to_state: Callable[[int], cb.State]) -> Rows:
    """`◀ 2/7 ▶` (pages shown 1-based); no row at all when everything fits on one page."""
    if pages <= 1:
        return []
    page = min(max(page, 0), pages - 1)
    return [
        [
            ctx.button("◀", to_state(page - 1)) if page > 0 else ctx.noop(),
            ctx.noop(f"{page + 1}/{pages}"),
            ctx.button("▶", to_state(page + 1)) if page < pages - 1 else ctx.noop(),
        ]
    ]


def nav_row(ctx: Ctx, *, back: cb.State | None = None, reset: cb.State | None = None, menu: bool = True) -> Row:
    """The bottom row, always in this order: ↺ Reset · ◀ Back · 🏠 Menu."""
    row: Row = []
    if reset is not None:
        row.append(ctx.button(ctx._("↺ Reset"), reset))
    if back is not None:
        row.append(ctx.button(ctx._("◀ Back"), back))
    if menu:
        row.append(ctx.button(ctx._("🏠 Menu"), cb.Menu()))
    return row


# ---------------------------------------------------------------- text widgets


def progress_bar(ratio: Decimal, width: int = 10) -> str:
    """▓▓▓▓░░░░░░ for 0.42: cells are rounded down, so the bar is full only at 100 %."""
    filled = int((max(ratio, Decimal(0)) * width).to_integral_value(rounding=ROUND_FLOOR))
    filled = min(filled, width)
    return "▓" * filled + "░" * (width - filled)
