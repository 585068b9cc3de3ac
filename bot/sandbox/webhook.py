"""Pushing queued updates to the bot's webhook, as Telegram does.

Telegram delivers different chats' updates in parallel, up to the webhook's ``max_connections``
at once, and one chat's updates strictly one after another: the next only once the previous was
answered (next-features.md §3.2). An update not answered 2xx — an error status, a dropped
connection, no answer within ``core.webhook_timeout`` (Telegram waits 60 s) — is pushed again after
``core.webhook_retry_delay``, and its chat waits meanwhile; the error is shown by getWebhookInfo
(``last_error_*``). A JSON answer carrying ``method`` is executed like Telegram's "making requests
when getting updates", before the chat's next update goes out.

Each pusher is a plain thread with blocking ``http.client`` and a kept-alive connection of its own
(as Telegram keeps its connections): no event loop of its own, never blocking the loops of the bot,
the test or the HTTP server. Which update goes next is decided under the core's lock
(``BotApiCore._next_push``).
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
_log = logging.getLogger(__name__)

# Where one update "belongs" for ordering: the chat for messages and chat events, the user for
# what has no chat (inline queries, a tap on an inline message's button).
_CHAT_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post", "business_message",
               "edited_business_message", "my_chat_member", "chat_member", "chat_join_request",
               "chat_boost", "removed_chat_boost", "message_reaction", "message_reaction_count")


def chat_key(kind: str, update: dict[str, Any]) -> tuple[str, int] | None:
    """The ordering key of an update: ("chat", id), ("user", id), or None (no order to keep)."""
    payload = update.get(kind)
    if not isinstance(payload, dict):
        return None
    if kind in _CHAT_KINDS and isinstance(payload.get("chat"), dict):
        return ("chat", payload["chat"]["id"])
    if kind == "callback_query":
        message = payload.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return ("chat", message["chat"]["id"])
    sender = payload.get("from") or payload.get("user")
    if isinstance(sender, dict) and isinstance(sender.get("id"), int):
        return ("user", sender["id"])
    return None


class WebhookError(Exception):
    """The push was not answered 2xx; the message is what getWebhookInfo shows."""


class Connection:
    """One pusher's kept-alive HTTP connection, reopened after an error or for another host."""

    def __init__(self) -> None:
        self._conn: http.client.HTTPConnection | None = None
        self._origin: tuple[str, str, int] | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def post(self, url: str, secret: str | None, update: dict[str, Any], timeout: float) -> bytes:
        """POST one update; returns the answer body. Raises WebhookError unless answered 2xx."""
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        origin = (parts.scheme, parts.hostname or "", port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": "application/json"}
        if secret:
            headers[SECRET_HEADER] = secret
        body = json.dumps(update, ensure_ascii=False).encode("utf-8")
        reused = self._conn is not None and self._origin == origin
        try:
            return self._post(origin, path, body, headers, timeout)
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as exc:
            self.close()
            if not reused:
                raise WebhookError(f"Connection failed: {exc}") from exc
            # A kept-alive connection the server had already closed: once more on a new one.
            try:
                return self._post(origin, path, body, headers, timeout)
            except WebhookError:
                raise
            except (OSError, http.client.HTTPException) as again:
                self.close()
                raise WebhookError(f"Connection failed: {again}") from again
        except TimeoutError as exc:
            self.close()
            raise WebhookError("Read timeout expired") from exc
        except WebhookError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise WebhookError(f"Connection failed: {exc}") from exc

    def _post(self, origin: tuple[str, str, int], path: str, body: bytes, headers: dict[str, str],
              timeout: float) -> bytes:
        if self._conn is None or self._origin != origin:
            self.close()
            scheme, host, port = origin
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            self._conn = cls(host, port, timeout=timeout)
            self._origin = origin
        self._conn.timeout = timeout
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        self._conn.request("POST", path, body=body, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        if response.will_close:
            self.close()
        if not 200 <= response.status < 300:
            raise WebhookError(f"Wrong response from the webhook: {response.status} {response.reason}")
        return data


def reply_call(body: bytes) -> tuple[str, dict[str, Any]] | None:
    """The Bot API method an answer carries ("making requests when getting updates"), if any."""
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


# One job for a pusher: (url, secret token, update id, update).
Push = tuple[str, str | None, int, dict[str, Any]]


class PushQueue(Protocol):
    """What a pusher needs of the stand-in's core (bot.sandbox.core.BotApiCore): the next update
    that may go, where to report the outcome, and the condition they share."""

    _webhook_cv: threading.Condition
    _stopping: bool
    webhook_timeout: float

    def _next_push(self, now: float) -> tuple[Push | None, float | None]: ...

    def _pushed(self, update_id: int, error: str | None, now: float) -> None: ...

    def dispatch(self, method: str, raw: Mapping[str, Any]) -> tuple[int, dict[str, Any]]: ...


def run_pusher(core: PushQueue) -> None:
    """One pusher thread: take the next update that may go, push it, report, until the core stops."""
    cv = core._webhook_cv
    connection = Connection()
    try:
        while True:
            with cv:
                job = None
                while not core._stopping:
                    job, wake_at = core._next_push(time.monotonic())
                    if job is not None:
                        break
                    cv.wait(None if wake_at is None else max(wake_at - time.monotonic(), 0.001))
                if core._stopping:
                    return
                assert job is not None
                url, secret, update_id, update = job
                timeout = core.webhook_timeout
            error = None
            try:
                reply = reply_call(connection.post(url, secret, update, timeout))
                if reply is not None:
                    core.dispatch(*reply)
            except WebhookError as exc:
                error = str(exc)
                _log.debug("webhook push of update %s failed: %s", update_id, error)
            with cv:
                core._pushed(update_id, error, time.monotonic())
                cv.notify_all()
    finally:
        connection.close()
