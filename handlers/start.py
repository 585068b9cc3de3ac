"""/start (with or without a binding token), and plain messages: free text (the binding flow, a
search number, a calculator amount) and shared contacts. The other commands open their states
through the route table (`handlers.registry`)."""

from __future__ import annotations

from telegram import Message, Update

from bot import callbacks as cb
from bot.runtime import BotContext
from bot.views import menu as menu_views
from handlers import binding, calc, clearance, menu
from handlers.common import Scope, scope_for, translator_for
from handlers.routes import ROUTES
from storage import bindings


async def on_start(update: Update, context: BotContext) -> None:
    async with scope_for(update, context, write=True) as scope:
        if context.args:
            await binding.on_start_token(scope, context.args[0], update.effective_message)
        else:
            await menu.show_menu(scope)


async def on_text(update: Update, context: BotContext) -> None:
    """Free text: a binding step, an awaited search number or calculator amount, else the menu."""
    message = update.effective_message
    if message is None:
        return
    async with scope_for(update, context, write=True) as scope:
        if await binding.on_flow_text(scope, message):
            return
        if await _typed_again(scope, message):
            return
        if await clearance.on_search_text(scope, message.text or "", message.message_id):
            return
        if await calc.on_text(scope, message.text or "", message.message_id):
            return
        await binding.send_hint(scope)


async def _typed_again(scope: Scope, message: Message) -> bool:
    """A calculator amount or a searched number delivered again (its answer was lost after the
    step committed): the screen it led to, again, rather than the text read as new input."""
    shown = bindings.input_replay(scope.user, message.message_id)
    if shown is None:
        return False
    try:
        tag, state = cb.decode(shown)
    except cb.BadCallback:
        return False
    route = ROUTES.get(type(state))
    if route is None or not route.admits(tag, scope.binding.tag if scope.binding else None):
        return False  # bound or unbound since: the text is ordinary
    await route.handler(scope, state)
    return True


async def on_contact(update: Update, context: BotContext) -> None:
    message = update.effective_message
    if message is None:
        return
    async with scope_for(update, context, write=True) as scope:
        await binding.on_contact(scope, message)


async def on_group_command(update: Update, context: BotContext) -> None:
    """In a group nothing personal is ever sent: only the way to a private chat."""
    chat = update.effective_chat
    if chat is None:
        return
    screen = menu_views.group_hint(translator_for(update), context.bot.username)
    await context.bot.send_message(chat.id, screen.text, reply_markup=screen.keyboard, protect_content=False)
