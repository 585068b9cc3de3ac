"""Binding a Telegram account to a Single Window identity, and unbinding.

The in-chat flow: name → ID number (the message is deleted once read) → share phone (a reply
keyboard with a request_contact button). Failures never say which detail was wrong.
"""

from __future__ import annotations

from datetime import datetime

from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove

from bot import callbacks as cb
from bot.domain import languages
from bot.domain.records import Holder
from bot.i18n import Translator
from bot.views.common import Screen, bold, screen
from bot.views.menu import holder_line
from bot.widgets import Ctx, markup, nav_row

# Buttons here are also shown to people who are not bound yet: they carry the unbound tag "-"
# (the handler renders with Ctx(tag="-")); once bound, the binding's tag.


def _lang_switch(ctx: Ctx) -> cb.SetLanguage:
    return cb.SetLanguage(languages.next_language(ctx.t.lang))


def _lang_label(ctx: Ctx) -> str:
    return "🌐 " + languages.BY_LANG[languages.next_language(ctx.t.lang)].endonym


def welcome(ctx: Ctx) -> Screen:
    lines = [
        bold(ctx._("👋 Welcome!")),
        ctx._(
            "I show your cross-border e-commerce imports from China's Single Window: annual quota, "
            "tax slips and clearance lists, and I tell you when something new arrives."
        ),
        "",
        ctx._("First, bind your Single Window personal account. Two ways:"),
        ctx._("1. In the Single Window portal, open the Telegram binding link: one tap and you are done."),
        ctx._("2. Or verify here: your real name, ID number and phone number, as registered."),
    ]
    rows = [
        [ctx.button(ctx._("✍️ Verify here"), cb.BindStart())],
        [ctx.button(_lang_label(ctx), _lang_switch(ctx)), ctx.button(ctx._("❓ Help"), cb.Help())],
        [ctx.button(ctx._("🧮 Tax calculator"), cb.Calc())],
    ]
    return screen(lines, markup(rows))


def _cancel_row(ctx: Ctx) -> list:
    return [ctx.button(ctx._("✖ Cancel"), cb.BindCancel())]


def ask_name(ctx: Ctx) -> Screen:
    lines = [
        bold(ctx._("Step 1 of 3 · Name")),
        ctx._("Send your real name exactly as registered with the Single Window."),
    ]
    return screen(lines, markup([_cancel_row(ctx)]))


def ask_id(ctx: Ctx) -> Screen:
    lines = [
        bold(ctx._("Step 2 of 3 · ID number")),
        ctx._("Send your 18-character resident ID number."),
        ctx._("🔒 I delete your message as soon as I have read it."),
    ]
    return screen(lines, markup([_cancel_row(ctx)]))


def id_invalid(ctx: Ctx) -> Screen:
    """The number fails the format or check-digit test (says nothing about any account)."""
    lines = [
        ctx._("That is not a valid 18-character ID number. Please check it and send it again."),
        ctx._("🔒 I delete your message as soon as I have read it."),
    ]
    return screen(lines, markup([_cancel_row(ctx)]))


def name_invalid(ctx: Ctx) -> Screen:
    return screen([ctx._("Please send your name as plain text (up to 50 characters).")], markup([_cancel_row(ctx)]))


def share_label(t: Translator) -> str:
    return t.gettext("📱 Share my phone number")


def cancel_label(t: Translator) -> str:
    """The reply-keyboard Cancel: arrives as a plain text message, so handlers compare with this."""
    return t.gettext("✖ Cancel")


def phone_keyboard(t: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(share_label(t), request_contact=True)], [KeyboardButton(cancel_label(t))]],
        resize_keyboard=True,
        one_time_keyboard=True,
        input_field_placeholder=share_label(t),
    )


def ask_phone(ctx: Ctx) -> Screen:
    lines = [
        bold(ctx._("Step 3 of 3 · Phone")),
        ctx._("Tap the button below to share the phone number of this Telegram account."),
        ctx._("It must be the number registered with your Single Window account."),
    ]
    return screen(lines, phone_keyboard(ctx.t))


def not_own_contact(ctx: Ctx) -> Screen:
    lines = [ctx._("Please share your own number with the button below, not someone else's contact.")]
    return screen(lines, phone_keyboard(ctx.t))


def bound(ctx: Ctx, holder: Holder) -> Screen:
    """Success. Removes the phone keyboard; the handler sends the main menu right after."""
    lines = [
        bold(ctx._("✅ Bound")),
        ctx._("This chat is now bound to {holder}.").format(holder=holder_line(holder)),
    ]
    return screen(lines, ReplyKeyboardRemove())


def mismatch(ctx: Ctx, attempts_left: int | None = None) -> Screen:
    """The details do not match one account. Never says which of them."""
    lines = [
        ctx._("❌ These details do not match a Single Window account."),
        ctx._("Check your name, ID number and phone number as registered, then send /bind to try again."),
    ]
    if attempts_left is not None:
        lines.append(
            ctx.t.ngettext("{n} attempt left today.", "{n} attempts left today.", attempts_left).format(n=attempts_left)
        )
    return screen(lines, ReplyKeyboardRemove())


def locked(ctx: Ctx, until: datetime) -> Screen:
    lines = [
        ctx._("⛔ Too many attempts. Binding in this chat is locked until {when}.").format(when=ctx.t.datetime(until)),
        ctx._("You can still bind with the link from the Single Window portal."),
    ]
    return screen(lines, ReplyKeyboardRemove())


def cancelled(ctx: Ctx) -> Screen:
    return screen([ctx._("Binding cancelled. Send /bind whenever you are ready.")], ReplyKeyboardRemove())


def _link_problem(ctx: Ctx, message: str) -> Screen:
    lines = [message, ctx._("Get a new link from the Single Window portal, or verify here instead.")]
    rows = [[ctx.button(ctx._("✍️ Verify here"), cb.BindStart()), ctx.button(ctx._("❓ Help"), cb.Help())]]
    return screen(lines, markup(rows))


def link_invalid(ctx: Ctx) -> Screen:
    return _link_problem(ctx, ctx._("❌ This binding link is not valid."))


def link_expired(ctx: Ctx) -> Screen:
    return _link_problem(ctx, ctx._("⌛ This binding link has expired."))


def link_used(ctx: Ctx) -> Screen:
    return _link_problem(ctx, ctx._("This binding link has already been used."))


def already_bound(ctx: Ctx, holder: Holder) -> Screen:
    lines = [
        ctx._("This chat is already bound to {holder}.").format(holder=holder_line(holder)),
        ctx._("To bind another identity, unbind first."),
    ]
    rows = [[ctx.button(ctx._("🚫 Unbind"), cb.UnbindAsk())], nav_row(ctx)]
    return screen(lines, markup(rows))


def moved_away(t: Translator) -> Screen:
    """Sent to the OLD chat when a verified binding moves to another Telegram account."""
    lines = [
        t.gettext("🔁 Your Single Window binding has moved to another Telegram account."),
        t.gettext("This chat no longer receives your records or notifications."),
        t.gettext("If that was not you, bind again with /bind and call the customs hotline 12360."),
    ]
    return screen(lines)


def unbind_ask(ctx: Ctx, holder: Holder) -> Screen:
    lines = [
        bold(ctx._("🚫 Unbind?")),
        ctx._("This chat is bound to {holder}.").format(holder=holder_line(holder)),
        ctx._("Unbinding deletes the binding, your settings and pending notifications."),
    ]
    rows = [
        [ctx.button(ctx._("Yes, unbind"), cb.UnbindConfirm())],
        [ctx.button(ctx._("◀ Back"), cb.Settings()), ctx.button(ctx._("🏠 Menu"), cb.Menu())],
    ]
    return screen(lines, markup(rows))


def unbound(ctx: Ctx) -> Screen:
    """Done. Rendered with the unbound tag: the old binding's buttons are dead now."""
    lines = [
        ctx._("✅ Unbound. Your binding, settings and pending notifications have been deleted."),
        ctx._("Send /bind to bind again at any time."),
    ]
    return screen(lines, markup([[ctx.button(ctx._("✍️ Verify here"), cb.BindStart())]]))
