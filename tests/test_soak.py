"""A short soak (issue 13 §5): 30 users tap through `swbot run` for 30 seconds while new tax slips
arrive through the operator API, with 5 % of Telegram calls answered 429 and 1 % 502, and one
SIGKILL of the bot half-way (it is started again at once, as a supervisor would).

Asserted from the stand-in's record: every tap answered (but those the killed process had already
taken from Telegram: polling acknowledges an update when the next one is fetched, before it is
handled — acknowledging only handled updates is issue 10's), no refusal, no apology; every
notification exactly once; no 1-second window over the broadcast ceiling; no traceback in either
process's log; the bot's memory flat. `bench/soak.py` is the long version.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bot.domain.clock import now_cn, today_cn
from bot.i18n import get_translator
from bot.sandbox import load
from bot.sandbox.core import BotApiCore
from bot.sandbox.server import SandboxServer
from bot.views import menu as menu_views

pytestmark = pytest.mark.slow

USERS, SECONDS, CEILING = 30, 30.0, 3
FIRST_USER = 5_400_001
NEW_TAX = "🧾 New tax slip"
SECRET = "soak-test-master-secret-0123456789-abcdefghij"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def notices(core: BotApiCore) -> list[tuple[int, str, float]]:
    """(chat, text, time) of every "new tax slip" notice the stand-in accepted."""
    return [
        (c.params["chat_id"], str(c.params["text"]), c.at)
        for c in core.calls("sendMessage")
        if c.ok and NEW_TAX in str(c.params.get("text"))
    ]


async def test_thirty_users_thirty_seconds_faults_and_a_kill(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'swbot.db'}"
    prepared = await load.prepare(db_url, SECRET, tmp_path / "demo", USERS, seed=2, today=today_cn())
    core = BotApiCore(username="swbot_soak_bot")
    server = SandboxServer(core)
    server.start()
    api_port, api_key = _free_port(), secrets.token_urlsafe(24)
    api = f"http://127.0.0.1:{api_port}"
    token = f"{random.randrange(10**8, 10**9)}:SOAK-token"  # its own ceiling key, should Redis be used
    env = {
        **load.clean_env(),
        "SWBOT_TOKEN": token,
        "SWBOT_BOT_API_URL": server.base_url,
        "SWBOT_DATABASE_URL": db_url,
        "SWBOT_SECRET_KEY": SECRET,
        "SWBOT_DATA_DIR": str(tmp_path / "data"),
        "SWBOT_BOT_USERNAME": "swbot_soak_bot",
        "SWBOT_LOG_LEVEL": "INFO",
        "SWBOT_API_LISTEN": f"127.0.0.1:{api_port}",
        "SWBOT_API_KEY": api_key,
        "SWBOT_OUTBOX_POLL_INTERVAL": "0.5",
        "SWBOT_BROADCAST_RATE": str(CEILING),
        "PYTHONUNBUFFERED": "1",
    }
    if os.environ.get("SWBOT_TEST_REDIS_URL"):
        env["SWBOT_REDIS_URL"] = os.environ["SWBOT_TEST_REDIS_URL"]
    logs: list[Path] = []

    def start_bot() -> subprocess.Popen[bytes]:
        log = tmp_path / f"swbot-{len(logs)}.log"
        logs.append(log)
        with log.open("w") as fh:
            return subprocess.Popen([*load.swbot_command(), "run"], env=env, stdout=fh, stderr=subprocess.STDOUT)

    async def polling(proc: subprocess.Popen[bytes], after: int) -> None:
        deadline = time.monotonic() + 60
        while not [c for c in core.calls_since(after, "getUpdates")]:
            assert proc.poll() is None and time.monotonic() < deadline, logs[-1].read_text()[-3000:]
            await asyncio.sleep(0.05)

    users = list(range(FIRST_USER, FIRST_USER + USERS))
    rng = random.Random(21)
    expected: dict[str, int] = {}  # tax slip number → chat
    proc = start_bot()
    procs = [proc]
    killed_taken: set[str] = set()  # taps the killed process had fetched and not answered
    try:
        await polling(proc, 0)
        await load.bind_all(core, users, prepared.tokens, within=60)
        core.inject_faults(rate_429=0.05, rate_5xx=0.01, retry_after=1, seed=8)
        done = False

        async def feed() -> None:
            """New tax slips, in bursts of 6 every 3 s (over the ceiling of 3/s on purpose)."""
            while not done:
                for _ in range(6):
                    i = rng.randrange(USERS)
                    tax_no, messages = load.new_tax_slips(prepared, i, now_cn(), rng)
                    for m in messages:
                        for _attempt in range(100):  # the sender retries while the bot restarts
                            if await load.push(api, api_key, m, now=int(time.time())) == 200:
                                break
                            await asyncio.sleep(0.2)
                        else:
                            raise AssertionError("the operator API never took the message")
                    expected[tax_no] = users[i]
                await asyncio.sleep(3.0)

        feeding = asyncio.create_task(feed())
        tapping = asyncio.create_task(
            load.run_users(core, users, seconds=SECONDS, think=0.5, view_timeout=15, running=lambda: not done)
        )
        await asyncio.sleep(SECONDS / 3)
        seq = core.call_seq()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # What the dead process had taken from Telegram and not answered is gone with it.
        for c in core.calls("getUpdates"):
            for u in c.result or ():
                q = u.get("callback_query")
                if q and core.callback_answer(q["id"]) is None:
                    killed_taken.add(q["id"])
        proc = start_bot()
        procs.append(proc)
        await polling(proc, seq)
        await asyncio.sleep(3.0)  # serving again, its imports and caches warm
        rss0 = load.rss_kb(proc.pid)
        stats = await tapping
        done = True
        await feeding
        core.clear_faults()
        rss1 = load.rss_kb(proc.pid)
        deadline = time.monotonic() + 60  # at most a lease (30 s) for rows the killed process held
        while time.monotonic() < deadline and len(
            {t for _, text, _ in notices(core) for t in expected if t in text}
        ) < len(expected):
            await asyncio.sleep(0.25)
    finally:
        done = True
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        server.stop()
        core.shutdown()

    assert procs[-1].returncode == 0, logs[-1].read_text()[-3000:]
    assert stats.taps >= USERS * 20
    unanswered = set(load.unanswered(core, stats.queries))
    assert unanswered <= killed_taken, (len(unanswered), len(killed_taken))
    assert core.refusals() == [], core.refusals()[:3]
    apology = menu_views.error_text(get_translator("en"))
    texts = [a.text for q in stats.queries if (a := core.callback_answer(q)) is not None]
    assert apology not in texts and all(apology not in m.text for u in users for m in core.messages(u))
    # Every notification exactly once, to the right chat.
    sent = notices(core)
    counts = {t: sum(1 for chat, text, _ in sent if t in text and chat == c) for t, c in expected.items()}
    assert len(expected) >= 30 and counts == dict.fromkeys(expected, 1)
    assert load.max_in_window([at for _, _, at in sent]) <= CEILING
    for log in logs:
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    assert rss1 - rss0 < 20 * 1024, (rss0, rss1)  # KiB: flat, not growing with the taps
