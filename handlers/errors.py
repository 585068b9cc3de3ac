"""The one error handler: logs with context (never personal data) and answers the user kindly."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.runtime import BotContext
from bot.views import menu as menu_views
from handlers.common import answer, is_private, translator_for
from storage.db import is_unavailable

log = logging.getLogger("swbot.errors")

# python-telegram-bot logs whole updates and API payloads at DEBUG: what people type (a real name,
# an ID number while binding), shared phone numbers, and every screen we send. Those records keep
# their method name or update id; the payload itself never reaches a handler.
_PAYLOAD_LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Application", "telegram.ext.Updater")
_PAYLOAD_TEMPLATES = frozenset(
    {
        "Calling Bot API endpoint `%s` with parameters `%s`",
        "Call to Bot API endpoint `%s` finished with return value `%s`",
        "Processing update %s",
        "Dropping pending update: %s",
        "Webhook received data: %s",
    }
)
OMITTED = "[payload omitted]"


class PayloadFilter(logging.Filter):
    """Replace the payload argument of python-telegram-bot's DEBUG records (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in _PAYLOAD_TEMPLATES and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            last = args[-1]
            kept = f"update {last.update_id}" if isinstance(last, Update) else OMITTED
            record.args = (*args[:-1], kept)
        return True


def quiet_payload_logs() -> None:
    """Attach PayloadFilter to python-telegram-bot's loggers (once)."""
    for name in _PAYLOAD_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, PayloadFilter) for f in logger.filters):
            logger.addFilter(PayloadFilter())


class Expired(Exception):
    """A button that must show nothing: forged, from another binding, or its record is not the
    caller's. The router answers "this button has expired"."""


async def on_error(update: object, context: BotContext) -> None:
    """Three kinds of failure, told apart because the user should hear about only one of them:

    - Telegram unavailable (429, 5xx, timeouts) after bot.ratelimiter's retries: one line in the
      log, no apology (the bot did nothing wrong; the next tap works), the tap answered if it was not;
    - the database unavailable (down, restarting, locked): one line, and the user is told kindly
      that this is temporary;
    - anything else is our bug: the traceback is logged and the user gets an apology.
    A tap is answered at most once: queries already answered (bot.ratelimiter.AnsweredQueries) get
    a message instead.
    """
    exc = context.error
    where = "job" if context.job else "update"
    kind = _update_kind(update)
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(exc, Forbidden):
        log.info("%s %s: the user blocked the bot", where, update_id)
        return
    # BadRequest is a NetworkError subclass but means a bug of ours: it gets the full log below.
    if isinstance(exc, RetryAfter | NetworkError) and not isinstance(exc, BadRequest):
        log.warning("%s %s (%s): Telegram unavailable after retries (%s)", where, update_id, kind, type(exc).__name__)
        context.services.count("telegram_unavailable")
        if isinstance(update, Update):
            await _tell(update, context, None)
        return
    if is_unavailable(exc):
        # Only the type: a driver's message may quote a statement or a connection string.
        log.warning("%s %s (%s): database unavailable (%s)", where, update_id, kind, type(exc).__name__)
        context.services.count("database_unavailable")
        if isinstance(update, Update) and is_private(update):
            await _tell(update, context, menu_views.unavailable_text(translator_for(update)))
        return
    # Only ids and types are logged: update contents may hold personal data.
    log.error("%s %s (%s) failed", where, update_id, kind, exc_info=exc)
    context.services.count("errors")
    if isinstance(update, Update) and is_private(update):
        await _tell(update, context, menu_views.error_text(translator_for(update)))


async def _tell(update: Update, context: BotContext, text: str | None) -> None:
    """Answer the tap with `text` (an alert) if it is still unanswered, else send `text` to the
    chat; None: only make sure the tap is answered."""
    query = update.callback_query
    try:
        if query is not None and query.id not in context.services.answered:
            await answer(update, text, alert=text is not None)
        elif text is not None and update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, text)
    except Exception as second:  # telling may fail for the same reason; it is already logged
        log.info("could not tell the user about the failure: %s", type(second).__name__)


def _update_kind(update: object) -> str:
    if not isinstance(update, Update):
        return type(update).__name__
    for attr in ("callback_query", "message", "edited_message", "my_chat_member"):
        if getattr(update, attr, None) is not None:
            return attr
    return "other"
