"""The route table: every view state, what handles it, and whether it works before binding.

Buttons reach these through `handlers.router`; the commands (`bot.commands`) open the same states
through `handlers.registry`. What an unbound user sees is decided here once, by `Route.bound`: a
command to a bound-only state shows the welcome (how to bind), a button to one answers "expired".
A new screen is one state in `bot.callbacks`, its view, its handler, and a row here.
"""

from __future__ import annotations

from datetime import date

from bot import callbacks as cb
from bot import commands
from handlers import binding, calc, clearance, files, menu, mydata, quota, settings, tax
from handlers.router import Route

ROUTES: dict[type[cb.State], Route] = {
    cb.Noop: Route(menu.noop, bound=False),
    cb.Menu: Route(menu.show_menu, bound=False),  # the welcome before binding, the main menu after
    cb.Help: Route(menu.show_help, bound=False),
    cb.Privacy: Route(menu.show_privacy, bound=False),
    cb.BindStart: Route(binding.start_flow, bound=False, write=True),
    cb.BindCancel: Route(binding.cancel_flow, bound=False, write=True),
    cb.SetLanguage: Route(settings.set_language, bound=False, write=True),
    cb.Calc: Route(calc.show_menu, bound=False),
    cb.CalcAsk: Route(calc.ask_amount, bound=False, write=True),
    cb.CalcResult: Route(calc.show_result, bound=False),
    cb.MyData: Route(mydata.show, bound=False),
    cb.MyDataSend: Route(mydata.send, bound=False),
    cb.Quota: Route(quota.show_quota),
    cb.QuotaDetails: Route(quota.show_details),
    cb.QuotaChart: Route(files.send_chart),
    cb.TaxList: Route(tax.show_list),
    cb.TaxDetail: Route(tax.show_detail),
    cb.OpenTaxFromNotice: Route(tax.open_from_notice),
    cb.Calendar: Route(tax.show_calendar),
    cb.ClearanceList: Route(clearance.show_list),
    cb.ClearanceDetail: Route(clearance.show_detail),
    cb.ClearanceSearch: Route(clearance.ask_search, write=True),
    cb.Suspicious: Route(clearance.answer_suspicious, write=True),
    cb.ExportMenu: Route(files.show_export_menu),
    cb.ExportFile: Route(files.send_export),
    cb.Settings: Route(settings.show_settings),
    cb.SetNotify: Route(settings.set_notify, write=True),
    cb.UnbindAsk: Route(settings.ask_unbind),
    cb.UnbindConfirm: Route(settings.confirm_unbind, write=True, unbound=settings.show_unbound),
}

assert not set(cb._KINDS) - set(ROUTES), f"states without a route: {set(cb._KINDS) - set(ROUTES)}"
assert all(type(c.opens(date(2026, 1, 1))) in ROUTES for c in commands.COMMANDS), "a command without a route"
