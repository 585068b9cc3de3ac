"""The stand-in over HTTP on 127.0.0.1: a real python-telegram-bot Application polling it (or
receiving its webhook pushes), wire formats, token check, webhook delivery and conflicts."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter, TimedOut
from telegram.ext import Application

from bot.sandbox.client import SandboxClient
from bot.sandbox.core import BotApiCore
from bot.sandbox.methods import NOT_MODIFIED, WEBHOOK_CONFLICT
from bot.sandbox.server import SandboxServer
from bot.sandbox.webhook import SECRET_HEADER
from tests.support.sandbox import TOKEN, http_app, ptb_message

USER = 701


@pytest.fixture
async def polling_app(server: SandboxServer) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    app = http_app(server.base_url)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        yield app
        await app.updater.stop()
        await app.stop()


@pytest.fixture
def client(core: BotApiCore, polling_app: Application[Any, Any, Any, Any, Any, Any]) -> SandboxClient:
    return SandboxClient(core, USER, "Ann")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.wallclock  # socket and thread timeouts (pyproject markers)
async def test_polling_bot_end_to_end(client: SandboxClient, core: BotApiCore,
                                      polling_app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    reaction = await client.send("/start tok")
    assert reaction.methods() == ["sendMessage"]
    assert client.visible_text() == "Hello Ann\npayload: tok"
    reaction = await client.tap("2024")
    assert reaction.methods() == ["answerCallbackQuery", "editMessageText"]
    assert client.visible_text() == "Quota 2024"
    await client.tap("✓ 2024")
    assert polling_app.bot_data["errors"] == [ptb_message(f"Bad Request: {NOT_MODIFIED}")]
    # Offsets were acknowledged: nothing is left for the next poll.
    assert core.pending_updates() == []
    assert all(c.ok for c in core.calls("getUpdates"))


async def test_client_waits_for_a_predicate(client: SandboxClient, core: BotApiCore) -> None:
    client.quiet = 5.0  # would time out if the predicate were not used
    started = time.monotonic()
    await client.send("hello & <bye>", until=lambda: client.visible_text() == "hello & <bye>")
    assert time.monotonic() - started < 2.0
    assert client.last_message().html == "hello &amp; &lt;bye&gt;"  # type: ignore[union-attr]


async def test_until_bot_made_calls_skips_the_quiet_period(client: SandboxClient) -> None:
    await client.send("/start")
    client.quiet = 5.0
    started = time.monotonic()
    reaction = await client.tap("2025", until=client.made("answerCallbackQuery", "editMessageText"))
    assert time.monotonic() - started < 2.0
    assert reaction.methods() == ["answerCallbackQuery", "editMessageText"]


async def test_client_timeout_is_explicit(core: BotApiCore, server: SandboxServer) -> None:
    client = SandboxClient(core, USER, timeout=0.3)  # nobody is polling
    with pytest.raises(AssertionError, match="did not fetch message update"):
        await client.send("/start")


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_errors_map_to_ptb_exceptions_over_http(client: SandboxClient, core: BotApiCore,
                                                      polling_app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    bot = polling_app.bot
    await client.send("/start")
    with pytest.raises(BadRequest) as info:
        await bot.send_message(USER, "<b>unclosed", parse_mode="HTML")
    assert info.value.message == ptb_message(
        'Bad Request: can\'t parse entities: Can\'t find end tag corresponding to start tag "b"')
    core.fail_next("sendMessage", error_code=429, retry_after=3)
    with pytest.raises(RetryAfter) as retry:
        await bot.send_message(USER, "x")
    assert retry.value.retry_after in (3, dtm.timedelta(seconds=3))
    with pytest.raises(BadRequest) as unknown:
        await bot.do_api_request("noSuchMethod")
    assert unknown.value.message == "Not Found: method not found"
    await client.block()
    assert polling_app.bot_data["members"] == [(USER, "member", "kicked")]
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "x")


async def test_slow_answer_times_out_over_http(client: SandboxClient, core: BotApiCore,
                                               polling_app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    await client.send("/start")
    core.slow("sendMessage", 1.0, times=1)
    with pytest.raises(TimedOut):
        await polling_app.bot.send_message(USER, "late", read_timeout=0.2)
    assert client.visible_text() == "late"


async def test_token_format_is_checked(server: SandboxServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.base_url}not-a-token/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    with pytest.raises(InvalidToken):
        async with Bot("no-colon", base_url=server.base_url):
            pass


async def test_query_form_multipart_and_json_bodies(core: BotApiCore, server: SandboxServer) -> None:
    core.add_user(USER, "Ann")
    core.user_message(USER, "/start")
    url = f"{server.base_url}{TOKEN}/sendMessage"
    kb = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    form = aiohttp.FormData()
    form.add_field("chat_id", str(USER))
    form.add_field("text", "multipart")
    form.add_field("reply_markup", json.dumps(kb))
    form.add_field("extra", b"ignored", filename="x.bin")  # forces multipart/form-data
    async with aiohttp.ClientSession() as http:
        for kwargs in (
            {"params": {"chat_id": str(USER), "text": "query", "reply_markup": json.dumps(kb)}},
            {"data": {"chat_id": str(USER), "text": "form", "reply_markup": json.dumps(kb)}},
            {"data": form},
            {"json": {"chat_id": USER, "text": "json", "reply_markup": kb}},
        ):
            async with http.post(url, **kwargs) as resp:  # type: ignore[arg-type]
                body = await resp.json()
                assert resp.status == 200, body
                assert body["result"]["reply_markup"] == kb
        async with http.get(url, params={"chat_id": str(USER), "text": "get"}) as resp:
            assert resp.status == 200
        async with http.post(url, data=b"{broken", headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400
    assert [m.text for m in core.messages(USER)[1:]] == ["query", "form", "multipart", "json", "get"]


async def test_dropped_long_poll_leaves_no_ghost(core: BotApiCore, server: SandboxServer) -> None:
    url = f"{server.base_url}{TOKEN}/getUpdates"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(asyncio.TimeoutError):
            async with http.get(url, params={"timeout": "5"}, timeout=aiohttp.ClientTimeout(total=0.2)):
                pass
    for _ in range(50):  # the server notices the disconnect and cancels the handler
        if not core._pollers:
            break
        await asyncio.sleep(0.02)
    assert core._pollers == []
    started = time.monotonic()
    server.stop()  # and shutting down does not wait for anything
    assert time.monotonic() - started < 3


async def test_stop_releases_a_pending_poll(core: BotApiCore, server: SandboxServer) -> None:
    url = f"{server.base_url}{TOKEN}/getUpdates"
    async with aiohttp.ClientSession() as http:
        pending = asyncio.create_task(http.get(url, params={"timeout": "30"}))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await asyncio.to_thread(server.stop)
        resp = await asyncio.wait_for(pending, 3)
        assert resp.status == 200 and (await resp.json())["result"] == []
        assert time.monotonic() - started < 3


# -- webhook ---------------------------------------------------------------------------------------


class Receiver:
    """A tiny webhook endpoint recording what the stand-in pushes."""

    def __init__(self) -> None:
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        self.fail_first = 0
        self.reply: dict[str, Any] | None = None
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_first:
            self.fail_first -= 1
            return web.Response(status=500)
        self.received.append((request.headers.get(SECRET_HEADER), await request.json()))
        self.arrived.set()
        if self.reply is not None:
            return web.json_response(self.reply)
        return web.Response()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield rec, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    await runner.cleanup()


async def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_webhook_push_with_secret_and_409_for_polling(core: BotApiCore, server: SandboxServer,
                                                            receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    async with Bot(TOKEN, base_url=server.base_url) as bot:
        assert await bot.set_webhook(url, secret_token="s3cr3t-Token_1")
        update = core.add_user(USER, "Ann") and core.user_message(USER, "/start")
        assert update is not None
        await asyncio.wait_for(rec.arrived.wait(), 3)
        assert rec.received == [("s3cr3t-Token_1", update)]
        await wait_for(lambda: core.delivered(update["update_id"]))
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count) == (url, 0)
        with pytest.raises(Conflict) as info_conflict:
            await bot.get_updates()
        assert info_conflict.value.message == WEBHOOK_CONFLICT
        assert await bot.delete_webhook()
        core.user_message(USER, "after")
        updates = await bot.get_updates()
        assert [u.message.text for u in updates] == ["after"]  # type: ignore[union-attr]
    assert len(rec.received) == 1


@pytest.mark.wallclock  # socket and thread timeouts (pyproject markers)
async def test_webhook_retries_and_records_errors(core: BotApiCore, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rec.fail_first = 2
    core.webhook_retry_delay = 0.05
    core.call("setWebhook", url=url)
    core.add_user(USER, "Ann")
    update = core.user_message(USER, "hi")
    assert update is not None
    await asyncio.wait_for(rec.arrived.wait(), 3)
    assert rec.received == [(None, update)]  # no secret set, no header
    info = core.webhook_info()
    assert info["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    await wait_for(lambda: core.webhook_info()["pending_update_count"] == 0)


async def test_webhook_reply_can_carry_a_method(core: BotApiCore, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rec.reply = {"method": "sendMessage", "chat_id": USER, "text": "answered inline"}
    core.call("setWebhook", url=url)
    core.add_user(USER, "Ann")
    core.user_message(USER, "hi")
    await wait_for(lambda: core.last_message(USER) is not None)
    assert core.last_message(USER).text == "answered inline"  # type: ignore[union-attr]


async def test_ptb_webhook_mode_end_to_end(core: BotApiCore, server: SandboxServer) -> None:
    port = free_port()
    app = http_app(server.base_url)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="hook",
                                        webhook_url=f"http://127.0.0.1:{port}/hook", secret_token="s3cr3t")
        try:
            assert core.webhook_info()["url"] == f"http://127.0.0.1:{port}/hook"
            client = SandboxClient(core, USER, "Ann")
            reaction = await client.send("/start")
            assert reaction.methods() == ["sendMessage"]
            assert client.visible_text() == "Hello Ann"
            await client.tap("2025")
            assert client.visible_text() == "Quota 2025"
        finally:
            await app.updater.stop()
            await app.stop()
