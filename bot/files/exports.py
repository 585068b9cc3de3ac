"""A year's tax slips or clearance lists as CSV and PDF.

The amounts are the ones the screens show, formatted by the same code: the PDF uses the
translator's money format (`¥1,234.50`, as on the screens), the CSV plain numbers to the fen
(`1234.50`, what a spreadsheet reads), both rounded by Babel like the screens. The CSV is UTF-8 with
a BOM, so Excel opens the Chinese headers correctly; dates are ISO (`2025-03-09 14:05:00`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from babel.numbers import format_decimal

from bot.domain import codes
from bot.domain.records import Holder, ListExport, TaxExport
from bot.files.pdf import Document
from bot.i18n import Translator

BOM = "\ufeff"


def plain_amount(value: Decimal | None) -> str:
    """`1234.50`: to the fen, no grouping, rounded as the screens round (Babel)."""
    return "" if value is None else format_decimal(value, "0.00", locale="en")


def _csv(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    buf = io.StringIO()
    buf.write(BOM)
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _iso(value: datetime) -> str:
    return value.isoformat(sep=" ", timespec="seconds")


def _list_status(t: Translator, status: int | None) -> str:
    return codes.list_status_note(None, t.lang) if status is None else codes.list_status_name(status, t.lang)


# ---------------------------------------------------------------- tax slips


def _tax_headers(t: Translator) -> list[str]:
    _ = t.gettext
    return [
        _("Stored"), _("Tax slip no."), _("List no."), _("Order no."), _("Platform"), _("Status"),
        _("Customs duty"), _("Consumption tax"), _("VAT"), _("Total tax"),
    ]  # fmt: skip


def tax_csv(data: TaxExport, t: Translator) -> bytes:
    headers = [*_tax_headers(t), t.gettext("Status code")]
    rows = [
        [
            _iso(r.stored_at), r.tax_no, r.invt_no, r.order_no or "", r.platform or "",
            codes.tax_status_name(r.status, t.lang), plain_amount(r.customs_tax), plain_amount(r.consumption_tax),
            plain_amount(r.vat), plain_amount(r.total), str(r.status),
        ]
        for r in data.rows
    ]
    return _csv(headers, rows)


def tax_pdf(data: TaxExport, t: Translator, holder: Holder, created: datetime) -> bytes:
    _ = t.gettext
    doc = Document(
        title=_("Tax slips · {year}").format(year=data.year), lang=t.lang, created=created, landscape=True,
        page_label=_("Page {page}/{pages}"),
    )  # fmt: skip
    count = t.ngettext("{n} tax slip", "{n} tax slips", len(data.rows)).format(n=len(data.rows))
    _intro(doc, t, holder, created, count)
    rows = [
        [
            t.datetime(r.stored_at), r.tax_no, r.invt_no, r.order_no or "-", r.platform or "-",
            codes.tax_status_name(r.status, t.lang), t.money(r.customs_tax), t.money(r.consumption_tax),
            t.money(r.vat), t.money(r.total),
        ]
        for r in data.rows
    ]
    if rows:
        sums = [sum((getattr(r, f) for r in data.rows), Decimal(0)) for f in ("customs_tax", "consumption_tax", "vat")]
        total = sum((r.total for r in data.rows), Decimal(0))
        rows.append([_("Total"), "", "", "", "", "", *(t.money(x) for x in sums), t.money(total)])
        doc.table(_tax_headers(t), rows, widths=(17, 19, 16, 17, 11, 7, 8, 8, 8, 9), right=(6, 7, 8, 9))
    else:
        doc.text(_("No tax slips stored in {year}.").format(year=data.year))
    return doc.output()


# ---------------------------------------------------------------- clearance lists


def _list_headers(t: Translator) -> list[str]:
    _ = t.gettext
    return [
        _("Stored"), _("Declared"), _("Pre-entry no."), _("List no."), _("Order no."), _("Platform"),
        _("Dutiable value"), _("Status"),
    ]  # fmt: skip


def clearance_csv(data: ListExport, t: Translator) -> bytes:
    _ = t.gettext
    headers = [*_list_headers(t), _("Currency"), _("Status code"), _("Counts toward the quota")]
    rows = [
        [
            _iso(r.stored_at), r.decl_date.isoformat(), r.pre_no or "", r.invt_no or "", r.order_no, r.platform,
            plain_amount(r.total), _list_status(t, r.status), r.currency, "" if r.status is None else str(r.status),
            _("yes") if r.counted else _("no"),
        ]
        for r in data.rows
    ]
    return _csv(headers, rows)


def clearance_pdf(data: ListExport, t: Translator, holder: Holder, created: datetime) -> bytes:
    _ = t.gettext
    doc = Document(
        title=_("Clearance lists · {year}").format(year=data.year), lang=t.lang, created=created, landscape=True,
        page_label=_("Page {page}/{pages}"),
    )  # fmt: skip
    _intro(doc, t, holder, created, t.ngettext("{n} list", "{n} lists", len(data.rows)).format(n=len(data.rows)))
    rows = [
        [
            t.datetime(r.stored_at), t.date(r.decl_date), r.pre_no or "-", r.invt_no or "-", r.order_no,
            r.platform, t.money(r.total), _list_status(t, r.status),
        ]
        for r in data.rows
    ]
    if rows:
        rows.append([_("Total"), "", "", "", "", "", t.money(sum((r.total for r in data.rows), Decimal(0))), ""])
        doc.table(_list_headers(t), rows, widths=(16, 11, 15, 15, 17, 13, 10, 13), right=(6,))
    else:
        doc.text(_("No clearance lists stored in {year}.").format(year=data.year))
    return doc.output()


def _intro(doc: Document, t: Translator, holder: Holder, created: datetime, count: str) -> None:
    _ = t.gettext
    doc.text(_("Holder: {name} · {id_number}").format(name=holder.name, id_number=holder.id_number), grey=True)
    doc.text(_("Made on {when} · {count}").format(when=t.datetime(created), count=count), grey=True)
    doc.text(_("Amounts in yuan, as the bot shows them. Source: the customs messages held by this bot."), grey=True)
