"""What every handler works with: the per-update Scope (one database session, the caller, their
binding, their language) and "safe" message output.

Safe output, like aiogram-dialog's `edit_message_safe`: "message is not modified" is swallowed,
an edit that cannot happen (message too old, deleted) falls back to sending, "query is too old"
on answering a tap is ignored. A screen longer than one message goes out as several messages,
the keyboard under the last one.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Message, Update, User
from telegram.error import BadRequest, Forbidden
from telegram.warnings import PTBUserWarning

from bot.domain.records import Holder
from bot.i18n import Translator, get_translator, resolve_lang
from bot.runtime import BotContext
from bot.views.common import Screen
from bot.widgets import Ctx
from storage import bindings
from storage.db import ReadScope
from storage.models import Binding, TgUser

log = logging.getLogger(__name__)

# An edit goes through `Bot.do_api_request`, which hands back Telegram's answer as it came: nothing
# reads the edited message, and building it into python-telegram-bot objects (a 20-button keyboard,
# a dozen entities) was ≈ 0.3 ms of a tap's CPU. python-telegram-bot warns on every such call that
# `edit_message_text` exists; that is known here.
warnings.filterwarnings("ignore", r"Please use 'Bot\.editMessageText'", PTBUserWarning)

UNBOUND_TAG = "-"
T = TypeVar("T")


@dataclass
class Scope:
    """One update's view of the world. Handlers get it, never build sessions themselves."""

    update: Update
    context: BotContext
    session: AsyncSession | None  # the update's write transaction; None when it only reads
    user: TgUser | None
    binding: Binding | None
    t: Translator
    answered: bool = False
    # A read-only update's reads, on one session; closed before the first reply (see ack).
    reads: ReadScope | None = None

    @property
    def tx(self) -> AsyncSession:
        """The write transaction (only routes declared as writing have one)."""
        assert self.session is not None, "this update was opened read-only"
        return self.session

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a synchronous query (`storage.queries.*_sync`) in this update's database scope."""
        if self.session is not None:
            return await self.session.run_sync(fn, *args)
        if self.reads is not None:
            return await self.reads.run(fn, *args)
        return await self.context.db.run_read(fn, *args)

    @property
    def tg_id(self) -> int:
        assert self.update.effective_user is not None
        return self.update.effective_user.id

    @property
    def chat_id(self) -> int:
        assert self.update.effective_chat is not None
        return self.update.effective_chat.id

    @property
    def ctx(self) -> Ctx:
        """Render context: buttons carry the current binding's tag (or the unbound tag)."""
        return Ctx(self.t, self.binding.tag if self.binding else UNBOUND_TAG, self.context.clock.today())

    @property
    def now(self) -> datetime:
        """China time now (the application's clock), for records this update writes."""
        return self.context.clock.now()

    @property
    def identity_key(self) -> bytes:
        assert self.binding is not None
        return self.binding.account.identity_key

    def holder(self) -> Holder:
        assert self.binding is not None
        return bindings.holder_of(self.context.vault, self.binding.account)

    def retranslate(self, lang: str) -> None:
        self.t = get_translator(lang)

    async def release(self) -> None:
        """Telegram is about to be called. A read scope gives back its connection; a write scope
        commits what it changed so far, so that a screen reporting a change is only ever shown
        once the change is durable (a commit that fails shows the error instead), and SQLite's
        write lock is not held across a network call. Later writes, if any, commit at the end."""
        if self.reads is not None:
            await self.reads.close()
        if self.session is not None and self.session.in_transaction():
            await self.session.commit()

    async def discard(self) -> None:
        """Roll back what this update wrote since the last commit (a refused tap)."""
        if self.session is not None:
            await self.session.rollback()

    async def delete(self, message: Message | None) -> bool:
        """Delete the user's message (an ID number, a token); never fails the update. A Telegram
        call like any other: the scope is released first."""
        await self.release()
        return await try_delete(message)

    async def ack(self, text: str | None = None, *, alert: bool = False) -> None:
        """Answer the tap (once): the spinner stops as soon as we know what to show."""
        await self.release()
        if self.update.callback_query is not None and not self.answered:
            self.answered = True
            await answer(self.update, text, alert=alert)

    async def show(self, screen: Screen) -> Message | None:
        """Replace the tapped message (callback) or send a new one (command, text). The message
        sent, if any (an edit in place gives None)."""
        await self.release()
        query = self.update.callback_query
        if query is not None and isinstance(query.message, Message) and _editable(screen):
            # Answer and edit are independent requests: one round trip instead of two.
            _, message = await asyncio.gather(self.ack(), edit_screen(self.context, query.message, screen))
            return message
        await self.ack()
        return await send_screen(self.context, self.chat_id, screen)

    async def send(self, screen: Screen) -> Message | None:
        await self.release()
        await self.ack()
        return await send_screen(self.context, self.chat_id, screen)


def _editable(screen: Screen) -> bool:
    # Reply keyboards (share-my-phone) can only come with a new message.
    return screen.keyboard is None or isinstance(screen.keyboard, InlineKeyboardMarkup)


@asynccontextmanager
async def scope_for(update: Update, context: BotContext, *, write: bool) -> AsyncIterator[Scope]:
    """Load the caller and open the update's one database scope: a write transaction (committed
    on success) when `write`, else synchronous reads on one read session (`Database.reader`)."""
    tg_user = update.effective_user
    if not write:
        reads = context.db.reader()
        try:
            user, binding = await reads.run(bindings.user_and_binding_sync, tg_user.id) if tg_user else (None, None)
            yield Scope(update, context, None, user, binding, _translator(user, tg_user), reads=reads)
        finally:
            await reads.close()
        return
    async with context.db.write() as session:
        user = binding = None
        if tg_user is not None:
            user, binding = await bindings.user_and_binding(session, tg_user.id)
        yield Scope(update, context, session, user, binding, _translator(user, tg_user))


def _translator(user: TgUser | None, tg_user: User | None) -> Translator:
    return get_translator(resolve_lang(user.language if user else None, tg_user.language_code if tg_user else None))


def translator_for(update: Update) -> Translator:
    """Language without the database (error paths): Telegram's language code only."""
    user = update.effective_user
    return get_translator(resolve_lang(None, user.language_code if user else None))


async def send_screen(
    context: BotContext, chat_id: int, screen: Screen, *, unsolicited: bool = False
) -> Message | None:
    """`unsolicited`: not a reply to the update being handled (another chat): it goes under the
    bot-wide send ceiling (bot.ratelimiter)."""
    parts = screen.messages
    last = None
    extra: dict[str, Any] = {"rate_limit_args": {"unsolicited": True}} if unsolicited else {}
    for i, text in enumerate(parts):
        keyboard = screen.keyboard if i == len(parts) - 1 else None
        last = await context.bot.send_message(chat_id, text, reply_markup=keyboard, **extra)
    return last


async def edit_screen(context: BotContext, message: Message, screen: Screen) -> Message | None:
    """Edit `message` to show `screen`: the last message sent when the screen needs more than one,
    else None."""
    parts = screen.messages
    # An edit carries an inline keyboard or none (Scope.show sends reply keyboards anew).
    assert screen.keyboard is None or isinstance(screen.keyboard, InlineKeyboardMarkup)
    first_keyboard = screen.keyboard if len(parts) == 1 else None
    try:
        # A second tap on a button whose screen is already there is not sent: Telegram would refuse
        # the edit ("message is not modified") and count it against the chat all the same.
        if not _shows(message, parts[0], first_keyboard):
            await _edit_text(context, message, parts[0], first_keyboard)
    except BadRequest as exc:
        text = str(exc).lower()
        if "can't be edited" in text or "not found" in text:
            return await send_screen(context, message.chat_id, screen)
        if "not modified" not in text:
            raise
    result = None
    for i, part in enumerate(parts[1:], start=1):
        keyboard = screen.keyboard if i == len(parts) - 1 else None
        result = await context.bot.send_message(message.chat_id, part, reply_markup=keyboard)
    return result


async def _edit_text(context: BotContext, message: Message, html: str, keyboard: InlineKeyboardMarkup | None) -> None:
    """`editMessageText`, its answer left unparsed (see the filter above). The bot's defaults are
    not filled in on this path: the ones an edit takes are given here from them."""
    defaults = context.bot.defaults
    kwargs: dict[str, Any] = {"chat_id": message.chat_id, "message_id": message.message_id, "text": html}
    if defaults is not None:
        kwargs["parse_mode"] = defaults.parse_mode
        kwargs["link_preview_options"] = defaults.link_preview_options
    if keyboard is not None:
        kwargs["reply_markup"] = keyboard
    await context.bot.do_api_request("editMessageText", api_kwargs=kwargs)


def _shows(message: Message, html: str, keyboard: Any) -> bool:
    """Whether the tapped message, as the user's client sent it back, already shows this."""
    try:
        # The keyboard first: comparing it costs ≈ 2 µs, rebuilding the HTML ≈ 60 µs, and a
        # tap on another screen's button nearly always changes the keyboard.
        return message.reply_markup == keyboard and message.text_html == html
    except Exception:  # entities the renderer cannot map back: just edit
        return False


async def answer(update: Update, text: str | None = None, *, alert: bool = False) -> None:
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as exc:
        if "too old" not in str(exc).lower() and "invalid" not in str(exc).lower():
            raise


async def try_delete(message: Message | None) -> bool:
    """Delete a user's message (an ID number, a token); never fails the update."""
    if message is None:
        return False
    try:
        return bool(await message.delete())
    except (BadRequest, Forbidden) as exc:
        log.info("could not delete a message: %s", type(exc).__name__)
        return False


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == "private"
