"""Binding a chat to a Single Window identity: the deep link and the in-chat flow.

In-chat: real name → ID number (the message is deleted once read) → the Telegram-verified
phone (`request_contact`, and the contact must be the sender's own). All three must match one
account; a failure never says which part was wrong, and 5 failures in 24 hours lock the flow for
24 hours. Progress is kept in the database, so a restart mid-flow resumes.
"""

from __future__ import annotations

import logging
import re

from telegram import Message

from bot import callbacks as cb
from bot.i18n import get_translator
from bot.views import binding as binding_views
from bot.views import menu as menu_views
from handlers.common import Scope, send_screen
from storage import bindings, links
from storage.models import TgUser

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_NAME = 50


async def start_flow(scope: Scope, state: cb.State | None = None) -> None:
    if scope.binding is not None:
        await scope.show(binding_views.already_bound(scope.ctx, scope.holder()))
        return
    until = await bindings.locked_until(scope.tx, scope.tg_id)
    if until is not None:
        await scope.show(binding_views.locked(scope.ctx, until))
        return
    await bindings.start_flow(scope.tx, scope.tg_id)
    await scope.show(binding_views.ask_name(scope.ctx))


async def cancel_flow(scope: Scope, state: cb.State | None = None) -> None:
    await bindings.clear_flow(scope.tx, scope.tg_id)
    await scope.send(binding_views.cancelled(scope.ctx))


async def on_flow_text(scope: Scope, message: Message) -> bool:
    """A text message while binding; False when the user is not in the flow."""
    step = bindings.flow_step(scope.user, scope.context.clock.now())
    if step is None or scope.user is None:
        return False
    if bindings.input_seen(scope.user, message.message_id):
        await show_step(scope, step)
        return True
    text = message.text or ""
    if text.strip() == binding_views.cancel_label(scope.t):
        await cancel_flow(scope)
        return True
    if step == bindings.STEP_NAME:
        name = bindings.normalize_name(text)
        if not name or len(name) > MAX_NAME or any(ch.isdigit() or not ch.isprintable() for ch in name):
            await scope.send(binding_views.name_invalid(scope.ctx))
            return True
        await bindings.flow_name(scope.tx, scope.context.vault, scope.user, name)
        bindings.input_took(scope.user, message.message_id)
        await scope.send(binding_views.ask_id(scope.ctx))
        return True
    if step == bindings.STEP_ID:
        # The ID number must not stay in the chat history: delete it before anything else.
        await scope.delete(message)
        if not await bindings.flow_id_number(scope.tx, scope.context.vault, scope.user, text):
            await scope.send(binding_views.id_invalid(scope.ctx))
            return True
        bindings.input_took(scope.user, message.message_id)
        await scope.send(binding_views.ask_phone(scope.ctx))
        return True
    await scope.send(binding_views.ask_phone(scope.ctx))  # text instead of the phone button
    return True


async def on_contact(scope: Scope, message: Message) -> None:
    contact = message.contact
    step = bindings.flow_step(scope.user, scope.context.clock.now())
    if contact is not None and bindings.input_seen(scope.user, message.message_id):
        await show_step(scope, step)  # it bound, or failed, already
        return
    if step != bindings.STEP_PHONE or contact is None or scope.user is None:
        await send_hint(scope)
        return
    if contact.user_id != scope.tg_id:  # a forwarded or someone else's contact proves nothing
        await scope.send(binding_views.not_own_contact(scope.ctx))
        return
    bindings.input_took(scope.user, message.message_id)  # bound or failed: either way a step taken
    account_pk = await bindings.flow_match(scope.tx, scope.context.vault, scope.user, contact.phone_number)
    if account_pk is None:
        locked, left = await bindings.record_failure(scope.tx, scope.tg_id)
        log.info("in-chat binding failed (attempts left: %s)", left)
        if locked is not None:
            await scope.send(binding_views.locked(scope.ctx, locked))
        else:
            await scope.send(binding_views.mismatch(scope.ctx, attempts_left=left))
        return
    await _bound(scope, account_pk, "chat")


async def on_start_token(scope: Scope, token: str, message: Message | None) -> None:
    """`/start <token>` from a deep link issued by `swbot link` or the operator API."""
    await scope.delete(message)  # the token is spent either way; do not leave it in the chat
    if not TOKEN_RE.match(token):
        await scope.send(binding_views.link_invalid(scope.ctx))
        return
    result = await links.redeem_token(scope.tx, scope.context.vault, token, scope.tg_id)
    if scope.binding is not None and result.spent == (scope.binding.account_pk, scope.tg_id):
        # This person already bound with this very link (the same update delivered again after
        # a crash, or the link opened twice): their binding stands, so show the menu, no error.
        await scope.send(menu_views.main_menu(scope.ctx, scope.holder()))
        return
    if result.account_pk is None:
        screen = {
            "expired": binding_views.link_expired,
            "used": binding_views.link_used,
        }.get(result.problem or "", binding_views.link_invalid)
        await scope.send(screen(scope.ctx))
        return
    await _bound(scope, result.account_pk, "link")


async def _bound(scope: Scope, account_pk: int, method: str) -> None:
    result = await bindings.bind(scope.tx, scope.tg_id, scope.chat_id, account_pk, method)
    scope.binding = result.binding
    # Messages sent outside a conversation (notifications, "your binding moved") have no
    # Telegram language_code to go by: remember the language this person binds in.
    await bindings.set_seen_language(scope.tx, scope.tg_id, scope.t.lang)
    log.info("bound a chat (%s)%s", method, " and moved it from another chat" if result.moved_from_chat else "")
    # In a private chat the chat id is the user's id: the old chat is told in that user's language
    # (read now, in this transaction: the first send below commits it).
    old_user = None if result.moved_from_chat is None else await bindings.get_user(scope.tx, result.moved_from_chat)
    await scope.send(binding_views.bound(scope.ctx, scope.holder()))
    await scope.send(menu_views.main_menu(scope.ctx, scope.holder()))
    if result.moved_from_chat is not None:
        await _tell_old_chat(scope, result.moved_from_chat, old_user)


async def _tell_old_chat(scope: Scope, chat_id: int, old_user: TgUser | None) -> None:
    t = get_translator(bindings.notice_language(old_user))
    try:
        await send_screen(scope.context, chat_id, binding_views.moved_away(t), unsolicited=True)
    except Exception as exc:  # the old chat may have blocked the bot; the binding stands
        log.info("could not tell the old chat about the move: %s", type(exc).__name__)


async def show_step(scope: Scope, step: str | None) -> None:
    """Where the person stands in the flow: for a message it has already taken a step on."""
    prompts = {
        bindings.STEP_NAME: binding_views.ask_name,
        bindings.STEP_ID: binding_views.ask_id,
        bindings.STEP_PHONE: binding_views.ask_phone,
    }
    if step in prompts:
        await scope.send(prompts[step](scope.ctx))
        return
    until = None if scope.binding is not None else await bindings.locked_until(scope.tx, scope.tg_id)
    if until is not None:
        await scope.send(binding_views.locked(scope.ctx, until))
        return
    await send_hint(scope)


async def send_hint(scope: Scope) -> None:
    """Anything we did not expect: the menu (or the welcome) is the way on."""
    if scope.binding is None:
        await scope.send(binding_views.welcome(scope.ctx))
    else:
        await scope.send(menu_views.main_menu(scope.ctx, scope.holder()))
