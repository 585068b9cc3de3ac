"""Pushing queued updates to the bot's webhook, as Telegram does.

A plain thread with blocking ``urllib``: it keeps no event loop of its own and never blocks the
loops of the bot, the test or the HTTP server. Updates go one at a time, in order; a non-2xx answer
or a network error is recorded (getWebhookInfo ``last_error_*``) and the update is retried after
``core.webhook_retry_delay``. A JSON answer carrying ``method`` is executed like Telegram's
"making requests when getting updates".
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.sandbox.core import BotApiCore

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
_log = logging.getLogger(__name__)


def post_update(url: str, secret: str | None, update: dict[str, Any], timeout: float) -> bytes:
    """POST one update; returns the answer body. Raises on a network error or a non-2xx status."""
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SECRET_HEADER] = secret
    data = json.dumps(update, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310 (http/https checked by setWebhook)
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
        return resp.read()


def _reply_call(body: bytes) -> tuple[str, dict[str, Any]] | None:
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("method"), str):
        params = {k: v for k, v in data.items() if k != "method"}
        return data["method"], params
    return None


def run_pusher(core: BotApiCore) -> None:
    cv = core._webhook_cv
    while True:
        with cv:
            job = None
            while not core._stopping:
                job = core._next_push()
                if job is not None:
                    break
                cv.wait()
            if core._stopping:
                return
            assert job is not None
            url, secret, update_id, update = job
            timeout = core.webhook_timeout
        error = None
        reply = None
        try:
            reply = _reply_call(post_update(url, secret, update, timeout))
        except urllib.error.HTTPError as exc:
            error = f"Wrong response from the webhook: {exc.code} {exc.reason}"
        except (OSError, ValueError) as exc:
            error = f"Connection failed: {exc}"
        with cv:
            core._pushed(update_id, error)
        if reply is not None:
            core.dispatch(*reply)
        if error is not None:
            _log.debug("webhook push of update %s failed: %s", update_id, error)
            with cv:
                cv.wait_for(lambda: core._stopping, timeout=core.webhook_retry_delay)
