"""Electronic tax slips (个人税款): the filtered, paged list and a slip's detail."""

from __future__ import annotations

from dataclasses import replace

from bot import callbacks as cb
from bot.domain import cbec, codes
from bot.domain.records import Page, TaxDetail, TaxLine, TaxRow
from bot.views.common import (
    Screen,
    bold,
    calendar_screen,
    clip,
    code,
    esc,
    line,
    money,
    page_summary,
    qty,
    rate,
    screen,
)
from bot.widgets import Ctx, calendar_for, date_filter_label, date_presets, markup, nav_row, pager, radio

TAX_STATUSES = (cbec.TAX_GENERATED, cbec.TAX_SUMMARISED, cbec.TAX_VOID)

__all__ = ["calendar_screen", "tax_detail", "tax_list"]


def status_label(ctx: Ctx, status: int | None) -> str:
    return ctx._("All") if status is None else codes.tax_status_name(status, ctx.t.lang)


def tax_list(ctx: Ctx, state: cb.TaxList, page: Page[TaxRow]) -> Screen:
    """Filters (status, dates), a summary line, one button per slip, pager, Reset and Menu."""
    _ = ctx._
    here = replace(state, page=page.page)  # clamped by the query
    count = ctx.t.ngettext("{n} tax slip", "{n} tax slips", page.total).format(n=page.total)
    lines = [
        bold(_("🧾 Tax slips")),
        " · ".join(
            [
                line(ctx, _("Status"), esc(status_label(ctx, state.status))),
                line(ctx, _("Dates"), esc(date_filter_label(ctx, state.dates))),
            ]
        ),
    ]
    lines += [page_summary(ctx, count, page.page, page.pages), ""] if page.items else [""]
    if not page.items:
        lines.append(
            _("No tax slips yet. I will message you as soon as one arrives.")
            if state.is_default
            else _("No tax slips match these filters.")
        )
    item_rows = []
    for n, row in enumerate(page.items, start=1):
        status = esc(codes.tax_status_name(row.status, ctx.t.lang))
        lines.append(f"<b>{n}.</b> <code>{esc(row.tax_no)}</code>")
        lines.append(f"    {ctx.t.date(row.stored_at)} · {money(ctx, row.total)} · {status}")
        label = f"{n}. {ctx.t.short_date(row.stored_at)} · {ctx.t.money(row.total)} · {clip(status, 10)}"
        item_rows.append([ctx.button(label, cb.TaxDetail(row.id, here))])

    status_options = [
        (status_label(ctx, s), cb.TaxList(s, state.dates), state.status == s) for s in (None, *TAX_STATUSES)
    ]
    rows = radio(ctx, status_options)
    rows += date_presets(ctx, state.dates, lambda f: cb.TaxList(state.status, f), calendar_for(here, ctx.today))
    rows += item_rows
    rows += pager(ctx, page.page, page.pages, lambda p: replace(state, page=p))
    rows.append([ctx.button(_("⬇️ Export"), cb.ExportMenu(cb.EXPORT_TAX, ctx.today.year))])
    rows.append(nav_row(ctx, reset=cb.TaxList()))
    return screen(lines, markup(rows))


def tax_detail(ctx: Ctx, state: cb.TaxDetail, data: TaxDetail) -> Screen:
    """Head, totals, then per goods line the quantities, value, rates and taxes; Back, Menu."""
    _ = ctx._
    lines = [
        bold(_("🧾 Tax slip")) + " " + code(data.tax_no),
        line(ctx, _("List no."), code(data.invt_no)),
        line(ctx, _("Order no."), code(data.order_no)),
        line(ctx, _("Platform"), esc(data.platform)),
        line(ctx, _("Status"), esc(codes.tax_status_name(data.status, ctx.t.lang))),
        line(ctx, _("Stored"), ctx.t.datetime(data.stored_at)),
        line(ctx, _("Payment note no."), code(data.ent_duty_no)),
        "",
        line(ctx, _("Customs duty"), money(ctx, data.customs_tax)),
        line(ctx, _("Consumption tax"), money(ctx, data.consumption_tax)),
        line(ctx, _("VAT"), money(ctx, data.vat)),
        bold(line(ctx, _("Total tax"), money(ctx, data.total))),
    ]
    for item in data.lines:
        lines += ["", *_tax_line(ctx, item)]
    keyboard = markup([nav_row(ctx, back=state.back)])
    return screen(lines, keyboard)


def _tax_line(ctx: Ctx, item: TaxLine) -> list[str]:
    _ = ctx._
    return [
        " · ".join([bold(_("No. {n}").format(n=item.gnum)), line(ctx, _("HS code"), code(item.gcode))]),
        " · ".join(
            [
                line(ctx, _("Declared quantity"), qty(ctx, item.qty, item.unit)),  # 申报数量
                line(ctx, _("Unit price"), money(ctx, item.price, item.currency)),
            ]
        ),
        line(ctx, _("Dutiable value"), money(ctx, item.tax_price)),
        " · ".join(
            [
                line(ctx, _("Tariff rate"), rate(ctx, item.tariff_rate)),
                line(ctx, _("Customs duty"), money(ctx, item.customs_tax)),
            ]
        ),
        " · ".join(
            [
                line(ctx, _("Consumption tax rate"), rate(ctx, item.consumption_rate)),
                line(ctx, _("Consumption tax"), money(ctx, item.consumption_tax)),
            ]
        ),
        " · ".join([line(ctx, _("VAT rate"), rate(ctx, item.vat_rate)), line(ctx, _("VAT"), money(ctx, item.vat))]),
    ]
