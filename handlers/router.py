"""Callback queries: decode the stateless button data, check it against the caller's current
binding, run the view for the state, answer the tap.

Forged, garbled, oversize or wrong-version data, a button from before an unbind or re-bind, a
button in a group, or a record that is not the caller's: nothing is shown, the tap is answered
"this button has expired", and the rejection is logged and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Update

from bot import callbacks as cb
from bot.runtime import BotContext
from bot.views import menu as menu_views
from handlers.common import UNBOUND_TAG, Scope, answer, is_private, scope_for, translator_for
from handlers.errors import Expired

log = logging.getLogger(__name__)

Handler = Callable[[Scope, Any], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    handler: Handler
    bound: bool = True  # needs a binding whose tag matches the button's
    write: bool = False  # changes something: runs in a write transaction
    # A bound route whose own work removes the binding (unbinding): what the same tap shows once
    # no binding is left, e.g. delivered again after its answer was lost, instead of "expired".
    unbound: Handler | None = None

    def admits(self, tag: str, binding_tag: str | None) -> bool:
        """Whether a state carrying `tag` may be shown to someone whose binding has `binding_tag`
        (None: not bound). A bound route needs that binding's tag; an unbound route also takes the
        unbound tag (a calculator button from before binding still works)."""
        if tag == binding_tag:
            return True
        return not self.bound and tag == UNBOUND_TAG


def make_callback_handler(
    routes: dict[type[cb.State], Route],
) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    async def on_callback(update: Update, context: BotContext) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            tag, state = cb.decode(query.data or "")
        except cb.BadCallback:
            return await _reject(update, context, "undecodable")
        route = routes.get(type(state))
        if route is None or not is_private(update) or query.message is None:
            return await _reject(update, context, "misplaced")
        async with scope_for(update, context, write=route.write) as scope:
            if route.bound and scope.binding is None and route.unbound is not None:
                await route.unbound(scope, state)
                await scope.ack()
                return
            if not route.admits(tag, scope.binding.tag if scope.binding else None):
                await scope.release()
                return await _reject(update, context, "stale")
            try:
                await route.handler(scope, state)
            except Expired:
                if not scope.answered:
                    await scope.discard()
                    await scope.release()
                    return await _reject(update, context, "foreign")
                raise
            await scope.ack()

    return on_callback


async def _reject(update: Update, context: BotContext, why: str) -> None:
    context.services.count(f"callback_{why}")
    log.info("rejected a button (%s)", why)
    await answer(update, menu_views.expired_text(translator_for(update)), alert=True)
