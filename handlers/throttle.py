"""The per-user throttle, in the first handler group (as python-telegram-bot's rules-bot does).

A user who sends more than `SWBOT_USER_RATE` updates (taps, messages) within one second gets one
polite "slow down" notice, and nothing of theirs is processed for COOLDOWN seconds: their taps are
answered at once (a tap's spinner must always stop) and dropped, their messages dropped. Nobody
else waits for it: this runs before any database work and costs a dictionary look-up.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.runtime import BotContext
from bot.views import menu as menu_views
from handlers.common import answer, is_private, translator_for

log = logging.getLogger(__name__)

WINDOW = 1.0
COOLDOWN = 5.0  # seconds nothing is processed for a user who went over the limit
MAX_USERS = 50_000  # users remembered at once; idle ones are forgotten first


@dataclass
class _Seen:
    times: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class UserThrottle:
    """Counts one user's updates in a sliding window. `check()` says: "ok" (go on), "notice"
    (over the limit just now: tell them once) or "drop" (still cooling down)."""

    def __init__(
        self,
        limit: int,
        *,
        window: float = WINDOW,
        cooldown: float = COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.cooldown = cooldown
        self.clock = clock
        self._users: dict[int, _Seen] = {}
        self.throttled = 0  # users sent a notice, for logs and tests

    def check(self, user_id: int) -> str:
        now = self.clock()
        seen = self._users.get(user_id)
        if seen is None:
            if len(self._users) >= MAX_USERS:
                self._forget_idle(now)
            seen = self._users[user_id] = _Seen()
        if now < seen.blocked_until:
            return "drop"
        times = seen.times
        while times and times[0] <= now - self.window:
            times.popleft()
        times.append(now)
        if len(times) > self.limit:
            seen.blocked_until = now + self.cooldown
            times.clear()
            self.throttled += 1
            return "notice"
        return "ok"

    def _forget_idle(self, now: float) -> None:
        self._users = {
            uid: s for uid, s in self._users.items()
            if s.blocked_until > now or (s.times and s.times[-1] > now - self.window)
        }  # fmt: skip

    def __len__(self) -> int:
        return len(self._users)


THROTTLE_KEY = "user_throttle"


def throttle_of(context: BotContext) -> UserThrottle:
    throttle: UserThrottle | None = context.bot_data.get(THROTTLE_KEY)
    if throttle is None:
        throttle = context.bot_data[THROTTLE_KEY] = UserThrottle(context.services.settings.user_rate)
    return throttle


async def on_any_update(update: Update, context: BotContext) -> None:
    user = update.effective_user
    if user is None or (update.callback_query is None and update.effective_message is None):
        return  # membership changes (blocked, unblocked) are never throttled
    verdict = throttle_of(context).check(user.id)
    if verdict == "ok":
        return
    if verdict == "notice":
        log.info(
            "a user went over %d updates a second; ignoring them for %.0f s",
            context.services.settings.user_rate,
            COOLDOWN,
        )
        context.services.count("throttled")
    text = menu_views.slow_down_text(translator_for(update)) if verdict == "notice" else None
    if update.callback_query is not None:
        await answer(update, text)  # every tap is answered, once
    elif text is not None and update.effective_chat is not None and is_private(update):
        await context.bot.send_message(update.effective_chat.id, text)
    raise ApplicationHandlerStop
