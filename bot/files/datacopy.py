"""A copy of my data (PIPL Art. 45): the JSON for a machine and the PDF for a person.

Both hold the same things: what storage.mydata collected (the person's Telegram side, binding,
identity, customs records, notifications, requests) plus what the law asks a notice to say (PIPL
Art. 17): purposes, legal basis, retention, recipients and how to use one's rights. The texts are in
the person's language; the JSON keys stay English.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.domain import codes
from bot.files.pdf import Document
from bot.i18n import N_, Translator

# (category, what it covers, purpose, legal basis, how long it is kept). Every retention statement
# is what the code does (storage.bindings.unbind, the outbox's cascade), not an aspiration.
PROCESSING: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "telegram",
        N_("Telegram user id, chat id, language, notification switches"),
        N_("To talk to you and send your notifications"),
        N_("Your consent when you started and bound the bot (PIPL Art. 13(1))"),
        N_("Binding and switches: until you send /unbind. Language choice: until you ask the operator."),
    ),
    (
        "identity",
        N_("Name, ID number and phone of your Single Window account (encrypted)"),
        N_("To check that the records are yours before showing them"),
        N_("Your consent when you bound the bot (PIPL Art. 13(1), Art. 29 for the ID number)"),
        N_("The link to you: until /unbind. The registry copy: as long as the operator keeps the registry."),
    ),
    (
        "customs",
        N_("Clearance lists, receipts and tax slips under your identity"),
        N_("To show your quota, tax slips and clearance lists and warn about misuse of your identity"),
        N_("Your consent when you bound the bot (PIPL Art. 13(1))"),
        N_("As long as the operator receives the customs feed; /unbind stops showing them to anyone."),
    ),
    (
        "notifications",
        N_("Notifications queued or sent to you, with their status"),
        N_("To deliver each notification once and know it arrived"),
        N_("Your consent; you can switch each kind off in Settings"),
        N_("Until you send /unbind."),
    ),
    (
        "requests",
        N_("The time of each request for a copy, and failed binding attempts"),
        N_("To allow one copy a day and to lock binding after repeated failures"),
        N_("Security of the service (PIPL Art. 51)"),
        N_("Kept with your Telegram user id; binding failures count for 24 hours."),
    ),
)
RECIPIENTS = N_(
    "Telegram carries every message and file between you and this bot; it processes them outside "
    "mainland China. The customs records come from China's Single Window (China E-port)."
)
RIGHTS = (
    N_("Get a copy: /mydata, once a day (a PDF and a JSON file)."),
    N_("Delete: /unbind deletes your binding, settings and notifications at once."),
    N_("Correct: the records are the Single Window's; ask the seller or customs (12360) to correct them."),
)


def processing(t: Translator) -> list[dict[str, str]]:
    return [
        {"category": key, "data": t.gettext(what), "purpose": t.gettext(why), "legal_basis": t.gettext(basis),
         "retention": t.gettext(keep)}
        for key, what, why, basis, keep in PROCESSING
    ]  # fmt: skip


def to_json(data: dict[str, Any], t: Translator) -> bytes:
    """The machine-readable copy: the collected data plus the processing facts, UTF-8."""
    out = {
        **data,
        "language": t.lang,
        "sensitive": t.gettext("This file holds your personal data, including your full ID number. Keep it safe."),
        "consent_note": _consent_note(t),
        "processing": processing(t),
        "recipients": t.gettext(RECIPIENTS),
        "your_rights": [t.gettext(r) for r in RIGHTS],
    }
    return (json.dumps(out, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _consent_note(t: Translator) -> str:
    return t.gettext(
        "No separate consent records are kept: binding your account is your consent, and its date is "
        "the binding date above. /unbind withdraws it."
    )


def _money(t: Translator, value: str | None) -> str:
    return "-" if value is None else t.money(Decimal(value))


def _when(t: Translator, value: str | None) -> str:
    return "-" if value is None else t.datetime(datetime.fromisoformat(value))


def _yes(t: Translator, value: bool) -> str:
    return t.gettext("on") if value else t.gettext("off")


def to_pdf(data: dict[str, Any], t: Translator, created: datetime) -> bytes:
    """The same copy for a person to read."""
    _ = t.gettext
    doc = Document(title=_("A copy of my data"), lang=t.lang, created=created, page_label=_("Page {page}/{pages}"))
    doc.text(_("Made on {when} under PIPL Art. 45.").format(when=t.datetime(created)), grey=True)
    doc.text(_("This file holds your personal data, including your full ID number. Keep it safe."), grey=True)

    tg, binding, identity = data["telegram"], data["binding"], data["identity"]
    doc.heading(_("Telegram and binding"))
    pairs = [
        (_("Telegram user id"), str(tg["user_id"])),
        (_("Chat id"), str(tg["chat_id"] or "-")),
        (_("Language chosen"), tg["language_choice"] or "-"),
        (_("Language when you bound"), tg["language_when_bound"] or "-"),
        (_("First seen"), _when(t, tg["first_seen"])),
    ]
    if binding:
        method = _("Single Window link") if binding["method"] == "link" else _("verified in this chat")
        pairs += [(_("Bound on"), _when(t, binding["bound_at"])), (_("Bound by"), method)]
        labels = {
            "tax_new": _("New tax slips"), "tax_status": _("Tax slip status"), "quota": _("Quota warnings"),
            "suspicious": _("Suspicious declarations"),
        }  # fmt: skip
        pairs += [(labels.get(k, k), _yes(t, v)) for k, v in binding["notifications"].items()]
    else:
        pairs.append((_("Binding"), _("not bound")))
    doc.pairs(pairs)
    doc.text(_consent_note(t), grey=True)

    if identity:
        doc.heading(_("Your identity"))
        doc.pairs(
            [
                (_("Single Window account"), identity["single_window_account"]),
                (_("Name"), identity["name"]),
                (_("ID type"), codes.id_type_name(identity["id_type"], t.lang)),
                (_("ID number"), identity["id_number"]),
                (_("Phone"), identity["phone"]),
            ]
        )

    doc.heading(_("Quota by year"))
    if data["quota"]:
        doc.table(
            [_("Year"), _("Annual limit"), _("Consumed"), _("Counted lists")],
            [[str(q["year"]), _money(t, q["limit"]), _money(t, q["consumed"]), str(q["counted_lists"])]
             for q in data["quota"]],
            right=(1, 2, 3),
        )  # fmt: skip
    else:
        doc.text(_("None."))

    doc.heading(_("Clearance lists ({n})").format(n=len(data["clearance_lists"])))
    for item in data["clearance_lists"]:
        status = "-" if item["status"] is None else codes.list_status_name(item["status"], t.lang)
        doc.text(
            f"{item['pre_no'] or item['invt_no'] or item['order_no']} · {item['declared_on']} · "
            f"{item['platform']['name']} · {_money(t, item['dutiable_value'])} · {status}",
            size=9,
        )
        rows = [[str(ln["gnum"]), ln["name"], ln["hs_code"], f"{ln['quantity']} {codes.unit_name(ln['unit'], t.lang)}",
                 _money(t, ln["total_price"])] for ln in item["lines"]]  # fmt: skip
        if rows:
            doc.table([_("No."), _("Goods"), _("HS code"), _("Quantity"), _("Total price")], rows,
                      widths=(1, 8, 3, 3, 3), right=(4,), size=7)  # fmt: skip
        for r in item["receipts"]:
            doc.text(f"  {_when(t, r['time'])} · {codes.list_status_name(r['status'], t.lang)} · {r['info'] or ''}",
                     size=7, grey=True)  # fmt: skip
    if not data["clearance_lists"]:
        doc.text(_("None."))

    doc.heading(_("Tax slips ({n})").format(n=len(data["tax_slips"])))
    if data["tax_slips"]:
        doc.table(
            [_("Stored"), _("Tax slip no."), _("List no."), _("Status"), _("Customs duty"), _("Consumption tax"),
             _("VAT"), _("Total tax")],
            [[_when(t, s["stored_at"]), s["tax_no"], s["invt_no"], codes.tax_status_name(s["status"], t.lang),
              _money(t, s["customs_duty"]), _money(t, s["consumption_tax"]), _money(t, s["vat"]),
              _money(t, s["total_tax"])] for s in data["tax_slips"]],
            widths=(3, 5, 4, 2, 2, 2, 2, 2), right=(4, 5, 6, 7), size=7,
        )  # fmt: skip
    else:
        doc.text(_("None."))

    doc.heading(_("Notifications ({n})").format(n=len(data["notifications"])))
    if data["notifications"]:
        doc.table(
            [_("Created"), _("Kind"), _("Status"), _("Sent"), _("Attempts")],
            [[_when(t, n["created_at"]), n["kind"], n["status"], _when(t, n["sent_at"]), str(n["attempts"])]
             for n in data["notifications"]],
            size=7,
        )  # fmt: skip
    else:
        doc.text(_("None."))

    doc.heading(_("Your requests and binding attempts"))
    doc.pairs(
        [(_("Copy of my data"), _when(t, r["requested_at"])) for r in data["requests"]]
        + [(_("Failed binding attempt"), _when(t, at)) for at in data["binding_failures"]]
    )

    doc.heading(_("Why we hold it and for how long"))
    doc.table(
        [_("Data"), _("Purpose"), _("Legal basis"), _("Kept")],
        [[p["data"], p["purpose"], p["legal_basis"], p["retention"]] for p in processing(t)],
        widths=(3, 3, 3, 3), size=7,
    )  # fmt: skip
    doc.heading(_("Who else receives it"))
    doc.text(t.gettext(RECIPIENTS))
    doc.heading(_("Your rights"))
    for r in RIGHTS:
        doc.text("• " + t.gettext(r))
    return doc.output()
