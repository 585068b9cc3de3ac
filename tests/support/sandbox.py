"""Shared pieces for the sandbox tests: a tiny bot (echo, keyboard, contact, membership) built on a
real python-telegram-bot Application, wired either in-process or over HTTP. No tests here."""

from __future__ import annotations

import html
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.sandbox.core import BotApiCore
from bot.sandbox.request import InProcessRequest

TOKEN = "123:ABC"
YEARS = ("2024", "2025")


def ptb_message(description: str) -> str:
    """The ``.message`` python-telegram-bot derives from a Bot API description."""
    return BadRequest(description).message


def keyboard(selected: str | None = None) -> InlineKeyboardMarkup:
    years = [InlineKeyboardButton(("✓ " if y == selected else "") + y, callback_data=f"y:{y}") for y in YEARS]
    return InlineKeyboardMarkup([
        years,
        [InlineKeyboardButton("Consumption details", callback_data="details")],
        [InlineKeyboardButton("Portal", url="https://www.singlewindow.cn/")],
    ])


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_user is not None and update.message is not None
    text = f"Hello <b>{html.escape(update.effective_user.first_name)}</b>"
    if context.args:
        text += f"\npayload: <code>{html.escape(context.args[0])}</code>"
    await update.message.reply_html(text, reply_markup=keyboard(), protect_content=True)


async def on_echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_html(html.escape(update.message.text))


async def on_phone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    button = KeyboardButton("Share my phone", request_contact=True)
    await update.message.reply_text("Share your phone", reply_markup=ReplyKeyboardMarkup([[button]],
                                                                                         one_time_keyboard=True))


async def on_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.message
    assert message is not None and message.contact is not None and message.from_user is not None
    own = message.contact.user_id == message.from_user.id
    await message.reply_text(f"{'own' if own else 'not yours'}: {message.contact.phone_number}",
                             reply_markup=ReplyKeyboardRemove())


async def on_tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    data = query.data or ""
    if data.startswith("y:") and data[2:] in YEARS:
        await query.answer()
        year = data[2:]
        try:
            await query.edit_message_text(f"Quota <b>{year}</b>", parse_mode="HTML", reply_markup=keyboard(year))
        except BadRequest as exc:  # a double tap re-renders the same view
            context.bot_data.setdefault("errors", []).append(exc.message)
    elif data == "details":
        await query.answer()
        await query.edit_message_text("Details")  # no reply_markup: the keyboard goes away
    else:
        await query.answer("This button has expired", show_alert=True)


async def on_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    change = update.my_chat_member
    assert change is not None
    context.bot_data.setdefault("members", []).append(
        (change.chat.id, change.old_chat_member.status, change.new_chat_member.status))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    context.bot_data.setdefault("errors", []).append(
        context.error.message if isinstance(context.error, TelegramError) else repr(context.error))


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(CommandHandler("phone", on_phone))
    app.add_handler(MessageHandler(filters.CONTACT, on_contact))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_echo))
    app.add_handler(CallbackQueryHandler(on_tap))
    app.add_handler(ChatMemberHandler(on_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_error_handler(on_error)


def in_process_app(core: BotApiCore, *, read_timeout: float | None = 5.0) -> Application[Any, Any, Any, Any, Any, Any]:
    app = (ApplicationBuilder().token(TOKEN)
           .request(InProcessRequest(core, read_timeout=read_timeout))
           .get_updates_request(InProcessRequest(core))
           .build())
    add_handlers(app)
    return app


def http_app(base_url: str) -> Application[Any, Any, Any, Any, Any, Any]:
    app = ApplicationBuilder().token(TOKEN).base_url(base_url).build()
    add_handlers(app)
    return app
