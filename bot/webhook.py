"""`swbot run` in webhook mode: our own HTTP listener in front of the Application.

python-telegram-bot's `run_webhook` answers Telegram 200 as soon as an update is queued in memory,
before any handler ran: a process killed then loses that update, because Telegram re-delivers
only what was not answered 2xx. So the Application is built without an Updater
(`ApplicationBuilder().updater(None)`, telegram.md) and this listener answers an update only once
it is handled:

``POST /<path of SWBOT_WEBHOOK_URL>``
    403 without the right ``X-Telegram-Bot-Api-Secret-Token`` (compared in constant time);
    503 while draining (nginx passes the update to another instance, Telegram re-delivers it
    otherwise); 400 for a body that is not an update; else the update runs through the
    Application's update processor (per-user order, bounded concurrency) and is answered 200
    when its handlers are done. An error inside a handler is the error handler's (the user gets
    the kind answer); only an unexpected failure outside them answers 500, so Telegram tries again.
``GET /healthz``
    bot.health: 200 when the database answers and is migrated to head, 503 otherwise or while
    draining. This is the load balancer's health check: it lives on the listener the load balancer
    fronts (the operator API, when on, answers the same).

Ordering: Telegram sends one chat's next update only after the previous one was answered, and
the answer now comes after handling, so one chat's updates are handled one after another even
when they land on different instances. Delivery is at least once: an update whose instance died
mid-handling is handled again; handlers are written to be repeatable (README, "Running at scale").

On SIGTERM or SIGINT the instance drains: /healthz turns 503, new updates are refused with 503,
the ones in flight finish (at most `DRAIN_TIMEOUT` seconds; any still running then are dropped
unanswered, so Telegram re-delivers them), and the process exits 0 after the usual shutdown
(notifier, operator API, database).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update

from bot.health import health
from bot.lifecycle import running
from bot.runtime import BotApp, Services
from bot.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
DRAIN_TIMEOUT = 25.0  # seconds to finish the updates in flight after SIGTERM (systemd waits 60)
MAX_UPDATE_BYTES = 1024 * 1024  # an update is a few kilobytes; anything this big is not Telegram's
DEFAULT_LISTEN = "0.0.0.0:8443"


def webhook_path(url: str) -> str:
    """The path the listener serves: the path of SWBOT_WEBHOOK_URL (a proxy passes it unchanged)."""
    return "/" + urlsplit(url).path.lstrip("/")


def parse_listen(listen: str | None) -> tuple[str, int]:
    host, _, port = (listen or DEFAULT_LISTEN).rpartition(":")
    return host.strip("[]"), int(port)


class WebhookListener:
    """The aiohttp application that takes Telegram's updates for one `swbot run` instance."""

    def __init__(self, app: BotApp, *, path: str, secret: str | None) -> None:
        self.app = app
        self.path = path
        self._secret = secret.encode() if secret else None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def services(self) -> Services:
        return self.app.bot_data["services"]  # type: ignore[no-any-return]

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def web_app(self) -> web.Application:
        web_app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        web_app.router.add_post(self.path, self.on_update)
        web_app.router.add_get("/healthz", self.on_healthz)
        return web_app

    def _secret_ok(self, request: web.Request) -> bool:
        if self._secret is None:
            return True
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        return hmac.compare_digest(given, self._secret)

    async def on_update(self, request: web.Request) -> web.Response:
        # Counted before the first await, so that draining waits for every update let in.
        self._in_flight += 1
        self._idle.clear()
        try:
            if not self._secret_ok(request):
                self.services.count("webhook_bad_secret")
                return web.Response(status=403)
            if self.services.draining:
                return web.Response(status=503, headers={"Retry-After": "1"})
            update = await self._read_update(request)
            if update is None:
                self.services.count("webhook_bad_body")
                return web.Response(status=400)
            await self.app.update_processor.process_update(update, self.app.process_update(update))
            return web.Response(status=200)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _read_update(self, request: web.Request) -> Update | None:
        try:
            data: Any = json.loads(await request.read())
            update = Update.de_json(data, self.app.bot) if isinstance(data, dict) else None
        except Exception as exc:  # not JSON, or not an update; its content is never logged
            log.warning("webhook: refused a body that is not an update (%s)", type(exc).__name__)
            return None
        return update

    async def on_healthz(self, request: web.Request) -> web.Response:
        status, body = await health(self.services.db, draining=self.services.draining)
        return web.json_response(body, status=status)

    async def drain(self, within: float = DRAIN_TIMEOUT) -> bool:
        """Refuse new updates and wait for those in flight; False when some were still running."""
        self.services.draining = True
        if self._in_flight:
            log.info("draining: %d update(s) in flight", self._in_flight)
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            log.warning("draining: %d update(s) still running after %.0f s; Telegram will re-deliver them",
                        self._in_flight, within)
            return False
        return True


async def serve_webhook(app: BotApp, settings: Settings, *, drain_timeout: float = DRAIN_TIMEOUT) -> int:
    """Run the Application behind a WebhookListener until SIGTERM/SIGINT, then drain; returns 0."""
    assert settings.webhook_url is not None
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    listener = WebhookListener(app, path=webhook_path(settings.webhook_url), secret=secret)
    async with running(app) as stop:
        # shutdown_timeout: after draining, whatever still runs is cancelled (left unanswered).
        runner = web.AppRunner(listener.web_app(), handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            host, port = parse_listen(settings.listen)
            await web.TCPSite(runner, host, port).start()
            # Every instance sets the same webhook; it is idempotent, and it comes after listening so
            # that the first delivery finds someone. Never deleted at stop: other instances serve on.
            await app.bot.set_webhook(
                settings.webhook_url,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
                max_connections=settings.webhook_max_connections,
            )
            log.info("webhook listening on %s:%s%s", host, port, listener.path)
            await stop.wait()
            log.info("stopping: no new updates, finishing those in flight")
            await listener.drain(drain_timeout)
        finally:
            app.bot_data["services"].draining = True
            await runner.cleanup()
    log.info("stopped")
    return 0
