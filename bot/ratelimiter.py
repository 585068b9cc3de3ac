"""The interactive bot's rate limiter (a python-telegram-bot `BaseRateLimiter`): split lanes, and
faults absorbed where they happen.

python-telegram-bot's `AIORateLimiter` puts every request that names a chat under the bot's ~30/s
bulk limit (edits and answers included), and one 429 pauses every request of the process. Both
are wrong for a bot that mostly answers taps (limits.md §2: answering a callback query has no
limit; the 30/s is for bulk notifications; replies need only the per-chat limit). Here:

- **Replies** (answers, edits, messages to the chat whose update is being handled, the default)
  go under the per-chat limit only (`ChatLimits`). Their sends are then *counted* in the bot-wide
  ceiling (`Ceiling.note`) so that notifications use what is left, but never held back by it.
- **Unsolicited sends** (`rate_limit_args={"unsolicited": True}`: "your binding moved" to another
  chat) take a place under the bot-wide ceiling (`bot.ceiling`), shared across processes.
- **429** waits `retry_after` and tries again: it pauses that chat (and, for an unsolicited send,
  the broadcast lane), never other users' answers.
- **5xx, network errors and timeouts** are tried again with a short exponential backoff.
- Both only within the request's `budget` (a tap must be answered while Telegram still accepts
  it); then the last error is raised and the error handler logs one line, without a traceback.
- Permanent errors (400, 403, 401/404, chat migrated, conflict) are never retried.

Answered callback queries are remembered (`AnsweredQueries`) so the error handler never answers a
tap a second time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.ceiling import Ceiling

log = logging.getLogger(__name__)

# Methods that put a message in a chat (they count for the chat and for the bot) …
SENDS = frozenset({
    "sendMessage", "copyMessage", "forwardMessage", "sendPhoto", "sendDocument", "sendMediaGroup",
    "sendAudio", "sendVideo", "sendAnimation", "sendVoice", "sendSticker", "sendLocation", "sendContact",
    "sendPoll", "sendDice", "sendInvoice", "sendVenue", "sendVideoNote",
})  # fmt: skip
# … and those that change one: per chat, editing and sending share one limit (levlam, td#3034).
EDITS = frozenset({"editMessageText", "editMessageReplyMarkup", "editMessageCaption", "editMessageMedia"})

# Per private chat Telegram says "about one message a second", allowing short bursts (limits.md §2).
# A person tapping through screens makes one edit per tap; a binding step two or three messages.
# So the window is a burst ceiling, not a 1/s pace (that would put every quick tapper behind a
# queue); a chat that really goes too fast gets a 429, which pauses that chat alone.
PRIVATE_PER_SECOND = 6
GROUP_PER_MINUTE = 20  # Bots FAQ
REPLY_BUDGET = 8.0  # seconds a reply may spend waiting and retrying (a tap's spinner is still up)
BACKOFF_FIRST, BACKOFF_CAP = 0.2, 2.0


def retry_after_seconds(exc: RetryAfter) -> float:
    """`RetryAfter.retry_after` is an int (deprecated) or a timedelta depending on PTB settings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    if isinstance(value, timedelta):
        return max(value.total_seconds(), 0.0)
    return max(float(value), 0.0)


class AnsweredQueries:
    """The callback queries answered lately (bounded): each is answered once, never twice."""

    def __init__(self, size: int = 5_000) -> None:  # a minute of taps at 80/s: the error handler looks seconds later
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, query_id: str) -> None:
        self._ids[query_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def __contains__(self, query_id: object) -> bool:
        return query_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


class ChatLimits:
    """Per chat: at most PRIVATE_PER_SECOND sends and edits in any second (groups:
    GROUP_PER_MINUTE a minute), and a pause after a 429 for that chat. In this process: one chat's
    updates are handled by one process at a time."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        max_chats: int = 10_000,
        *,
        private_per_second: int = PRIVATE_PER_SECOND,
    ) -> None:
        self.clock = clock
        self.max_chats = max_chats
        self.private_per_second = private_per_second
        self._sent: dict[int | str, deque[float]] = {}
        self._paused: dict[int | str, float] = {}

    def _limit(self, chat_id: int | str) -> tuple[int, float]:
        is_group = isinstance(chat_id, str) or chat_id < 0
        return (GROUP_PER_MINUTE, 60.0) if is_group else (self.private_per_second, 1.0)

    def wait_for(self, chat_id: int | str) -> float:
        """Seconds until this chat may get the next message (0: now)."""
        now = self.clock()
        wait = self._paused.get(chat_id, 0.0) - now
        cap, window = self._limit(chat_id)
        sent = self._sent.get(chat_id)
        if sent:
            while sent and sent[0] <= now - window:
                sent.popleft()
            if len(sent) >= cap:
                wait = max(wait, sent[0] + window - now)
        return max(wait, 0.0)

    async def take(self, chat_id: int | str) -> None:
        # A deadline, not an event: nobody signals it.
        while (wait := self.wait_for(chat_id)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        self._sent.setdefault(chat_id, deque()).append(self.clock())
        if len(self._sent) > self.max_chats:
            self._prune()

    def pause(self, chat_id: int | str, seconds: float) -> None:
        self._paused[chat_id] = max(self._paused.get(chat_id, 0.0), self.clock() + seconds)

    def _prune(self) -> None:
        now = self.clock()
        self._sent = {c: q for c, q in self._sent.items() if q and q[-1] > now - self._limit(c)[1]}
        self._paused = {c: t for c, t in self._paused.items() if t > now}

    def __len__(self) -> int:
        return len(self._sent)


def _chat_of(data: dict[str, Any]) -> int | str | None:
    chat_id = data.get("chat_id")
    if chat_id is None:
        return None
    try:
        return int(chat_id)
    except (TypeError, ValueError):
        return str(chat_id)


class SendLimiter(BaseRateLimiter[dict[str, Any]]):
    """See the module docstring. `rate_limit_args`: {"unsolicited": True} for sends that are not
    replies; {"budget": seconds} to change how long a request may wait and retry."""

    def __init__(
        self,
        ceiling: Ceiling,
        answered: AnsweredQueries | None = None,
        *,
        budget: float = REPLY_BUDGET,
        chats: ChatLimits | None = None,
    ) -> None:
        self.ceiling = ceiling
        self.answered = answered if answered is not None else AnsweredQueries()
        self.budget = budget
        self.chats = chats or ChatLimits()
        self._notes: set[asyncio.Task[None]] = set()
        self.retried = 0  # counters, for logs and tests
        self.gave_up = 0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        if self._notes:
            await asyncio.gather(*self._notes, return_exceptions=True)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        opts = rate_limit_args or {}
        unsolicited = bool(opts.get("unsolicited"))
        deadline = time.monotonic() + float(opts.get("budget", self.budget))
        chat = _chat_of(data)
        sends = endpoint in SENDS
        per_chat = chat is not None and (sends or endpoint in EDITS)
        attempt = 0
        while True:
            if per_chat:
                assert chat is not None
                await self.chats.take(chat)
            ticket = await self.ceiling.acquire() if unsolicited and sends else None
            try:
                result = await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                if chat is not None:
                    self.chats.pause(chat, wait)
                if unsolicited:
                    await self.ceiling.pause(wait)
                if time.monotonic() + wait > deadline:
                    self._give_up(endpoint, f"flood control, retry after {wait:g} s")
                    raise
                self.retried += 1
                log.info("%s: flood control, retrying in %.1f s", endpoint, wait)
                if not per_chat:  # a chat's own pause makes the next take() wait
                    await asyncio.sleep(wait)
                continue
            except NetworkError as exc:  # 5xx, connection trouble and timeouts; not 400s
                if isinstance(exc, BadRequest):
                    raise
                attempt += 1
                delay = min(BACKOFF_FIRST * 2 ** (attempt - 1), BACKOFF_CAP) * random.uniform(0.75, 1.25)
                if time.monotonic() + delay > deadline:
                    self._give_up(endpoint, "timed out" if isinstance(exc, TimedOut) else exc.message)
                    raise
                self.retried += 1
                log.info("%s: %s, retrying in %.2f s", endpoint, "timed out" if isinstance(exc, TimedOut)
                         else "Telegram unavailable", delay)  # fmt: skip
                await asyncio.sleep(delay)
                continue
            finally:
                if ticket is not None:
                    await self.ceiling.release(ticket)
            if endpoint == "answerCallbackQuery":
                self.answered.add(str(data.get("callback_query_id")))
            elif sends and not unsolicited:
                self._note_reply()
            return result

    def _note_reply(self) -> None:
        # Counted after the fact and off the reply's path: a reply never waits for Redis.
        task = asyncio.create_task(self.ceiling.note())
        self._notes.add(task)
        task.add_done_callback(self._notes.discard)

    def _give_up(self, endpoint: str, why: str) -> None:
        self.gave_up += 1
        log.warning("%s: gave up after the retry budget (%s)", endpoint, why)
