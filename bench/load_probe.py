"""Benchmark: one `swbot run` under 100 active users, against an echo bot on the same stand-in.

    .venv/bin/python bench/load_probe.py [--users 100] [--seconds 60] [--think 1.0] [--faults]
        [--database-url URL] [--redis-url URL] [--no-echo] [--swbot-root DIR]

`--users` people (demo data: `swbot demo-data`, accounts import, ingest) bind through their deep
links, then all tap through the screens at once (bot.sandbox.load.TOUR: quota, menu, tax slips,
next page, a detail, clearance …): tap, wait for the new view, think `--think` × U(0.5, 1.5) s,
tap again, for `--seconds`. The bot is `swbot run` as a process, configured only through the
environment, polling the Bot API stand-in over HTTP (`SandboxServer`, in this process).

Reported, from the stand-in's own record: tap → view p50/p95/p99 (queued tap → the bot's edit in
that chat), taps served per second, taps left without a view, taps not answered, refusals (4xx
the bot earned), taps answered with an alert (an apology, say), the most message sends in any
1-second window. Goal (issue 13): p95 ≤ 0.5 s and
≥ 84 taps/s (3 × the 28 measured with python-telegram-bot's AIORateLimiter).

The floor: an echo bot on the same python-telegram-bot (same defaults, same per-user update
processor, no rate limiter and no work: it answers the tap and edits the message), run the same
way (its own process, real polling) against its own stand-in, with the same users and think time,
measured before the bot in the same run.

`--faults` answers 5 % of the bot's calls 429 (retry_after 1) and 1 % 502. `--swbot-root DIR`
runs the bot from another checkout (e.g. the commit before this change, for a before/after
figure): `python -m bot.cli run` with PYTHONPATH=DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update  # noqa: E402
from telegram.constants import ParseMode  # noqa: E402
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes, Defaults  # noqa: E402

from bot.domain.clock import Clock  # noqa: E402
from bot.runtime import PerUserUpdateProcessor  # noqa: E402
from bot.sandbox import load  # noqa: E402
from bot.sandbox.core import BotApiCore  # noqa: E402
from bot.sandbox.server import SandboxServer  # noqa: E402

BOT_TOKEN = "123456:LOAD-swbot"
ECHO_TOKEN = "654321:LOAD-echo"
SECRET = "load-probe-master-secret-0123456789-abcdefghijkl"
FIRST_USER = 900_000_001
GOAL_P95 = 0.5
GOAL_RATE = 84.0


def build_echo(base_url: str) -> Any:
    defaults = Defaults(
        parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True), protect_content=True
    )
    app = (
        ApplicationBuilder()
        .token(ECHO_TOKEN)
        .base_url(base_url)
        .defaults(defaults)
        .concurrent_updates(PerUserUpdateProcessor())
        .build()
    )
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("tap", callback_data="tap")]])

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "ping", reply_markup=keyboard)

    async def tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        text = "pong" if getattr(query.message, "text", None) == "ping" else "ping"
        await asyncio.gather(query.answer(), query.edit_message_text(text, reply_markup=keyboard))

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(tap))
    return app


def serve_echo(base_url: str) -> int:
    build_echo(base_url).run_polling(poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES)
    return 0


async def wait_polling(core: BotApiCore, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while not core.calls("getUpdates"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the bot did not start polling:\n" + log.read_text()[-3000:])
        await asyncio.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def report(name: str, core: BotApiCore, stats: load.LoadStats, ceiling: float | None) -> bool:
    print(stats.line(name))
    missing = load.unanswered(core, stats.queries)
    refused = core.refusals()
    sends = load.send_times(core)
    injected = sum(1 for c in core.calls() if c.injected)
    alerts = sum(1 for q in stats.queries if (a := core.callback_answer(q)) is not None and a.show_alert)
    print(f"{'':18s} unanswered={len(missing)} refusals={len(refused)} alerts={alerts} injected_faults={injected} "
          f"max_sends_in_1s={load.max_in_window(sends)}")
    for c in refused[:5]:
        print(f"{'':18s}   refused: {c.method} {c.error_code} {c.description}")
    p95 = load.percentile(stats.latencies, 95)
    met = p95 <= GOAL_P95 and stats.rate() >= GOAL_RATE and not missing
    if ceiling is not None:
        print(f"{'':18s} goal p95 ≤ {GOAL_P95} s and ≥ {GOAL_RATE:g} taps/s: {'MET' if met else 'MISSED'}")
    return met


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="swbot-load-"))
    users = list(range(FIRST_USER, FIRST_USER + args.users))
    try:
        db_url = args.database_url or f"sqlite+aiosqlite:///{work / 'swbot.db'}"
        t = time.perf_counter()
        prepared = await load.prepare(db_url, SECRET, work / "demo", args.users, seed=args.seed, clock=Clock.system())
        print(f"prepared {args.users} people in {time.perf_counter() - t:.0f} s ({db_url.split('://')[0]})")

        if not args.no_echo:
            echo_core = BotApiCore(bot_id=6543210, username="echo_load_bot")
            echo_server = SandboxServer(echo_core)
            echo_url = echo_server.start()
            echo_log = work / "echo.log"
            with echo_log.open("w") as fh:
                echo = subprocess.Popen([sys.executable, __file__, "--echo-bot", echo_url], env=load.clean_env(),
                                        stdout=fh, stderr=subprocess.STDOUT)
            try:
                await wait_polling(echo_core, echo, echo_log)
                for uid in users:
                    echo_core.add_user(uid, f"User{uid}", language_code="en")
                    echo_core.user_message(uid, "/start")
                while not all(echo_core.last_with_keyboard(u) for u in users):
                    await asyncio.sleep(0.1)
                await load.run_users(echo_core, users, seconds=min(5.0, args.seconds), think=args.think,
                                     tour=("tap",))  # warm-up
                echo_core.clear_calls()
                stats = await load.run_users(echo_core, users, seconds=args.seconds, think=args.think, tour=("tap",))
                report("echo bot (floor)", echo_core, stats, None)
            finally:
                stop(echo)
                echo_server.stop()
                echo_core.shutdown()

        core = BotApiCore(username="swbot_load_bot")
        server = SandboxServer(core)
        url = server.start()
        env = {
            **load.clean_env(),
            "SWBOT_TOKEN": BOT_TOKEN,
            "SWBOT_BOT_API_URL": url,
            "SWBOT_DATABASE_URL": db_url,
            "SWBOT_SECRET_KEY": SECRET,
            "SWBOT_DATA_DIR": str(work / "data"),
            "SWBOT_BOT_USERNAME": "swbot_load_bot",
            "SWBOT_LOG_LEVEL": "WARNING",
        }
        if args.redis_url:
            env["SWBOT_REDIS_URL"] = args.redis_url
        command = load.swbot_command()
        cwd = work
        if args.swbot_root:
            command = [sys.executable, "-m", "bot.cli"]
            env["PYTHONPATH"] = str(Path(args.swbot_root).resolve())
            cwd = Path(args.swbot_root).resolve()
        bot_log = work / "swbot.log"
        with bot_log.open("w") as fh:
            proc = subprocess.Popen([*command, "run"], env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            await wait_polling(core, proc, bot_log)
            t = time.perf_counter()
            await load.bind_all(core, users, prepared.tokens)
            print(f"{args.users} users bound in {time.perf_counter() - t:.1f} s")
            await load.run_users(core, users, seconds=min(5.0, args.seconds), think=args.think)  # warm-up
            if args.faults:
                core.inject_faults(rate_429=0.05, rate_5xx=0.01, retry_after=1, seed=args.seed)
            core.clear_calls()
            rss0 = load.rss_kb(proc.pid)
            stats = await load.run_users(core, users, seconds=args.seconds, think=args.think)
            rss1 = load.rss_kb(proc.pid)
            core.clear_faults()
            met = report("swbot run", core, stats, 30.0)
            print(f"{'':18s} bot memory {rss0 / 1024:.0f} → {rss1 / 1024:.0f} MB")
        finally:
            code = stop(proc)
            server.stop()
            core.shutdown()
        log = bot_log.read_text()
        print(f"swbot exited {code}; log: {log.count('Traceback')} tracebacks, {len(log.splitlines())} lines")
        if args.show_log:
            print(log[-4000:])
        return 0 if met else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--think", type=float, default=1.0, help="mean seconds a user looks at a view")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--faults", action="store_true", help="5%% 429 (retry_after 1) and 1%% 502")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--redis-url", default=None, help="SWBOT_REDIS_URL for the bot")
    ap.add_argument("--no-echo", action="store_true")
    ap.add_argument("--swbot-root", default=None, help="run the bot from this checkout instead")
    ap.add_argument("--show-log", action="store_true")
    ap.add_argument("--echo-bot", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.echo_bot:
        return serve_echo(args.echo_bot)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
