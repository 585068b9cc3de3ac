"""Benchmark: CPU time swbot spends handling one tap, without the network around it.

    .venv/bin/python bench/tap_cpu.py [--postgres URL] [--taps 800] [--rounds 3] [--swbot-root DIR ...]

`swbot run`'s own Application (`bot.app.build_application`) on a PostgreSQL database of its own
(demo data for 20 people, bound through their deep links), the Bot API answered in memory (each
edit answered with the message Telegram would return: the text and the inline keyboard), and the
tour's taps (bot.sandbox.load.TOUR) fed to the update processor one after another, as the webhook
listener does. Printed: CPU time per tap of that process (handlers, database, python-telegram-bot
objects and requests, views; not the HTTP client, the webhook server or the Bot API), wall time,
Bot API calls per tap. Each `--swbot-root` (default: this checkout) runs in a process of its own
with PYTHONPATH=DIR, in turn, `--rounds` times: a before/after figure in one session. On a shared
machine compare the rounds side by side, not with another session's.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECRET = "tap-cpu-bench-master-secret-0123456789-abcdefghij"
FIRST_USER = 930_000_001
PEOPLE = 20


# -- the measured process (`tap_cpu.py --child DB_URL TOKENS_FILE TAPS`) ---------------------------


def child(db_url: str, tokens_file: str, taps: int) -> None:
    sys.path.insert(0, os.environ.get("SWBOT_ROOT", str(ROOT)))
    from telegram import Update
    from telegram.request import BaseRequest, RequestData

    from bot.app import build_application
    from bot.domain.clock import Clock
    from bot.runtime import build_services
    from bot.sandbox.load import HOME, TOUR
    from bot.settings import Settings

    class Answers(BaseRequest):
        """The Bot API in memory: every call succeeds; sends and edits return the message."""

        def __init__(self) -> None:
            self.shown: dict[int, dict[str, Any]] = {}  # chat → last message with an inline keyboard
            self.ids = itertools.count(100)
            self.calls: dict[str, int] = {}

        async def initialize(self) -> None:
            pass

        async def shutdown(self) -> None:
            pass

        @property
        def read_timeout(self) -> float:
            return 5.0

        async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                             *args: Any, **kwargs: Any) -> tuple[int, bytes]:
            endpoint = url.rsplit("/", 1)[1]
            self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
            params = request_data.json_parameters if request_data else {}
            result: Any = True
            if endpoint == "getMe":
                result = {"id": 1, "is_bot": True, "first_name": "bot", "username": "swbot_tap_cpu_bot"}
            elif endpoint in ("sendMessage", "editMessageText"):
                chat = int(params["chat_id"])
                result = {"message_id": int(params.get("message_id") or next(self.ids)), "date": 1_700_000_000,
                          "chat": {"id": chat, "type": "private", "first_name": "U"},
                          "from": {"id": 1, "is_bot": True, "first_name": "bot"}, "text": params["text"]}
                markup = json.loads(params["reply_markup"]) if "reply_markup" in params else {}
                if "inline_keyboard" in markup:  # Telegram returns inline keyboards only
                    result["reply_markup"] = markup
                    self.shown[chat] = result
            return 200, json.dumps({"ok": True, "result": result}).encode()

    os.environ.update({
        "SWBOT_TOKEN": "1234567:TAPCPU", "SWBOT_DATABASE_URL": db_url, "SWBOT_SECRET_KEY": SECRET,
        "SWBOT_BOT_USERNAME": "swbot_tap_cpu_bot", "SWBOT_LOG_LEVEL": "WARNING", "SWBOT_USER_RATE": "1000",
        "SWBOT_DATA_DIR": tempfile.mkdtemp(prefix="swbot-tap-cpu-"),
    })  # fmt: skip
    tokens = json.loads(Path(tokens_file).read_text())
    users = [FIRST_USER + i for i in range(len(tokens))]
    answers = Answers()
    ids = itertools.count(1)

    async def main() -> None:
        settings = Settings()
        app = build_application(settings, build_services(settings, Clock.system()), request=answers,
                                get_updates_request=Answers(), updater=False)
        await app.initialize()
        await app.start()

        async def feed(body: bytes) -> None:  # as bot.webhook's listener does
            update = Update.de_json(json.loads(body), app.bot)
            await app.update_processor.process_update(update, app.process_update(update))

        for uid, token in zip(users, tokens, strict=True):
            text = f"/start {token}"
            await feed(json.dumps({"update_id": next(ids), "message": {
                "message_id": next(answers.ids), "date": 1_700_000_000, "text": text,
                "chat": {"id": uid, "type": "private", "first_name": "U"},
                "from": {"id": uid, "is_bot": False, "first_name": "U", "language_code": "en"},
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}).encode())
        step = dict.fromkeys(users, 0)

        def tap(uid: int) -> bytes:
            message = answers.shown[uid]
            buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row if "callback_data" in b]
            for i in range(len(TOUR)):
                at = (step[uid] + i) % len(TOUR)
                want = TOUR[at]
                found = [b for b in buttons if b["text"] == want or (want.endswith(" ") and b["text"].startswith(want))]
                if found:
                    button, step[uid] = found[0], at + 1
                    break
            else:
                button, step[uid] = next((b for b in buttons if b["text"] == HOME), buttons[0]), 0
            return json.dumps({"update_id": next(ids), "callback_query": {
                "id": str(next(ids)), "chat_instance": "1", "data": button["callback_data"], "message": message,
                "from": {"id": uid, "is_bot": False, "first_name": "U", "language_code": "en"}}}).encode()

        async def run(n: int) -> None:
            for i in range(n):
                await feed(tap(users[i % len(users)]))

        await run(300)  # warm-up: caches, prepared statements, pools
        answers.calls.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        await run(taps)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        calls = " ".join(f"{k} {v / taps:.2f}" for k, v in sorted(answers.calls.items()))
        print(f"CPU {cpu / taps * 1000:.2f} ms/tap  wall {wall / taps * 1000:.2f} ms/tap  calls/tap: {calls}  "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
        await app.stop()
        await app.shutdown()

    asyncio.run(main())


# -- the driver ------------------------------------------------------------------------------------


async def drive(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import delete

    from bot.domain.clock import Clock
    from bot.sandbox import cluster, load
    from storage.db import Database
    from storage.links import issue_token
    from storage.models import Binding
    from storage.vault import Keys, Vault

    work = Path(tempfile.mkdtemp(prefix="swbot-tap-cpu-"))
    clock = Clock.system()
    async with cluster.postgres_database(args.postgres, prefix="swbot_tap_cpu") as db_url:
        prepared = await load.prepare(db_url, SECRET, work / "demo", PEOPLE, clock=clock)
        tokens = work / "tokens.json"
        tokens.write_text(json.dumps(prepared.tokens))
        vault = Vault(Keys.derive(SECRET.encode()))
        for rnd in range(args.rounds):
            for root in args.swbot_root:
                env = {**load.clean_env(), "SWBOT_ROOT": root, "PYTHONPATH": root}
                out = subprocess.run([sys.executable, __file__, "--child", db_url, str(tokens), str(args.taps)],
                                     env=env, capture_output=True, text=True)
                print(f"{root}  round {rnd}: {out.stdout.strip() or out.stderr[-3000:]}", flush=True)
                db = Database(db_url, clock=clock)  # unbind everyone and issue new links for the next process
                try:
                    async with db.write() as s:
                        await s.execute(delete(Binding))
                        fresh = [await issue_token(s, vault, p.account_id, 60) for p in prepared.people]
                finally:
                    await db.dispose()
                tokens.write_text(json.dumps(fresh))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postgres", default=os.environ.get("SWBOT_TEST_POSTGRES_URL"),
                    help="PostgreSQL server URL (a database of its own is created there)")
    ap.add_argument("--taps", type=int, default=800)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--swbot-root", nargs="+", default=[str(ROOT)], help="checkouts to run, in turn")
    ap.add_argument("--child", nargs=3, metavar=("DB_URL", "TOKENS", "TAPS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    if not args.postgres:
        ap.error("--postgres SERVER_URL (or SWBOT_TEST_POSTGRES_URL) is required")
    return asyncio.run(drive(args))


if __name__ == "__main__":
    sys.exit(main())
