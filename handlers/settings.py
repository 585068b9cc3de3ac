"""Settings: language, notifications per kind, unbind."""

from __future__ import annotations

from bot import callbacks as cb
from bot.domain.records import UserSettings
from bot.views import binding as binding_views
from bot.views import settings as settings_views
from handlers.common import Scope
from handlers.menu import show_menu
from storage import bindings


async def show_settings(scope: Scope, state: cb.State | None = None) -> None:
    assert scope.binding is not None  # a bound-only route (handlers.routes)
    data = UserSettings(scope.t.lang, bindings.enabled_kinds(scope.binding))
    await scope.show(settings_views.settings(scope.ctx, data))


async def set_language(scope: Scope, state: cb.SetLanguage) -> None:
    """From Settings, or before binding from the welcome screen: that screen again, in the new language."""
    await bindings.set_language(scope.tx, scope.tg_id, state.lang)
    scope.retranslate(state.lang)
    await (show_settings(scope) if scope.binding is not None else show_menu(scope))


async def set_notify(scope: Scope, state: cb.SetNotify) -> None:
    assert scope.binding is not None
    await bindings.set_notify(scope.tx, scope.binding, state.kind, state.on)
    await show_settings(scope)


async def ask_unbind(scope: Scope, state: cb.State | None = None) -> None:
    assert scope.binding is not None  # a bound-only route (handlers.routes)
    await scope.show(binding_views.unbind_ask(scope.ctx, scope.holder()))


async def confirm_unbind(scope: Scope, state: cb.UnbindConfirm) -> None:
    await bindings.unbind(scope.tx, scope.tg_id)
    scope.binding = None  # from here on, buttons carry the unbound tag
    await show_unbound(scope, state)


async def show_unbound(scope: Scope, state: cb.UnbindConfirm) -> None:
    """Also the answer to the confirmation when there is no binding left to remove (the same tap
    delivered again after the unbinding committed): it is true either way."""
    await scope.show(binding_views.unbound(scope.ctx))
