"""What happened to a list and what the buyer should do: shared by the clearance detail and the
notifications, so a notice and the screen it leads to say the same thing.

Sources: reference/next-features.md §1 (交易真实性验核: 15 days, 掌上海关 / 掌上单一窗口, the steps,
"not your order: do not confirm"; 1313; identity mismatches) and reference/domain.md §4 (hotlines).
"""

from __future__ import annotations

from datetime import date

from bot.domain import cbec, receipts
from bot.domain.records import ListDetail
from bot.views.common import bold, esc, line, money
from bot.widgets import Ctx

HOTLINE_CUSTOMS = "12360"
HOTLINE_EPORT = "010-95198"
APPROVED, PENDING, REFUSED = "approved", "pending", "refused"


def note(ctx: Ctx, raw: str | None) -> str:
    """A receipt note in words: ``[Code:N;Desc:…]`` and the free text after it, code last."""
    info = receipts.parse_return_info(raw)
    text = esc(info.summary or None)
    if info.code is None:
        return text
    return ctx._("{note} (code {code})").format(note=text, code=info.code)


def what_happened(ctx: Ctx, data: ListDetail) -> list[str]:
    """The list's cancellation and returns, in plain words ("Cancelled on …", "Returned: 2 items")."""
    _ = ctx._
    out: list[str] = []
    year = data.decl_year or data.decl_date.year
    if data.cancel_state == APPROVED and data.cancel_time is not None:
        out.append(bold(_("🚫 Cancelled on {date}").format(date=ctx.t.date(data.cancel_time))))
        if data.freed > 0:
            out.append(
                _("{amount} went back to your {year} quota.").format(amount=money(ctx, data.freed), year=year)
            )
        else:
            out.append(_("It does not count toward your quota."))
    elif data.cancel_state == PENDING and data.cancel_time is not None:
        out.append(_("⏳ Cancellation requested on {date}, waiting for customs.").format(
            date=ctx.t.date(data.cancel_time)
        ))
    elif data.cancel_state == REFUSED:
        out.append(line(ctx, _("Cancellation refused"), note(ctx, data.cancel_info)))
    if data.refund_state == APPROVED and data.returned_items:
        returned = ctx.t.ngettext("↩️ Returned: {n} item", "↩️ Returned: {n} items", data.returned_items).format(
            n=data.returned_items
        )
        when = f" ({ctx.t.date(data.refund_time)})" if data.refund_time else ""
        out.append(bold(returned) + when)
        if data.freed > 0 and not data.cancelled:
            out.append(
                _("{amount} went back to your {year} quota.").format(amount=money(ctx, data.freed), year=year)
            )
    elif data.refund_state == PENDING and data.refund_time is not None:
        out.append(_("⏳ Return requested on {date}, waiting for customs.").format(date=ctx.t.date(data.refund_time)))
    elif data.refund_state == REFUSED:
        out.append(line(ctx, _("Return refused"), note(ctx, data.refund_info)))
    return out


def days_left(today: date, deadline: date) -> int:
    return (deadline - today).days


def verify_lines(ctx: Ctx, data: ListDetail, *, today: date) -> list[str]:
    """交易真实性验核: the deadline with a countdown, the steps, and what to do if it is not yours."""
    _ = ctx._
    assert data.status_time is not None
    deadline = receipts.verify_deadline(data.status_time)
    left = days_left(today, deadline)
    if left > 0:
        countdown = ctx.t.ngettext(
            "Confirm it by {date}: {n} day left.", "Confirm it by {date}: {n} days left.", left
        ).format(date=ctx.t.date(deadline), n=left)
    elif left == 0:
        countdown = _("Confirm it today ({date}): it is the last day.").format(date=ctx.t.date(deadline))
    else:
        countdown = _("The deadline passed on {date}. Contact the seller.").format(date=ctx.t.date(deadline))
    return [
        bold(_("⚠️ Action needed: confirm this purchase")),
        _(
            "Customs suspended this list for a transaction check (交易真实性验核). It is released only "
            "after the buyer confirms the purchase, within 15 days."
        ),
        bold(countdown),
        "",
        bold(_("How to confirm")),
        _("1. In WeChat, search for the mini-program 掌上海关 (or open the 掌上海关 or 掌上单一窗口 app)."),
        _("2. Open 跨境电商个人消费信息 and pass the face check with your name and ID number."),
        _("3. Tap 跨境电商个人交易确认 and confirm this order."),
        "",
        bold(_("Not your order?")),
        _(
            "Do not confirm it. Call the customs hotline {customs} or China E-port {eport}, and tap "
            "“This was not me”."
        ).format(customs=HOTLINE_CUSTOMS, eport=HOTLINE_EPORT),
    ]


def over_limit_lines(ctx: Ctx, data: ListDetail, action: receipts.Action) -> list[str]:
    _ = ctx._
    year = data.decl_year or data.decl_date.year
    out = [
        bold(_("⛔ Refused: over the annual limit")),
        _(
            "Customs refused this list: with it, your {year} cross-border purchases would go over the annual "
            "limit of {limit}."
        ).format(year=year, limit=money(ctx, action.limit or cbec.annual_limit(year))),
    ]
    if action.total is not None:
        out.append(line(ctx, _("Total with this order"), money(ctx, action.total)))
    if action.limit is not None:
        out.append(line(ctx, _("Annual limit"), money(ctx, action.limit)))
    out.append(
        _(
            "The seller cannot clear it this year; ask them to cancel or refund the order. If you did not make "
            "these purchases, someone may be using your identity: check Clearance and tap “This was not me”."
        )
    )
    return out


def mismatch_lines(ctx: Ctx, data: ListDetail, action: receipts.Action) -> list[str]:
    _ = ctx._
    if action.detail == "phone":
        title = _("⛔ Refused: the buyer's phone number does not match")
        body = _(
            "The phone number on the clearance list differs from the one on the order. The seller must correct "
            "it and declare again: give them the number you ordered with."
        )
    else:
        title = _("⛔ Refused: the buyer's name or ID number does not match")
        body = _(
            "The name or ID number on the clearance list differs from the order's. The seller must correct it "
            "and declare again. Give your details only through the shop's own order page."
        )
    return [bold(title), body]


def action_lines(ctx: Ctx, data: ListDetail, *, today: date) -> list[str]:
    """The guidance for the list's current receipt, if it asks the buyer to act."""
    action = receipts.action_needed(data.status, data.status_info)
    if action is None or data.cancelled:
        return []
    if action.kind == receipts.VERIFY:
        return verify_lines(ctx, data, today=today)
    if action.kind == receipts.OVER_LIMIT:
        return over_limit_lines(ctx, data, action)
    return mismatch_lines(ctx, data, action)
