"""Main menu, help, privacy, and the short texts every handler needs (errors, expired buttons)."""

from __future__ import annotations

from telegram import InlineKeyboardButton

from bot import callbacks as cb
from bot import commands
from bot.domain.records import Holder
from bot.i18n import Translator
from bot.views.common import Screen, bold, esc, screen
from bot.widgets import Ctx, markup, nav_row

MENU_COLUMNS = 3


def menu_buttons(ctx: Ctx) -> list[list[InlineKeyboardButton]]:
    """The commands that have a button (bot.commands), in that order, three to a row."""
    buttons = [ctx.button(ctx._(c.button), c.opens(ctx.today)) for c in commands.MENU if c.button]
    return [buttons[i : i + MENU_COLUMNS] for i in range(0, len(buttons), MENU_COLUMNS)]


def holder_line(holder: Holder) -> str:
    """张* · 110105********002X (the Holder is masked by construction)."""
    return f"{esc(holder.name)} · <code>{esc(holder.id_number)}</code>"


def main_menu(ctx: Ctx, holder: Holder) -> Screen:
    lines = [
        bold(ctx._("🏠 Main menu")),
        ctx._("Bound to {holder}").format(holder=holder_line(holder)),
        "",
        ctx._("What would you like to see?"),
    ]
    return screen(lines, markup(menu_buttons(ctx)))


def help_screen(ctx: Ctx, *, bound: bool) -> Screen:
    """Help; for an unbound user the way back leads to the welcome screen (Menu does that too)."""
    lines = [
        bold(ctx._("❓ Help")),
        ctx._(
            "I show your cross-border e-commerce imports as recorded by China's Single Window: "
            "your annual quota, electronic tax slips and customs clearance lists."
        ),
        "",
        *(ctx._(c.explain) for c in commands.COMMANDS if c.explain),  # every command but /help
        "",
        ctx._(
            "I message you when a new tax slip arrives, and warn you when goods are declared under "
            "your identity that may not be yours."
        ),
        ctx._("Customs hotline 12360 · China E-port 010-95198"),
    ]
    rows = [[ctx.button(ctx._("🔒 Privacy"), cb.Privacy())]]
    rows.append(nav_row(ctx) if bound else [ctx.button(ctx._("◀ Back"), cb.Menu())])
    return screen(lines, markup(rows))


def privacy(ctx: Ctx) -> Screen:
    lines = [
        bold(ctx._("🔒 Privacy")),
        "",
        bold(ctx._("What I store")),
        ctx._("• Your Telegram user id and chat id, your language and notification settings."),
        ctx._(
            "• The link to your Single Window account. Your name, ID number and phone are copied "
            "from the Single Window registry and stored encrypted; chats only ever show them masked."
        ),
        ctx._("• Your import records from the customs messages: clearance lists, receipts and tax slips."),
        "",
        bold(ctx._("Why")),
        ctx._(
            "To show you your quota, tax slips and clearance lists, and to notify you about new tax "
            "slips and about declarations under your identity."
        ),
        "",
        bold(ctx._("Who sees it")),
        ctx._(
            "Only you, in this private chat. The operator of this bot can access the database; "
            "messages with your data are sent protected from forwarding."
        ),
        "",
        bold(ctx._("How to get a copy")),
        ctx._(
            "Send /mydata: a PDF and a JSON file of everything I hold about you, with why and for how "
            "long (once a day)."
        ),
        "",
        bold(ctx._("How to delete it")),
        ctx._(
            "Send /unbind: your binding, settings and pending notifications are deleted at once. "
            "The customs records themselves belong to the Single Window and stay there."
        ),
    ]
    rows = [[ctx.button(ctx._("📥 A copy of my data"), cb.MyData())], nav_row(ctx, back=cb.Help())]
    return screen(lines, markup(rows))


def group_hint(t: Translator, bot_username: str | None = None) -> Screen:
    """In a group the bot shows no personal data, only the way to a private chat."""
    text = t.gettext(
        "🔒 I only work in a private chat, so that your records stay private. "
        "Open a private chat with me and send /start."
    )
    if not bot_username:
        return Screen(text)
    button = InlineKeyboardButton(t.gettext("Open a private chat"), url=f"https://t.me/{bot_username}")
    return Screen(text, markup([[button]]))


# Short texts for answerCallbackQuery (≤ 200 characters) or one-line replies.


def error_text(t: Translator) -> str:
    return t.gettext("⚠️ Something went wrong, please try again.")


def expired_text(t: Translator) -> str:
    return t.gettext("⌛ This button has expired. Send /menu to start again.")


def not_found_text(t: Translator) -> str:
    return t.gettext("This record is not available.")


def slow_down_text(t: Translator) -> str:
    return t.gettext("🐢 That was a lot at once. Please wait a few seconds, then try again.")


def unavailable_text(t: Translator) -> str:
    return t.gettext("⏳ This is temporarily unavailable. Please try again in a moment.")
