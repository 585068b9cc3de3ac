"""Main menu, help, privacy, and the group-chat hint."""

from __future__ import annotations

from bot import callbacks as cb
from bot.views import binding as binding_views
from bot.views import menu as menu_views
from handlers.common import Scope


async def show_menu(scope: Scope, state: cb.State | None = None) -> None:
    """The main menu once bound; the welcome (how to bind) before."""
    if scope.binding is None:
        await scope.show(binding_views.welcome(scope.ctx))
        return
    await scope.show(menu_views.main_menu(scope.ctx, scope.holder()))


async def show_help(scope: Scope, state: cb.State | None = None) -> None:
    await scope.show(menu_views.help_screen(scope.ctx, bound=scope.binding is not None))


async def show_privacy(scope: Scope, state: cb.State | None = None) -> None:
    await scope.show(menu_views.privacy(scope.ctx))


async def noop(scope: Scope, state: cb.State) -> None:
    """Calendar blanks, headers and the page label: the tap is only answered."""
