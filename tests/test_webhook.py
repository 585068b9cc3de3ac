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

pytestmark = pytest.mark.slow

SECRET = "hook-Secret_123"
TOKEN = "424242:WEBHOOK-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate, timeout: float = 20.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def webhook_bot(tmp_path: Path) -> Iterator[tuple[BotApiCore, int, subprocess.Popen[bytes]]]:
    core = BotApiCore()
    server = SandboxServer(core)
    base_url = server.start()
    port = free_port()
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
    log = (tmp_path / "bot.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: bool(core.calls("setWebhook")) or proc.poll() is not None, what="setWebhook")
        assert proc.poll() is None, (tmp_path / "bot.log").read_text()
        yield core, port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        core.shutdown()
        server.stop()


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
