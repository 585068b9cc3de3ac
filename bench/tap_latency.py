"""Benchmark: tap-to-answer latency of the bot against the floor (DESIGN §7), in one run.

    .venv/bin/python bench/tap_latency.py [--accounts 100000] [--lists 1000000] [--rounds 100]
                                          [--pace 0.1] [--db PATH [--keep]] [--seed 1] [--in-process]

A scripted user taps through Quota → Tax slips → page 2 → a tax slip's detail (and back to the
menu between rounds) against the Bot API stand-in served over HTTP (`SandboxServer`, in this
process), on a SQLite database holding `--accounts` accounts and `--lists` clearance lists (plus
their lines and tax slips). The bot is `swbot run` itself, started as a process and configured only
through the environment (SWBOT_BOT_API_URL pointing at the stand-in): python-telegram-bot's real
long polling, its HTTPX transport and rate limiter, the notifier beside it. With `--in-process`
both bots are built in this process instead (`build_application` with `base_url`), which is
cheaper to start but makes them share one interpreter with the stand-in and the scripted user.

The floor is an echo bot on the same python-telegram-bot, built the same way (same defaults,
per-user update processor, rate limiter), run the same way (its own process, real polling) against
its own instance of the same stand-in: its callback handler answers the tap and edits the message
with fixed text (two alternating texts, as an identical edit would be refused as "not modified").
The two bots run side by side and their taps are interleaved, so both see the same machine load.

Latency = the moment the user's tap is queued in the stand-in → the moment the stand-in records
the bot's editMessageText (`Call.at`, both `time.monotonic()` in this process). Reported: p50 and
p99 per tap and overall, for both bots, and their ratio. Target: ratio ≤ 1.5 at p50.

The database is built like bench/query_latency.py builds it (its builder is reused: `executemany`
straight into the migrated schema, every identity key the real `Vault.identity_index` of a real ID
number). The scripted user is one of those accounts with enough tax slips for several pages; its
name, ID number and phone are then written properly encrypted, so binding and the masked holder
line work as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update  # noqa: E402
from telegram.constants import ParseMode  # noqa: E402
from telegram.ext import (  # noqa: E402
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
)

from bot.app import build_application  # noqa: E402
from bot.domain.clock import Clock  # noqa: E402
from bot.domain.identity import make_id_number  # noqa: E402
from bot.runtime import PerUserUpdateProcessor, build_services  # noqa: E402
from bot.sandbox.client import SandboxClient  # noqa: E402
from bot.sandbox.core import BotApiCore  # noqa: E402
from bot.sandbox.server import SandboxServer  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.accounts import AccountRow, upsert_account  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.links import issue_token  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.vault import Keys, Vault  # noqa: E402

CLOCK = Clock.system()  # measurements run on the real clock

TARGET_RATIO_P50 = 1.5
BOT_TOKEN = "123456:BENCH-swbot"
ECHO_TOKEN = "654321:BENCH-echo"
USER_ID = 777_000_001
ECHO_USER_ID = 777_000_002
NAME, PHONE = "基准测试", "13800138000"  # the scripted user's (synthetic) identity
TAPS = ("quota", "tax list", "page 2", "detail")


def _load_builder() -> Any:
    """bench/query_latency.py: its `build`, `SECRET` and identity scheme (one builder for both)."""
    spec = importlib.util.spec_from_file_location("query_latency", ROOT / "bench" / "query_latency.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def id_number_of(index: int) -> str:
    """The ID number behind account `index` in query_latency.identity_keys (checked after)."""
    base = dt.date(1950, 1, 1)
    return make_id_number(f"{110101 + index % 900:06d}", base + dt.timedelta(days=index % 20000), index % 1000)


def pick_user(path: Path, min_slips: int) -> tuple[int, int]:
    """(account index, tax slips) of the first account with at least `min_slips` (≥ 3 pages)."""
    conn = sqlite3.connect(path)
    try:
        for (pk,) in conn.execute("SELECT id FROM accounts ORDER BY id LIMIT 20000"):
            (n,) = conn.execute(
                "SELECT count(*) FROM tax_slips WHERE identity_key = (SELECT identity_key FROM accounts WHERE id = ?)",
                (pk,),
            ).fetchone()
            if min_slips <= n <= 20 * min_slips:
                return pk - 1, n
    finally:
        conn.close()
    raise SystemExit(f"no account with {min_slips}+ tax slips among the first 20,000")


def percentile(ms: list[float], p: int) -> float:
    return statistics.quantiles(ms, n=100, method="inclusive")[p - 1]


# ---------------------------------------------------------------- the echo bot (the floor)


def build_echo(base_url: str) -> Any:
    """Same python-telegram-bot, same builder settings as build_application, no work at all."""
    defaults = Defaults(
        parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True), protect_content=True
    )
    app = (
        ApplicationBuilder()
        .token(ECHO_TOKEN)
        .base_url(base_url)
        .defaults(defaults)
        .concurrent_updates(PerUserUpdateProcessor())
        .rate_limiter(AIORateLimiter(max_retries=1))
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


# ---------------------------------------------------------------- running


async def start_polling(app: Any, *, post_init: bool) -> None:
    await app.initialize()
    if post_init and app.post_init is not None:
        await app.post_init(app)  # what run_polling does: migrations check, command menus
    await app.start()
    await app.updater.start_polling(poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES)


async def stop_polling(app: Any) -> None:
    await app.updater.stop()
    await app.stop()
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)


async def start_in_process(bot_url: str, echo_url: str, path: Path, work: Path, secret: bytes) -> Any:
    """Both bots in this process (as the tests run them). Cheaper to set up, but the bots then
    share one interpreter (and its GIL) with the stand-in's server thread and the scripted user."""
    settings = Settings(
        token=BOT_TOKEN,  # type: ignore[arg-type]
        data_dir=work,
        database_url=f"sqlite+aiosqlite:///{path}",
        secret_key=secret.decode(),  # type: ignore[arg-type]
        bot_api_url=bot_url,
        bot_username="swbot_sandbox_bot",
        log_level="WARNING",
    )
    app = build_application(settings, build_services(settings, CLOCK))
    echo = build_echo(echo_url)
    await start_polling(app, post_init=True)
    await start_polling(echo, post_init=False)

    async def stop() -> None:
        await stop_polling(app)
        await stop_polling(echo)

    return stop


async def start_processes(
    bot_url: str, echo_url: str, path: Path, work: Path, secret: bytes, bot_core: BotApiCore, echo_core: BotApiCore
) -> Any:
    """`swbot run` as a process, configured only through the environment, and the echo bot as
    another process: each bot has an interpreter to itself, as in production."""
    swbot = Path(sys.executable).with_name("swbot")
    command = [str(swbot)] if swbot.exists() else [sys.executable, "-m", "bot.cli"]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("SWBOT_")}
    env = {
        **base_env,
        "SWBOT_TOKEN": BOT_TOKEN,
        "SWBOT_BOT_API_URL": bot_url,
        "SWBOT_DATABASE_URL": f"sqlite+aiosqlite:///{path}",
        "SWBOT_SECRET_KEY": secret.decode(),
        "SWBOT_DATA_DIR": str(work),
        "SWBOT_BOT_USERNAME": "swbot_sandbox_bot",
        "SWBOT_LOG_LEVEL": "WARNING",
    }
    log = (work / "bots.log").open("w")
    procs = [
        subprocess.Popen([*command, "run"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work),
        subprocess.Popen([sys.executable, __file__, "--echo-bot", echo_url], env=base_env, stdout=log,
                         stderr=subprocess.STDOUT),
    ]  # fmt: skip
    deadline = time.monotonic() + 60
    while not (bot_core.calls("getUpdates") and echo_core.calls("getUpdates")):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            for p in procs:
                p.kill()
            raise SystemExit("the bots did not start polling:\n" + (work / "bots.log").read_text()[-3000:])
        await asyncio.sleep(0.05)

    async def stop() -> None:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(p.wait, 30) for p in procs]
        log.close()
        if codes != [0, 0]:
            print(f"bots exited with {codes}:\n" + (work / "bots.log").read_text()[-3000:])

    return stop


def serve_echo(base_url: str) -> int:
    """`tap_latency.py --echo-bot URL`: the floor as its own process, polling like `swbot run`."""
    build_echo(base_url).run_polling(poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES)
    return 0


async def timed_tap(client: SandboxClient, label: str) -> float:
    """Tap `label`; ms from the tap to the bot's editMessageText as recorded by the stand-in."""
    core = client.core
    seq = core.call_seq()
    t0 = time.monotonic()
    await client.tap(label, until=client.made("editMessageText"))
    edits = core.calls_since(seq, "editMessageText")
    if not edits or not edits[0].ok:
        raise RuntimeError(f"tap {label!r}: no successful edit ({[(c.method, c.description) for c in edits]})")
    return (edits[0].at - t0) * 1000


def row_label(client: SandboxClient, n: int = 1) -> str:
    return next(x for x in client.labels() if x.startswith(f"{n}. "))


async def run(args: argparse.Namespace) -> int:
    builder = _load_builder()
    secret: bytes = builder.SECRET
    work = Path(tempfile.mkdtemp(prefix="swbot-tap-"))
    path = args.db or work / "scale.db"
    try:
        if not path.exists():
            print(f"building {path}: {args.accounts} accounts, {args.lists} lists (bench/query_latency.py's builder)")
            t = time.perf_counter()
            db = Database(f"sqlite+aiosqlite:///{path}", clock=CLOCK)
            await db.check()
            await upgrade(db)
            await db.dispose()
            builder.build(path, args.accounts, args.lists, args.seed)
            print(f"built in {time.perf_counter() - t:.0f} s ({path.stat().st_size / 1e9:.2f} GB)")
        else:
            print(f"reusing {path}")
        conn = sqlite3.connect(path)
        n_accounts, n_lists, n_slips = (
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("accounts", "inventories", "tax_slips")
        )
        conn.close()
        index, slips = pick_user(path, min_slips=11)
        print(f"database: {n_accounts} accounts, {n_lists} lists, {n_slips} tax slips; "
              f"scripted user: account {index + 1} with {slips} tax slips")  # fmt: skip

        vault = Vault(Keys.derive(secret))
        id_number = id_number_of(index)
        db = Database(f"sqlite+aiosqlite:///{path}", clock=CLOCK)
        async with db.write() as s:
            query = text("SELECT identity_key, account_id FROM accounts WHERE id = :i")
            stored = (await s.execute(query, {"i": index + 1})).one()
            if stored[0] != vault.identity_index("1", id_number):
                raise SystemExit("bench/query_latency.py's identity scheme changed: update id_number_of()")
            await upsert_account(s, vault, AccountRow(stored[1], NAME, "1", id_number, PHONE))
            token = await issue_token(s, vault, stored[1], 60)
        await db.dispose()

        bot_core, echo_core = BotApiCore(), BotApiCore(bot_id=6543210, username="echo_bench_bot")
        bot_server, echo_server = SandboxServer(bot_core), SandboxServer(echo_core)
        bot_url, echo_url = bot_server.start(), echo_server.start()
        if args.in_process:
            stop = await start_in_process(bot_url, echo_url, path, work, secret)
        else:
            stop = await start_processes(bot_url, echo_url, path, work, secret, bot_core, echo_core)
        try:
            user = SandboxClient(bot_core, USER_ID, "Bench", "en", timeout=30)
            floor = SandboxClient(echo_core, ECHO_USER_ID, "Echo", "en", timeout=30)
            await user.send(f"/start {token}", until=user.made("sendMessage"))
            await asyncio.sleep(0.5)
            if "💳 Quota" not in user.labels():
                raise SystemExit(f"binding failed: {user.visible_text()!r}")
            await floor.send("/start", until=floor.made("sendMessage"))

            ours: dict[str, list[float]] = {k: [] for k in (*TAPS, "menu")}
            echo_ms: list[float] = []

            async def both(kind: str, tap: Callable[[], Any]) -> None:
                ms = await tap()
                if measuring:
                    ours[kind].append(ms)
                await asyncio.sleep(args.pace)
                ms = await timed_tap(floor, "tap")
                if measuring:
                    echo_ms.append(ms)
                await asyncio.sleep(args.pace)

            total = args.warmup + args.rounds
            t_start = time.perf_counter()
            for r in range(total):
                measuring = r >= args.warmup
                await both("quota", lambda: timed_tap(user, "💳 Quota"))
                await both("menu", lambda: timed_tap(user, "🏠 Menu"))
                await both("tax list", lambda: timed_tap(user, "🧾 Tax slips"))
                await both("page 2", lambda: timed_tap(user, "▶"))
                assert "page 2/" in user.visible_text(), user.visible_text()[:200]
                await both("detail", lambda: timed_tap(user, row_label(user)))
                assert user.visible_text().startswith("🧾 Tax slip "), user.visible_text()[:200]
                await both("menu", lambda: timed_tap(user, "🏠 Menu"))
                if (r + 1) % 20 == 0:
                    print(f"  round {r + 1}/{total} ({time.perf_counter() - t_start:.0f} s)", flush=True)
        finally:
            await stop()
            bot_server.stop()
            echo_server.stop()
            bot_core.shutdown()
            echo_core.shutdown()

        measured = [ms for k in TAPS for ms in ours[k]]
        print()
        print(f"tap → editMessageText, ms ({args.rounds} rounds after {args.warmup} warm-up; pace {args.pace} s)")
        print(f"{'':22s} {'n':>5s} {'p50':>8s} {'p99':>8s}")
        for kind in (*TAPS, "menu"):
            print(f"{'swbot ' + kind:22s} {len(ours[kind]):5d} {percentile(ours[kind], 50):8.2f} "
                  f"{percentile(ours[kind], 99):8.2f}")  # fmt: skip
        p50, p99 = percentile(measured, 50), percentile(measured, 99)
        e50, e99 = percentile(echo_ms, 50), percentile(echo_ms, 99)
        print(f"{'swbot (4 taps)':22s} {len(measured):5d} {p50:8.2f} {p99:8.2f}")
        print(f"{'echo bot (floor)':22s} {len(echo_ms):5d} {e50:8.2f} {e99:8.2f}")
        ratio50, ratio99 = p50 / e50, p99 / e99
        verdict = "MET" if ratio50 <= TARGET_RATIO_P50 else "MISSED"
        print(f"ratio swbot/echo: p50 {ratio50:.2f}  p99 {ratio99:.2f}   (target p50 ≤ {TARGET_RATIO_P50}: {verdict})")
        return 0 if ratio50 <= TARGET_RATIO_P50 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.db is not None and not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--lists", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=100, help="measured rounds of the tap sequence")
    ap.add_argument("--warmup", type=int, default=5)
    # 0.1: a round is six edits in one chat, and the bot keeps to six a second in a chat (Telegram's
    # per-chat limit, bot/ratelimiter.py); at 0.05 every round's seventh edit waited ≈ 280 ms by design.
    ap.add_argument("--pace", type=float, default=0.1, help="seconds between taps (a person is slower)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db", type=Path, default=None, help="database file (built if missing)")
    ap.add_argument("--keep", action="store_true", help="keep the --db file for the next run")
    ap.add_argument("--in-process", action="store_true", help="run both bots in this process (GIL shared)")
    ap.add_argument("--echo-bot", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.echo_bot:
        return serve_echo(args.echo_bot)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
