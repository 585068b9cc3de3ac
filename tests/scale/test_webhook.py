"""Webhook mode, started exactly as `swbot run` is (a subprocess), against the Bot API stand-in:
Telegram's updates arrive through the webhook with the secret header and are answered; a request
without the right `X-Telegram-Bot-Api-Secret-Token` is refused and reaches no handler."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox.client import SandboxClient
from bot.sandbox.core import BotApiCore
from bot.sandbox.server import SandboxServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.subprocess

SECRET = "hook-Secret_123"
TOKEN = "424242:WEBHOOK-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_bot(core: BotApiCore, base_url: str, tmp_path: Path, port: int, name: str = "bot") -> subprocess.Popen[bytes]:
    """`swbot run` in webhook mode, configured only through the environment, as a user would."""
    env = {
        **os.environ,
        "SWBOT_TOKEN": TOKEN,
        "SWBOT_BOT_API_URL": base_url,
        "SWBOT_DATA_DIR": str(tmp_path / "data"),
        "SWBOT_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram-hook",
        "SWBOT_WEBHOOK_SECRET": SECRET,
        "SWBOT_LISTEN": f"127.0.0.1:{port}",
        "SWBOT_LOG_LEVEL": "INFO",
    }
    seen = len(core.calls("setWebhook"))
    with (tmp_path / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: len(core.calls("setWebhook")) > seen or proc.poll() is not None, what="setWebhook")
    assert proc.poll() is None, (tmp_path / f"{name}.log").read_text()
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def sandbox() -> Iterator[tuple[BotApiCore, str]]:
    core = BotApiCore()
    core.webhook_retry_delay = 0.1
    server = SandboxServer(core)
    base_url = server.start()
    try:
        yield core, base_url
    finally:
        core.release()
        core.shutdown()
        server.stop()


@pytest.fixture
def webhook_bot(
    sandbox: tuple[BotApiCore, str], tmp_path: Path
) -> Iterator[tuple[BotApiCore, int, subprocess.Popen[bytes]]]:
    core, base_url = sandbox
    port = free_port()
    proc = start_bot(core, base_url, tmp_path, port)
    try:
        yield core, port, proc
    finally:
        stop(proc)


def _post(port: int, body: dict, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telegram-hook",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def test_webhook_serves_updates_and_refuses_wrong_secrets(webhook_bot, tmp_path: Path) -> None:
    core, port, proc = webhook_bot
    hook = core.calls("setWebhook")[-1]
    assert hook.params["secret_token"] == SECRET
    assert hook.params["url"].endswith("/telegram-hook")

    # A real update, pushed by the stand-in through the webhook with the secret header.
    client = SandboxClient(core, 9001, "Hook", "en", quiet=0.3, timeout=20)
    await client.send("/start")
    assert "Welcome" in client.visible_text()
    sent_before = len(core.calls("sendMessage"))

    forged = core.user_message(9001, "/start", enqueue=False)
    assert forged is not None
    forged["update_id"] = 999_999
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                    {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1] + "4"}):
        assert _post(port, forged, headers) == 403
    time.sleep(1.0)
    assert len(core.calls("sendMessage")) == sent_before  # no handler ran

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def _healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


async def test_an_update_is_acknowledged_only_once_handled_so_sigkill_loses_nothing(
    sandbox: tuple[BotApiCore, str], tmp_path: Path
) -> None:
    core, base_url = sandbox
    port = free_port()
    proc = start_bot(core, base_url, tmp_path, port, "first")
    try:
        assert _healthz(port) == (200, {"ok": True, "status": "ok"})
        core.add_user(9002, "Kim", language_code="en")
        # The bot's answers are held at the stand-in: the update is being handled, not done.
        core.hold()
        update = core.user_message(9002, "/start")
        assert update is not None
        wait_for(lambda: core.held() > 0, what="the bot to answer (held)")
        assert core.webhook_in_flight() == 1
        assert not core.delivered(update["update_id"])  # no 200 yet: the handler waits
        proc.kill()  # SIGKILL mid-update
        proc.wait(timeout=10)
        wait_for(lambda: core.held() == 0, what="the stand-in to drop the dead process's request")
        core.release()
        wait_for(lambda: core.webhook_info().get("last_error_message") is not None, what="a failed push")
        assert core.last_message(9002) is None  # nothing was sent by the killed process
    finally:
        stop(proc)
    # Telegram (the stand-in) pushes the update again to whoever listens next: it is handled.
    restarted = start_bot(core, base_url, tmp_path, port, "second")
    try:
        wait_for(lambda: core.delivered(update["update_id"]), what="the update re-delivered")
        wait_for(lambda: core.last_message(9002) is not None, what="the answer")
        assert "Welcome" in (core.last_message(9002).text or "")  # type: ignore[union-attr]
        assert core.webhook_info()["pending_update_count"] == 0
    finally:
        stop(restarted)


async def test_sigterm_drains_finishes_in_flight_refuses_new_and_exits_0(webhook_bot) -> None:
    core, port, proc = webhook_bot
    core.add_user(9003, "Lee", language_code="en")
    core.hold()
    update = core.user_message(9003, "/start")
    assert update is not None
    wait_for(lambda: core.held() > 0, what="the bot to answer (held)")
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: _healthz(port)[0] == 503, what="/healthz to turn 503")
    assert _healthz(port) == (503, {"ok": False, "status": "draining"})
    # A new update is refused with 503 (nginx tries another instance; Telegram re-delivers).
    other = core.user_message(9003, "/help", enqueue=False)
    assert other is not None
    assert _post(port, other, {"X-Telegram-Bot-Api-Secret-Token": SECRET}) == 503
    assert proc.poll() is None  # still finishing the update it has
    core.release()
    assert proc.wait(timeout=30) == 0
    assert core.delivered(update["update_id"])  # answered 200 once handled, before the exit
    assert "Welcome" in (core.last_message(9003).text or "")  # type: ignore[union-attr]
