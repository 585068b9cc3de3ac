"""Commands and plain messages: /start (with or without a binding token) and every /command,
free text (the binding flow, a search number) and shared contacts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update

from bot import callbacks as cb
from bot.runtime import BotContext
from bot.views import menu as menu_views
from handlers import binding, calc, clearance, menu, mydata, quota, settings, tax
from handlers.common import Scope, scope_for, translator_for

Show = Callable[[Scope], Awaitable[None]]


async def on_start(update: Update, context: BotContext) -> None:
    async with scope_for(update, context, write=True) as scope:
        if context.args:
            await binding.on_start_token(scope, context.args[0], update.effective_message)
        else:
            await menu.show_menu(scope)


def _bound_view(show: Callable[[Scope], Awaitable[None]]) -> Callable[[Update, BotContext], Awaitable[None]]:
    """A command that needs a binding: the welcome screen (how to bind) until there is one."""

    async def command(update: Update, context: BotContext) -> None:
        async with scope_for(update, context, write=False) as scope:
            if scope.binding is None:
                await menu.show_menu(scope)
            else:
                await show(scope)

    return command


def _view(show: Show, *, write: bool = False) -> Callable[[Update, BotContext], Awaitable[None]]:
    async def command(update: Update, context: BotContext) -> None:
        async with scope_for(update, context, write=write) as scope:
            await show(scope)

    return command


cmd_menu = _view(menu.show_menu)
cmd_help = _view(menu.show_help)
cmd_privacy = _view(menu.show_privacy)
cmd_bind = _view(binding.start_flow, write=True)
cmd_settings = _view(settings.show_settings)
cmd_unbind = _view(settings.ask_unbind)
cmd_quota = _bound_view(lambda s: quota.show_quota(s, cb.Quota(s.ctx.today.year)))
cmd_tax = _bound_view(lambda s: tax.show_list(s, cb.TaxList()))
cmd_clearance = _bound_view(lambda s: clearance.show_list(s, cb.ClearanceList()))
cmd_calc = _view(calc.show_menu)
cmd_mydata = _view(mydata.show)


async def on_text(update: Update, context: BotContext) -> None:
    """Free text: a binding step, an awaited search number or calculator amount, else the menu."""
    message = update.effective_message
    if message is None:
        return
    async with scope_for(update, context, write=True) as scope:
        if await binding.on_flow_text(scope, message):
            return
        if await clearance.on_search_text(scope, message.text or ""):
            return
        if await calc.on_text(scope, message.text or ""):
            return
        await binding.send_hint(scope)


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
