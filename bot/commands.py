"""The commands: what a user can type, in the order of Telegram's command menu. A command opens a
view state, exactly as a button leading to that state would; the route table
(`handlers.routes`) says what handles each state and whether it works before binding.

Read by handler registration, the per-language command menus set at start (`bot.app.post_init`),
the main menu's buttons and the help text (`bot.views.menu`). Pure data: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from bot import callbacks as cb
from bot.i18n import N_


@dataclass(frozen=True)
class Command:
    name: str
    opens: Callable[[date], cb.State]  # today → the state it shows
    describe: str  # msgid: its line in Telegram's command menu
    explain: str  # msgid: its line in the help text ("" for /help itself)
    button: str | None = None  # msgid: its button in the main menu, if it has one


def _quota(today: date) -> cb.State:
    return cb.Quota(today.year)  # this year's


def _always(state: cb.State) -> Callable[[date], cb.State]:
    return lambda _today: state


COMMANDS: tuple[Command, ...] = (
    Command("menu", _always(cb.Menu()), N_("Main menu"), N_("/menu — main menu")),
    Command("quota", _quota, N_("Annual quota"), N_("/quota — annual quota: limit, consumed, available"),
            N_("💳 Quota")),
    Command("tax", _always(cb.TaxList()), N_("Tax slips"), N_("/tax — electronic tax slips"), N_("🧾 Tax slips")),
    Command("clearance", _always(cb.ClearanceList()), N_("Clearance lists"),
            N_("/clearance — customs clearance lists"), N_("📦 Clearance")),
    Command("calc", _always(cb.Calc()), N_("Tax and quota calculator"),
            N_("/calc — tax and quota calculator, before you buy"), N_("🧮 Calculator")),
    Command("settings", _always(cb.Settings()), N_("Settings"), N_("/settings — language and notifications"),
            N_("⚙️ Settings")),
    Command("bind", _always(cb.BindStart()), N_("Link your Single Window account"),
            N_("/bind — bind your Single Window account")),
    Command("unbind", _always(cb.UnbindAsk()), N_("Unlink your account"),
            N_("/unbind — remove the binding and your data")),
    Command("privacy", _always(cb.Privacy()), N_("What we store and why"), N_("/privacy — what I store and why")),
    Command("mydata", _always(cb.MyData()), N_("A copy of my data"),
            N_("/mydata — a copy of everything I hold about you")),
    Command("help", _always(cb.Help()), N_("Help"), "", N_("❓ Help")),
)  # fmt: skip
BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}
MENU: tuple[Command, ...] = tuple(c for c in COMMANDS if c.button)  # the main menu, in this order
