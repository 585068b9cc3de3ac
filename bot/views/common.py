"""What every screen shares: the Screen result, message splitting, escaping and value formatting.

A screen is a pure render of (state, data, context) → Screen, like an aiogram-dialog window. The
handler sends or edits it; it never formats anything itself.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_decimal
from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove

from bot import callbacks as cb
from bot.domain import codes
from bot.widgets import Ctx, calendar, markup

MAX_TEXT = 4096  # Bot API: message text, characters after entity parsing
DASH = "-"  # what an unknown value shows as
CNY_CODES = frozenset({"142", "CNY"})

Keyboard = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass(frozen=True)
class Screen:
    """One rendered screen.

    `text` is HTML (parse_mode=HTML). When the text is longer than one message, `parts` holds
    every message in order (`text` is then the first one): send them in order and put
    `keyboard` on the LAST part only. `messages` gives the texts either way.
    """

    text: str
    keyboard: Keyboard | None = None
    parts: tuple[str, ...] | None = None

    @property
    def messages(self) -> tuple[str, ...]:
        return self.parts if self.parts is not None else (self.text,)


def screen(lines: Iterable[str], keyboard: Keyboard | None = None, limit: int = MAX_TEXT) -> Screen:
    """Join the lines into a Screen, split into several messages when they do not fit in one."""
    parts = split_message(list(lines), limit)
    return Screen(parts[0], keyboard, parts if len(parts) > 1 else None)


# ---------------------------------------------------------------- splitting


def text_len(s: str) -> int:
    """Length as Telegram counts it (UTF-16 code units); counting the raw HTML over-estimates the
    parsed length, which keeps us safely under the limit."""
    return len(s.encode("utf-16-le")) // 2


def split_message(lines: Sequence[str], limit: int = MAX_TEXT) -> tuple[str, ...]:
    """Pack lines into as few messages as possible, breaking only BETWEEN lines.

    Joining the parts with "\\n" gives back the original text: no line is cut, lost or repeated.
    Blank lines at a break stay at the end of the earlier part (Telegram trims them). Only a
    single line longer than `limit` (which our views never produce) is broken inside, at a
    point outside any tag and entity, preferring a space; its pieces are whole messages, so
    those parts join back with "" instead.
    """
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        n = text_len(line)
        if n > limit:
            if current:
                parts.append("\n".join(current))
            while text_len(line) > limit:
                cut = _safe_cut(line, limit)
                parts.append(line[:cut])
                line = line[cut:]
            current, size = [line], text_len(line)
            continue
        extra = n + (1 if current else 0)
        if current and size + extra > limit:
            parts.append("\n".join(current))
            current, size = [line], n
        else:
            current.append(line)
            size += extra
    parts.append("\n".join(current))
    return tuple(parts)


def _safe_cut(line: str, limit: int) -> int:
    """Last index ≤ limit (in UTF-16 units) that is outside tags and entities; a space preferred."""
    best = best_space = 0
    depth = 0
    in_tag = in_entity = False
    units = 0
    for i, ch in enumerate(line):
        if units > limit:
            break
        if not in_tag and not in_entity and depth == 0 and i > 0:
            best = i
            if line[i - 1] == " ":
                best_space = i
        if in_tag:
            if ch == ">":
                in_tag = False
                depth += -1 if line[line.rfind("<", 0, i) + 1] == "/" else 1
        elif in_entity:
            in_entity = ch != ";"
        elif ch == "<":
            in_tag = True
        elif ch == "&":
            in_entity = True
        units += text_len(ch)
    cut = best_space or best
    if cut <= 0:
        raise ValueError("a single line cannot be split safely")
    return cut


# ---------------------------------------------------------------- values


def bold(html_text: str) -> str:
    """Wrap already-safe HTML in <b>. (Never call _() inside an f-string: extraction misses it.)"""
    return f"<b>{html_text}</b>"


def code(value: object) -> str:
    """Record data in monospace (numbers the user may copy): escaped, "-" when missing."""
    return f"<code>{esc(value)}</code>"


def esc(value: object) -> str:
    """Record data into HTML: escaped, and "-" for missing values."""
    if value is None:
        return DASH
    s = str(value).strip()
    return html.escape(s) if s else DASH


def clip(s: str | None, n: int = 14) -> str:
    """Button labels are plain text (no HTML, no escaping) and should fit on a phone."""
    if not s or not s.strip():
        return DASH
    s = s.strip()
    return s if len(s) <= n else s[: n - 1] + "…"


def line(ctx: Ctx, label: str, value_html: str) -> str:
    """`Label: value` with the language's own colon (label from our catalog, value already safe)."""
    return ctx._("{label}: {value}").format(label=label, value=value_html)


def money(ctx: Ctx, amount: Decimal | None, currency: str | None = None) -> str:
    """Amount in a CEB currency code: CNY (142, or unknown = None) via Babel, `¥1,234.50`;
    another currency as `12.50 美元` (we hold no ISO mapping for the legacy numeric codes)."""
    if amount is None:
        return DASH
    if currency is None or str(currency).strip().lstrip("0") in CNY_CODES:
        return ctx.t.money(amount)
    number = format_decimal(amount, "#,##0.00###", locale=ctx.t.locale)
    return f"{number} {esc(codes.currency_name(currency, ctx.t.lang))}"


def rate(ctx: Ctx, value: Decimal | None) -> str:
    return DASH if value is None else ctx.t.percent(value)


def qty(ctx: Ctx, value: Decimal | None, unit: str | None = None) -> str:
    if value is None:
        return DASH
    out = ctx.t.number(value)
    if unit:
        out += " " + esc(codes.unit_name(unit, ctx.t.lang))
    return out


def page_summary(ctx: Ctx, count_text: str, page: int, pages: int) -> str:
    """ "12 tax slips · page 2/3" (the page part only when there is more than one)."""
    if pages <= 1:
        return count_text
    return ctx._("{count} · page {page}/{pages}").format(count=count_text, page=page + 1, pages=pages)


# ---------------------------------------------------------------- custom date range


def calendar_screen(ctx: Ctx, state: cb.Calendar) -> Screen:
    """The custom-range picker for a tax-slip or clearance list."""
    title = ctx._("🧾 Tax slips") if state.target == "tax" else ctx._("📦 Clearance")
    lines = [bold(title) + " · " + ctx._("custom range"), ""]
    if state.start is None:
        lines.append(ctx._("📅 Pick the first day."))
    else:
        lines.append(ctx._("📅 From {start}. Now pick the last day.").format(start=ctx.t.date(state.start)))
    return screen(lines, markup(calendar(ctx, state)))
