"""Screens and captions around the files the bot sends: the quota chart, exports, a copy of my data."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot import callbacks as cb
from bot.domain.records import MonthlyConsumption
from bot.i18n import N_
from bot.views.common import Screen, bold, money, screen
from bot.widgets import Ctx, markup, nav_row, year_picker

TARGETS: dict[str, str] = {cb.EXPORT_TAX: N_("🧾 Tax slips"), cb.EXPORT_CLEARANCE: N_("📦 Clearance lists")}
FILE_STEMS: dict[str, str] = {cb.EXPORT_TAX: "tax-slips", cb.EXPORT_CLEARANCE: "clearance-lists"}


# ---------------------------------------------------------------- chart


def chart_caption(ctx: Ctx, data: MonthlyConsumption) -> str:
    if data.limit is None:
        return ctx._("📊 {year}: counted {consumed}.").format(year=data.year, consumed=money(ctx, data.consumed))
    return ctx._("📊 {year}: counted {consumed} of {limit}.").format(
        year=data.year, consumed=money(ctx, data.consumed), limit=money(ctx, data.limit)
    )


def chart_filename(year: int) -> str:
    return f"quota-{year}.png"


# ---------------------------------------------------------------- exports


def export_menu(ctx: Ctx, state: cb.ExportMenu, years: Iterable[int]) -> Screen:
    """Pick a year; CSV or PDF sends the file (this message stays, for another year or format)."""
    _ = ctx._
    lines = [
        bold(_("⬇️ Export · {what}").format(what=_(TARGETS[state.target]))),
        _("A year's records by stored time, as a file: CSV for a spreadsheet, PDF to read or print."),
        "",
        _("Year: {year}").format(year=state.year),
    ]
    rows = year_picker(ctx, {*years, ctx.today.year}, state.year, lambda y: cb.ExportMenu(state.target, y))
    rows.append(
        [
            ctx.button(_("📄 CSV"), cb.ExportFile(state.target, state.year, cb.CSV)),
            ctx.button(_("📕 PDF"), cb.ExportFile(state.target, state.year, cb.PDF)),
        ]
    )
    back: cb.State = cb.TaxList() if state.target == cb.EXPORT_TAX else cb.ClearanceList()
    rows.append(nav_row(ctx, back=back))
    return screen(lines, markup(rows))


def export_filename(state: cb.ExportFile) -> str:
    return f"{FILE_STEMS[state.target]}-{state.year}.{state.fmt}"


def export_caption(ctx: Ctx, state: cb.ExportFile, count: int) -> str:
    what = ctx._(TARGETS[state.target])
    head = ctx._("{what} · {year} · {count} records").format(what=what, year=state.year, count=count)
    return head + "\n" + keep_safe(ctx)


def keep_safe(ctx: Ctx) -> str:
    return ctx._("🔒 This file holds your personal data: keep it to yourself.")


def export_button(ctx: Ctx, target: str) -> cb.ExportMenu:
    return cb.ExportMenu(target, ctx.today.year)


# ---------------------------------------------------------------- a copy of my data


def mydata(ctx: Ctx, *, bound: bool) -> Screen:
    _ = ctx._
    lines = [
        bold(_("📥 A copy of my data")),
        _(
            "Everything I hold about you, as two files: a PDF to read and a JSON file for a computer "
            "(PIPL Art. 45)."
        ),
        "",
        _("• Your Telegram ids, language and notification settings"),
        _("• Your binding, its date, and the identity it links to, in full"),
        _("• Your clearance lists with their receipts, and your tax slips"),
        _("• Each notification I queued or sent you, with its status"),
        _("• Why I hold each of these and for how long"),
        "",
        _("One copy a day. The files show your full ID number: keep them safe."),
    ]
    if not bound:
        lines += ["", _("You are not bound, so I hold only your Telegram ids and settings.")]
    rows = [[ctx.button(_("📥 Send my copy"), cb.MyDataSend())], nav_row(ctx, back=cb.Privacy())]
    return screen(lines, markup(rows))


def mydata_sent(ctx: Ctx) -> str:
    return (
        ctx._("📥 Your copy: the PDF to read, the JSON for a computer. To delete your data, send /unbind.")
        + "\n"
        + keep_safe(ctx)
    )


def mydata_again(ctx: Ctx, earlier: datetime) -> Screen:
    text = ctx._("You already received a copy today, at {time}. You can ask again tomorrow.").format(
        time=ctx.t.time(earlier)
    )
    return screen([text], markup([nav_row(ctx, back=cb.Privacy())]))


def mydata_filenames(made: datetime) -> tuple[str, str]:
    stem = f"my-data-{made:%Y%m%d}"
    return f"{stem}.pdf", f"{stem}.json"


def files_unavailable(ctx: Ctx) -> str:
    """Answer to a tap when the machine has no CJK font (an install problem, logged at startup)."""
    return ctx._("⚠️ Charts and files are not available right now. Please try again later.")
