"""The interactive bot's HTTP transport: python-telegram-bot's `BaseRequest` on aiohttp's client.

python-telegram-bot sends through httpx by default. Under load that was about 45 % of `swbot run`'s
CPU (py-spy, 100 taps/s, bench/README.md): httpcore's pool asks every pooled connection whether it
expired (a `getpeername` and a `select` each) on every request, and writes headers and body in two
syscalls. aiohttp, which the webhook listener already uses, does neither. The behaviour
python-telegram-bot expects of a transport is kept: form-encoded parameters (multipart when there
are files), its four timeouts (`None` = wait forever), `TimedOut` for any timeout and
`NetworkError` for any other transport failure, so `bot.ratelimiter` retries them as before.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DEFAULT_TIMEOUT = 5.0  # read, write, connect: python-telegram-bot's HTTPXRequest defaults
DEFAULT_POOL_TIMEOUT = 1.0
MEDIA_WRITE_TIMEOUT = 20.0
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_DEFAULT = type(BaseRequest.DEFAULT_NONE)
_TOKEN_IN_URL = re.compile(r"/bot[^/\s]+")  # an error's text may carry the URL, and it the token


def _timeout(value: Any, default: float | None) -> float | None:
    # Any DefaultValue (python-telegram-bot's marker for "not given"), as HTTPXRequest checks it.
    return default if isinstance(value, _DEFAULT) else value


class AiohttpRequest(BaseRequest):
    """One aiohttp session with a bounded connection pool (`pool_size` connections at a time)."""

    def __init__(
        self,
        *,
        pool_size: int = 32,
        read_timeout: float | None = DEFAULT_TIMEOUT,
        write_timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_TIMEOUT,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT,
        media_write_timeout: float | None = MEDIA_WRITE_TIMEOUT,
    ) -> None:
        self.pool_size = pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # Made here, not in __init__: a session belongs to the loop that runs the bot.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.pool_size, limit_per_host=0),
                headers={"User-Agent": self.USER_AGENT},
            )

    def _proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for this URL (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and
        NO_PROXY, as httpx honoured them: a bot hosted where Telegram is blocked reaches it through
        one). Looked up once per scheme and host: the environment is read at start, not per request."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            env = getproxies()
            proxy = env.get(parts.scheme) or env.get("all")
            self._proxies[key] = None if proxy is None or proxy_bypass(key[1]) else proxy
        return self._proxies[key]

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        # float, None or BaseRequest.DEFAULT_NONE (python-telegram-bot's type for it is private)
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else {}
        read = _timeout(read_timeout, self._read_timeout)
        write = _timeout(write_timeout, self._media_write_timeout if files else self._write_timeout)
        connect = _timeout(connect_timeout, self._connect_timeout)
        pool = _timeout(pool_timeout, self._pool_timeout)
        parts = (connect, pool, write, read)
        timeout = aiohttp.ClientTimeout(
            # aiohttp has no write timeout of its own: the whole request is bounded by their sum.
            total=None if None in parts else sum(parts),  # type: ignore[arg-type]
            connect=None if connect is None or pool is None else connect + pool,  # waiting for the pool too
            sock_connect=connect,
            sock_read=read,
        )
        # Form-encoded here: handed a dict, aiohttp builds a multipart writer (and a uuid4) first.
        data: aiohttp.FormData | bytes | None = urlencode(fields).encode() if fields else None
        headers = _FORM if fields else None
        if files:
            form = aiohttp.FormData(quote_fields=False)  # a file name as sent (UTF-8), not %-quoted
            for name, value in fields.items():
                form.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            data, headers = form, None
        try:
            proxy = self._proxy_for(url)
            request = session.request(method, url, data=data, headers=headers, timeout=timeout, proxy=proxy)
            async with request as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
            raise TimedOut(f"aiohttp.{type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            text = _TOKEN_IN_URL.sub("/bot[token]", str(exc))
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {text}") from exc
