"""The one error handler: logs with context (never personal data) and answers the user kindly."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.runtime import BotContext
from bot.views import menu as menu_views
from handlers.common import answer, is_private, translator_for

log = logging.getLogger("swbot.errors")


class Expired(Exception):
    """A button that must show nothing: forged, from another binding, or its record is not the
    caller's. The router answers "this button has expired"."""


async def on_error(update: object, context: BotContext) -> None:
    exc = context.error
    where = "job" if context.job else "update"
    kind = _update_kind(update)
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(exc, Forbidden):
        log.info("%s %s: the user blocked the bot", where, update_id)
        return
    # BadRequest is a NetworkError subclass but means a bug of ours: it gets the full log below.
    if isinstance(exc, RetryAfter | NetworkError) and not isinstance(exc, BadRequest):
        log.warning("%s %s (%s): Telegram unavailable: %s", where, update_id, kind, type(exc).__name__)
    else:
        # Only ids and types are logged: update contents may hold personal data.
        log.error("%s %s (%s) failed", where, update_id, kind, exc_info=exc)
    context.services.count("errors")
    if not isinstance(update, Update) or not is_private(update):
        return
    t = translator_for(update)
    try:
        if update.callback_query is not None:
            await answer(update, menu_views.error_text(t), alert=True)
        elif update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, menu_views.error_text(t))
    except Exception as second:  # answering may fail for the same reason; it is already logged
        log.info("could not tell the user about the error: %s", type(second).__name__)


def _update_kind(update: object) -> str:
    if not isinstance(update, Update):
        return type(update).__name__
    for attr in ("callback_query", "message", "edited_message", "my_chat_member"):
        if getattr(update, attr, None) is not None:
            return attr
    return "other"
