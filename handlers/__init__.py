"""The one place that registers every handler, in the order they are tried.

Order matters: first, in its own group, the per-user throttle (a flooding user is stopped before
any other work). Then group chats are answered first and only with the way to a private chat; then
/start (which may carry a binding token), the commands, shared contacts, free text, button taps
and membership changes. One error handler catches the rest.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, ChatMemberHandler, CommandHandler, MessageHandler, TypeHandler, filters

from bot import callbacks as cb
from bot.runtime import BotApp
from handlers import (
    binding,
    calc,
    clearance,
    errors,
    files,
    membership,
    menu,
    mydata,
    quota,
    settings,
    start,
    tax,
    throttle,
)
from handlers.router import Route, make_callback_handler

COMMANDS = {
    "menu": start.cmd_menu,
    "help": start.cmd_help,
    "privacy": start.cmd_privacy,
    "bind": start.cmd_bind,
    "unbind": start.cmd_unbind,
    "settings": start.cmd_settings,
    "quota": start.cmd_quota,
    "tax": start.cmd_tax,
    "clearance": start.cmd_clearance,
    "calc": start.cmd_calc,
    "mydata": start.cmd_mydata,
}

# Every button state and what it does. `bound=False`: also works before binding.
ROUTES: dict[type[cb.State], Route] = {
    cb.Noop: Route(menu.noop, bound=False),
    cb.Menu: Route(menu.show_menu, bound=False),
    cb.Help: Route(menu.show_help, bound=False),
    cb.Privacy: Route(menu.show_privacy, bound=False),
    cb.BindStart: Route(binding.start_flow, bound=False, write=True),
    cb.BindCancel: Route(binding.cancel_flow, bound=False, write=True),
    cb.SetLanguage: Route(settings.set_language, bound=False, write=True),
    cb.Quota: Route(quota.show_quota),
    cb.QuotaDetails: Route(quota.show_details),
    cb.TaxList: Route(tax.show_list),
    cb.TaxDetail: Route(tax.show_detail),
    cb.OpenTaxFromNotice: Route(tax.open_from_notice),
    cb.Calendar: Route(tax.show_calendar),
    cb.ClearanceList: Route(clearance.show_list),
    cb.ClearanceDetail: Route(clearance.show_detail),
    cb.ClearanceSearch: Route(clearance.ask_search, write=True),
    cb.Suspicious: Route(clearance.answer_suspicious, write=True),
    cb.Settings: Route(settings.show_settings),
    cb.SetNotify: Route(settings.set_notify, write=True),
    cb.UnbindAsk: Route(settings.ask_unbind),
    cb.UnbindConfirm: Route(settings.confirm_unbind, write=True),
    cb.Calc: Route(calc.show_menu, bound=False),
    cb.CalcAsk: Route(calc.ask_amount, bound=False, write=True),
    cb.CalcResult: Route(calc.show_result, bound=False),
    cb.QuotaChart: Route(files.send_chart),
    cb.ExportMenu: Route(files.show_export_menu),
    cb.ExportFile: Route(files.send_export),
    cb.MyData: Route(mydata.show, bound=False),
    cb.MyDataSend: Route(mydata.send, bound=False),
}


def register(app: BotApp) -> None:
    private = filters.ChatType.PRIVATE
    # 0. Before anything else: a user over SWBOT_USER_RATE updates a second is asked to slow down.
    app.add_handler(TypeHandler(Update, throttle.on_any_update), group=-1)
    # 1. Groups and channels: never anything personal.
    app.add_handler(CommandHandler(["start", *COMMANDS], start.on_group_command, filters=~private))
    # 2. Private chats: /start (maybe with a deep-link token), then the commands.
    app.add_handler(CommandHandler("start", start.on_start, filters=private))
    for name, callback in COMMANDS.items():
        app.add_handler(CommandHandler(name, callback, filters=private))
    # 3. The phone shared in the binding flow, then any other text (flow steps, search numbers).
    app.add_handler(MessageHandler(private & filters.CONTACT, start.on_contact))
    app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, start.on_text))
    # 4. Button taps, all through one router that checks them against the caller's binding.
    app.add_handler(CallbackQueryHandler(make_callback_handler(ROUTES)))
    # 5. Blocked / unblocked: stop or resume notifications.
    app.add_handler(ChatMemberHandler(membership.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_error_handler(errors.on_error)
    errors.quiet_payload_logs()  # no update contents in python-telegram-bot's DEBUG logs
