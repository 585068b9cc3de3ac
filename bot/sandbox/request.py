"""``InProcessRequest``: python-telegram-bot's transport replaced by a direct call into the core.

PTB still builds the request (``RequestData``) and still maps the answer to its exceptions
(BadRequest, Forbidden, RetryAfter, …) in ``BaseRequest._request_wrapper``, so a bot under test
sees exactly what it would see over HTTP, minus the sockets. Parameters are handed over as
``RequestData.json_parameters``: the same strings an HTTP form would carry, decoded by the same
code as the server's.
"""

from __future__ import annotations

import re

from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from bot.sandbox.core import BotApiCore
from bot.sandbox.models import Upload

TOKEN = re.compile(r"\d+:.+")
UNAUTHORIZED = b'{"ok":false,"error_code":401,"description":"Unauthorized"}'


def split_url(url: str) -> tuple[str, str] | None:
    """(token, method) from ``…/bot<token>/<method>``; None when the URL has no such part."""
    head, _, method = url.rpartition("/")
    marker = head.rfind("/bot")
    if marker < 0 or not method:
        return None
    return head[marker + 4:], method


class InProcessRequest(BaseRequest):
    """Use as ``ApplicationBuilder().request(InProcessRequest(core))`` and
    ``.get_updates_request(InProcessRequest(core))``. ``read_timeout`` bounds how long a call may
    take to answer (injected delays, long polls), like HTTPXRequest's; None waits forever."""

    __slots__ = ("_core", "_initialized", "_read_timeout")

    def __init__(self, core: BotApiCore, *, read_timeout: float | None = 5.0) -> None:
        self._core = core
        self._read_timeout = read_timeout
        self._initialized = False

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        self._initialized = True  # nothing to open: no connection pool

    async def shutdown(self) -> None:
        self._initialized = False

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        parts = split_url(url)
        if parts is None or not TOKEN.fullmatch(parts[0]):
            return 401, UNAUTHORIZED
        timeout = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        params: dict[str, object] = dict(request_data.json_parameters) if request_data is not None else {}
        if request_data is not None and request_data.contains_files:
            # What an HTTP client would send as multipart file parts (InputFile): bytes, name, type.
            for name, (filename, content, mimetype) in request_data.multipart_data.items():
                data = content if isinstance(content, bytes) else content.read()
                params[name] = Upload(data, filename, mimetype)
        try:
            return await self._core.request(parts[1], params, client_timeout=timeout)
        except TimeoutError as exc:
            raise TimedOut(f"Timed out after {timeout} s (sandbox)") from exc
