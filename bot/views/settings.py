"""Settings: language, notifications per kind, unbind."""

from __future__ import annotations

from bot import callbacks as cb
from bot.domain.records import (
    NOTIFY_KINDS,
    NOTIFY_LIST_STATUS,
    NOTIFY_MISMATCH,
    NOTIFY_OVER_LIMIT,
    NOTIFY_QUOTA,
    NOTIFY_SUSPICIOUS,
    NOTIFY_TAX_NEW,
    NOTIFY_TAX_STATUS,
    NOTIFY_VERIFY,
    UserSettings,
)
from bot.i18n import N_
from bot.views.common import Screen, bold, line, screen
from bot.widgets import Ctx, markup, nav_row, radio

# Endonyms: each language is named in itself, whatever the interface language.
LANGUAGE_NAMES: dict[str, str] = {"zh_CN": "中文", "en": "English"}

NOTIFY_LABELS: dict[str, str] = {
    NOTIFY_LIST_STATUS: N_("Released or refused by customs"),
    NOTIFY_VERIFY: N_("Confirm a purchase (验核)"),
    NOTIFY_OVER_LIMIT: N_("Refused: over the annual limit"),
    NOTIFY_MISMATCH: N_("Refused: buyer details differ"),
    NOTIFY_TAX_NEW: N_("New tax slip"),
    NOTIFY_TAX_STATUS: N_("Tax slip status change"),
    NOTIFY_QUOTA: N_("Quota: 80%, 100% and amounts back"),
    NOTIFY_SUSPICIOUS: N_("Suspicious declaration"),
}


def settings(ctx: Ctx, data: UserSettings) -> Screen:
    _ = ctx._
    lines = [
        bold(_("⚙️ Settings")),
        "",
        line(ctx, _("Language"), LANGUAGE_NAMES.get(data.lang, data.lang)),
        "",
        bold(_("Notifications")),
    ]
    rows = radio(ctx, [(name, cb.SetLanguage(code), data.lang == code) for code, name in LANGUAGE_NAMES.items()])
    for kind in NOTIFY_KINDS:
        on = kind in data.enabled
        label = _(NOTIFY_LABELS[kind])
        icon = "🔔" if on else "🔕"
        lines.append(f"{icon} {label}")
        button = line(ctx, f"{icon} {label}", _("on") if on else _("off"))  # plain text: no HTML inside
        rows.append([ctx.button(button, cb.SetNotify(kind, not on))])
    lines += ["", _("Tap a notification to switch it on or off.")]
    rows.append([ctx.button(_("🚫 Unbind"), cb.UnbindAsk())])
    rows.append(nav_row(ctx))
    return screen(lines, markup(rows))
