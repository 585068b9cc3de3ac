"""The interactive bot's HTTP transport (bot.transport.AiohttpRequest) against the stand-in over
real HTTP: parameters and files arrive as python-telegram-bot's own transport sends them, Telegram's
errors come back as python-telegram-bot's exceptions, and transport failures as TimedOut /
NetworkError without the token in their text."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import ExtBot

from bot.sandbox.core import BotApiCore
from bot.sandbox.models import MessageView, Upload
from bot.sandbox.server import SandboxServer
from bot.transport import AiohttpRequest
from tests.support.sandbox import TOKEN

USER = 702


def _sent(core: BotApiCore) -> list[MessageView]:
    return [m for m in core.messages(USER) if m.from_bot]


@pytest.fixture(autouse=True)
def ann(core: BotApiCore) -> None:
    core.add_user(USER, "Ann")
    core.user_message(USER, "/start")  # a bot may write only to whom wrote to it


async def _bot(base_url: str, request: AiohttpRequest) -> ExtBot[None]:
    bot: ExtBot[None] = ExtBot(TOKEN, base_url=base_url, request=request, get_updates_request=AiohttpRequest())
    await bot.initialize()
    return bot


@pytest.fixture
async def bot(server: SandboxServer) -> AsyncIterator[ExtBot[None]]:
    b = await _bot(server.base_url, AiohttpRequest(pool_size=4))
    yield b
    await b.shutdown()


async def test_messages_keyboards_and_edits_arrive_as_sent(bot: ExtBot[None], core: BotApiCore) -> None:
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("税款 ›", callback_data="t:1"), InlineKeyboardButton("b", callback_data="x")]]
    )
    sent = await bot.send_message(USER, "<b>额度</b> ¥1 &amp; 2", parse_mode="HTML", reply_markup=keyboard)
    (view,) = _sent(core)
    assert view.message_id == sent.message_id
    assert view.text == "额度 ¥1 & 2"
    assert view.labels == ["税款 ›", "b"]
    assert view.buttons[0][0]["callback_data"] == "t:1"

    edited = await bot.edit_message_text("second", chat_id=USER, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "second"
    (view,) = _sent(core)
    assert (view.text, view.edited, view.labels) == ("second", 1, [])


async def test_a_file_goes_as_multipart_with_its_name_and_type(bot: ExtBot[None], core: BotApiCore) -> None:
    data = b"\xef\xbb\xbfdate,amount\n2026-11-11,12.34\n" * 50
    await bot.send_document(USER, InputFile(data, filename="税款.csv"), caption="🔒 ok", protect_content=False)
    (call,) = core.calls("sendDocument")
    upload = call.params["document"]
    assert isinstance(upload, Upload)
    assert (upload.data, upload.filename) == (data, "税款.csv")
    assert call.params["caption"] == "🔒 ok"
    (view,) = _sent(core)
    assert view.document is not None and view.caption == "🔒 ok" and not view.protect_content


async def test_telegram_errors_are_python_telegram_bots(bot: ExtBot[None], core: BotApiCore) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999_999, "nobody")
    core.fail_next("sendMessage", error_code=400, description="Bad Request: injected")
    with pytest.raises(BadRequest, match=r"(?i)injected"):
        await bot.send_message(USER, "x")
    assert [m.text for m in _sent(core)] == []


async def test_a_slow_answer_is_timed_out(server: SandboxServer, core: BotApiCore) -> None:
    bot = await _bot(server.base_url, AiohttpRequest(read_timeout=0.3))
    try:
        core.slow("sendMessage", 2.0, times=1)
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "late")
        # The default is the request's own; a call may ask for longer.
        core.slow("sendMessage", 0.5, times=1)
        message = await bot.send_message(USER, "waited", read_timeout=3)
        assert message.text == "waited"
    finally:
        await bot.shutdown()


async def test_an_unreachable_server_is_a_network_error_without_the_token() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    request = AiohttpRequest(connect_timeout=2)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
        assert not isinstance(caught.value, TimedOut)
        assert TOKEN not in str(caught.value)
        assert "aiohttp.ClientConnectorError" in str(caught.value)
    finally:
        await request.shutdown()


async def test_used_before_initialize_or_after_shutdown_it_says_so(server: SandboxServer) -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{server.base_url}{TOKEN}/getMe", "POST")
    await request.initialize()
    code, body = await request.do_request(f"{server.base_url}{TOKEN}/getMe", "POST")
    assert code == 200 and b'"is_bot":true' in body.replace(b" ", b"")
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{server.base_url}{TOKEN}/getMe", "POST")


async def test_the_environments_proxy_is_used_and_no_proxy_honoured(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As with python-telegram-bot's httpx: HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment
    (a bot hosted where Telegram is blocked reaches it through a proxy)."""
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:  # answers for Telegram, as a proxy would relay
        seen.append(str(request.url))
        return web.json_response({"ok": True, "result": {"id": 7, "is_bot": True, "first_name": "Proxied"}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    try:
        request = AiohttpRequest()
        await request.initialize()
        code, body = await request.do_request(f"http://api.telegram.example/bot{TOKEN}/getMe", "POST")
        assert code == 200 and b"Proxied" in body
        assert seen == [f"http://api.telegram.example/bot{TOKEN}/getMe"]
        await request.shutdown()

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the stand-in is reached directly
        request = AiohttpRequest()
        await request.initialize()
        code, body = await request.do_request(f"{server.base_url}{TOKEN}/getMe", "POST")
        assert code == 200 and b"Proxied" not in body
        assert len(seen) == 1
        await request.shutdown()
    finally:
        await runner.cleanup()
