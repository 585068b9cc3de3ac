"""The quota chart: a year's counted consumption by month, the running total and the annual limit.

matplotlib with the Agg backend, one `Figure` per render (no pyplot state, so renders may run in
threads side by side); text in Noto Sans CJK SC (bot.files.fonts). The layout is fixed: the plot
area sits at AXES in figure fractions and month m (0–11) is centred at x = m, so a test can find
each month's bar in the decoded PNG from these constants alone.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from babel.dates import get_month_names
from babel.numbers import format_decimal

from bot.domain.records import MonthlyConsumption
from bot.files.fonts import cjk_font
from bot.i18n import Translator

WIDTH_PX: Final = 960
HEIGHT_PX: Final = 540
DPI: Final = 100
AXES: Final = (0.10, 0.12, 0.86, 0.70)  # left, bottom, width, height (figure fractions)
BAR_COLOR: Final = "#2b7de9"
LINE_COLOR: Final = "#f59e0b"
LIMIT_COLOR: Final = "#dc2626"
BAR_WIDTH: Final = 0.6
RENDER_VERSION: Final = "1"  # part of the cache key: bump when the drawing changes

_font_lock = threading.Lock()
_font_ready = False


def _register_font() -> Any:
    """Register the CJK face with matplotlib once per process; the FontProperties to draw with."""
    global _font_ready
    from matplotlib import font_manager

    face = cjk_font()
    with _font_lock:
        if not _font_ready:
            font_manager.fontManager.addfont(str(face.path))
            _font_ready = True
    return font_manager.FontProperties(family=[face.family])


def _sized(font: Any, size: float) -> Any:
    out = font.copy()
    out.set_size(size)
    return out


def month_x_px(month: int) -> float:
    """Horizontal pixel centre of month 1–12's bar (for tests and image maps)."""
    left, _, width, _ = AXES
    return WIDTH_PX * (left + width * (month - 0.5) / 12)


def baseline_y_px() -> float:
    """Pixel row of the zero line (y grows downwards in the image)."""
    return HEIGHT_PX * (1 - AXES[1])


def cache_key(data: MonthlyConsumption, lang: str) -> str:
    """What the picture depends on, hashed: the same chart is never drawn (or uploaded) twice."""
    payload = [RENDER_VERSION, lang, data.year, str(data.limit), [str(m) for m in data.months]]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def _compact(t: Translator, amount: Decimal | float) -> str:
    whole = Decimal(str(amount)).quantize(Decimal(1), ROUND_HALF_UP)
    return "¥" + format_decimal(whole, "#,##0", locale=t.locale)


MIN_BAR = 0.02  # share of the axis height


def render(data: MonthlyConsumption, t: Translator) -> bytes:
    """The chart as a PNG, labelled in the translator's language."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    _ = t.gettext
    font = _register_font()
    months = [float(m) for m in data.months]
    running, total = [], 0.0
    for m in months:
        total += m
        running.append(total)
    last = max((i for i, m in enumerate(months) if m > 0), default=-1)
    limit = float(data.limit) if data.limit is not None else None
    top = max([limit or 0.0, running[-1], 1000.0]) * 1.15

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor="white")
    ax = fig.add_axes(AXES)
    ax.set_xlim(-0.5, 11.5)
    ax.set_ylim(0, top)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)

    # Only months with consumption get a bar: an empty month draws nothing at all, and a small one
    # is drawn at least MIN_BAR of the axis high so it does not vanish under the limit's scale.
    xs = [i for i, m in enumerate(months) if m > 0]
    heights = [max(months[i], top * MIN_BAR) for i in xs]
    bars = ax.bar(
        xs, heights, width=BAR_WIDTH, color=BAR_COLOR, edgecolor=BAR_COLOR, linewidth=1,
        label=_("Consumption per month"),
    )  # fmt: skip
    for rect, i in zip(bars, xs, strict=True):
        ax.annotate(
            _compact(t, months[i]), (rect.get_x() + rect.get_width() / 2, rect.get_height()),
            xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
            fontproperties=_sized(font, 9), color="#1f2937",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
        )  # fmt: skip
    if last >= 0:
        ax.plot(
            range(last + 1), running[: last + 1], color=LINE_COLOR, linewidth=2, marker="o", markersize=4,
            label=_("Running total"),
        )  # fmt: skip
    if limit is not None:
        ax.axhline(limit, color=LIMIT_COLOR, linewidth=1.5, linestyle="--")
        ax.text(
            11.45, limit, _("Annual limit {amount}").format(amount=_compact(t, limit)), ha="right", va="bottom",
            color=LIMIT_COLOR, fontproperties=_sized(font, 10),
        )  # fmt: skip

    names = get_month_names("abbreviated", locale=t.locale)
    ax.set_xticks(range(12), [names[i + 1] for i in range(12)])
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _compact(t, v)))
    for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        label.set_fontproperties(_sized(font, 10))

    title = _("Consumption by month · {year}").format(year=data.year)
    fig.text(AXES[0], 0.93, title, fontproperties=_sized(font, 16), color="#111827")
    if limit is not None:
        summary = _("Counted {consumed} of {limit}").format(
            consumed=t.money(data.consumed), limit=t.money(Decimal(str(limit)))
        )
    else:
        summary = _("Counted {consumed}").format(consumed=t.money(data.consumed))
    fig.text(AXES[0], 0.875, summary, fontproperties=_sized(font, 11), color="#4b5563")
    if xs:
        ax.legend(loc="upper left", prop=_sized(font, 10), frameon=False)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()
