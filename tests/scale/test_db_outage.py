"""PostgreSQL stopped for 10 seconds while users tap and the notifier runs (issue 13 §4), on a
server of the test's own (tests/own_postgres.py): users get a kind "temporarily unavailable",
never an apology; the bot, the notifier and the operator API recover by themselves; no
notification is lost or sent twice."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.app import build_application
from bot.background import attach_background
from bot.domain.clock import Clock
from bot.i18n import get_translator
from bot.runtime import build_services
from bot.sandbox import load
from bot.sandbox.core import BotApiCore
from bot.sandbox.server import SandboxServer
from bot.views import menu as menu_views
from tests.support.harness import SECRET, make_settings
from tests.support.own_postgres import OwnPostgres

pytestmark = pytest.mark.subprocess

EN = get_translator("en")
FIRST_USER = 5_300_001
OUTAGE = 10.0


@pytest.fixture
def pg() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


NEW_TAX = "🧾 New tax slip"


def notified(core: BotApiCore, chat: int, tax_no: str) -> int:
    """How many "new tax slip" notices for `tax_no` reached `chat` (opening one shows the slip
    again, as a reply: that is not a notice)."""
    return sum(
        1
        for c in core.calls("sendMessage")
        if c.ok and c.params.get("chat_id") == chat and tax_no in (t := str(c.params.get("text"))) and NEW_TAX in t
    )


async def test_postgres_down_for_ten_seconds(
    pg: OwnPostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    caplog.set_level(logging.INFO)
    prepared = await load.prepare(pg.url, SECRET, tmp_path / "demo", 6, seed=5, clock=clock)
    core = BotApiCore(username="swbot_outage_bot")
    server = SandboxServer(core)
    server.start()
    api_port, api_key = _free_port(), secrets.token_urlsafe(24)
    api = f"http://127.0.0.1:{api_port}"
    settings = make_settings(
        tmp_path / "data",
        database_url=pg.url,
        bot_api_url=server.base_url,
        api_listen=f"127.0.0.1:{api_port}",
        api_key=SecretStr(api_key),
        outbox_poll_interval=0.3,
    )
    app = build_application(settings, build_services(settings, clock))
    attach_background(app, settings)
    users = list(range(FIRST_USER, FIRST_USER + 6))
    rng = random.Random(9)
    expected: dict[str, int] = {}  # tax slip number → the chat that must be told, once

    async def new_tax(i: int) -> list[int]:
        tax_no, messages = load.new_tax_slips(prepared, i, clock.now(), rng)
        expected[tax_no] = users[i]
        return [await load.push(api, api_key, m, now=int(clock.timestamp())) for m in messages]

    try:
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        await load.bind_all(core, users, prepared.tokens, within=30)
        assert await new_tax(0) == [200, 200, 200]

        done = False
        tapping = asyncio.create_task(
            load.run_users(core, users, seconds=60, think=0.4, view_timeout=2.0, running=lambda: not done)
        )
        await asyncio.sleep(1.5)
        for i in (1, 2, 3):  # due right as the database goes away
            assert await new_tax(i) == [200, 200, 200]
        pg.stop()
        down_at = time.monotonic()
        await asyncio.sleep(1.0)
        status = await load.push(
            api, api_key, load.new_tax_slips(prepared, 4, clock.now(), rng)[1][0], now=int(clock.timestamp())
        )
        assert status == 503  # the operator API says so, and the sender can try again
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
        pg.start()
        await asyncio.sleep(3.0)
        assert await new_tax(5) == [200, 200, 200]  # the operator API is back by itself
        done = True
        during = await tapping
        after = await load.run_users(core, users, seconds=3, think=0.3, view_timeout=5.0)  # the bot is back

        deadline = time.monotonic() + 45  # a lease (30 s) at most, should a row have been orphaned
        while time.monotonic() < deadline and any(notified(core, c, t) == 0 for t, c in expected.items()):
            await asyncio.sleep(0.2)
    finally:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
        server.stop()
        core.shutdown()

    assert {t: notified(core, c, t) for t, c in expected.items()} == dict.fromkeys(expected, 1)
    queries = during.queries + after.queries
    assert load.unanswered(core, queries) == []
    assert core.refusals() == []
    texts = [a.text for q in queries if (a := core.callback_answer(q)) is not None]
    assert menu_views.unavailable_text(EN) in texts  # told kindly while it was down …
    apology = menu_views.error_text(EN)
    assert apology not in texts  # … never "something went wrong"
    assert all(apology not in m.text for u in users for m in core.messages(u))
    assert after.taps >= 6 and after.no_view == 0
    ours = [r for r in caplog.records if r.name.split(".")[0] in {"bot", "handlers", "storage", "swbot"}]
    assert not [r for r in ours if r.exc_info or r.levelno >= logging.ERROR], [r.getMessage() for r in ours][-10:]
