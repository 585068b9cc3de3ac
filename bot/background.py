"""What `swbot run` runs beside the bot: the notifier and, when configured, the operator API.

`attach_background(app, settings)` registers start/stop hooks in `app.bot_data["on_start"]` /
`["on_stop"]`; bot/app.py's post_init runs the start hooks after the migrations, post_shutdown
runs the stop hooks in reverse (API first, then the notifier). Configuration is checked at
attach time, before anything connects, so a bad setting is one line and no traceback.

The notifier gets its own ExtBot: same token and base_url, its own HTTP connection pool and no
rate limiter of python-telegram-bot's: it paces itself under the bot-wide ceiling
(`services.ceiling`, shared with the interactive bot's bot.ratelimiter.SendLimiter), and flood
control on notifications (a 429) pauses only notifications.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import Defaults, ExtBot
from telegram.request import HTTPXRequest

from bot.api import make_api_app, start_api, stop_api
from bot.notices_render import render_notice
from bot.notifier import Notifier
from bot.ratelimiter import retry_after_seconds
from bot.runtime import Services
from bot.settings import Settings, SettingsError
from storage.ingest import Ingestor
from storage.quarantine import Quarantine

log = logging.getLogger(__name__)

MIN_API_KEY_LENGTH = 16
NOTIFIER_POOL = 16  # connections: one per send the notifier may have in flight (max_in_flight)

INITIALIZE_BUDGET = 60.0  # seconds the notifier's bot may take to get past flood control or a bad network
NOTIFIER_KEY = "notifier"
NOTIFIER_BOT_KEY = "notifier_bot"
API_RUNNER_KEY = "api_runner"
API_PORT_KEY = "api_port"


def check_api_settings(settings: Settings) -> None:
    """SWBOT_API_LISTEN without a usable SWBOT_API_KEY refuses to start (one line)."""
    if not settings.api_listen:
        return
    key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
    if not key.strip():
        raise SettingsError("SWBOT_API_KEY is not set: it is required when SWBOT_API_LISTEN is set")
    if len(key) < MIN_API_KEY_LENGTH:
        raise SettingsError(f"SWBOT_API_KEY: must be at least {MIN_API_KEY_LENGTH} characters")


def notifier_bot(settings: Settings) -> ExtBot[None]:
    """A second bot object for notifications only (see the module docstring)."""
    request = HTTPXRequest(connection_pool_size=NOTIFIER_POOL, read_timeout=10.0, connect_timeout=5.0)
    return ExtBot(
        settings.require_token(),
        base_url=settings.bot_api_url,
        request=request,
        defaults=Defaults(parse_mode=ParseMode.HTML, protect_content=True),
    )


async def initialize_bot(bot: ExtBot[None], budget: float = INITIALIZE_BUDGET) -> None:
    """`bot.initialize()` (a getMe), past a 429 or a network fault at start-up: a bot restarted
    during flood control must wait it out, not exit. The main bot's getMe goes through its
    SendLimiter, which does the same; this bot has no limiter."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    delay = 0.5
    while True:
        try:
            await bot.initialize()
            return
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
        except BadRequest:  # a NetworkError in python-telegram-bot, but no fault of the network
            raise
        except NetworkError as exc:  # timeouts and 5xx answers included; a bad token is not one
            wait, delay = delay, min(delay * 2, 8.0)
            log.info("notifier bot: Telegram not reachable yet (%s); again in %.1f s", type(exc).__name__, wait)
        if loop.time() + wait > deadline:
            raise TimeoutError("the notifier's bot could not reach Telegram at start-up")
        await asyncio.sleep(wait)


def attach_background(app: Any, settings: Settings) -> None:
    check_api_settings(settings)
    services: Services = app.bot_data["services"]

    async def start_notifier(app: Any) -> None:
        bot = notifier_bot(settings)
        await initialize_bot(bot)
        notifier = Notifier(
            services.db,
            services.vault,
            bot,
            rate=settings.broadcast_rate,
            per_chat_interval=settings.per_chat_interval,
            poll_interval=settings.outbox_poll_interval,
            ceiling=services.ceiling,
            paid_broadcast=settings.paid_broadcast,
            render=render_notice,
        )
        app.bot_data[NOTIFIER_BOT_KEY] = bot
        app.bot_data[NOTIFIER_KEY] = notifier
        await notifier.start()

    async def stop_notifier(app: Any) -> None:
        notifier: Notifier | None = app.bot_data.pop(NOTIFIER_KEY, None)
        bot: ExtBot[None] | None = app.bot_data.pop(NOTIFIER_BOT_KEY, None)
        try:
            if notifier is not None:
                await notifier.stop()
        finally:
            if bot is not None:
                await bot.shutdown()

    app.bot_data.setdefault("on_start", []).append(start_notifier)
    app.bot_data.setdefault("on_stop", []).append(stop_notifier)

    if not settings.api_listen:
        return
    listen = settings.api_listen

    async def start_operator_api(app: Any) -> None:
        ingestor = Ingestor(
            services.db,
            services.vault,
            Quarantine(settings.quarantine_dir, services.vault, services.clock),
            max_bytes=settings.max_message_bytes,
        )

        async def username() -> str:
            return settings.bot_username or app.bot.username

        runner, port = await start_api(make_api_app(services, ingestor, username), listen)
        app.bot_data[API_RUNNER_KEY] = runner
        app.bot_data[API_PORT_KEY] = port

    async def stop_operator_api(app: Any) -> None:
        runner = app.bot_data.pop(API_RUNNER_KEY, None)
        if runner is not None:
            await stop_api(runner)

    app.bot_data["on_start"].append(start_operator_api)
    app.bot_data["on_stop"].append(stop_operator_api)
