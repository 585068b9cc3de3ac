"""The stand-in over HTTP: ``/bot<token>/<method>`` on 127.0.0.1, for python-telegram-bot's
``base_url`` (``http://127.0.0.1:PORT/bot``).

:func:`make_app` returns a plain aiohttp application so more routes (the sandbox's web chat) can be
added to it; :func:`start` serves it on the current loop; :class:`SandboxServer` serves it from a
background thread with its own loop, for tests and for a bot running in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import web

from bot.sandbox.core import BotApiCore
from bot.sandbox.models import Upload
from bot.sandbox.request import TOKEN, UNAUTHORIZED

CORE_KEY: web.AppKey[BotApiCore] = web.AppKey("sandbox_core", BotApiCore)
JSON = "application/json"


async def _params(request: web.Request) -> dict[str, Any]:
    """Query string, then the body (form, multipart or JSON) on top, like Telegram accepts."""
    params: dict[str, Any] = dict(request.query)
    if not request.can_read_body:
        return params
    if request.content_type == JSON:
        raw = await request.read()
        if raw.strip():
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("a JSON body must be an object")
            params.update(body)
    else:
        form = await request.post()  # urlencoded and multipart; file parts are kept as FileField
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = value
            elif isinstance(value, web.FileField):  # an uploaded file (InputFile): bytes, name and type, as sent
                params[key] = Upload(value.file.read(), value.filename, value.content_type)
            else:  # a part without a file name: its bytes as text, as Telegram reads a plain field
                params[key] = bytes(value).decode("utf-8", "replace")
    return params


async def _bot_api(request: web.Request) -> web.Response:
    if not TOKEN.fullmatch(request.match_info["token"]):
        return web.Response(status=401, body=UNAUTHORIZED, content_type=JSON)
    core = request.app[CORE_KEY]
    try:
        params = await _params(request)
    except (ValueError, UnicodeDecodeError):
        body = b'{"ok":false,"error_code":400,"description":"Bad Request: can\'t parse request JSON object"}'
        return web.Response(status=400, body=body, content_type=JSON)
    status, body = await core.request(request.match_info["method"], params)
    return web.Response(status=status, body=body, content_type=JSON)


async def _file(request: web.Request) -> web.Response:
    """``GET /file/bot<token>/<file_path>``: a file the bot uploaded, by getFile's file_path."""
    if not TOKEN.fullmatch(request.match_info["token"]):
        return web.Response(status=401, body=UNAUTHORIZED, content_type=JSON)
    stored = request.app[CORE_KEY].file_by_path(request.match_info["path"])
    if stored is None:
        return web.Response(status=404, text="Not Found")
    return web.Response(body=stored.data, content_type=stored.mime_type)


def make_app(core: BotApiCore) -> web.Application:
    """The Bot API routes on a fresh application; ``app[CORE_KEY]`` is the core."""
    app = web.Application()
    app[CORE_KEY] = core
    app.router.add_route("GET", "/bot{token}/{method}", _bot_api)
    app.router.add_route("POST", "/bot{token}/{method}", _bot_api)
    app.router.add_route("GET", "/file/bot{token}/{path:.+}", _file)
    return app


async def start(core: BotApiCore, host: str = "127.0.0.1", port: int = 0, *,
                app: web.Application | None = None) -> tuple[web.AppRunner, int]:
    """Serve ``app`` (default ``make_app(core)``) on the running loop. Returns the runner (call
    ``await runner.cleanup()`` to stop) and the bound port (useful with ``port=0``)."""
    runner = web.AppRunner(
        app if app is not None else make_app(core),
        handle_signals=False,
        # A client that goes away mid long-poll (the bot stopping) cancels its handler, which
        # removes the waiter instead of leaving a ghost poller behind.
        handler_cancellation=True,
        shutdown_timeout=1.0,
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, runner.addresses[0][1]


class SandboxServer:
    """Runs the HTTP stand-in in a background thread::

        server = SandboxServer(core)
        base_url = server.start()  # "http://127.0.0.1:PORT/bot"
        ...
        server.stop()
    """

    def __init__(self, core: BotApiCore, host: str = "127.0.0.1", port: int = 0, *,
                 app: web.Application | None = None) -> None:
        self.core = core
        self.host = host
        self.port = port
        self.app = app if app is not None else make_app(core)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    def start(self) -> str:
        if self._thread is not None:
            return self.base_url
        self._thread = threading.Thread(target=self._run, name="sandbox-http", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"sandbox server failed to start: {self._error}") from self._error
        return self.base_url

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._runner, self.port = loop.run_until_complete(start(self.core, self.host, self.port, app=self.app))
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Stop serving; pending long polls are released first so shutdown does not wait."""
        if self._thread is None or self._loop is None:
            return
        self.core.release_pollers()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
