"""What users do: the actions that create updates, as Telegram's apps would produce them.

A test client or the web chat calls these. Each returns the update it created (a Bot API
``Update`` as a dict). With ``enqueue=False`` the update is built but not queued for
getUpdates/the webhook, for callers that hand it to the bot themselves
(``application.process_update``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from typing import Any

from bot.sandbox.markup import callback_data_on
from bot.sandbox.models import CallbackQuery, Chat, Message, SandboxError, User
from bot.sandbox.state import CoreState
from bot.sandbox.tghtml import utf16_len

_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{3,64}))?(?![A-Za-z0-9_@])")
FIRST_GROUP_ID = -4_000_000_001


class Own(Enum):
    """Marker for "the sender's own contact" in :meth:`UserActions.user_contact`."""

    SELF = "self"


OWN = Own.SELF


class UserActions(CoreState):
    def add_user(self, user_id: int, first_name: str = "Test", *, last_name: str | None = None,
                 username: str | None = None, language_code: str | None = "en") -> dict[str, Any]:
        """Register (or update) a Telegram user. Returns the user as the Bot API shows it."""
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                user = self._users[user_id] = User(user_id, first_name)
            user.first_name, user.last_name = first_name, last_name
            user.username, user.language_code = username, language_code
            return user.to_api()

    # -- messages ------------------------------------------------------------------------------

    def _sender_chat(self, user: User, chat_id: int | None) -> Chat:
        if chat_id is None or chat_id == user.id:
            if user.blocked:
                raise SandboxError(f"user {user.id} has blocked the bot; call user_unblock() first "
                                   "(Telegram's app does so on Restart)")
            return self._private_chat(user)
        chat = self._chats.get(chat_id)
        if chat is None or chat.type == "private":
            raise SandboxError(f"no group {chat_id}")
        if user.id not in chat.members:
            raise SandboxError(f"user {user.id} is not a member of group {chat_id}")
        return chat

    def _user_update(self, chat: Chat, m: Message, *, enqueue: bool) -> dict[str, Any] | None:
        if chat.type != "private" and not self._bot_sees(chat, m):
            return None
        return self._enqueue("message", self._message_json(m), enqueue=enqueue)

    def _bot_sees(self, chat: Chat, m: Message) -> bool:
        """Whether a group message reaches the bot (privacy mode: commands and replies to it)."""
        if chat.bot_status not in ("member", "administrator"):
            return False
        if not self.privacy_mode or chat.bot_status == "administrator":
            return True
        match = _COMMAND.match(m.text)
        if match:
            return match.group(2) is None or match.group(2).lower() == self.bot_username.lower()
        replied = chat.messages.get(m.reply_to) if m.reply_to else None
        return replied is not None and replied.from_bot

    def user_message(self, user_id: int, text: str, *, chat_id: int | None = None, reply_to: int | None = None,
                     enqueue: bool = True) -> dict[str, Any] | None:
        """The user sends ``text`` (private chat unless ``chat_id``). A leading ``/command`` gets a
        bot_command entity, as Telegram adds. Returns the update, or None when the bot would not
        receive the message (a group in privacy mode)."""
        if not text or utf16_len(text) > 4096:
            raise SandboxError("a user message has 1-4096 characters")
        with self._lock:
            user = self._user(user_id)
            chat = self._sender_chat(user, chat_id)
            entities = []
            match = _COMMAND.match(text)
            if match:
                entities.append({"type": "bot_command", "offset": 0, "length": match.end()})
            if reply_to is not None and reply_to not in chat.messages:
                raise SandboxError(f"no message {reply_to} in chat {chat.id}")
            m = self._add_message(chat, from_bot=False, from_id=user.id, text=text, entities=entities,
                                  reply_to=reply_to)
            return self._user_update(chat, m, enqueue=enqueue)

    def user_contact(self, user_id: int, phone_number: str, *, contact_user_id: int | Own | None = OWN,
                     first_name: str | None = None, last_name: str | None = None, chat_id: int | None = None,
                     enqueue: bool = True) -> dict[str, Any] | None:
        """The user shares a contact. By default their own (what a request_contact button sends);
        pass ``contact_user_id=None`` or another id for someone else's card."""
        with self._lock:
            user = self._user(user_id)
            chat = self._sender_chat(user, chat_id)
            contact: dict[str, Any] = {"phone_number": phone_number}
            if contact_user_id is OWN:
                contact["first_name"] = first_name or user.first_name
                if last_name or user.last_name:
                    contact["last_name"] = last_name or user.last_name
                contact["user_id"] = user.id
            else:
                contact["first_name"] = first_name or "Contact"
                if last_name:
                    contact["last_name"] = last_name
                if contact_user_id is not None:
                    contact["user_id"] = contact_user_id
            m = self._add_message(chat, from_bot=False, from_id=user.id, contact=contact)
            if chat.reply_keyboard and chat.reply_keyboard.get("one_time_keyboard"):
                chat.reply_keyboard = None
            if chat.type != "private" and chat.bot_status not in ("member", "administrator"):
                return None
            return self._enqueue("message", self._message_json(m), enqueue=enqueue)

    # -- button taps ---------------------------------------------------------------------------

    def user_tap(self, user_id: int, chat_id: int, message_id: int, callback_data: str, *,
                 enqueue: bool = True) -> dict[str, Any]:
        """The user taps the inline button carrying ``callback_data`` on that message. Telegram
        only lets a user send data that is on the message's keyboard, so anything else raises
        :class:`SandboxError`; use :meth:`user_tap_raw` to simulate a forged request."""
        with self._lock:
            user = self._user(user_id)
            chat = self._sender_chat(user, chat_id)
            m = chat.messages.get(message_id)
            if m is None or m.deleted:
                raise SandboxError(f"no message {message_id} in chat {chat_id}")
            available = callback_data_on(m.reply_markup)
            if callback_data not in available:
                raise SandboxError(f"message {message_id} has no button with callback_data {callback_data!r}; "
                                   f"it has {sorted(available)}")
            return self._callback_update(user, chat, message_id, callback_data, enqueue=enqueue)

    def user_tap_raw(self, user_id: int, chat_id: int, message_id: int, callback_data: str, *,
                     enqueue: bool = True) -> dict[str, Any]:
        """A callback query with any data, as a modified client could forge it."""
        with self._lock:
            user = self._user(user_id)
            chat = self._sender_chat(user, chat_id)
            return self._callback_update(user, chat, message_id, callback_data, enqueue=enqueue)

    def _callback_update(self, user: User, chat: Chat, message_id: int, data: str, *,
                         enqueue: bool) -> dict[str, Any]:
        self._next_query += 1
        query_id = str(self.bot_id * 10**9 + self._next_query)
        self._queries[query_id] = CallbackQuery(query_id, user.id, chat.id, message_id, data, self._mono())
        m = chat.messages.get(message_id)
        if m is not None and not m.deleted:
            message = self._message_json(m)
        else:  # InaccessibleMessage
            message = {"chat": self._chat_json(chat), "message_id": message_id, "date": 0}
        payload = {"id": query_id, "from": user.to_api(), "message": message,
                   "chat_instance": chat.chat_instance, "data": data}
        return self._enqueue("callback_query", payload, enqueue=enqueue)

    # -- membership ----------------------------------------------------------------------------

    def _member_update(self, chat: Chat, by: User, old: str, new: str, *, enqueue: bool) -> dict[str, Any]:
        new_member: dict[str, Any] = {"user": self._bot_json(), "status": new}
        if new == "kicked":
            new_member["until_date"] = 0
        old_member: dict[str, Any] = {"user": self._bot_json(), "status": old}
        if old == "kicked":
            old_member["until_date"] = 0
        payload = {"chat": self._chat_json(chat), "from": by.to_api(), "date": self.now(),
                   "old_chat_member": old_member, "new_chat_member": new_member}
        return self._enqueue("my_chat_member", payload, enqueue=enqueue)

    def set_blocked(self, user_id: int, blocked: bool, *, enqueue: bool = True) -> dict[str, Any] | None:
        """The user blocks (or unblocks) the bot. Queues the ``my_chat_member`` update Telegram
        sends (member → kicked, or back). Returns None when nothing changed."""
        with self._lock:
            user = self._user(user_id)
            if user.blocked == blocked:
                return None
            user.blocked = blocked
            chat = self._private_chat(user)
            old, new = ("member", "kicked") if blocked else ("kicked", "member")
            return self._member_update(chat, user, old, new, enqueue=enqueue)

    def user_block(self, user_id: int, *, enqueue: bool = True) -> dict[str, Any] | None:
        return self.set_blocked(user_id, True, enqueue=enqueue)

    def user_unblock(self, user_id: int, *, enqueue: bool = True) -> dict[str, Any] | None:
        return self.set_blocked(user_id, False, enqueue=enqueue)

    def create_group(self, title: str, *, creator_id: int, members: Iterable[int] = (),
                     chat_id: int | None = None) -> int:
        """A basic group with these users and without the bot. Returns its (negative) id."""
        with self._lock:
            self._user(creator_id)
            if chat_id is None:
                self._next_group += 1
                chat_id = FIRST_GROUP_ID - self._next_group
            if chat_id >= 0 or chat_id in self._chats:
                raise SandboxError(f"group id {chat_id} is taken or not negative")
            ids = {creator_id, *members}
            for uid in ids:
                self._user(uid)
            self._chats[chat_id] = Chat(id=chat_id, type="group", title=title, members=ids, bot_status="left",
                                        chat_instance=self._instance(chat_id))
            return chat_id

    def add_group_member(self, chat_id: int, user_id: int) -> None:
        with self._lock:
            self._user(user_id)
            chat = self._chats.get(chat_id)
            if chat is None or chat.type == "private":
                raise SandboxError(f"no group {chat_id}")
            chat.members.add(user_id)

    def add_bot_to_group(self, chat_id: int, by_user_id: int, *, enqueue: bool = True) -> list[dict[str, Any]]:
        """A member adds the bot: ``my_chat_member`` (left → member), then the service message
        with ``new_chat_members``, as Telegram sends them."""
        with self._lock:
            user = self._user(by_user_id)
            chat = self._sender_chat(user, chat_id)
            if chat.bot_status in ("member", "administrator"):
                raise SandboxError(f"the bot is already in group {chat_id}")
            old, chat.bot_status = chat.bot_status, "member"
            first = self._member_update(chat, user, old, "member", enqueue=enqueue)
            m = self._add_message(chat, from_bot=False, from_id=user.id,
                                  extra={"new_chat_members": [self._bot_json()]})
            second = self._enqueue("message", self._message_json(m), enqueue=enqueue)
            return [first, second]

    def remove_bot_from_group(self, chat_id: int, by_user_id: int, *, ban: bool = True,
                              enqueue: bool = True) -> dict[str, Any]:
        """A member removes the bot (``kicked`` when banned, else ``left``)."""
        with self._lock:
            user = self._user(by_user_id)
            chat = self._sender_chat(user, chat_id)
            if chat.bot_status not in ("member", "administrator"):
                raise SandboxError(f"the bot is not in group {chat_id}")
            old, chat.bot_status = chat.bot_status, "kicked" if ban else "left"
            return self._member_update(chat, user, old, chat.bot_status, enqueue=enqueue)
