"""The tax and quota calculator: category → typed amount → estimate. Works before binding.

The typed amount is awaited like a search number: the prompt's state (cb.CalcAsk) is kept with the
user, encoded by the callback codec with the caller's tag, and the text becomes a cb.CalcResult,
rendered by the same route a button would use.
"""

from __future__ import annotations

import logging

from bot import callbacks as cb
from bot.domain import calculator, cbec
from bot.views import calc as calc_views
from handlers.common import Scope
from storage import bindings, queries

log = logging.getLogger(__name__)

AWAIT_PREFIX = "calc:"


async def show_menu(scope: Scope, state: cb.Calc | None = None) -> None:
    await scope.show(calc_views.calc_menu(scope.ctx))


async def ask_amount(scope: Scope, state: cb.CalcAsk) -> None:
    """Show the prompt and wait for the amount (kept with the user, so any instance handles it)."""
    user = await bindings.ensure_user(scope.tx, scope.tg_id)
    user.awaiting = AWAIT_PREFIX + cb.encode(state, scope.ctx.tag)
    await scope.show(calc_views.calc_ask(scope.ctx, state))


async def show_result(scope: Scope, state: cb.CalcResult) -> None:
    category, price, measure = calc_views.input_of(state)
    today = scope.ctx.today
    used = None
    if scope.binding is not None:
        overview = await scope.read(queries.quota_overview_sync, scope.identity_key, today.year, today)
        used = overview.consumed
    single = cbec.single_limit(today) or calculator.MAX_PRICE
    try:
        estimate = calculator.estimate(category, price, measure, year=today.year, single_limit=single, used=used)
    except calculator.InputError:  # a forged state whose measure does not fit the category
        await scope.show(calc_views.calc_ask(scope.ctx, cb.CalcAsk(state.cat), calculator.NEEDS_MEASURE))
        return
    await scope.show(calc_views.calc_result(scope.ctx, state, estimate, bound=scope.binding is not None))


async def on_text(scope: Scope, text: str, message_id: int) -> bool:
    """A typed amount if the calculator waits for one; False when it does not."""
    user = scope.user
    awaiting = user.awaiting if user is not None else None
    if user is None or awaiting is None or not awaiting.startswith(AWAIT_PREFIX):
        return False
    try:
        tag, state = cb.decode(awaiting[len(AWAIT_PREFIX) :])
    except cb.BadCallback:
        tag, state = "", None
    if tag != scope.ctx.tag or not isinstance(state, cb.CalcAsk):
        user.awaiting = None  # a prompt from before a (re-/un)bind: the text is ordinary text
        return False
    try:
        price, measure = calculator.parse_input(text, calculator.BY_KEY[state.cat])
    except calculator.InputError as exc:
        scope.context.services.count("calc_input")
        await scope.send(calc_views.calc_ask(scope.ctx, state, exc.code))
        return True
    result = calc_views.state_of(state.cat, price, measure)
    bindings.input_took(user, message_id, shown=cb.encode(result, tag))  # no longer awaiting
    await show_result(scope, result)
    return True
