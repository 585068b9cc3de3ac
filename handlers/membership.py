"""The bot's own membership in private chats: a user blocking or unblocking the bot.

Telegram reports it as a `my_chat_member` update (member → kicked when blocked, kicked → member on
Restart/unblock). Blocked: the binding goes inactive, so the notifier stops claiming its rows (they
stay pending). Unblocked: active again, and what bounced with 403 meanwhile is queued again, so the
user gets what they missed. Groups are not the bot's business here (private chats only).
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType

from bot.runtime import BotContext
from storage import outbox
from storage.bindings import set_active

log = logging.getLogger(__name__)


async def on_my_chat_member(update: Update, context: BotContext) -> None:
    change = update.my_chat_member
    if change is None or change.chat.type != ChatType.PRIVATE:
        return
    user_id = change.from_user.id
    status = change.new_chat_member.status
    if status == ChatMemberStatus.BANNED:  # "kicked": the user blocked the bot
        async with context.db.write() as session:
            changed = await set_active(session, user_id, False)
        if changed:
            log.info("binding of a user who blocked the bot is now inactive")
    elif status == ChatMemberStatus.MEMBER:
        async with context.db.write() as session:
            changed = await set_active(session, user_id, True)
            requeued = await outbox.requeue_blocked(session, user_id)
        if changed or requeued:
            log.info("user unblocked the bot: binding active again, %d notifications queued again", requeued)
