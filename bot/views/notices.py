"""Push notifications (sent by the notifier, outside any update) and the "Not me" report.

Rendered with the recipient's language and binding tag, like any screen; their buttons lead into
the normal views.
"""

from __future__ import annotations

from bot import callbacks as cb
from bot.domain import cbec, codes, receipts
from bot.domain.records import Holder, ListDetail, ListRow, QuotaOverview, TaxDetail
from bot.views import guidance
from bot.views.common import Screen, bold, code, esc, line, money, screen
from bot.widgets import Ctx, markup, nav_row

HOTLINE_CUSTOMS = guidance.HOTLINE_CUSTOMS
HOTLINE_EPORT = guidance.HOTLINE_EPORT
RELEASED = "released"
REFUSED = "refused"


def _tax_head(ctx: Ctx, tax: TaxDetail) -> list[str]:
    _ = ctx._
    return [
        line(ctx, _("Tax slip no."), code(tax.tax_no)),
        line(ctx, _("List no."), code(tax.invt_no)),
        line(ctx, _("Platform"), esc(tax.platform)),
    ]


def _open_tax(ctx: Ctx, tax: TaxDetail) -> list:
    return [ctx.button(ctx._("🧾 Open tax slip"), cb.OpenTaxFromNotice(tax.id))]


def new_tax(ctx: Ctx, tax: TaxDetail) -> Screen:
    _ = ctx._
    lines = [
        bold(_("🧾 New tax slip")),
        *_tax_head(ctx, tax),
        "",
        line(ctx, _("Customs duty"), money(ctx, tax.customs_tax)),
        line(ctx, _("Consumption tax"), money(ctx, tax.consumption_tax)),
        line(ctx, _("VAT"), money(ctx, tax.vat)),
        bold(line(ctx, _("Total tax"), money(ctx, tax.total))),
    ]
    return screen(lines, markup([_open_tax(ctx, tax)]))


def tax_status(ctx: Ctx, tax: TaxDetail) -> Screen:
    """A slip was summarised (with its payment note number) or voided."""
    _ = ctx._
    if tax.status == cbec.TAX_VOID:
        title = _("🧾 Tax slip voided")
        body = [_("This tax slip is void: no tax will be collected on it.")]
    elif tax.status == cbec.TAX_SUMMARISED:
        title = _("🧾 Tax slip summarised")
        body = [
            _("The tax on this slip has been summarised for payment."),
            line(ctx, _("Payment note no."), code(tax.ent_duty_no)),
        ]
    else:
        title = _("🧾 Tax slip updated")
        body = [line(ctx, _("Status"), esc(codes.tax_status_name(tax.status, ctx.t.lang)))]
    lines = [
        bold(title),
        *_tax_head(ctx, tax),
        *body,
        bold(line(ctx, _("Total tax"), money(ctx, tax.total))),
    ]
    return screen(lines, markup([_open_tax(ctx, tax)]))


def quota_threshold(ctx: Ctx, data: QuotaOverview, threshold: int) -> Screen:
    """The year's consumption crossed `threshold` % (80 or 100) of the annual limit."""
    _ = ctx._
    if threshold >= 100:
        title = _("⚠️ Annual quota used up")
        body = _(
            "Your {year} consumption has reached the annual limit. Further cross-border "
            "purchases this year may be refused or taxed in full."
        ).format(year=data.year)
    else:
        title = _("💳 {percent} of your annual quota used").format(percent=f"{threshold}%")
        body = _("Your {year} consumption has passed {percent} of the annual limit.").format(
            year=data.year, percent=f"{threshold}%"
        )
    lines = [
        bold(title),
        body,
        "",
        line(ctx, _("Annual limit"), money(ctx, data.limit)),
        line(ctx, _("Consumed"), money(ctx, data.consumed)),
    ]
    if data.available is not None and data.available < 0:
        lines.append(line(ctx, _("Over the limit by"), money(ctx, -data.available)))
    else:
        lines.append(line(ctx, _("Available"), money(ctx, data.available)))
    lines.append(_("If you do not recognise these purchases, check Clearance for declarations that are not yours."))
    rows = [[ctx.button(_("💳 Open quota"), cb.Quota(data.year)), ctx.button(_("📦 Clearance"), cb.ClearanceList())]]
    return screen(lines, markup(rows))


def suspicious(ctx: Ctx, holder: Holder, record: ListDetail | ListRow) -> Screen:
    """ "Was this you?" for a declaration that looks like someone else's (different phone/address)."""
    _ = ctx._
    lines = [
        bold(_("🚨 Was this you?")),
        _(
            "Goods were declared for import under your identity ({name}), but the buyer's details differ from yours."
        ).format(name=esc(holder.name)),
        "",
        line(ctx, _("List no."), code(record.invt_no)),
        line(ctx, _("Order no."), code(record.order_no)),
        line(ctx, _("Platform"), esc(record.platform)),
        line(ctx, _("Declared"), ctx.t.date(record.decl_date)),
        line(ctx, _("Amount"), money(ctx, record.total, record.currency)),
    ]
    rows = [
        [
            ctx.button(_("✅ It was me"), cb.Suspicious(record.id, cb.ME)),
            ctx.button(_("🚨 Not me"), cb.Suspicious(record.id, cb.NOT_ME)),
        ],
        [ctx.button(_("📦 Details"), cb.ClearanceDetail(record.id))],
    ]
    return screen(lines, markup(rows))


def suspicious_confirmed(ctx: Ctx) -> Screen:
    return screen([ctx._("✅ Thank you, noted. Nothing else to do.")], markup([nav_row(ctx)]))


def not_me_report(ctx: Ctx, holder: Holder, data: ListDetail) -> Screen:
    """A ready-made report of a declaration the user did not make, to send to customs."""
    _ = ctx._
    lang = ctx.t.lang
    report = [
        _("Report: goods declared under my identity without my knowledge"),
        line(ctx, _("Name"), esc(holder.name)),
        line(ctx, _("List no."), esc(data.invt_no)),
        line(ctx, _("Order no."), esc(data.order_no)),
        line(ctx, _("Waybill no."), esc(data.logistics_no)),
        line(ctx, _("Declared"), ctx.t.date(data.decl_date)),
        line(ctx, _("Customs office"), esc(codes.customs_name(data.customs_code or None, lang))),
        line(ctx, _("Amount"), money(ctx, data.total, data.currency)),
        line(ctx, _("Platform"), esc(data.platform)),
        line(ctx, _("E-commerce company"), esc(data.company)),
    ]
    lines = [
        bold(_("🚨 Reported as not yours")),
        _("I marked this declaration as disputed. Report it to customs so the quota can be checked:"),
        line(ctx, _("Customs hotline"), HOTLINE_CUSTOMS),
        line(ctx, _("China E-port hotline"), HOTLINE_EPORT),
        "",
        _("Copy this report and add your full name, ID number, phone number and city:"),
        "<pre>" + "\n".join(report) + "</pre>",
    ]
    rows = [[ctx.button(_("📦 Details"), cb.ClearanceDetail(data.id))], nav_row(ctx)]
    return screen(lines, markup(rows))


# ---------------------------------------------------------------- lists: act, released, refused, quota back


def _list_head(ctx: Ctx, data: ListDetail) -> list[str]:
    _ = ctx._
    return [
        line(ctx, _("Order no."), code(data.order_no)),
        line(ctx, _("Platform"), esc(data.platform)),
        line(ctx, _("Amount"), money(ctx, data.total, data.currency)),
    ]


def _open_list(ctx: Ctx, data: ListDetail) -> list:
    return [ctx.button(ctx._("📦 Open the list"), cb.ClearanceDetail(data.id))]


def action_needed(ctx: Ctx, data: ListDetail, action: receipts.Action) -> Screen:
    """A receipt that asks the buyer to act: confirm a purchase (验核), or a refusal they can do
    something about (over the annual limit, buyer details that differ). The list's detail shows
    the same guidance."""
    lines = [*guidance.action_lines(ctx, data, today=ctx.today), "", *_list_head(ctx, data)]
    rows = [_open_list(ctx, data)]
    if action.kind in (receipts.VERIFY, receipts.OVER_LIMIT) and not data.disputed:
        rows.append([ctx.button(ctx._("🚨 This was not me"), cb.Suspicious(data.id, cb.NOT_ME))])
    return screen(lines, markup(rows))


def list_status(ctx: Ctx, data: ListDetail, outcome: str) -> Screen:
    """A short push: the list cleared customs, or was refused or shipped back (with the reason)."""
    _ = ctx._
    if outcome == RELEASED:
        lines = [
            bold(_("✅ Cleared customs")),
            _("Customs released your order on {date}.").format(date=ctx.t.date(data.status_time or data.decl_date)),
        ]
    elif data.status == 700:
        lines = [
            bold(_("⛔ Shipped back")),
            _("Customs had the goods of this order shipped back abroad. Ask the seller for a refund."),
        ]
    else:
        lines = [
            bold(_("⛔ Refused by customs")),
            _("Customs refused this list. The seller must fix it or refund you."),
        ]
        if data.status_info:
            lines.append(line(ctx, _("Reason"), guidance.note(ctx, data.status_info)))
    lines += ["", *_list_head(ctx, data)]
    return screen(lines, markup([_open_list(ctx, data)]))


def quota_back(ctx: Ctx, data: ListDetail, quota: QuotaOverview) -> Screen:
    """ "¥X of your 2026 quota is back": an approved cancellation or return."""
    _ = ctx._
    title = _("💳 {amount} of your {year} quota is back").format(amount=money(ctx, data.freed), year=quota.year)
    if data.cancelled:
        why = _("Customs approved the cancellation of this order.")
    else:
        why = ctx.t.ngettext(
            "Customs approved the return of {n} item of this order.",
            "Customs approved the return of {n} items of this order.",
            data.returned_items,
        ).format(n=data.returned_items)
    lines = [bold(title), why, "", *_list_head(ctx, data)]
    if quota.available is not None:
        lines.append(line(ctx, _("Available now"), money(ctx, quota.available)))
    rows = [_open_list(ctx, data), [ctx.button(_("💳 Open quota"), cb.Quota(quota.year))]]
    return screen(lines, markup(rows))
