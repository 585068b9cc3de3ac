"""``BotApiCore``: the local Telegram Bot API stand-in's state machine.

One instance is one bot. Transports (:mod:`bot.sandbox.request` in-process,
:mod:`bot.sandbox.server` over HTTP) call :meth:`BotApiCore.request` with the method name and the
parameters as they arrived on the wire; users act through :mod:`bot.sandbox.users`; tests inspect
through :meth:`calls`, :meth:`messages`, :meth:`last_message`.

Threading: the HTTP server runs its own event loop in a thread while the test and the bot run in
others, so all state sits behind one lock and every call is answered synchronously under it. Only
getUpdates (long polling), injected delays and held requests (:meth:`BotApiCore.hold`) wait, on the
caller's own loop; an update queued from any thread wakes them with ``loop.call_soon_threadsafe``.
Webhook updates are pushed by pusher threads (:mod:`bot.sandbox.webhook`), as many as the
webhook's max_connections, which take their next update under the same lock.

Over 400 lines: the stand-in's transport-facing core (dispatch, getUpdates' long poll, webhook
queue, recording), kept in one class because all of it runs under one lock.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.sandbox.methods import QUERY_TOO_OLD, WEBHOOK_CONFLICT, BotMethods
from bot.sandbox.models import ApiError, Call, CallbackAnswer, MessageView, StoredFile, bad_request, view_of
from bot.sandbox.spec import ParamError
from bot.sandbox.users import OWN, Own, UserActions
from bot.sandbox.webhook import chat_key, run_pusher

__all__ = ["OWN", "QUERY_TOO_OLD", "ApiError", "BotApiCore", "Call", "CallbackAnswer", "MessageView", "Own"]

_log = logging.getLogger(__name__)
NOT_FOUND = "Not Found: method not found"
POLL_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
_REQUIRED_WORDING = {
    "chat_id": "chat_id is empty",
    "text": "message text is empty",
    "message_id": "message identifier is not specified",
    "callback_query_id": "query_id is empty",
    "photo": "there is no photo in the request",
    "document": "there is no document in the request",
}
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    403: "Forbidden: injected failure",
    409: "Conflict: injected failure",
    500: "Internal Server Error: injected failure",
    502: "Bad Gateway",
}


@dataclass(slots=True)
class _Fault:
    method: str  # "*" for any method
    error: ApiError
    times: int
    chat_id: str | None


@dataclass(slots=True)
class _RandomFaults:
    """A share of calls answered with a 429 or a 5xx, at random (a busy or flaky Telegram)."""

    rate_429: float
    rate_5xx: float
    retry_after: int
    status_5xx: int
    rng: random.Random


@dataclass(slots=True)
class _Delay:
    method: str
    seconds: float
    times: int | None  # None: until cleared


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class BotApiCore(BotMethods, UserActions):
    """The stand-in. Keyword arguments: ``bot_id``, ``username``, ``first_name`` (getMe),
    ``callback_query_ttl`` (seconds a callback query can be answered, default 15),
    ``strict_ampersand`` (reject a bare ``&`` in HTML, default True), ``privacy_mode`` (groups),
    ``max_calls`` (how many calls the record keeps)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._faults: list[_Fault] = []
        self._released_gen = -1
        self._call_seq = 0  # calls recorded so far, including those the bounded record forgot
        self._delays: list[_Delay] = []
        self._random_faults: _RandomFaults | None = None
        self._listeners: list[Callable[[Call], None]] = []
        self.webhook_retry_delay = 0.2  # seconds before re-pushing after a failed webhook delivery
        self.webhook_timeout = 60.0  # Telegram waits 60 s for the answer (levlam, tdlib/telegram-bot-api#211)
        self._holding = False  # hold(): requests over HTTP wait before they take effect
        self._held: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("api_")
        }

    # -- transport entry points ----------------------------------------------------------------

    async def request(self, method: str, raw: Mapping[str, Any], *,
                      client_timeout: float | None = None) -> tuple[int, bytes]:
        """Answer one Bot API request: the HTTP status and the JSON body. ``raw`` holds the
        parameters as sent (form strings or JSON values). ``client_timeout`` is the client's read
        timeout: when an answer would come later, this raises :class:`TimeoutError` after it."""
        if method == "getUpdates" or method.lower() == "getupdates":
            status, body = await self._get_updates(raw, client_timeout)
        else:
            if self._holding:  # hold(): a plain flag read, the lock is taken only when set
                await self._wait_released()
            status, body = self.dispatch(method, raw)
        if self._delays:
            delay = self._take_delay(method)
            if delay:
                # The call took effect; only the answer is late, as on a slow network.
                if client_timeout is not None and delay > client_timeout:
                    await asyncio.sleep(client_timeout)
                    raise TimeoutError(f"{method}: the sandbox answers after {delay} s")
                await asyncio.sleep(delay)
        return status, _encode(body)

    def dispatch(self, method: str, raw: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer a call that does not wait (anything but getUpdates): (status, envelope)."""
        with self._lock:
            name = self._spec.canonical(method)
            params: dict[str, Any] = dict(raw)
            try:
                if name is None:
                    raise ApiError(400, NOT_FOUND)
                handler = self._methods.get(name)
                if name == "getUpdates":
                    raise bad_request("getUpdates waits: call it through `await core.request(...)`")
                if handler is None:
                    raise bad_request(f"method {name} is not implemented by the swbot sandbox "
                                      f"(it implements {', '.join(sorted(self._methods))})")
                if self._faults:
                    self._raise_fault(name, raw)
                if self._random_faults is not None:
                    self._raise_random_fault()
                params = self._decode(name, raw)
                result = handler(params)
            except ApiError as exc:
                self._record(Call(name or method, params, False, None, exc.code, exc.description, time.monotonic(),
                                  exc.injected))
                return exc.code, exc.envelope()
            except Exception as exc:  # a sandbox bug: answer like a failing server, keep the traceback
                _log.exception("sandbox failed on %s", name)
                error = ApiError(500, f"Internal Server Error: sandbox bug: {exc!r}")
                self._record(Call(name or method, params, False, None, 500, error.description, time.monotonic()))
                return 500, error.envelope()
            self._record(Call(name, params, True, result, at=time.monotonic()))
            return 200, {"ok": True, "result": result}

    def call(self, method: str, /, **params: Any) -> Any:
        """Call a method directly (tests, the web chat). Returns the result or raises ApiError."""
        if method.lower() == "getupdates":
            raise ValueError("use await core.request('getUpdates', …) to poll")
        _, body = self.dispatch(method, params)
        if not body["ok"]:
            raise ApiError(body["error_code"], body["description"], body.get("parameters"))
        return body["result"]

    def _decode(self, name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        try:
            params = self._spec.decode(name, dict(raw))
        except ParamError as exc:
            raise bad_request(str(exc).replace("reply_markup JSON", "reply keyboard markup JSON")) from None
        for p in self._spec.methods[name].values():
            if p.required and params.get(p.name) in (None, ""):
                raise bad_request(_REQUIRED_WORDING.get(p.name, f'parameter "{p.name}" is required'))
        return params

    def _record(self, call: Call) -> None:
        self._calls.append(call)
        self._call_seq += 1
        for listener in self._listeners:
            listener(call)
        if call.method != "getUpdates":
            self._note_activity()

    # -- getUpdates (long polling) -------------------------------------------------------------

    async def _get_updates(self, raw: Mapping[str, Any],
                           client_timeout: float | None) -> tuple[int, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        with self._lock:
            params: dict[str, Any] = dict(raw)
            try:
                if self._faults:
                    self._raise_fault("getUpdates", raw)
                params = self._decode("getUpdates", raw)
                if self._webhook:
                    raise ApiError(409, WEBHOOK_CONFLICT)
                self._poll_gen += 1
                gen = self._poll_gen
                self._wake(self._pollers)  # an older pending poll now ends with 409, as in Telegram
                if params.get("allowed_updates") is not None:
                    self._set_allowed(params["allowed_updates"])
                limit = min(max(int(params.get("limit") or 100), 1), 100)
                wait = max(float(params.get("timeout") or 0), 0.0)
                self._acknowledge(params.get("offset"))
                updates = self._take_pending(limit)
                if updates or wait == 0:
                    return self._answer_poll(params, updates)
                event = asyncio.Event()
                waiter = (loop, event)
                self._pollers.append(waiter)
            except ApiError as exc:
                self._record(Call("getUpdates", params, False, None, exc.code, exc.description, time.monotonic(),
                                  exc.injected))
                return exc.code, exc.envelope()
        try:
            limited = client_timeout is not None and client_timeout < wait
            try:
                await asyncio.wait_for(event.wait(), client_timeout if limited else wait)
            except TimeoutError:
                if limited:
                    raise
        finally:
            with self._lock:
                self._pollers.remove(waiter)
        with self._lock:
            superseded = gen != self._poll_gen and self._poll_gen != self._released_gen
            conflict = POLL_CONFLICT if superseded else WEBHOOK_CONFLICT if self._webhook else None
            if conflict:
                self._record(Call("getUpdates", params, False, None, 409, conflict, time.monotonic()))
                return 409, {"ok": False, "error_code": 409, "description": conflict}
            return self._answer_poll(params, self._take_pending(limit))

    def _answer_poll(self, params: dict[str, Any], updates: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        self._record(Call("getUpdates", params, True, updates, at=time.monotonic()))
        if updates:
            self._delivered_max = max(self._delivered_max, updates[-1]["update_id"])
            self._note_activity()
        return 200, {"ok": True, "result": updates}

    def _acknowledge(self, offset: Any) -> None:
        if not isinstance(offset, int) or offset == 0:
            return
        q = self._updates
        if offset > 0:
            while q and q[0][0] < offset:
                q.popleft()
        else:
            while len(q) > -offset:
                q.popleft()

    def _take_pending(self, limit: int) -> list[dict[str, Any]]:
        result = []
        unwanted = []
        for entry in self._updates:
            if not self._is_allowed(entry[1]):
                unwanted.append(entry)
                continue
            result.append(entry[2])
            if len(result) >= limit:
                break
        for entry in unwanted:  # Telegram does not keep updates the bot did not ask for
            self._updates.remove(entry)
            self._dropped.add(entry[0])
        return result

    # -- webhook -------------------------------------------------------------------------------

    def _start_webhook_thread(self) -> None:
        """Under the lock: as many pusher threads as the webhook's max_connections."""
        self._stopping = False
        self._webhook_threads = [t for t in self._webhook_threads if t.is_alive()]
        for _ in range(len(self._webhook_threads), int(self._webhook.get("max_connections", 40))):
            thread = threading.Thread(target=run_pusher, args=(self,), name="sandbox-webhook", daemon=True)
            self._webhook_threads.append(thread)
            thread.start()

    def _next_push(self, now: float) -> tuple[tuple[str, str | None, int, dict[str, Any]] | None, float | None]:
        """Under the lock: the next update to push (url, secret, id, update), taken as in flight;
        or None and when to look again (a retry falling due), None for "when woken".

        An update may go when fewer than max_connections are in flight, no update of its chat is
        in flight or waiting before it, and its retry (after a failed push) is due."""
        if not self._webhook or len(self._in_flight) >= self._webhook["max_connections"]:
            return None, None
        blocked = {key for key in self._in_flight.values() if key is not None}
        wake_at: float | None = None
        unwanted = []
        chosen = None
        for entry in self._updates:
            update_id, kind, update = entry
            if not self._is_allowed(kind):
                unwanted.append(entry)
                continue
            if update_id in self._in_flight:
                continue
            key = chat_key(kind, update)
            if key is not None and key in blocked:
                continue
            retry_at = self._retry_at.get(update_id)
            if retry_at is not None and retry_at > now:
                if key is not None:
                    blocked.add(key)  # the chat's later updates wait for this one
                wake_at = retry_at if wake_at is None else min(wake_at, retry_at)
                continue
            chosen = (update_id, key, update)
            break
        for entry in unwanted:  # Telegram does not keep updates the bot did not ask for
            self._updates.remove(entry)
            self._dropped.add(entry[0])
        if chosen is None:
            return None, wake_at
        update_id, key, update = chosen
        self._in_flight[update_id] = key
        return (self._webhook["url"], self._webhook["secret_token"], update_id, update), None

    def _pushed(self, update_id: int, error: str | None, now: float) -> None:
        """Under the lock: the outcome of pushing ``update_id``."""
        self._in_flight.pop(update_id, None)
        if error is None:
            self._retry_at.pop(update_id, None)
            for entry in self._updates:
                if entry[0] == update_id:
                    self._updates.remove(entry)
                    break
            self._webhook_acked.add(update_id)
            if not self._updates and not self._in_flight:  # all answered: compact the record
                self._delivered_max = max(self._delivered_max, max(self._webhook_acked))
                self._webhook_acked.clear()
            self._note_activity()
        else:
            self._webhook_error = (self.now(), error)
            self._retry_at[update_id] = now + self.webhook_retry_delay

    def webhook_in_flight(self) -> int:
        """Updates pushed to the webhook and not answered yet."""
        with self._lock:
            return len(self._in_flight)

    def release_pollers(self) -> None:
        """Answer pending long polls now, with what is pending (server shutdown)."""
        with self._lock:
            self._poll_gen += 1
            self._released_gen = self._poll_gen
            self._wake(self._pollers)

    def shutdown(self) -> None:
        """Stop the webhook pusher threads and release any pending long polls."""
        self.release_pollers()
        with self._lock:
            self._stopping = True
            self._holding = False
            self._wake(self._held)
            self._webhook_cv.notify_all()
            threads = list(self._webhook_threads)
        deadline = time.monotonic() + 5
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=max(deadline - time.monotonic(), 0.01))

    # -- holding requests ----------------------------------------------------------------------

    def hold(self) -> None:
        """From now on, Bot API requests over HTTP (any method but getUpdates) wait, before they take
        effect, until :meth:`release`. A request whose client goes away meanwhile never takes effect
        (the HTTP server cancels it): a test can kill a bot between two of its requests."""
        with self._lock:
            self._holding = True

    def release(self) -> None:
        with self._lock:
            self._holding = False
            self._wake(self._held)

    def held(self) -> int:
        """How many requests are waiting for :meth:`release` now."""
        with self._lock:
            return len(self._held)

    async def _wait_released(self) -> None:
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if not self._holding:
                return
            self._held.append(waiter)
        try:
            await waiter[1].wait()
        finally:
            with self._lock:
                self._held.remove(waiter)

    # -- fault injection -----------------------------------------------------------------------

    def fail_next(self, method: str, *, error_code: int, description: str | None = None,
                  retry_after: int | None = None, times: int = 1, chat_id: int | str | None = None) -> None:
        """Make the next ``times`` calls of ``method`` ("*" for any but getUpdates) fail, optionally
        only those for ``chat_id``. A 429 carries ``parameters.retry_after`` like Telegram's."""
        parameters = None
        if error_code == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
            parameters = {"retry_after": retry_after}
        description = description or _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}: injected failure")
        canonical = method if method == "*" else (self._spec.canonical(method) or method)
        with self._lock:
            self._faults.append(_Fault(canonical, ApiError(error_code, description, parameters), times,
                                       None if chat_id is None else str(chat_id)))

    def _raise_fault(self, name: str, raw: Mapping[str, Any]) -> None:
        for fault in self._faults:
            if fault.method != name and not (fault.method == "*" and name != "getUpdates"):
                continue
            if fault.chat_id is not None and str(raw.get("chat_id")) != fault.chat_id:
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            raise ApiError(fault.error.code, fault.error.description, fault.error.parameters, injected=True)

    def inject_faults(self, *, rate_429: float = 0.0, rate_5xx: float = 0.0, retry_after: int = 1,
                      status_5xx: int = 502, seed: int | None = None) -> None:
        """From now on answer a random share of calls (any method but getUpdates) with a 429 that
        carries ``retry_after``, and another share with ``status_5xx``, before they take effect, as
        Telegram's flood control and its front ends do. Both 0 switch it off. Injected answers are
        recorded with ``Call.injected`` set, so they can be told from real refusals."""
        if not (0 <= rate_429 <= 1 and 0 <= rate_5xx <= 1 and rate_429 + rate_5xx <= 1):
            raise ValueError("fault rates must be between 0 and 1 and add up to at most 1")
        with self._lock:
            if rate_429 == 0 and rate_5xx == 0:
                self._random_faults = None
            else:
                self._random_faults = _RandomFaults(rate_429, rate_5xx, retry_after, status_5xx,
                                                    random.Random(seed))

    def _raise_random_fault(self) -> None:
        f = self._random_faults
        assert f is not None
        x = f.rng.random()
        if x < f.rate_429:
            raise ApiError(429, f"Too Many Requests: retry after {f.retry_after}",
                           {"retry_after": f.retry_after}, injected=True)
        if x < f.rate_429 + f.rate_5xx:
            raise ApiError(f.status_5xx, _DEFAULT_DESCRIPTIONS.get(f.status_5xx, "Internal Server Error"),
                           injected=True)

    def add_call_listener(self, listener: Callable[[Call], None]) -> None:
        """``listener(call)`` runs for every recorded call, under the core's lock, on the thread that
        made the call: keep it short and hand anything slow to another thread or loop."""
        with self._lock:
            self._listeners.append(listener)

    def remove_call_listener(self, listener: Callable[[Call], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def slow(self, method: str, seconds: float, *, times: int | None = None) -> None:
        """Answer ``method`` ("*": any) ``seconds`` late, ``times`` times (None: until cleared).
        The call still takes effect at once, so a client timeout looks like a real ambiguous one."""
        canonical = method if method == "*" else (self._spec.canonical(method) or method)
        with self._lock:
            self._delays.append(_Delay(canonical, seconds, times))

    def _take_delay(self, method: str) -> float:
        with self._lock:
            name = self._spec.canonical(method) or method
            for d in self._delays:
                if d.method == name or (d.method == "*" and name != "getUpdates"):
                    if d.times is not None:
                        d.times -= 1
                        if d.times <= 0:
                            self._delays.remove(d)
                    return d.seconds
        return 0.0

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._random_faults = None

    # -- inspection ----------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            if method is None:
                return list(self._calls)
            return [c for c in self._calls if c.method == method]

    def call_seq(self) -> int:
        """A position in the call record, for :meth:`calls_since`."""
        with self._lock:
            return self._call_seq

    def calls_since(self, seq: int, method: str | None = None) -> list[Call]:
        """The calls recorded after position ``seq`` (see :meth:`call_seq`)."""
        with self._lock:
            # From the right end: the record can be long, the tail asked for is short.
            recent = list(itertools.islice(reversed(self._calls), max(self._call_seq - seq, 0)))
        recent.reverse()
        return recent if method is None else [c for c in recent if c.method == method]

    def refusals(self) -> list[Call]:
        """Calls the stand-in refused on their merits (4xx other than an injected fault): what
        Telegram would count against a bot that sends wrong requests."""
        with self._lock:
            return [c for c in self._calls if not c.ok and not c.injected and 400 <= (c.error_code or 0) < 500]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def messages(self, chat_id: int, include_deleted: bool = False) -> list[MessageView]:
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                return []
            return [view_of(m) for m in chat.messages.values() if include_deleted or not m.deleted]

    def message(self, chat_id: int, message_id: int) -> MessageView:
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None or message_id not in chat.messages:
                raise KeyError(f"no message {message_id} in chat {chat_id}")
            return view_of(chat.messages[message_id])

    def edit_history(self, chat_id: int, message_id: int) -> list[dict[str, Any]]:
        """Earlier versions of a message, oldest first: {date, text, html, entities, reply_markup}."""
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None or message_id not in chat.messages:
                raise KeyError(f"no message {message_id} in chat {chat_id}")
            return [{"date": e.date, "text": e.text, "html": e.source, "entities": [dict(x) for x in e.entities],
                     "reply_markup": json.loads(json.dumps(e.reply_markup))}
                    for e in chat.messages[message_id].edits]

    def file(self, file_id: str) -> StoredFile | None:
        """A file the bot uploaded (tests, the web chat)."""
        with self._lock:
            return self._files.get(file_id)

    def file_by_path(self, file_path: str) -> StoredFile | None:
        """A file by getFile's file_path (the download route)."""
        with self._lock:
            file_id = self._file_paths.get(file_path)
            return None if file_id is None else self._files.get(file_id)

    def last_with_keyboard(self, chat_id: int) -> MessageView | None:
        """The bot's newest shown message that has an inline keyboard."""
        with self._lock:
            chat = self._chats.get(chat_id)
            for m in reversed(chat.messages.values()) if chat is not None else ():
                if m.from_bot and not m.deleted and m.reply_markup and m.reply_markup.get("inline_keyboard"):
                    return view_of(m)
            return None

    def last_message(self, chat_id: int, *, from_bot: bool | None = True) -> MessageView | None:
        """The newest message still shown in the chat: from the bot by default; ``from_bot=None``
        for either side, ``False`` for the user's."""
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                return None
            for m in reversed(chat.messages.values()):
                if not m.deleted and (from_bot is None or m.from_bot == from_bot):
                    return view_of(m)
            return None

    def reply_keyboard(self, chat_id: int) -> tuple[tuple[dict[str, Any], ...], ...] | None:
        """The reply keyboard the user currently sees in that chat, if any."""
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None or chat.reply_keyboard is None:
                return None
            return tuple(tuple(dict(b) for b in row) for row in chat.reply_keyboard["keyboard"])

    def callback_answer(self, query_id: str) -> CallbackAnswer | None:
        with self._lock:
            q = self._queries.get(query_id)
            return None if q is None else q.answer

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, str]]:
        with self._lock:
            return [dict(c) for c in self._commands.get((self._scope_key(scope), language_code), [])]

    def description(self, language_code: str = "") -> str:
        with self._lock:
            return self._descriptions.get(language_code, "")

    def short_description(self, language_code: str = "") -> str:
        with self._lock:
            return self._short_descriptions.get(language_code, "")

    def webhook_info(self) -> dict[str, Any]:
        with self._lock:
            info: dict[str, Any] = self.api_getWebhookInfo({})
            return info

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by the bot (copies)."""
        with self._lock:
            return [json.loads(json.dumps(u)) for _, _, u in self._updates]

    def drain_updates(self) -> list[dict[str, Any]]:
        """Remove and return the queued updates (for callers that deliver them themselves)."""
        with self._lock:
            updates = [u for _, kind, u in self._updates if self._is_allowed(kind)]
            self._updates.clear()
            if updates:
                self._delivered_max = max(self._delivered_max, updates[-1]["update_id"])
            return updates

    def user(self, user_id: int) -> dict[str, Any]:
        with self._lock:
            return {**self._user(user_id).to_api(), "blocked": self._users[user_id].blocked}

    # -- waiting for the bot (used by the test client over HTTP) -------------------------------

    def delivered(self, update_id: int) -> bool:
        """Whether the bot has received ``update_id`` (fetched, pushed) or Telegram dropped it."""
        with self._lock:
            return (update_id <= self._delivered_max or update_id in self._dropped
                    or update_id in self._webhook_acked)

    def idle_for(self) -> float:
        """Seconds since the bot's last call other than getUpdates (or the last delivery)."""
        return time.monotonic() - self._last_activity

    def add_watcher(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        """``event`` is set (on ``loop``) after every call and every delivery."""
        with self._lock:
            self._watchers.append((loop, event))

    def remove_watcher(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        with self._lock:
            if (loop, event) in self._watchers:
                self._watchers.remove((loop, event))
