"""The bot started exactly as `swbot run` starts it — a separate process, configured only through
the environment, polling the Bot API stand-in over HTTP — with its data prepared by the `swbot`
commands themselves (demo-data, accounts import, ingest, link). A user binds (deep link, and a
second one in chat) and queries through it; SIGTERM then stops it cleanly with exit status 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.demo import generate
from bot.domain.clock import Clock
from bot.sandbox.client import SandboxClient
from bot.sandbox.core import BotApiCore
from bot.sandbox.server import SandboxServer
from tests.support.conversation import ID_RE, PHONE_RE, money
from tests.support.waiting import wait_for

pytestmark = pytest.mark.subprocess

TOKEN = "123456:E2E-subprocess-token"
SWBOT = Path(sys.executable).with_name("swbot")
CONSUMERS, SEED = 3, 11


def swbot(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    command = [str(SWBOT)] if SWBOT.exists() else [sys.executable, "-m", "bot.cli"]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    core = BotApiCore(username="swbot_e2e_bot")
    srv = SandboxServer(core)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        core.shutdown()


def showing(client: SandboxClient, text: str) -> Callable[[], bool]:
    """`until=` for the HTTP client: the bot's newest message contains `text`. Explicit, because
    "the bot has been quiet for a moment" can come too early on a loaded machine."""
    return lambda: text in client.visible_text()


async def test_swbot_run_as_a_process_binds_queries_and_stops_on_sigterm(tmp_path: Path, server: SandboxServer) -> None:
    core = server.core
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SWBOT_")},
        "SWBOT_TOKEN": TOKEN,
        "SWBOT_BOT_API_URL": server.base_url,
        "SWBOT_DATA_DIR": str(tmp_path / "data"),
        "SWBOT_LOG_LEVEL": "DEBUG",
        "PYTHONUNBUFFERED": "1",
    }
    demo = tmp_path / "demo"
    # `swbot run` in a process of its own runs on the real clock (a pinned test run cannot reach it),
    # so the data is made as of the real day too.
    today = Clock.system().today()
    # -- the data, prepared with the CLI
    r = swbot("demo-data", "--out", str(demo), "--consumers", str(CONSUMERS), "--seed", str(SEED),
              "--today", today.isoformat(), env=env)
    assert r.returncode == 0, r.stderr
    r = swbot("accounts", "import", str(demo / "accounts.csv"), env=env)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == f"imported={CONSUMERS} updated=0 rejected=0"
    r = swbot("ingest", str(demo / "ceb"), env=env)
    assert r.returncode == 0, r.stdout[-2000:]
    assert re.fullmatch(r"accepted=\d+ duplicate=0 rejected=0", r.stdout.strip().splitlines()[-1])
    summary = generate(tmp_path / "again", consumers=CONSUMERS, seed=SEED, today=today)  # same data, in memory
    busy = max(summary.expectations, key=lambda e: e.tax_slips)
    second = next(e for e in summary.expectations if e.account_id != busy.account_id and e.lists)
    r = swbot("link", busy.account_id, env=env)  # no SWBOT_BOT_USERNAME: asks getMe of the stand-in
    assert r.returncode == 0, r.stderr
    link = r.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"https://t\.me/swbot_e2e_bot\?start=([A-Za-z0-9_-]{22,64})", link)
    assert m, link
    token = m.group(1)

    # -- the bot, as `swbot run`
    command = [str(SWBOT)] if SWBOT.exists() else [sys.executable, "-m", "bot.cli"]
    # The log goes to a file: a DEBUG log would fill a pipe nobody reads while the test runs and
    # block the bot on its next log line.
    log_path = tmp_path / "swbot-run.log"
    log_file = log_path.open("w")
    proc = subprocess.Popen([*command, "run"], env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: bool(core.calls("getUpdates")) or proc.poll() is not None, 60, "the bot to poll")
        assert proc.poll() is None, log_path.read_text()[-3000:]
        ann = SandboxClient(core, 801, "Ann", "en", timeout=20)
        await ann.send(f"/start {token}", until=showing(ann, "🏠 Main menu"))
        assert "✅ Bound" in "\n".join(x.text for x in ann.messages())
        assert ann.labels() == ["💳 Quota", "🧾 Tax slips", "📦 Clearance", "🧮 Calculator", "⚙️ Settings", "❓ Help"]
        await ann.tap("💳 Quota", until=ann.made("editMessageText"))
        year = today.year
        assert f"Consumed: {money(busy.consumed[year])}" in ann.visible_text()
        await ann.send("/tax", until=showing(ann, "tax slips"))
        assert f"{busy.tax_slips} tax slips" in ann.visible_text()
        if busy.tax_slips > 5:
            await ann.tap("▶", until=ann.made("editMessageText"))
            assert "page 2/" in ann.visible_text()
        row = next(x for x in ann.labels() if x.startswith("1. "))
        await ann.tap(row, until=ann.made("editMessageText"))
        assert ann.visible_text().startswith("🧾 Tax slip ") and "Total tax: " in ann.visible_text()
        r2 = await ann.tap_data("forged-data", until=ann.made("answerCallbackQuery"))
        assert r2.answer is not None and r2.answer.text and "expired" in r2.answer.text
        # A second person binds in the chat, in Chinese.
        bo = SandboxClient(core, 802, "Bo", "zh-hans", timeout=20)
        await bo.send("/bind", until=showing(bo, "第1步"))
        await bo.send(second.name, until=showing(bo, "第2步"))
        await bo.send(second.id_number, until=showing(bo, "第3步"))
        assert [x.deleted for x in bo.messages(include_deleted=True) if x.text == second.id_number] == [True]
        await bo.share_contact("86" + second.phone, until=showing(bo, "🏠 主菜单"))
        assert "🏠 主菜单" in bo.visible_text() and bo.labels()[0] == "💳 个人额度"
        await bo.send("/clearance", until=showing(bo, "张清单"))
        assert f"{second.lists} 张清单" in bo.visible_text()
        sends = [c for c in core.calls("sendMessage") if c.params.get("chat_id") in (801, 802)]
        assert sends and all(c.params.get("protect_content") is True for c in sends)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()
    log = log_path.read_text()
    assert proc.returncode == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert TOKEN not in log and TOKEN.split(":")[1] not in log
    for secret in (busy.name, second.name, second.id_number, second.phone):
        assert secret not in log
    assert not ID_RE.search(log) and not PHONE_RE.search(log)
    assert "DEBUG" in log  # the check above ran over a DEBUG log
