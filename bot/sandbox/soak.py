"""A soak run: `swbot run` as a process, many users tapping, new tax slips arriving through the
operator API in bursts over the ceiling, faults injected, and one SIGKILL (the bot is started
again at once, as a supervisor would). Used by tests/scale/test_soak.py (short) and bench/soak.py (long).

Everything is measured at the stand-in (bot.sandbox.load) and handed back as a `SoakResult`; the
caller decides what must hold.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.domain.clock import Clock
from bot.polling import SPOOL_FILE, Spool
from bot.sandbox import load
from bot.sandbox.core import BotApiCore
from bot.sandbox.models import Call
from bot.sandbox.server import SandboxServer
from storage.vault import Keys, Vault

NEW_TAX = "🧾 New tax slip"
SECRET = "soak-run-master-secret-0123456789-abcdefghijklm"  # noqa: S105 (throwaway demo data)
FIRST_USER = 5_400_001


@dataclass
class SoakResult:
    stats: load.LoadStats
    unanswered: set[str]  # taps never answered
    refusals: list[Call]
    answer_texts: list[str | None]
    bot_texts: list[str]  # every message shown in the users' chats
    expected: dict[str, int]  # tax slip number → chat it must reach
    notices: dict[str, int]  # tax slip number → "new tax slip" notices it got in its chat
    notice_times: list[float]
    injected: int
    rss_kb: list[tuple[float, int]] = field(default_factory=list)  # (seconds into the run, RSS)
    exit_code: int | None = None
    logs: list[str] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)  # notification rows by status at the end
    killed_at: float | None = None  # the stand-in's clock (time.monotonic) at the SIGKILL
    first_notice: dict[str, float] = field(default_factory=dict)  # tax slip number → its first notice
    # Updates the killed process had taken (spooled) and not finished, by update_id: the restarted
    # one handles them again (bot.polling).
    replayed: dict[int, dict[str, Any]] = field(default_factory=dict)

    def unexplained_refusals(self) -> list[Call]:
        """Refusals but those of an update handled again after the kill: delivery is at least once,
        and the killed process may have answered a tap, or shown its view, before it died (then
        the answer comes too late and the same view is "not modified")."""
        again = list(self.replayed.values())
        queries = {u["callback_query"]["id"] for u in again if "callback_query" in u}
        chats = {_chat_of(u) for u in again}
        after = self.killed_at or 0.0
        return [
            c for c in self.refusals
            if not (c.at >= after and (
                (c.method == "answerCallbackQuery" and c.params.get("callback_query_id") in queries)
                or (c.method == "editMessageText" and c.params.get("chat_id") in chats
                    and "not modified" in (c.description or ""))
            ))
        ]  # fmt: skip

    def duplicates(self) -> dict[str, int]:
        return {t: n for t, n in self.notices.items() if n > 1}

    def duplicates_from_the_kill(self, window: float = 1.0) -> bool:
        """Whether every duplicate is one the killed process had sent in the last `window` seconds
        before it died (Telegram took it, the database had not recorded it yet: at-least-once)."""
        if self.killed_at is None:
            return not self.duplicates()
        return all(
            n == 2 and self.killed_at - window <= self.first_notice[t] <= self.killed_at
            for t, n in self.duplicates().items()
        )


def _chat_of(update: dict[str, Any]) -> int | None:
    """The chat an update (a message or a tap) came from."""
    message = update.get("message") or (update.get("callback_query") or {}).get("message") or {}
    chat = message.get("chat", {}).get("id")
    return chat if isinstance(chat, int) else None


class _Recorder:
    """Keeps what the soak judges from every call as it happens: the stand-in's own call record is
    bounded (a long run outgrows it), this is not, and keeps only what it needs."""

    def __init__(self) -> None:
        self.notices: list[tuple[int, str, float]] = []  # (chat, text, when) of "new tax slip" notices
        self.refusals: list[Call] = []
        self.injected = 0

    def __call__(self, call: Call) -> None:  # under the core's lock: be quick
        if call.injected:
            self.injected += 1
        elif not call.ok and 400 <= (call.error_code or 0) < 500:
            self.refusals.append(call)
        elif call.ok and call.method == "sendMessage" and NEW_TAX in str(call.params.get("text")):
            self.notices.append((int(call.params["chat_id"]), str(call.params["text"]), call.at))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def soak(
    work: Path,
    *,
    users: int,
    seconds: float,
    ceiling: int,
    clock: Clock,
    faults: bool = True,
    kill_at: float | None = None,
    redis_url: str | None = None,
    burst: int = 6,
    burst_every: float = 3.0,
    min_bursts: int = 0,
    think: float = 0.5,
    seed: int = 2,
    log_level: str = "INFO",
    progress: Callable[[str], None] = lambda _: None,
) -> SoakResult:
    db_url = f"sqlite+aiosqlite:///{work / 'swbot.db'}"
    prepared = await load.prepare(db_url, SECRET, work / "demo", users, seed=seed, clock=clock)
    progress(f"prepared {users} people")
    core = BotApiCore(username="swbot_soak_bot")
    recorder = _Recorder()
    core.add_call_listener(recorder)
    server = SandboxServer(core)
    server.start()
    api_port, api_key = _free_port(), secrets.token_urlsafe(24)
    api = f"http://127.0.0.1:{api_port}"
    token = f"{random.randrange(10**8, 10**9)}:SOAK-token"  # a ceiling key of its own in a shared Redis
    env = {
        **load.clean_env(),
        "SWBOT_TOKEN": token,
        "SWBOT_BOT_API_URL": server.base_url,
        "SWBOT_DATABASE_URL": db_url,
        "SWBOT_SECRET_KEY": SECRET,
        "SWBOT_DATA_DIR": str(work / "data"),
        "SWBOT_BOT_USERNAME": "swbot_soak_bot",
        "SWBOT_LOG_LEVEL": log_level,
        "SWBOT_API_LISTEN": f"127.0.0.1:{api_port}",
        "SWBOT_API_KEY": api_key,
        "SWBOT_OUTBOX_POLL_INTERVAL": "0.5",
        "SWBOT_BROADCAST_RATE": str(ceiling),
        "PYTHONUNBUFFERED": "1",
    }
    if redis_url:
        env["SWBOT_REDIS_URL"] = redis_url
    logs: list[Path] = []

    def start_bot() -> subprocess.Popen[bytes]:
        log = work / f"swbot-{len(logs)}.log"
        logs.append(log)
        with log.open("w") as fh:
            # Our own console script, started the way an operator would.
            return subprocess.Popen([*load.swbot_command(), "run"], env=env, stdout=fh, stderr=subprocess.STDOUT)  # noqa: S603

    async def polling(proc: subprocess.Popen[bytes], after: int) -> None:
        deadline = time.monotonic() + 60
        while not core.calls_since(after, "getUpdates"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the bot did not start polling:\n" + logs[-1].read_text()[-3000:])
            await asyncio.sleep(0.05)

    uids = list(range(FIRST_USER, FIRST_USER + users))
    rng = random.Random(seed * 7 + 1)
    expected: dict[str, int] = {}
    killed_at: float | None = None
    replayed: dict[int, dict[str, Any]] = {}
    rss: list[tuple[float, int]] = []
    procs = [start_bot()]
    done = False
    try:
        await polling(procs[-1], 0)
        await load.bind_all(core, uids, prepared.tokens, within=120)
        progress(f"{users} users bound")
        if faults:
            core.inject_faults(rate_429=0.05, rate_5xx=0.01, retry_after=1, seed=seed)
        t0 = time.monotonic()

        async def feed() -> None:
            # Bursts while users tap, and at least `min_bursts` however long the restart held the
            # operator API up (on a busy machine that can be most of a short run).
            bursts = 0
            while not done or bursts < min_bursts:
                bursts += 1
                for _ in range(burst):
                    i = rng.randrange(users)
                    tax_no, messages = load.new_tax_slips(prepared, i, clock.now(), rng)
                    for m in messages:
                        for _attempt in range(150):  # the sender retries while the bot restarts
                            if await load.push(api, api_key, m, now=int(clock.timestamp())) == 200:
                                break
                            await asyncio.sleep(0.2)
                        else:
                            raise RuntimeError("the operator API never took the message")
                    expected[tax_no] = uids[i]
                await asyncio.sleep(burst_every)

        async def watch_memory() -> None:
            while not done:
                proc = procs[-1]
                if proc.poll() is None:
                    try:
                        rss.append((time.monotonic() - t0, load.rss_kb(proc.pid)))
                    except (OSError, RuntimeError):
                        pass
                await asyncio.sleep(5.0)

        feeding = asyncio.create_task(feed())
        memory = asyncio.create_task(watch_memory())
        tapping = asyncio.create_task(
            load.run_users(core, uids, seconds=seconds, think=think, view_timeout=15, running=lambda: not done)
        )
        if kill_at is not None:
            await asyncio.sleep(kill_at)
            killed_at = time.monotonic()
            procs[-1].send_signal(signal.SIGKILL)
            procs[-1].wait()
            replayed = Spool.read(work / "data" / SPOOL_FILE, Vault(Keys.derive(SECRET.encode())))[0]
            progress(f"killed the bot at {kill_at:g} s; starting it again")
            rss.append((time.monotonic() - t0, 0))  # marks the restart
            restart_seq = core.call_seq()
            procs.append(start_bot())
            await polling(procs[-1], restart_seq)
        stats = await tapping
        done = True
        await asyncio.gather(feeding, memory)
        rss.append((time.monotonic() - t0, load.rss_kb(procs[-1].pid)))
        core.clear_faults()
        progress(f"tapping done: {stats.taps} taps; waiting for the last notifications")
        deadline = time.monotonic() + 120  # a lease (30 s) for rows a killed process held, and a backlog
        while time.monotonic() < deadline and len(_notices(recorder, expected)[0]) < len(expected):  # noqa: ASYNC110
            await asyncio.sleep(0.25)  # polling the stand-in's record: nothing signals "all there"
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

    found, times = _notices(recorder, expected)
    import sqlite3

    conn = sqlite3.connect(work / "swbot.db")
    try:
        outbox_counts = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    finally:
        conn.close()
    return SoakResult(
        stats=stats,
        unanswered=set(load.unanswered(core, stats.queries)),
        refusals=recorder.refusals,
        answer_texts=[a.text for q in stats.queries if (a := core.callback_answer(q)) is not None],
        bot_texts=[m.text for u in uids for m in core.messages(u) if m.from_bot],
        expected=dict(expected),
        notices={t: found.get(t, 0) for t in expected},
        killed_at=killed_at,
        replayed=replayed,
        first_notice=_first_notices(recorder, expected),
        notice_times=times,
        injected=recorder.injected,
        rss_kb=rss,
        exit_code=procs[-1].returncode,
        logs=[p.read_text() for p in logs],
        outbox=outbox_counts,
    )


def _notices(recorder: _Recorder, expected: dict[str, int]) -> tuple[dict[str, int], list[float]]:
    """Per expected tax slip number, the "new tax slip" notices its chat got; and when every
    notice (expected or not) was accepted."""
    by_chat: dict[int, list[str]] = {}
    times = []
    for chat_id, text, at in list(recorder.notices):
        times.append(at)
        by_chat.setdefault(chat_id, []).append(text)
    found = {t: n for t, c in expected.items() if (n := sum(t in text for text in by_chat.get(c, ())))}
    return found, times


def _first_notices(recorder: _Recorder, expected: dict[str, int]) -> dict[str, float]:
    first: dict[str, float] = {}
    for chat_id, text, at in recorder.notices:
        for tax_no, chat in expected.items():
            if chat == chat_id and tax_no in text and tax_no not in first:
                first[tax_no] = at
    return first
