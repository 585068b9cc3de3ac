"""Annual quota (个人额度) and the counted lists behind it (消费明细)."""

from __future__ import annotations

from bot import callbacks as cb
from bot.domain.records import ListRow, Page, QuotaOverview
from bot.views.common import Screen, bold, clip, code, esc, line, money, page_summary, screen
from bot.widgets import Ctx, markup, nav_row, pager, progress_bar, year_picker


def quota(ctx: Ctx, state: cb.Quota, data: QuotaOverview) -> Screen:
    """The year's limit, consumed, available (or how far over), a bar, and the counted lists."""
    _ = ctx._
    lines = [bold(_("💳 Annual quota · {year}").format(year=data.year)), ""]
    lines.append(line(ctx, _("Annual limit"), money(ctx, data.limit)))
    lines.append(line(ctx, _("Consumed"), money(ctx, data.consumed)))
    if data.available is not None and data.available < 0:
        over = _("Over the limit by {amount}").format(amount=money(ctx, -data.available))
        lines.append("⚠️ " + bold(over))
    else:
        lines.append(line(ctx, _("Available"), money(ctx, data.available)))
    if data.limit:
        ratio = data.consumed / data.limit
        lines.append(f"<code>{progress_bar(ratio)}</code> {ctx.t.percent(ratio, digits=0)}")
    lines.append(line(ctx, _("Counted lists"), str(data.counted)))
    if data.limit is None:
        lines += ["", _("There was no annual limit in {year}.").format(year=data.year)]
    years = {*data.years, ctx.today.year}
    rows = year_picker(ctx, years, state.year, cb.Quota)
    rows.append(
        [
            ctx.button(_("📋 Consumption details"), cb.QuotaDetails(state.year)),
            ctx.button(_("📊 Chart"), cb.QuotaChart(state.year)),
        ]
    )
    rows.append(nav_row(ctx, reset=cb.Quota(ctx.today.year)))  # Reset: back to this year
    return screen(lines, markup(rows))


def quota_details(ctx: Ctx, state: cb.QuotaDetails, page: Page[ListRow]) -> Screen:
    """Counted lists of a year, newest first; each row opens its clearance detail."""
    _ = ctx._
    here = cb.QuotaDetails(state.year, page.page)  # the clamped page: "Back" returns to it
    count = ctx.t.ngettext("{n} counted list", "{n} counted lists", page.total).format(n=page.total)
    lines = [
        bold(_("📋 Consumption details · {year}").format(year=state.year)),
    ]
    lines += [page_summary(ctx, count, page.page, page.pages), ""] if page.items else [""]
    if not page.items:
        lines.append(_("No declarations counted toward the {year} quota.").format(year=state.year))
    rows = []
    for n, row in enumerate(page.items, start=1):
        lines.append(f"<b>{n}.</b> {ctx.t.date(row.decl_date)} · {esc(row.platform)}")
        lines.append("    " + line(ctx, _("Order no."), code(row.order_no)) + " · " + money(ctx, row.total))
        label = f"{n}. {ctx.t.short_date(row.decl_date)} · {clip(row.platform)} · {ctx.t.money(row.total)}"
        rows.append([ctx.button(label, cb.ClearanceDetail(row.id, here))])
    rows += pager(ctx, page.page, page.pages, lambda p: cb.QuotaDetails(state.year, p))
    rows.append(nav_row(ctx, reset=cb.QuotaDetails(ctx.today.year), back=cb.Quota(state.year)))
    return screen(lines, markup(rows))
