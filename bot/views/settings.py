"""Settings: language, notifications per kind, unbind."""

from __future__ import annotations

from bot import callbacks as cb
from bot.domain import languages
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


def _endonym(lang: str) -> str:
    known = languages.parse(lang)
    return languages.BY_LANG[known].endonym if known is not None else lang


def settings(ctx: Ctx, data: UserSettings) -> Screen:
    _ = ctx._
    lines = [
        bold(_("⚙️ Settings")),
        "",
        line(ctx, _("Language"), _endonym(data.lang)),
        "",
        bold(_("Notifications")),
    ]
    # Each language is named in itself (its endonym), whatever the interface language.
    rows = radio(ctx, [(x.endonym, cb.SetLanguage(x.lang), data.lang == x.lang) for x in languages.LANGUAGES])
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
