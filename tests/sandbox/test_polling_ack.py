"""`swbot run` in polling mode lets Telegram forget an update only once it is spooled (bot.polling).

The process is SIGKILLed while its answer to a message waits at the stand-in: the next start
handles that message from its spool and answers it. A SIGTERM after handling leaves nothing: the
next start handles nothing again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.sandbox.core import BotApiCore
from bot.sandbox.server import SandboxServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.subprocess

TOKEN = "123456:polling-ack-token"
USER = 901


def replies(core: BotApiCore) -> int:
    return len([c for c in core.calls("sendMessage") if c.ok and c.params.get("chat_id") == USER])


def polls_since(core: BotApiCore, seq: int) -> list[list[dict[str, object]]]:
    """What each getUpdates answered since `seq` brought."""
    return [list(c.result or []) for c in core.calls_since(seq) if c.method == "getUpdates" and c.ok]


class Bot:
    def __init__(self, tmp: Path, core: BotApiCore, base_url: str) -> None:
        self.core = core
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SWBOT_")},
            "SWBOT_TOKEN": TOKEN,
            "SWBOT_BOT_API_URL": base_url,
            "SWBOT_DATA_DIR": str(tmp / "data"),
            "SWBOT_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        self.tmp = tmp
        self.runs = 0

    def start(self) -> subprocess.Popen[str]:
        self.runs += 1
        log = (self.tmp / f"run-{self.runs}.log").open("w")
        seq = self.core.call_seq()
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, text=True)
        wait_for(lambda: bool(polls_since(self.core, seq)) or proc.poll() is not None, 60, "the bot to poll")
        assert proc.poll() is None, (self.tmp / f"run-{self.runs}.log").read_text()[-3000:]
        return proc


def test_an_update_whose_answer_a_sigkill_cut_off_comes_again(tmp_path: Path, server: SandboxServer) -> None:
    core = server.core
    core.add_user(USER, "Ann", language_code="en")
    bot = Bot(tmp_path, core, server.base_url)

    proc = bot.start()
    try:
        core.hold()  # the bot's answer waits at the stand-in ...
        update = core.user_message(USER, "/help", enqueue=True)
        assert update is not None
        wait_for(lambda: core.held() >= 1, 30, "the bot to answer /help")
        proc.kill()  # ... and the process dies before it takes effect
        proc.wait(timeout=30)
        wait_for(lambda: core.held() == 0, what="the stand-in to drop the dead process's request")
    finally:
        core.release()
        if proc.poll() is None:
            proc.kill()
    assert replies(core) == 0

    proc = bot.start()
    try:
        wait_for(lambda: replies(core) == 1, 30, "the answer after the restart")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()

    # Stopped cleanly after handling it: nothing in the spool, nothing unacknowledged.
    seq = core.call_seq()
    proc = bot.start()
    try:
        time.sleep(0.5)
        assert all(not poll for poll in polls_since(core, seq))
        assert replies(core) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    logs = [(tmp_path / f"run-{n}.log").read_text() for n in range(1, bot.runs + 1)]
    assert "1 update(s) taken before the last stop and not handled" in logs[1], logs[1][-3000:]
    assert "taken before the last stop" not in logs[2]
    assert not any("Traceback" in log for log in logs), logs
