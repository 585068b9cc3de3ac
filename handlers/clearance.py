"""Customs clearance lists: filtered, searchable, paged list; detail; "was this you?" answers."""

from __future__ import annotations

from dataclasses import replace

from bot import callbacks as cb
from bot.views import clearance as clearance_views
from bot.views import notices as notice_views
from handlers.common import Scope
from handlers.errors import Expired
from storage import bindings, queries

SEARCH_PREFIX = "search:"


def _search_term(scope: Scope, state: cb.ClearanceList) -> tuple[cb.ClearanceList, str | None]:
    """The stored term behind the state's fingerprint; a stale fingerprint means "cleared"."""
    if state.search is None:
        return state, None
    term = scope.user.search_term if scope.user else None
    if term is None or cb.fingerprint(term) != state.search:
        return replace(state, search=None), None
    return state, term


async def show_list(scope: Scope, state: cb.ClearanceList) -> None:
    state, term = _search_term(scope, state)
    flt = state.to_filter(scope.ctx.today, term)
    page = await scope.read(queries.clearance_lists_sync, scope.identity_key, flt, state.page)
    await scope.show(clearance_views.clearance_list(scope.ctx, state, page, term))


async def show_detail(scope: Scope, state: cb.ClearanceDetail) -> None:
    data = await scope.read(queries.list_detail_sync, scope.identity_key, state.id)
    if data is None:
        raise Expired
    await scope.show(clearance_views.clearance_detail(scope.ctx, state, data))


async def ask_search(scope: Scope, state: cb.ClearanceSearch) -> None:
    """Wait for a typed number; the list state to return to is kept with the user."""
    user = await bindings.ensure_user(scope.tx, scope.tg_id)
    user.awaiting = SEARCH_PREFIX + cb.encode(state.back, scope.ctx.tag)
    await scope.show(clearance_views.search_prompt(scope.ctx, state))


async def on_search_text(scope: Scope, text: str, message_id: int) -> bool:
    """Handle a typed search number if one is awaited; False when it was not."""
    user = scope.user
    awaiting = user.awaiting if user is not None else None
    if user is None or awaiting is None or not awaiting.startswith(SEARCH_PREFIX) or scope.binding is None:
        return False
    try:
        tag, back = cb.decode(awaiting[len(SEARCH_PREFIX) :])
    except cb.BadCallback:
        tag, back = "", None
    user.awaiting = None
    if tag != scope.binding.tag or not isinstance(back, cb.ClearanceList):
        return False  # a prompt from before a re-bind: treat the text as ordinary
    term = cb.normalize_term(text)
    if term is None:
        user.awaiting = SEARCH_PREFIX + cb.encode(back, tag)
        await scope.send(clearance_views.search_invalid(scope.ctx, cb.ClearanceSearch(back)))
        return True
    user.search_term = term
    found = replace(back, page=0, search=cb.fingerprint(term))
    bindings.input_took(user, message_id, shown=cb.encode(found, tag))
    await show_list(scope, found)
    return True


async def answer_suspicious(scope: Scope, state: cb.Suspicious) -> None:
    """"It was me" records the confirmation; "Not me" marks the list disputed and sends a report."""
    disputed = state.answer == cb.NOT_ME
    if await bindings.mark_list(scope.tx, scope.identity_key, state.list_id, disputed=disputed) is None:
        raise Expired
    if not disputed:
        await scope.show(notice_views.suspicious_confirmed(scope.ctx))
        return
    data = await scope.read(queries.list_detail_sync, scope.identity_key, state.list_id)
    assert data is not None
    await scope.send(notice_views.not_me_report(scope.ctx, scope.holder(), data))
