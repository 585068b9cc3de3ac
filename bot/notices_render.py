"""Render one outbox row into Telegram messages, from the database as it is at send time.

The outbox stores only what happened (kind, record id, a small payload); the text is built here
when the notifier is about to send, with the same queries and pure views as the interactive
screens, in the recipient's language and with their binding's tag in every button. Returning None
cancels the row: the record is gone (or no longer the recipient's) or the event was superseded.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import receipts
from bot.domain.notices import NoticeKind
from bot.domain.records import ListDetail
from bot.i18n import get_translator
from bot.views import notices
from bot.views.common import Screen
from bot.widgets import Ctx
from storage import queries
from storage.bindings import holder_of
from storage.db import clock_of
from storage.models import Binding, Outbox
from storage.vault import Vault


async def render_notice(
    session: AsyncSession, vault: Vault, row: Outbox, binding: Binding, lang: str
) -> Screen | None:
    identity_key = binding.account.identity_key
    ctx = Ctx(t=get_translator(lang), tag=binding.tag, today=clock_of(session).today())
    payload = row.payload or {}
    if row.kind in (NoticeKind.TAX_NEW, NoticeKind.TAX_STATUS):
        if row.ref_id is None:
            return None
        tax = await queries.tax_slip_detail(session, identity_key, row.ref_id)
        if tax is None:
            return None
        if row.kind == NoticeKind.TAX_NEW:
            return notices.new_tax(ctx, tax)
        # "Summarised" then "voided" in quick succession are two rows; once the slip is void the
        # first would only repeat the second's news under the wrong title, so it is dropped.
        if payload.get("status") is not None and payload["status"] != tax.status:
            return None
        return notices.tax_status(ctx, tax)
    if row.kind == NoticeKind.QUOTA:
        year, threshold = payload.get("year"), payload.get("threshold")
        if not isinstance(year, int) or not isinstance(threshold, int):
            return None
        quota = await queries.quota_overview(session, identity_key, year, ctx.today)
        # A cancellation or return since the row was written may have taken it back under.
        if quota.limit is None or quota.consumed * 100 < quota.limit * threshold:
            return None
        return notices.quota_threshold(ctx, quota, threshold)
    if row.kind == NoticeKind.SUSPICIOUS:
        if row.ref_id is None:
            return None
        detail = await queries.list_detail(session, identity_key, row.ref_id)
        if detail is None:
            return None
        return notices.suspicious(ctx, holder_of(vault, binding.account), detail)
    if row.kind in _LIST_NOTICES:
        if row.ref_id is None:
            return None
        detail = await queries.list_detail(session, identity_key, row.ref_id)
        if detail is None:
            return None
        return await _render_list_notice(session, identity_key, ctx, row, detail)
    return None


# The action kind each outbox kind stands for.
_ACTIONS: dict[str, str] = {
    NoticeKind.VERIFY: receipts.VERIFY,
    NoticeKind.OVER_LIMIT: receipts.OVER_LIMIT,
    NoticeKind.MISMATCH: receipts.MISMATCH,
}
# Notices about one clearance list (rendered from its detail).
_LIST_NOTICES = (*_ACTIONS, NoticeKind.LIST_STATUS, NoticeKind.QUOTA_BACK)


async def _render_list_notice(
    session: AsyncSession, identity_key: bytes, ctx: Ctx, row: Outbox, detail: ListDetail
) -> Screen | None:
    """Receipts arrive in bursts: a notice is sent only while the list is still as it said (a
    suspension confirmed and released since, or a refusal followed by a release, is dropped)."""
    payload = row.payload or {}
    if row.kind == NoticeKind.QUOTA_BACK:
        if detail.freed <= 0:
            return None
        quota = await queries.quota_overview(session, identity_key, detail.decl_year, ctx.today)
        return notices.quota_back(ctx, detail, quota)
    if detail.cancelled:
        return None  # the quota-back notice (or nothing) says what matters now
    if row.kind == NoticeKind.LIST_STATUS:
        outcome = payload.get("outcome")
        current = {800: notices.RELEASED, 899: notices.RELEASED, 100: notices.REFUSED, 700: notices.REFUSED}
        if outcome is None or current.get(detail.status or 0) != outcome:
            return None
        return notices.list_status(ctx, detail, outcome)
    action = receipts.action_needed(detail.status, detail.status_info)
    at = None if detail.status_time is None else f"{detail.status_time:%Y%m%d%H%M%S%f}"
    if action is None or action.kind != _ACTIONS[row.kind] or payload.get("at") != at:
        return None
    return notices.action_needed(ctx, detail, action)
