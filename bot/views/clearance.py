"""Customs clearance lists (个人通关数据): filtered, searchable, paged list and a list's detail."""

from __future__ import annotations

from dataclasses import replace

from bot import callbacks as cb
from bot.domain import cbec, codes
from bot.domain.records import ListDetail, ListLine, ListRow, Page
from bot.i18n import N_
from bot.views import guidance
from bot.views.common import Screen, bold, calendar_screen, clip, code, esc, line, money, page_summary, qty, screen
from bot.widgets import Ctx, calendar_for, date_filter_label, date_presets, markup, nav_row, pager, radio

__all__ = ["calendar_screen", "clearance_detail", "clearance_list", "search_invalid", "search_prompt"]

GROUP_LABELS: dict[str | None, str] = {
    None: N_("All"),
    cbec.IN_PROGRESS: N_("In progress"),
    cbec.RELEASED: N_("Released"),
    cbec.REJECTED: N_("Rejected"),
}
GROUP_SUMMARY: dict[str | None, str] = {
    None: N_("All"),
    cbec.IN_PROGRESS: N_("In progress"),
    cbec.RELEASED: N_("Released"),
    cbec.REJECTED: N_("Rejected or returned"),
}


def status_text(ctx: Ctx, status: int | None, *, cancelled: bool = False) -> str:
    """The status code's name, or "no customs receipt yet" before the first receipt; "Cancelled"
    once a cancellation is approved, whatever the last receipt said."""
    if cancelled:
        return ctx._("Cancelled")
    if status is None:
        return codes.list_status_note(None, ctx.t.lang)
    return codes.list_status_name(status, ctx.t.lang)


def clearance_list(ctx: Ctx, state: cb.ClearanceList, page: Page[ListRow], term: str | None = None) -> Screen:
    """`term` is the stored search term behind `state.search` (the handler looks it up)."""
    _ = ctx._
    here = replace(state, page=page.page)
    count = ctx.t.ngettext("{n} list", "{n} lists", page.total).format(n=page.total)
    lines = [
        bold(_("📦 Clearance")),
        " · ".join(
            [
                line(ctx, _("Status"), esc(ctx.t.gettext(GROUP_SUMMARY[state.group]))),
                line(ctx, _("Dates"), esc(date_filter_label(ctx, state.dates))),
            ]
        ),
    ]
    if state.search is not None:
        lines.append(line(ctx, _("🔎 Number"), code(term)))
    lines += [page_summary(ctx, count, page.page, page.pages), ""] if page.items else [""]
    if not page.items:
        if state.search is not None:
            lines.append(_("Nothing found for this number with these filters."))
        elif state.is_default:
            lines.append(_("No clearance lists yet."))
        else:
            lines.append(_("No clearance lists match these filters."))
    item_rows = []
    for n, row in enumerate(page.items, start=1):
        mark = (" ⚠️" if row.disputed else "") + (" ↩️" if row.returned else "")
        number = row.pre_no or row.invt_no or row.order_no
        status = esc(status_text(ctx, row.status, cancelled=row.cancelled))
        lines.append(f"<b>{n}.</b> <code>{esc(number)}</code>{mark}")
        lines.append(f"    {ctx.t.date(row.decl_date)} · {esc(row.platform)} · {money(ctx, row.total)} · {status}")
        label = f"{n}.{mark} {ctx.t.short_date(row.decl_date)} · {clip(row.platform, 10)} · {ctx.t.money(row.total)}"
        item_rows.append([ctx.button(label, cb.ClearanceDetail(row.id, here))])

    groups = [
        (ctx.t.gettext(GROUP_LABELS[g]), cb.ClearanceList(g, state.dates, 0, state.search), state.group == g)
        for g in (None, *cbec.STATUS_GROUPS)
    ]
    rows = radio(ctx, groups)
    rows += date_presets(
        ctx,
        state.dates,
        lambda f: cb.ClearanceList(state.group, f, 0, state.search),
        calendar_for(here, ctx.today),
    )
    search_row = [ctx.button(_("🔎 Find by number"), cb.ClearanceSearch(here))]
    if state.search is not None:
        search_row.append(ctx.button(_("✖ Clear search"), replace(state, page=0, search=None)))
    rows.append(search_row)
    rows += item_rows
    rows += pager(ctx, page.page, page.pages, lambda p: replace(state, page=p))
    rows.append([ctx.button(_("⬇️ Export"), cb.ExportMenu(cb.EXPORT_CLEARANCE, ctx.today.year))])
    rows.append(nav_row(ctx, reset=cb.ClearanceList()))
    return screen(lines, markup(rows))


def search_prompt(ctx: Ctx, state: cb.ClearanceSearch) -> Screen:
    lines = [
        bold(ctx._("🔎 Find by number")),
        ctx._("Send the pre-entry number, list number or order number."),
    ]
    return screen(lines, markup([[ctx.button(ctx._("✖ Cancel"), state.back)]]))


def search_invalid(ctx: Ctx, state: cb.ClearanceSearch) -> Screen:
    lines = [ctx._("Please send one number: letters and digits, up to 60 characters.")]
    return screen(lines, markup([[ctx.button(ctx._("✖ Cancel"), state.back)]]))


def clearance_detail(ctx: Ctx, state: cb.ClearanceDetail, data: ListDetail) -> Screen:
    """Head (numbers, parties, status in words, amounts) and every goods line; Back, Menu."""
    _ = ctx._
    lang = ctx.t.lang
    cur = data.currency
    status = esc(status_text(ctx, data.status, cancelled=data.cancelled))
    if data.status is not None and not data.cancelled:
        status += " — " + esc(codes.list_status_note(data.status, lang))
    lines = [bold(_("📦 Clearance list"))]
    if data.disputed:
        lines.append("⚠️ " + bold(_("Disputed: you reported this declaration as not yours.")))
    lines += [
        line(ctx, _("Pre-entry no."), code(data.pre_no)),
        line(ctx, _("List no."), code(data.invt_no)),
        line(ctx, _("Order no."), code(data.order_no)),
        line(ctx, _("Platform"), esc(data.platform)),
        line(ctx, _("E-commerce company"), esc(data.company)),
        line(ctx, _("Logistics"), esc(data.logistics_name)),
        line(ctx, _("Waybill no."), code(data.logistics_no)),
        line(ctx, _("Declared"), ctx.t.date(data.decl_date)),
        line(ctx, _("Status"), status),
    ]
    if data.status_info and data.status_info.strip():
        note = guidance.note(ctx, data.status_info)
        if data.status_time is not None:
            note += f" ({ctx.t.datetime(data.status_time)})"
        lines.append(line(ctx, _("Customs note"), note))
    happened = guidance.what_happened(ctx, data)
    action = guidance.action_lines(ctx, data, today=ctx.today)
    if happened or action:
        lines += ["", *happened, *([""] if happened and action else []), *action]
    lines += [
        line(ctx, _("Customs office"), esc(codes.customs_name(data.customs_code or None, lang))),
        line(ctx, _("Trade mode"), esc(codes.trade_mode_name(data.trade_mode or None, lang))),
        "",
        line(ctx, _("Goods value"), money(ctx, data.goods_value, cur)),
        line(ctx, _("Freight"), money(ctx, data.freight, cur)),
        line(ctx, _("Insurance"), money(ctx, data.insured_fee, cur)),
        bold(line(ctx, _("Total"), money(ctx, data.total, cur))),
    ]
    if data.returned_value and not data.cancelled:
        lines.append(line(ctx, _("Counted toward the quota"), money(ctx, data.total - data.returned_value, cur)))
    for item in data.lines:
        lines += ["", *_goods_line(ctx, item)]
    rows = []
    if not data.disputed:
        rows.append([ctx.button(_("🚨 This was not me"), cb.Suspicious(data.id, cb.NOT_ME))])
    rows.append(nav_row(ctx, back=state.back))
    return screen(lines, markup(rows))


def _goods_line(ctx: Ctx, item: ListLine) -> list[str]:
    _ = ctx._
    lang = ctx.t.lang
    return [
        bold(_("No. {n}").format(n=item.gnum)) + " · " + esc(item.gname),
        line(ctx, _("Goods code"), code(item.gcode)),
        " · ".join(
            [
                line(ctx, _("Quantity"), qty(ctx, item.qty)),
                line(ctx, _("Unit"), esc(codes.unit_name(item.unit or None, lang))),
            ]
        ),
        " · ".join(
            [
                line(ctx, _("Unit price"), money(ctx, item.price, item.currency)),
                line(ctx, _("Total price"), money(ctx, item.total_price, item.currency)),
            ]
        ),
        " · ".join(
            [
                line(ctx, _("Currency"), esc(codes.currency_name(item.currency or None, lang))),
                line(ctx, _("Origin"), esc(codes.country_name(item.country or None, lang))),
            ]
        ),
        *([line(ctx, _("↩️ Returned"), qty(ctx, item.returned_qty))] if item.returned_qty else []),
    ]
