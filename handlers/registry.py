"""The one place that registers every handler, in the order they are tried.

Order matters: first, in its own group, the per-user throttle (a flooding user is stopped before
any other work). Then group chats are answered first and only with the way to a private chat; then
/start (which may carry a binding token), the commands (`bot.commands`, each opening its state
through the route table), shared contacts, free text, button taps and membership changes. One
error handler catches the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import CallbackQueryHandler, ChatMemberHandler, CommandHandler, MessageHandler, TypeHandler, filters

from bot import commands
from bot.runtime import BotApp, BotContext
from handlers import errors, membership, menu, start, throttle
from handlers.common import scope_for
from handlers.router import make_callback_handler
from handlers.routes import ROUTES


def command_handler(command: commands.Command) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """/name: the state it opens, handled as its route says; before binding, a bound-only state
    shows the welcome instead (how to bind)."""

    async def on_command(update: Update, context: BotContext) -> None:
        state = command.opens(context.clock.today())
        route = ROUTES[type(state)]
        async with scope_for(update, context, write=route.write) as scope:
            if route.bound and scope.binding is None:
                await menu.show_menu(scope)
            else:
                await route.handler(scope, state)

    return on_command


def register(app: BotApp) -> None:
    private = filters.ChatType.PRIVATE
    names = [c.name for c in commands.COMMANDS]
    # 0. Before anything else: a user over SWBOT_USER_RATE updates a second is asked to slow down.
    app.add_handler(TypeHandler(Update, throttle.on_any_update), group=-1)
    # 1. Groups and channels: never anything personal.
    app.add_handler(CommandHandler(["start", *names], start.on_group_command, filters=~private))
    # 2. Private chats: /start (maybe with a deep-link token), then the commands.
    app.add_handler(CommandHandler("start", start.on_start, filters=private))
    for command in commands.COMMANDS:
        app.add_handler(CommandHandler(command.name, command_handler(command), filters=private))
    # 3. The phone shared in the binding flow, then any other text (flow steps, search numbers).
    app.add_handler(MessageHandler(private & filters.CONTACT, start.on_contact))
    app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, start.on_text))
    # 4. Button taps, all through one router that checks them against the caller's binding.
    app.add_handler(CallbackQueryHandler(make_callback_handler(ROUTES)))
    # 5. Blocked / unblocked: stop or resume notifications.
    app.add_handler(ChatMemberHandler(membership.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_error_handler(errors.on_error)
    errors.quiet_payload_logs()  # no update contents in python-telegram-bot's DEBUG logs
