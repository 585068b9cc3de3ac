"""``SandboxClient``: one Telegram user talking to the bot through the stand-in.

In-process: pass ``deliver=application.process_update``; each action builds the update, hands it
to the bot and returns when the bot's handlers have finished. Over HTTP (``deliver=None``): the
update is queued for the bot's own polling (or webhook) and each action returns once the bot has
fetched it and then made no call for ``quiet`` seconds, or once ``until()`` holds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Bot, Update

from bot.sandbox.core import OWN, BotApiCore
from bot.sandbox.models import Call, CallbackAnswer, MessageView

Deliver = Callable[[Update], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Reaction:
    """What one user action led to."""

    update: dict[str, Any] | None  # None: the bot would not receive anything (e.g. group privacy)
    calls: list[Call]  # the bot's calls made while reacting, in order (getUpdates excluded)
    answer: CallbackAnswer | None = None  # for taps: how the bot answered the callback query

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]


class SandboxClient:
    def __init__(self, core: BotApiCore, user_id: int, first_name: str = "Test", language_code: str | None = "en",
                 *, deliver: Deliver | None = None, bot: Bot | None = None, last_name: str | None = None,
                 username: str | None = None, quiet: float = 0.15, timeout: float = 5.0) -> None:
        self.core = core
        self.user_id = user_id
        self.chat_id = user_id  # the private chat with the bot
        self.quiet = quiet
        self.timeout = timeout
        self._deliver = deliver
        self._bot = bot if bot is not None else getattr(getattr(deliver, "__self__", None), "bot", None)
        if deliver is not None and self._bot is None:
            raise ValueError("pass bot=… (the Application's bot) with a deliver callable that is not "
                             "Application.process_update")
        core.add_user(user_id, first_name, last_name=last_name, username=username, language_code=language_code)

    # -- actions -------------------------------------------------------------------------------

    async def send(self, text: str, *, chat_id: int | None = None, reply_to: int | None = None,
                   until: Callable[[], bool] | None = None) -> Reaction:
        """Send a text message (``"/start payload"`` works as in Telegram)."""
        update = self.core.user_message(self.user_id, text, chat_id=chat_id, reply_to=reply_to,
                                        enqueue=self._deliver is None)
        return await self._react(update, until)

    async def tap(self, label: str, *, message: MessageView | int | None = None, chat_id: int | None = None,
                  until: Callable[[], bool] | None = None) -> Reaction:
        """Tap the inline button whose visible label is ``label`` (exact match preferred, else the
        one label containing it) on ``message`` or on the newest message with an inline keyboard."""
        view = self._keyboard_message(message, chat_id)
        button = _find_button(view, label)
        if "callback_data" not in button:
            kind = next((k for k in button if k != "text"), "?")
            raise AssertionError(f"button {button['text']!r} is a {kind} button, not a callback button")
        update = self.core.user_tap(self.user_id, view.chat_id, view.message_id, button["callback_data"],
                                    enqueue=self._deliver is None)
        return await self._react(update, until)

    async def tap_data(self, data: str, *, message: MessageView | int | None = None, chat_id: int | None = None,
                       until: Callable[[], bool] | None = None) -> Reaction:
        """Send a callback query with arbitrary ``data`` (a forged tap) for ``message`` or the newest
        message with an inline keyboard (else the newest bot message)."""
        chat = self.chat_id if chat_id is None else chat_id
        if isinstance(message, int):
            message_id = message
        elif message is not None:
            message_id = message.message_id
        else:
            view = self._newest_with_keyboard(chat) or self.core.last_message(chat)
            if view is None:
                raise AssertionError("no bot message to attach a forged tap to")
            message_id = view.message_id
        update = self.core.user_tap_raw(self.user_id, chat, message_id, data, enqueue=self._deliver is None)
        return await self._react(update, until)

    async def share_contact(self, phone: str, *, own: bool = True, contact_user_id: int | None = None,
                            first_name: str | None = None, until: Callable[[], bool] | None = None) -> Reaction:
        """Share a contact: one's own (what a request_contact button sends) or someone else's."""
        update = self.core.user_contact(self.user_id, phone, contact_user_id=OWN if own else contact_user_id,
                                        first_name=first_name, enqueue=self._deliver is None)
        return await self._react(update, until)

    async def block(self, *, until: Callable[[], bool] | None = None) -> Reaction:
        return await self._react(self.core.set_blocked(self.user_id, True, enqueue=self._deliver is None), until)

    async def unblock(self, *, until: Callable[[], bool] | None = None) -> Reaction:
        return await self._react(self.core.set_blocked(self.user_id, False, enqueue=self._deliver is None), until)

    async def create_group(self, title: str, *, members: tuple[int, ...] = (), with_bot: bool = True) -> int:
        """A group created by this user (other members must exist); the bot added at once unless
        ``with_bot=False``. Returns the group's chat id."""
        chat_id = self.core.create_group(title, creator_id=self.user_id, members=members)
        if with_bot:
            await self.add_bot_to_group(chat_id)
        return chat_id

    async def add_bot_to_group(self, chat_id: int) -> list[Reaction]:
        """This user adds the bot to the group: ``my_chat_member``, then the service message."""
        updates = self.core.add_bot_to_group(chat_id, self.user_id, enqueue=self._deliver is None)
        return [await self._react(u, None) for u in updates]

    async def remove_bot_from_group(self, chat_id: int, *, ban: bool = True) -> Reaction:
        update = self.core.remove_bot_from_group(chat_id, self.user_id, ban=ban, enqueue=self._deliver is None)
        return await self._react(update, None)

    async def deliver(self, update: dict[str, Any] | None, *, until: Callable[[], bool] | None = None) -> Reaction:
        """Hand over an update made by a core user action (called with ``enqueue=False`` in
        in-process mode) and wait for the bot's reaction like the other actions do."""
        return await self._react(update, until)

    def made(self, *methods: str) -> Callable[[], bool]:
        """A predicate for ``until=``: true once the bot has called each of ``methods`` after this
        point. Faster than waiting for quiet, e.g. for latency measurements::

            await client.tap("2025", until=client.made("answerCallbackQuery", "editMessageText"))
        """
        seq = self.core.call_seq()
        wanted = set(methods)

        def done() -> bool:
            return wanted <= {c.method for c in self.core.calls_since(seq)}

        return done

    # -- what the user sees --------------------------------------------------------------------

    def last_message(self, chat_id: int | None = None) -> MessageView | None:
        """The bot's newest message still shown in the chat."""
        return self.core.last_message(self.chat_id if chat_id is None else chat_id)

    def messages(self, chat_id: int | None = None, include_deleted: bool = False) -> list[MessageView]:
        return self.core.messages(self.chat_id if chat_id is None else chat_id, include_deleted)

    def visible_text(self, chat_id: int | None = None) -> str:
        """The plain text of the bot's newest message ("" when there is none)."""
        view = self.last_message(chat_id)
        return view.text if view is not None else ""

    def labels(self, chat_id: int | None = None) -> list[str]:
        """Labels of the inline buttons on the newest message that has any."""
        view = self._newest_with_keyboard(self.chat_id if chat_id is None else chat_id)
        return view.labels if view is not None else []

    def reply_keyboard(self) -> tuple[tuple[dict[str, Any], ...], ...] | None:
        return self.core.reply_keyboard(self.chat_id)

    # -- internals -----------------------------------------------------------------------------

    def _newest_with_keyboard(self, chat_id: int) -> MessageView | None:
        return self.core.last_with_keyboard(chat_id)

    def _keyboard_message(self, message: MessageView | int | None, chat_id: int | None) -> MessageView:
        chat = self.chat_id if chat_id is None else chat_id
        if message is None:
            view = self._newest_with_keyboard(chat)
            if view is None:
                raise AssertionError(f"no message with an inline keyboard in chat {chat}")
            return view
        message_id = message if isinstance(message, int) else message.message_id
        return self.core.message(chat, message_id)

    async def _react(self, update: dict[str, Any] | None, until: Callable[[], bool] | None) -> Reaction:
        seq = self.core.call_seq()
        if update is not None:
            if self._deliver is not None:
                data = json.loads(json.dumps(update))  # the bot gets its own copy, as over the wire
                await self._deliver(Update.de_json(data, self._bot))
                if until is not None:
                    await self._wait(None, until)
            else:
                await self._wait(update, until)
        calls = [c for c in self.core.calls_since(seq) if c.method != "getUpdates"]
        answer = None
        if update is not None and "callback_query" in update:
            answer = self.core.callback_answer(update["callback_query"]["id"])
        return Reaction(update, calls, answer)

    async def _wait(self, update: dict[str, Any] | None, until: Callable[[], bool] | None) -> None:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        deadline = loop.time() + self.timeout
        update_id = update["update_id"] if update is not None else None
        self.core.add_watcher(loop, event)
        try:
            while True:
                event.clear()
                now = loop.time()
                delivered = update_id is None or self.core.delivered(update_id)
                wait = deadline - now
                if delivered:
                    if until is not None:
                        if until():
                            return
                    else:
                        idle = self.core.idle_for()
                        if idle >= self.quiet:
                            return
                        wait = min(wait, self.quiet - idle)
                if now >= deadline:
                    raise AssertionError(self._timeout_message(update, delivered, until))
                try:
                    await asyncio.wait_for(event.wait(), max(wait, 0.001))
                except TimeoutError:
                    pass
        finally:
            self.core.remove_watcher(loop, event)

    def _timeout_message(self, update: dict[str, Any] | None, delivered: bool,
                         until: Callable[[], bool] | None) -> str:
        kind = next((k for k in (update or {}) if k != "update_id"), "update")
        if not delivered:
            what = (f"the bot did not fetch {kind} update {update and update['update_id']} within {self.timeout} s "
                    "(is it polling this sandbox? is a webhook set?)")
        elif until is not None:
            what = f"the condition was still false {self.timeout} s after the bot received the {kind}"
        else:
            what = f"the bot kept calling for {self.timeout} s after the {kind} (never quiet for {self.quiet} s)"
        recent = [f"{c.method}:{'ok' if c.ok else c.description}" for c in self.core.calls()[-5:]]
        return f"{what}; last calls: {recent}"


def _find_button(view: MessageView, label: str) -> dict[str, Any]:
    buttons = [b for row in view.buttons for b in row]
    exact = [b for b in buttons if b["text"] == label]
    if exact:
        return exact[0]
    partial = [b for b in buttons if label in b["text"]]
    if len(partial) == 1:
        return partial[0]
    labels = [b["text"] for b in buttons]
    if partial:
        raise AssertionError(f"{label!r} matches several buttons on message {view.message_id}: "
                             f"{[b['text'] for b in partial]}; visible labels: {labels}")
    raise AssertionError(f"no button labelled {label!r} on message {view.message_id}; visible labels: {labels}")
