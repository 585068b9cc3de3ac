"""`swbot run`'s start and stop around whatever feeds it updates (bot.webhook's listener or
bot.polling's poller): python-telegram-bot's own order, as `run_polling` / `run_webhook` keep it,
with SIGTERM and SIGINT turned into an event the feeder waits on."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.runtime import BotApp, Services


@asynccontextmanager
async def running(app: BotApp) -> AsyncIterator[asyncio.Event]:
    """initialize, post_init (migrations, command menus, notifier, operator API), start; yields the
    event SIGTERM or SIGINT sets. On the way out, whatever happened: draining set, stop, post_stop,
    shutdown, post_shutdown."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.initialize()
    try:
        if app.post_init is not None:
            await app.post_init(app)
        await app.start()
        yield stop
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        services: Services = app.bot_data["services"]
        services.draining = True
        if app.running:
            await app.stop()
        if app.post_stop is not None:
            await app.post_stop(app)
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
