"""The sandbox's web chat: a Telegram-like private chat page served by the Bot API stand-in.

:func:`add_webchat` adds these routes to the stand-in's aiohttp application
(:func:`bot.sandbox.server.make_app`); the page itself is plain HTML/CSS/JS in ``static/``.

Page and state
    ``GET /`` the page · ``GET /static/…`` its files · ``GET /api/state`` the chat as data (one
    snapshot) · ``GET /api/events`` the same snapshot as server-sent events, sent again on every
    change (the core wakes a watcher after each Bot API call and each delivery) ·
    ``GET /api/people`` the demo people, masked, and which one the user is bound to ·
    ``GET /api/file/<file_id>`` a photo or document the bot sent to this chat (``?download=1``: as
    an attachment with its file name).
What the user does (JSON bodies; ``user_id`` is the sandbox user)
    ``POST /api/send`` {user_id, text} · ``POST /api/tap`` {user_id, message_id, data} → the
    callback answer (toast or alert) once the bot gave it · ``POST /api/contact`` {user_id,
    account_id} shares "my phone" (the phone of that demo person: in the sandbox the Telegram user
    is whoever they pretend to be) · ``POST /api/language`` {user_id, language_code}.
Side-panel shortcuts
    ``POST /api/link`` {user_id, account_id}: a fresh deep link from the operator API
    (``POST /v1/links``), then ``/start <token>`` as Telegram's app sends it when the link is
    opened · ``POST /api/bind-chat`` {user_id, account_id}: /bind, the name, the ID number and the
    phone, each once the bot has answered the step before · ``POST /api/new-tax`` {account_id}:
    a new list, its receipt and its tax slip (:mod:`bot.sandbox.demofeed`) pushed one by one through
    the signed operator API (``POST /v1/messages``), so the notifier's message arrives as in
    production · ``POST /api/story`` {account_id, story}: the same for a new order that customs
    suspend for 交易真实性验核 (``verify``) or that is cancelled and approved (``cancel``).

Everything the page shows comes from the core's own records; the page builds DOM nodes from the
message text and its entities (never ``innerHTML``), so a message can only render as Telegram's
formatting. The side panel gets the demo people masked (name, ID number, phone); in the chat the
user's own messages show what they typed, as in Telegram (the bot deletes the ID number).

Over 400 lines: the web chat's HTTP routes and their JSON shapes, one per button on the page
(a test tool, not the bot); the page itself is in static/.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from random import Random
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from sqlalchemy import select

from bot.domain.clock import Clock
from bot.sandbox.core import BotApiCore
from bot.sandbox.demofeed import STORIES, Person, new_tax_messages, story_messages
from bot.sandbox.models import MessageView, SandboxError

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
MAX_MESSAGES = 300  # the newest messages a snapshot carries
SETTLE_QUIET = 0.3  # seconds without a bot call that count as "the bot has answered"
SETTLE_TIMEOUT = 10.0
ANSWER_TIMEOUT = 3.0
HEARTBEAT = 15.0
PRIVATE_SCOPE = {"type": "all_private_chats"}
LANGUAGES = ("en", "zh-hans")


@dataclass
class LoadStatus:
    """What the page shows while the sandbox starts (written from other threads)."""

    bot_ready: bool = False
    loaded: int = 0
    total: int = 0
    done: bool = False
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, **values: Any) -> None:
        with self._lock:
            for k, v in values.items():
                setattr(self, k, v)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"bot_ready": self.bot_ready, "loaded": self.loaded, "total": self.total, "done": self.done,
                    "error": self.error}


@dataclass
class OperatorApi:
    """Where the bot's operator API listens and the key that signs requests to it."""

    url: str  # http://127.0.0.1:PORT
    key: str


BoundLookup = Callable[[int], Awaitable[str | None]]  # Telegram user → account id it is bound to
FlowLookup = Callable[[int], Awaitable[str | None]]  # Telegram user → in-chat binding step


class ApiProblem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class WebChat:
    def __init__(
        self,
        core: BotApiCore,
        *,
        user_id: int,
        people: list[Person],
        ceb_dir: Path | None,
        api: OperatorApi | None,
        db_url: str | None = None,
        status: LoadStatus | None = None,
        first_name: str = "Demo",
        last_name: str | None = "User",
        language_code: str = "en",
        clock: Clock | None = None,
    ) -> None:
        self.core = core
        self.clock = clock or Clock.system()
        self.user_id = user_id
        self.set_people(people)
        self.ceb_dir = ceb_dir
        self.api = api
        self.db_url = db_url
        self.status = status or LoadStatus(bot_ready=True, done=True)
        self.first_name = first_name
        self.last_name = last_name
        self.rng = Random()
        self._db: Any = None
        self._wakeups: set[asyncio.Event] = set()
        self._closing = False
        self._session: aiohttp.ClientSession | None = None
        core.add_user(user_id, first_name, last_name=last_name, language_code=language_code)

    def set_people(self, people: list[Person]) -> None:
        """The demo people (the sandbox writes them after the page is already up)."""
        self.people = {p.account_id: p for p in people}
        self.order = [p.account_id for p in people]

    # -- lifecycle (aiohttp signals) -----------------------------------------------------------

    async def on_cleanup(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()
        if self._db is not None:
            await self._db.dispose()

    async def on_shutdown(self, _app: web.Application) -> None:
        self._closing = True
        self.bump()

    def bump(self) -> None:
        """Wake every open event stream (call on the server's loop)."""
        for event in self._wakeups:
            event.set()

    # -- database (read-only lookups for the side panel) ---------------------------------------

    def _database(self) -> Any:
        if self._db is None and self.db_url:
            from storage.db import Database

            self._db = Database(self.db_url, clock=self.clock)
        return self._db

    async def bound_account(self, tg_id: int) -> str | None:
        db = self._database()
        if db is None:
            return None
        from storage.models import Account, Binding

        try:
            async with db.read() as session:
                account: str | None = (
                    await session.execute(
                        select(Account.account_id)
                        .join(Binding, Binding.account_pk == Account.id)
                        .where(Binding.telegram_user_id == tg_id)
                    )
                ).scalar_one_or_none()
                return account
        except Exception as exc:  # the database may still be migrating at startup
            log.debug("bound_account: %s", type(exc).__name__)
            return None

    async def flow_step(self, tg_id: int) -> str | None:
        db = self._database()
        if db is None:
            return None
        from storage.bindings import flow_step, get_user

        async with db.read() as session:
            return flow_step(await get_user(session, tg_id), self.clock.now())

    # -- snapshots -----------------------------------------------------------------------------

    def user(self) -> dict[str, Any]:
        return self.core.user(self.user_id)

    def language(self) -> str:
        return str(self.user().get("language_code") or "")

    def commands(self) -> list[dict[str, str]]:
        lang = self.language()[:2].lower()
        # Telegram's order: the private-chat scope before the default one, the user's language first.
        for scope, code in ((PRIVATE_SCOPE, lang), (PRIVATE_SCOPE, ""), (None, lang), (None, "")):
            found = self.core.commands(scope, code)
            if found:
                return found
        return []

    def description(self) -> str:
        lang = self.language()[:2].lower()
        return self.core.description(lang) or self.core.description("")

    async def state(self) -> dict[str, Any]:
        chat = self.user_id
        views = self.core.messages(chat)[-MAX_MESSAGES:]
        keyboard = self.core.reply_keyboard(chat)
        user = self.user()
        return {
            "bot": {"id": self.core.bot_id, "name": self.core.bot_first_name, "username": self.core.bot_username},
            "user": {"id": user["id"], "first_name": user["first_name"], "language_code": user.get("language_code")},
            "status": self.status.as_dict(),
            "bound": await self.bound_account(self.user_id),
            "messages": [message_json(v) for v in views],
            "reply_keyboard": None if keyboard is None else [[_reply_button(b) for b in row] for row in keyboard],
            "commands": self.commands(),
            "description": self.description(),
        }

    def people_json(self, bound: str | None) -> list[dict[str, Any]]:
        return [{**self.people[a].public(), "bound": a == bound} for a in self.order]

    # -- waiting for the bot -------------------------------------------------------------------

    async def settle(self, update: dict[str, Any] | None, *, quiet: float = SETTLE_QUIET,
                     within: float = SETTLE_TIMEOUT, until: Callable[[], bool] | None = None) -> bool:
        """Wait until the bot has fetched ``update`` and then made no call for ``quiet`` seconds
        (or ``until()`` holds). False when ``within`` seconds pass first."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        deadline = loop.time() + within
        update_id = update["update_id"] if update else None
        self.core.add_watcher(loop, event)
        try:
            while True:
                event.clear()
                wait = deadline - loop.time()
                if wait <= 0:
                    return False
                if update_id is None or self.core.delivered(update_id):
                    if until is not None:
                        if until():
                            return True
                    else:
                        idle = self.core.idle_for()
                        if idle >= quiet:
                            return True
                        wait = min(wait, quiet - idle)
                try:
                    await asyncio.wait_for(event.wait(), max(wait, 0.005))
                except TimeoutError:
                    pass
        finally:
            self.core.remove_watcher(loop, event)

    # -- operator API --------------------------------------------------------------------------

    async def operator(self, path: str, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        if self.api is None:
            raise ApiProblem(503, "the operator API is not running")
        from bot.api import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        ts = int(self.clock.timestamp())  # the bot's clock checks it
        headers = {
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: sign(self.api.key.encode(), ts, body),
            "Content-Type": content_type,
        }
        try:
            async with self._session.post(self.api.url + path, data=body, headers=headers) as resp:
                try:
                    payload = await resp.json(content_type=None)
                except ValueError:
                    payload = {"error": (await resp.text())[:200]}
                return resp.status, payload if isinstance(payload, dict) else {"result": payload}
        except aiohttp.ClientError as exc:
            raise ApiProblem(502, f"the operator API did not answer ({type(exc).__name__})") from exc

    # -- actions -------------------------------------------------------------------------------

    def person(self, account_id: Any) -> Person:
        person = self.people.get(account_id) if isinstance(account_id, str) else None
        if person is None:
            raise ApiProblem(404, "no such demo person")
        return person

    def send(self, text: str) -> dict[str, Any] | None:
        update = self.core.user_message(self.user_id, text)
        self.bump()
        return update

    def share_contact(self, phone: str) -> dict[str, Any] | None:
        update = self.core.user_contact(self.user_id, phone)
        self.bump()
        return update

    async def link(self, person: Person) -> dict[str, Any]:
        body = json.dumps({"account_id": person.account_id, "ttl_minutes": 15}).encode()
        status, payload = await self.operator("/v1/links", body, "application/json")
        if status != 200 or not isinstance(payload.get("url"), str):
            raise ApiProblem(502, f"the operator API refused the link ({status}: {payload.get('error')})")
        url = payload["url"]
        token = url.rpartition("start=")[2]
        # What Telegram's app does with t.me/<bot>?start=<token>: open the chat, send /start <token>.
        await self.answered(lambda: self.send(f"/start {token}"))
        return {"url": url}

    async def answered(self, act: Callable[[], dict[str, Any] | None]) -> None:
        """Do `act` (a user's message) and wait for the bot's answer: its first message, which it
        sends once what it wrote is committed (handlers.common.Scope.release), then the rest. A
        quiet spell alone is not enough: the bot may delete the user's message and then spend
        longer than the spell on the database before it answers."""
        seq = self.core.call_seq()
        update = act()
        await self.settle(update, until=lambda: bool(self.core.calls_since(seq, "sendMessage")))
        await self.settle(None)

    async def bind_in_chat(self, person: Person) -> dict[str, Any]:
        from storage.bindings import STEP_ID, STEP_NAME, STEP_PHONE

        steps: list[tuple[str, str | None]] = [("/bind", STEP_NAME), (person.name, STEP_ID),
                                                (person.id_number, STEP_PHONE)]
        for text, expected in steps:
            await self.answered(partial(self.send, text))
            step = await self.flow_step(self.user_id)
            if step != expected:
                bound = await self.bound_account(self.user_id)
                reason = "already bound: send /unbind first" if bound else "the bot did not go on to the next step"
                return {"ok": False, "reason": reason, "at": text if text.startswith("/") else "details"}
        await self.answered(partial(self.share_contact, person.contact_phone))
        bound = await self.bound_account(self.user_id)
        return {"ok": bound == person.account_id, "bound": bound}

    async def _push_feed(self, make: Callable[[datetime], Any]) -> tuple[Any, list[dict[str, Any]]]:
        """Build a feed's messages for now (in a thread) and push them through the operator API."""
        if self.ceb_dir is None:
            raise ApiProblem(503, "no demo feed to copy from")
        feed = await asyncio.to_thread(make, self.clock.now())
        results = []
        for msg_type, xml in feed.messages:
            status, payload = await self.operator("/v1/messages", xml, "application/xml")
            results.append({"type": msg_type, "http": status, "status": payload.get("status"),
                            "reason": payload.get("reason")})
            if status != 200:
                raise ApiProblem(502, f"the operator API answered {status} to {msg_type}: {payload}")
        return feed, results

    async def new_tax(self, person: Person) -> dict[str, Any]:
        feed, results = await self._push_feed(
            lambda now: new_tax_messages(self.ceb_dir, person, now=now, rng=self.rng)  # type: ignore[arg-type]
        )
        return {"tax_no": feed.tax_no, "invt_no": feed.invt_no, "total_tax": f"{feed.total_tax:.2f}",
                "goods": feed.goods, "results": results}

    async def story(self, person: Person, story: str) -> dict[str, Any]:
        if story not in STORIES:
            raise ApiProblem(400, f"story must be one of {', '.join(STORIES)}")
        feed, results = await self._push_feed(
            lambda now: story_messages(self.ceb_dir, person, story, now=now, rng=self.rng)  # type: ignore[arg-type]
        )
        return {"story": story, "invt_no": feed.invt_no, "goods": feed.goods, "results": results}

    async def wait_answer(self, query_id: str) -> dict[str, Any] | None:
        await self.settle(None, within=ANSWER_TIMEOUT, until=lambda: self.core.callback_answer(query_id) is not None)
        answer = self.core.callback_answer(query_id)
        if answer is None:
            return None
        return {"text": answer.text, "show_alert": answer.show_alert, "url": answer.url}


# --------------------------------------------------------------------------- JSON shapes


def _inline_button(b: dict[str, Any]) -> dict[str, Any]:
    out = {"text": b.get("text", "")}
    for key in ("callback_data", "url"):
        if key in b:
            out[key] = b[key]
    if not ({"callback_data", "url"} & b.keys()):
        out["other"] = next((k for k in b if k != "text"), "")
    return out


def _reply_button(b: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"text": b.get("text", "")}
    if b.get("request_contact"):
        out["request_contact"] = True
    return out


def _media_json(v: MessageView) -> dict[str, Any]:
    """A photo (its largest size) or a document, with the page's URL for it."""
    out: dict[str, Any] = {}
    if v.photo:
        size = v.photo[-1]
        out["photo"] = {"url": f"/api/file/{size['file_id']}", "width": size["width"], "height": size["height"]}
    if v.document is not None:
        d = v.document
        out["document"] = {"url": f"/api/file/{d['file_id']}?download=1", "name": d.get("file_name") or "file",
                           "mime_type": d.get("mime_type"), "size": d.get("file_size")}
    if v.caption:
        out["caption"] = v.caption
        out["caption_entities"] = list(v.caption_entities)
    return out


def message_json(v: MessageView) -> dict[str, Any]:
    return {
        **_media_json(v),
        "id": v.message_id,
        "out": not v.from_bot,
        "date": v.date,
        "text": v.text,
        "entities": list(v.entities),
        "html": v.html,
        "buttons": [[_inline_button(b) for b in row] for row in v.buttons],
        "edited": v.edited > 0,
        "protected": v.protect_content,
        "contact": v.contact,
    }


# --------------------------------------------------------------------------- routes

WEBCHAT_KEY: web.AppKey[WebChat] = web.AppKey("sandbox_webchat", WebChat)


def _chat(request: web.Request) -> WebChat:
    return request.app[WEBCHAT_KEY]


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise ApiProblem(400, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiProblem(400, "the body must be a JSON object")
    return data


def _check_user(chat: WebChat, data: dict[str, Any]) -> None:
    user_id = data.get("user_id", chat.user_id)
    if user_id != chat.user_id:
        raise ApiProblem(400, f"user_id must be the sandbox user {chat.user_id}")


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiProblem as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)
    except SandboxError as exc:
        return web.json_response({"error": str(exc)}, status=400)


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def get_state(request: web.Request) -> web.Response:
    return web.json_response(await _chat(request).state(), dumps=_dumps)


async def get_people(request: web.Request) -> web.Response:
    chat = _chat(request)
    bound = await chat.bound_account(chat.user_id)
    return web.json_response({"people": chat.people_json(bound), "bound": bound}, dumps=_dumps)


async def events(request: web.Request) -> web.StreamResponse:
    chat = _chat(request)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    chat.core.add_watcher(loop, event)
    chat._wakeups.add(event)
    last = ""
    last_write = loop.time()
    try:
        await resp.write(b"retry: 1000\n\n")
        while not chat._closing:
            event.clear()
            body = _dumps(await chat.state())
            if body != last:
                await resp.write(b"event: state\ndata: " + body.encode() + b"\n\n")
                last, last_write = body, loop.time()
            elif loop.time() - last_write > HEARTBEAT:
                await resp.write(b": ping\n\n")
                last_write = loop.time()
            # While the sandbox is still starting, its progress changes without a bot call.
            status = chat.status.as_dict()
            timeout = HEARTBEAT if status["done"] and status["bot_ready"] else 0.5
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                pass
            await asyncio.sleep(0.04)  # coalesce a burst of calls (answer + edit) into one snapshot
    except (ConnectionResetError, aiohttp.ClientConnectionResetError):
        pass
    finally:
        chat._wakeups.discard(event)
        chat.core.remove_watcher(loop, event)
    return resp


async def get_file(request: web.Request) -> web.Response:
    """A photo or document the bot sent to this chat: shown inline, or as a download (?download=1)."""
    chat = _chat(request)
    file_id = request.match_info["file_id"]
    sent_here = any(
        (v.photo and v.photo[-1]["file_id"] == file_id) or (v.document and v.document["file_id"] == file_id)
        for v in chat.core.messages(chat.user_id)
    )
    stored = chat.core.file(file_id) if sent_here else None
    if stored is None:
        raise ApiProblem(404, "no such file in this chat")
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if request.query.get("download"):
        name = stored.file_name or f"file-{stored.file_unique_id}"
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return web.Response(body=stored.data, content_type=stored.mime_type, headers=headers)


async def post_send(request: web.Request) -> web.Response:
    chat = _chat(request)
    data = await _body(request)
    _check_user(chat, data)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiProblem(400, "text must be a non-empty string")
    update = chat.send(text)
    return web.json_response({"ok": True, "update_id": update["update_id"] if update else None})


async def post_tap(request: web.Request) -> web.Response:
    chat = _chat(request)
    data = await _body(request)
    _check_user(chat, data)
    message_id, payload = data.get("message_id"), data.get("data")
    if not isinstance(message_id, int) or not isinstance(payload, str):
        raise ApiProblem(400, "message_id (integer) and data (string) are required")
    update = chat.core.user_tap(chat.user_id, chat.user_id, message_id, payload)
    chat.bump()
    answer = await chat.wait_answer(update["callback_query"]["id"])
    return web.json_response({"ok": True, "answer": answer})


async def post_contact(request: web.Request) -> web.Response:
    chat = _chat(request)
    data = await _body(request)
    _check_user(chat, data)
    phone = chat.person(data["account_id"]).contact_phone if data.get("account_id") else "8613800138000"
    update = chat.share_contact(phone)
    return web.json_response({"ok": True, "update_id": update["update_id"] if update else None})


async def post_language(request: web.Request) -> web.Response:
    chat = _chat(request)
    data = await _body(request)
    _check_user(chat, data)
    code = data.get("language_code")
    if code not in LANGUAGES:
        raise ApiProblem(400, f"language_code must be one of {', '.join(LANGUAGES)}")
    chat.core.add_user(chat.user_id, chat.first_name, last_name=chat.last_name, language_code=code)
    chat.bump()
    return web.json_response({"ok": True, "language_code": code})


async def post_link(request: web.Request) -> web.Response:
    chat = _chat(request)
    data = await _body(request)
    _check_user(chat, data)
    return web.json_response(await chat.link(chat.person(data.get("account_id"))))


async def post_bind_chat(request: web.Request) -> web.Response:
    chat = _chat(request)
    data = await _body(request)
    _check_user(chat, data)
    return web.json_response(await chat.bind_in_chat(chat.person(data.get("account_id"))))


async def post_new_tax(request: web.Request) -> web.Response:
    chat = _chat(request)
    data = await _body(request)
    return web.json_response(await chat.new_tax(chat.person(data.get("account_id"))))


async def post_story(request: web.Request) -> web.Response:
    chat = _chat(request)
    data = await _body(request)
    return web.json_response(await chat.story(chat.person(data.get("account_id")), str(data.get("story"))))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def add_webchat(app: web.Application, chat: WebChat) -> web.Application:
    """Add the web chat's routes to the stand-in's application (``make_app(core)``)."""
    app[WEBCHAT_KEY] = chat
    app.middlewares.append(_errors)
    app.on_shutdown.append(chat.on_shutdown)
    app.on_cleanup.append(chat.on_cleanup)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    app.router.add_get("/api/state", get_state)
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/people", get_people)
    app.router.add_get("/api/file/{file_id}", get_file)
    app.router.add_post("/api/send", post_send)
    app.router.add_post("/api/tap", post_tap)
    app.router.add_post("/api/contact", post_contact)
    app.router.add_post("/api/language", post_language)
    app.router.add_post("/api/link", post_link)
    app.router.add_post("/api/bind-chat", post_bind_chat)
    app.router.add_post("/api/new-tax", post_new_tax)
    app.router.add_post("/api/story", post_story)
    return app
