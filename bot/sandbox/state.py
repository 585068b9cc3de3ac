"""The stand-in's state and the helpers the Bot API methods and the user actions share.

Everything here assumes the caller holds ``self._lock``; the public entry points in
:mod:`bot.sandbox.core`, :mod:`bot.sandbox.methods` and :mod:`bot.sandbox.users` take it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Any

from bot.domain.clock import Clock
from bot.sandbox.models import (
    Call,
    CallbackQuery,
    Chat,
    Message,
    SandboxError,
    StoredFile,
    User,
    bad_request,
    forbidden,
)
from bot.sandbox.spec import load_spec

# Update types Telegram leaves out unless asked for explicitly (getUpdates docs, allowed_updates).
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
FIRST_UPDATE_ID = 100_000_001


class CoreState:
    def __init__(
        self,
        *,
        bot_id: int = 7_000_000_001,
        username: str = "swbot_sandbox_bot",
        first_name: str = "swbot sandbox",
        callback_query_ttl: float = 15.0,
        strict_ampersand: bool = True,
        privacy_mode: bool = True,
        max_calls: int = 100_000,
        clock: Clock | None = None,
    ) -> None:
        self._lock = threading.RLock()
        # Telegram's own clock (message dates). The sandbox hands it the bot's, so that a pinned
        # `--today` shows the same day in the chat as in the records.
        self._clock = clock or Clock.system()
        self._spec = load_spec()
        self.bot_id = bot_id
        self.bot_username = username
        self.bot_first_name = first_name
        # How long a callback query can be answered; Telegram does not document it (limits.md §3).
        self.callback_query_ttl = callback_query_ttl
        # Reject a bare "&" in HTML text (TDLib would keep it); see tghtml.
        self.strict_ampersand = strict_ampersand
        # Bots in groups see only commands and replies to them unless privacy mode is off.
        self.privacy_mode = privacy_mode
        self._time_offset = 0.0

        self._users: dict[int, User] = {}
        self._chats: dict[int, Chat] = {}
        self._queries: dict[str, CallbackQuery] = {}
        self._next_query = 0
        self._next_group = 0

        self._updates: deque[tuple[int, str, dict[str, Any]]] = deque()
        self._next_update_id = FIRST_UPDATE_ID
        self._allowed: frozenset[str] | None = None  # None: all but OPT_IN_UPDATES
        self._delivered_max = FIRST_UPDATE_ID - 1  # every update id up to this one was handed to the bot
        self._dropped: set[int] = set()  # updates of a type the bot did not ask for
        self._poll_gen = 0
        self._pollers: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

        self._calls: deque[Call] = deque(maxlen=max_calls)
        self._watchers: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._last_activity = time.monotonic()

        self._commands: dict[tuple[tuple[Any, ...], str], list[dict[str, str]]] = {}
        self._descriptions: dict[str, str] = {}
        self._short_descriptions: dict[str, str] = {}
        self._default_menu_button: dict[str, Any] | None = None

        self._files: dict[str, StoredFile] = {}  # file_id → the uploaded file
        self._file_paths: dict[str, str] = {}  # getFile's file_path → file_id
        self._webhook: dict[str, Any] = {}  # url, secret_token, max_connections, …; empty: none
        self._webhook_error: tuple[int, str] | None = None
        self._webhook_cv = threading.Condition(self._lock)
        self._webhook_threads: list[threading.Thread] = []
        self._in_flight: dict[int, tuple[str, int] | None] = {}  # update id pushed → its chat key
        self._retry_at: dict[int, float] = {}  # update id → when to push it again (monotonic)
        self._webhook_acked: set[int] = set()  # answered 2xx, above _delivered_max
        self._stopping = False
        self.closed = False
        self.logged_out = False

    # -- clock ---------------------------------------------------------------------------------

    def now(self) -> int:
        """Unix time as the stand-in sees it (shifted by :meth:`advance_time`)."""
        return int(self._clock.timestamp() + self._time_offset)

    def _mono(self) -> float:
        return time.monotonic() + self._time_offset

    def advance_time(self, seconds: float) -> None:
        """Move the stand-in's clock forward: ages callback queries and messages without sleeping."""
        with self._lock:
            self._time_offset += seconds

    # -- JSON shapes ---------------------------------------------------------------------------

    def _bot_json(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name,
                "username": self.bot_username}

    def _chat_json(self, chat: Chat) -> dict[str, Any]:
        if chat.type == "private":
            assert chat.user_id is not None
            user = self._users[chat.user_id]
            d: dict[str, Any] = {"id": chat.id, "type": "private", "first_name": user.first_name}
            if user.last_name:
                d["last_name"] = user.last_name
            if user.username:
                d["username"] = user.username
            return d
        return {"id": chat.id, "type": chat.type, "title": chat.title or ""}

    def _message_json(self, m: Message, *, nested: bool = False) -> dict[str, Any]:
        chat = self._chats[m.chat_id]
        d: dict[str, Any] = {
            "message_id": m.message_id,
            "from": self._bot_json() if m.from_bot else self._users[m.from_id].to_api(),
            "chat": self._chat_json(chat),
            "date": m.date,
        }
        if m.text:
            d["text"] = m.text
            if m.entities:
                d["entities"] = m.entities
        if m.contact is not None:
            d["contact"] = m.contact
        if m.photo:
            d["photo"] = [dict(p) for p in m.photo]
        if m.document is not None:
            d["document"] = dict(m.document)
        if m.caption:
            d["caption"] = m.caption
            if m.caption_entities:
                d["caption_entities"] = m.caption_entities
        if m.reply_markup and "inline_keyboard" in m.reply_markup:
            d["reply_markup"] = m.reply_markup  # Telegram echoes inline keyboards only
        if m.protect_content:
            d["has_protected_content"] = True
        if m.edit_date:
            d["edit_date"] = m.edit_date
        if m.reply_to and not nested:
            replied = chat.messages.get(m.reply_to)
            if replied is not None and not replied.deleted:
                d["reply_to_message"] = self._message_json(replied, nested=True)
        if m.extra:
            d.update(m.extra)
        return d

    # -- chats and messages --------------------------------------------------------------------

    def _user(self, user_id: int) -> User:
        user = self._users.get(user_id)
        if user is None:
            raise SandboxError(f"unknown user {user_id}: call add_user() first")
        return user

    def _private_chat(self, user: User) -> Chat:
        chat = self._chats.get(user.id)
        if chat is None:
            chat = Chat(id=user.id, type="private", user_id=user.id, chat_instance=self._instance(user.id))
            self._chats[user.id] = chat
        return chat

    def _instance(self, chat_id: int) -> str:
        # Stable per chat, unrelated to the id, like Telegram's chat_instance.
        return str((chat_id * 2_654_435_761 + self.bot_id) % 10**19)

    def _chat(self, chat_id: Any) -> Chat:
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _chat_to_write(self, chat_id: Any) -> Chat:
        """The chat the bot writes to, with Telegram's 403s for chats it cannot write to."""
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            if chat_id in self._users:
                raise forbidden("bot can't initiate conversation with a user")
            raise bad_request("chat not found")
        if chat.type == "private":
            assert chat.user_id is not None
            if self._users[chat.user_id].blocked:
                raise forbidden("bot was blocked by the user")
        elif chat.bot_status == "kicked":
            raise forbidden("bot was kicked from the group chat")
        elif chat.bot_status == "left":
            raise forbidden("bot is not a member of the group chat")
        return chat

    def _add_message(self, chat: Chat, **fields: Any) -> Message:
        m = Message(message_id=chat.next_message_id, chat_id=chat.id, date=self.now(), **fields)
        chat.next_message_id += 1
        chat.messages[m.message_id] = m
        return m

    # -- updates -------------------------------------------------------------------------------

    def _is_allowed(self, kind: str) -> bool:
        if self._allowed is None:
            return kind not in OPT_IN_UPDATES
        return kind in self._allowed

    def _enqueue(self, kind: str, payload: dict[str, Any], *, enqueue: bool = True) -> dict[str, Any]:
        update_id = self._next_update_id
        self._next_update_id += 1
        update = {"update_id": update_id, kind: payload}
        if not enqueue:
            return update
        if not self._is_allowed(kind):
            self._dropped.add(update_id)  # Telegram does not keep what the bot did not ask for
            return update
        self._updates.append((update_id, kind, update))
        self._wake(self._pollers)
        if self._webhook:
            self._webhook_cv.notify_all()
        return update

    @staticmethod
    def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]) -> None:
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed; its waiter is gone with it
                pass

    def _note_activity(self) -> None:
        self._last_activity = time.monotonic()
        if self._watchers:
            self._wake(self._watchers)
