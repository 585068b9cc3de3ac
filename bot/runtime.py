"""What a running bot shares between updates: services, the typed context, update ordering."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor, CallbackContext, ExtBot

from bot.ceiling import Ceiling, bot_key, make_ceiling
from bot.domain.clock import Clock
from bot.ratelimiter import AnsweredQueries
from bot.settings import Settings
from storage.db import Database
from storage.vault import Vault


@dataclass
class Services:
    settings: Settings
    db: Database
    vault: Vault
    # Counters of rejected input (forged buttons, bad messages): logged and counted, never shown.
    rejections: dict[str, int] = field(default_factory=dict)
    # Set once `swbot run` is stopping: /healthz answers 503 and the webhook refuses new updates.
    draining: bool = False
    # The bot-wide send ceiling (bot.ceiling), made from the settings on first use.
    _ceiling: Ceiling | None = None
    # Callback queries answered lately: the error handler never answers one twice.
    answered: AnsweredQueries = field(default_factory=AnsweredQueries)

    @property
    def clock(self) -> Clock:
        """The application's one clock (the database holds it for column defaults and queries)."""
        return self.db.clock

    def count(self, what: str) -> None:
        self.rejections[what] = self.rejections.get(what, 0) + 1

    @property
    def ceiling(self) -> Ceiling:
        if self._ceiling is None:
            s = self.settings
            self._ceiling = make_ceiling(s.broadcast_rate, s.redis_url, bot_key(s.require_token()))
        return self._ceiling


def build_services(settings: Settings, clock: Clock) -> Services:
    """What `swbot run` shares: the clock is made by the caller (the CLI) and handed down from here."""
    return Services(settings=settings, db=Database(settings.db_url, clock=clock), vault=Vault(settings.keys()))


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The handlers' context: services reach every handler through it, typed."""

    @property
    def services(self) -> Services:
        return self.application.bot_data["services"]  # type: ignore[no-any-return]

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def clock(self) -> Clock:
        return self.services.clock

    @property
    def vault(self) -> Vault:
        return self.services.vault


BotApp = Application[ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Updates run concurrently, except that one user's updates run in arrival order.

    Navigation state lives in the database and in the buttons, so different users never need to
    wait for each other; but one user's "name" then "ID number" must not overtake each other.
    """

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            await coroutine
            return
        lock = self._locks.setdefault(user.id, asyncio.Lock())
        self._users[user.id] = self._users.get(user.id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[user.id] -= 1
            if not self._users[user.id]:  # forget idle users so the maps stay small
                del self._users[user.id]
                self._locks.pop(user.id, None)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
