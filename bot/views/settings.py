"""Settings: language, notifications per kind, unbind."""

from __future__ import annotations

from bot import callbacks as cb
from bot.domain import languages, notices
from bot.domain.records import UserSettings
from bot.views.common import Screen, bold, line, screen
from bot.widgets import Ctx, markup, nav_row, radio


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
    for switch in notices.SWITCHES:
        kind = switch.kind
        on = kind in data.enabled
        label = _(switch.label)
        icon = "🔔" if on else "🔕"
        lines.append(f"{icon} {label}")
        button = line(ctx, f"{icon} {label}", _("on") if on else _("off"))  # plain text: no HTML inside
        rows.append([ctx.button(button, cb.SetNotify(kind, not on))])
    lines += ["", _("Tap a notification to switch it on or off.")]
    rows.append([ctx.button(_("🚫 Unbind"), cb.UnbindAsk())])
    rows.append(nav_row(ctx))
    return screen(lines, markup(rows))
