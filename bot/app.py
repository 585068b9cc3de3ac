"""Build and run the Application (`swbot run`).

Startup work lives in `post_init` (database check and migrations, command menus and
descriptions per language), like python-telegram-bot's rules-bot; handler wiring lives in
`handlers.register`. Interactive traffic goes through bot.ratelimiter.SendLimiter (replies under
the per-chat limit only, faults retried within a budget); notifications have their own pacing
(bot.notifier) under the bot-wide ceiling (bot.ceiling), so a 429 there never freezes taps.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from telegram import BotCommand, BotCommandScopeAllPrivateChats, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults
from telegram.request import BaseRequest

from bot import commands
from bot.domain import languages
from bot.domain.clock import Clock
from bot.i18n import get_translator
from bot.ratelimiter import SendLimiter
from bot.runtime import BotApp, BotContext, PerUserUpdateProcessor, Services, build_services
from bot.settings import Settings
from bot.transport import AiohttpRequest
from storage.migrate import upgrade

log = logging.getLogger(__name__)

INTERACTIVE_POOL = 32  # HTTP connections of the interactive bot (python-telegram-bot's default: 256)
POOL_TIMEOUT = 3.0  # seconds a request may wait for a free connection (then retried, bot.ratelimiter)


def command_descriptions(lang: str) -> list[BotCommand]:
    """Telegram's command menu in `lang`: bot.commands, in order."""
    t = get_translator(lang)
    return [BotCommand(c.name, t.gettext(c.describe)) for c in commands.COMMANDS]


def bot_descriptions(lang: str) -> tuple[str, str]:
    _ = get_translator(lang).gettext
    return (
        _(
            "Your China Single Window cross-border e-commerce records in Telegram: annual quota, "
            "electronic tax slips and customs clearance lists, with a message the moment a new tax "
            "slip arrives and a warning when someone declares goods under your identity."
        ),
        _("Cross-border e-commerce quota, tax slips and clearance lists"),
    )


async def post_init(app: BotApp) -> None:
    services: Services = app.bot_data["services"]
    await services.db.check()
    await upgrade(services.db)
    scope = BotCommandScopeAllPrivateChats()
    # The default menu (no language_code), then one per language Telegram may report.
    for code, lang in [("", languages.DEFAULT), *((x.telegram, x.lang) for x in languages.LANGUAGES)]:
        await app.bot.set_my_commands(command_descriptions(lang), scope=scope, language_code=code or None)
        description, short = bot_descriptions(lang)
        await app.bot.set_my_description(description, language_code=code or None)
        await app.bot.set_my_short_description(short, language_code=code or None)
    for hook in app.bot_data.get("on_start", []):
        await hook(app)
    log.info("bot @%s ready", app.bot.username)


async def post_shutdown(app: BotApp) -> None:
    for hook in reversed(app.bot_data.get("on_stop", [])):
        try:
            await hook(app)
        except Exception:
            log.exception("shutdown hook failed")
    services: Services = app.bot_data["services"]
    try:
        await services.db.dispose()
    finally:
        await services.ceiling.close()


async def freeze_heap(app: BotApp) -> None:
    """Once start-up is over (and the chart warm-up, which imports matplotlib), take what it left
    out of the garbage collector's sight (`gc.freeze`): ≈ 250,000 long-lived objects that each
    full collection would scan again, an event-loop pause of ≈ 150 ms every time, on some tap's
    p99. What handling updates allocates later is collected as before."""

    async def when_warm() -> None:
        warm = app.bot_data.get("warm_up")
        if warm is not None:
            await asyncio.wait({warm})
        gc.collect()
        gc.freeze()

    task = asyncio.get_running_loop().create_task(when_warm())

    async def finish(_app: BotApp) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    app.bot_data["on_stop"].append(finish)


def build_application(
    settings: Settings,
    services: Services,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    updater: bool = True,
) -> BotApp:
    from handlers.registry import register

    builder: Any = (
        ApplicationBuilder()
        .token(settings.require_token())
        .base_url(settings.bot_api_url)
        .context_types(ContextTypes(context=BotContext))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                # Every message may carry personal data: none of it can be forwarded or saved.
                protect_content=True,
            )
        )
        .concurrent_updates(PerUserUpdateProcessor())
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    builder = builder.rate_limiter(SendLimiter(services.ceiling, services.answered))
    # aiohttp rather than python-telegram-bot's httpx: half the CPU of a tap went to httpx (bot.transport).
    builder = builder.request(request or AiohttpRequest(pool_size=INTERACTIVE_POOL, pool_timeout=POOL_TIMEOUT))
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    if not updater:  # webhook mode: bot.webhook's listener feeds the updates (see there why)
        builder = builder.updater(None)
    app: BotApp = builder.build()
    app.bot_data["services"] = services
    app.bot_data.setdefault("on_start", [])
    app.bot_data.setdefault("on_stop", [])
    register(app)
    return app


def run(settings: Settings, clock: Clock) -> int:
    """`swbot run`: polling by default, webhook when SWBOT_WEBHOOK_URL is set."""
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    # No Updater in either mode: bot.webhook's listener (answers an update once it is handled) or
    # bot.polling's poller (lets Telegram forget an update once it is on disk) feeds the updates.
    app = build_application(settings, build_services(settings, clock), updater=False)
    from bot.background import attach_background
    attach_background(app, settings)
    from handlers.files import warm_up  # charts: import matplotlib and load the font before the first tap
    app.bot_data["on_start"].append(warm_up)
    app.bot_data["on_start"].append(freeze_heap)
    if settings.webhook_url:
        from bot.webhook import serve_webhook

        return asyncio.run(serve_webhook(app, settings))
    from bot.polling import serve_polling

    return asyncio.run(serve_polling(app, settings))
