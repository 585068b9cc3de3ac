"""`attach_background`: the notifier and the operator API started and stopped with the bot, as
`swbot run` does, against the HTTP Bot API stand-in; and its refusal to start without an API key."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.background import API_PORT_KEY, NOTIFIER_KEY, attach_background, check_api_settings
from bot.runtime import Services
from bot.sandbox.core import BotApiCore
from bot.sandbox.server import SandboxServer
from bot.settings import Settings, SettingsError
from storage.accounts import AccountRow, upsert_account
from storage.bindings import bind
from storage.db import Database
from storage.models import Account
from storage.vault import Vault
from tests.support import paths
from tests.support.api import KEY, SAMPLES, Api, api_settings
from tests.support.notifier import TOKEN, open_chats, sends

ROOT = paths.ROOT
USER = 5150


def test_api_listen_without_key_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^SWBOT_API_KEY\b") as exc:
        check_api_settings(api_settings(tmp_path, api_key=None))
    assert "\n" not in str(exc.value)
    with pytest.raises(SettingsError, match=r"^SWBOT_API_KEY: must be at least"):
        check_api_settings(api_settings(tmp_path, api_key=SecretStr("short")))
    check_api_settings(api_settings(tmp_path, api_listen=None, api_key=None))  # API off: fine


def test_swbot_run_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWBOT_")}
    env.update(
        SWBOT_TOKEN=TOKEN,
        SWBOT_DATA_DIR=str(tmp_path),
        SWBOT_API_LISTEN="127.0.0.1:0",
        SWBOT_BOT_API_URL="http://127.0.0.1:9/bot",
    )  # nothing listens there: must not get that far
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "SWBOT_API_KEY" in lines[0], proc.stderr
    assert TOKEN not in proc.stderr + proc.stdout


async def test_started_and_stopped_with_the_bot(sqlite_db: Database, vault: Vault, tmp_path: Path) -> None:
    """A tax slip pushed through the operator API reaches the bound user's chat, paced by the
    notifier on its own bot; stopping closes the API and the notifier."""
    core = BotApiCore()
    open_chats(core, [USER])
    server = SandboxServer(core)
    base_url = server.start()
    settings: Settings = api_settings(
        tmp_path,
        token=SecretStr(TOKEN),
        bot_api_url=base_url,
        outbox_poll_interval=0.2,
        broadcast_rate=10.0,
    )
    async with sqlite_db.write() as s:
        await upsert_account(s, vault, AccountRow("acct-1", "王小明", "1", "11010519491231002X", "13800138000"))
        pk = (await s.execute(select(Account.id))).scalar_one()
        await bind(s, USER, USER, pk, "link")
    services = Services(settings=settings, db=sqlite_db, vault=vault)
    app: Any = SimpleNamespace(
        bot_data={"services": services, "on_start": [], "on_stop": []}, bot=SimpleNamespace(username="swbot_test_bot")
    )
    attach_background(app, settings)
    try:
        for hook in app.bot_data["on_start"]:
            await hook(app)
        port = app.bot_data[API_PORT_KEY]
        notifier = app.bot_data[NOTIFIER_KEY]
        assert notifier.bot is not app.bot  # its own bot, not the interactive one
        async with aiohttp.ClientSession() as session:
            api = Api(f"http://127.0.0.1:{port}", session, sqlite_db, vault, None)  # type: ignore[arg-type]
            for name in ("ceb621_two_lines.xml", "ceb816_tax.xml"):
                status, body = await api.post("/v1/messages", (SAMPLES / name).read_bytes())
                assert (status, body["status"]) == (200, "accepted")
            pushed = time.monotonic()
            deadline = pushed + 5
            while not sends(core, USER) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            [call] = sends(core, USER)
            assert call.at - pushed < 2.0
            assert "29242020I439440284_0" in call.params["text"] and call.params["protect_content"] is True
            link_body = b'{"account_id": "acct-1"}'
            status, body = await api.post("/v1/links", link_body)
            assert status == 200 and body["url"].startswith("https://t.me/swbot_test_bot?start=")
    finally:
        for hook in reversed(app.bot_data["on_stop"]):
            await hook(app)
        server.stop()
    assert NOTIFIER_KEY not in app.bot_data
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}/healthz")
    assert KEY not in str(app.bot_data)


async def test_without_api_listen_only_the_notifier_runs(sqlite_db: Database, vault: Vault, tmp_path: Path) -> None:
    settings = api_settings(
        tmp_path, api_listen=None, api_key=None, token=SecretStr(TOKEN), bot_api_url="http://127.0.0.1:9/bot"
    )
    app: Any = SimpleNamespace(bot_data={"services": Services(settings=settings, db=sqlite_db, vault=vault)})
    attach_background(app, settings)
    assert len(app.bot_data["on_start"]) == 1 and len(app.bot_data["on_stop"]) == 1
