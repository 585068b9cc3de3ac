"""Benchmark: notifications from two `swbot run` instances against the one bot-wide ceiling.

    .venv/bin/python bench/notify_scale.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        --redis-url redis://127.0.0.1:6379/0 [--users 60] [--slips 300] [--ceiling 25] [--instances 2]

Deployed as in README, "Running at scale": `--instances` instances (deploy/swbot-instances) behind
nginx (deploy/nginx) on a PostgreSQL database of their own, sharing the send ceiling through Redis
(`SWBOT_BROADCAST_RATE=--ceiling`, the default 25), against the Bot API stand-in. `--users` people
bind; the instances stop (SIGTERM), one `swbot ingest` brings `--slips` new tax slips spread over
them, and the instances start again: their notifiers drain that backlog together (`FOR UPDATE SKIP
LOCKED`, one ceiling between them), so what is measured is the sending, not the ingest.

Reported from the stand-in's own record: the sustained rate (notifications after the first ÷ the
time from the first to the last) against the ceiling (goal ≥ 0.95), the most notifications and
the most message sends of any kind in any 1-second window (goal: never over the ceiling), each
tax slip notified exactly once, and how many each instance sent (from its "notifier stopped
(sent=N …)" log line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.domain.clock import Clock  # noqa: E402
from bot.sandbox import cluster, load  # noqa: E402
from bot.sandbox.core import BotApiCore  # noqa: E402
from bot.sandbox.server import SandboxServer  # noqa: E402

SECRET = "notify-scale-master-secret-0123456789-abcdefghij"
NEW_TAX = "🧾 New tax slip"
FIRST_USER = 940_000_001
GOAL = 0.95


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="swbot-notify-scale-"))
    users = list(range(FIRST_USER, FIRST_USER + args.users))
    clock = Clock.system()
    try:
        async with cluster.postgres_database(args.postgres, prefix="swbot_notify") as db_url:
            t = time.perf_counter()
            prepared = await load.prepare(db_url, SECRET, work / "demo", args.users, seed=args.seed, clock=clock)
            print(f"prepared {args.users} people on PostgreSQL in {time.perf_counter() - t:.0f} s")
            core = BotApiCore(username="swbot_notify_bot")
            server = SandboxServer(core)
            base_url = server.start()
            env = {
                **load.clean_env(),
                "SWBOT_TOKEN": f"{secrets.randbelow(10**9) + 10**9}:NOTIFY",  # its own ceiling key in Redis
                "SWBOT_BOT_API_URL": base_url,
                "SWBOT_DATABASE_URL": db_url,
                "SWBOT_SECRET_KEY": SECRET,
                "SWBOT_DATA_DIR": str(work / "data"),
                "SWBOT_BOT_USERNAME": "swbot_notify_bot",
                "SWBOT_BROADCAST_RATE": str(args.ceiling),
                "SWBOT_OUTBOX_POLL_INTERVAL": "0.5",
                "SWBOT_REDIS_URL": args.redis_url,
                "SWBOT_LOG_LEVEL": "INFO",
            }
            instances = cluster.Instances(args.instances, env, work)
            nginx = cluster.Nginx(work / "nginx", instances.ports)
            nginx.start()
            env["SWBOT_WEBHOOK_URL"] = nginx.webhook_url
            instances.env = env
            status: list[int] = []
            try:
                instances.start()
                await load.bind_all(core, users, prepared.tokens, within=120)
                print(f"{args.users} users bound; {args.instances} instances")
                status.append(instances.stop())
                rng = random.Random(args.seed + 7919)  # not the demo feed's own sequence: no number repeats
                folder = work / "new"
                folder.mkdir()
                expected: dict[str, int] = {}
                for n in range(args.slips):
                    i = n % args.users
                    tax_no, messages = load.new_tax_slips(prepared, i, clock.now(), rng)
                    for k, xml in enumerate(messages):
                        (folder / f"{n:05d}-{k}.xml").write_bytes(xml)
                    expected[tax_no] = users[i]
                t0 = time.monotonic()
                ingest = subprocess.run(  # the instances are stopped: the backlog builds up
                    [*load.swbot_command(), "ingest", str(folder)], env=env, capture_output=True, text=True, cwd=work
                )
                lines = ingest.stdout.strip().splitlines()
                print(f"swbot ingest: {lines[-1]} in {time.monotonic() - t0:.1f} s")
                for line in lines[:-1][:5]:  # rejected files, with the reason
                    print(f"  {line}")
                seq = core.call_seq()
                instances = cluster.Instances(args.instances, env, work, base_port=instances.base)
                instances.start()
                deadline = time.monotonic() + args.slips / args.ceiling * 3 + 60
                while time.monotonic() < deadline:
                    sent = core.calls_since(seq, "sendMessage")
                    if sum(1 for c in sent if c.ok and NEW_TAX in str(c.params.get("text"))) >= len(expected):
                        break
                    await asyncio.sleep(0.5)
                await asyncio.sleep(3)  # anything sent twice would show by now
            finally:
                status.append(instances.stop())
                nginx.stop()
                server.stop()
                core.shutdown()
            calls = core.calls_since(seq)
            notices = [c for c in calls if c.ok and c.method == "sendMessage" and NEW_TAX in str(c.params.get("text"))]
            sends = [c.at for c in calls if c.ok and c.method in load.MESSAGE_SENDS]
            per_slip = {no: 0 for no in expected}
            for c in notices:
                for no, chat in expected.items():
                    if no in str(c.params["text"]) and c.params.get("chat_id") == chat:
                        per_slip[no] += 1
            times = sorted(c.at for c in notices)
            rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
            sent_by = [int(m) for m in re.findall(r"notifier \S+ stopped \(sent=(\d+)", instances.log())]
            print(f"notifications: {len(notices)} for {len(expected)} new tax slips in {times[-1] - times[0]:.1f} s"
                  if times else "notifications: none")
            print(f"sustained {rate:.2f}/s against the ceiling {args.ceiling}/s: {rate / args.ceiling:.3f}"
                  f"  (goal ≥ {GOAL}: {'MET' if rate >= GOAL * args.ceiling else 'MISSED'})")
            print(f"busiest 1-second window: {load.max_in_window([c.at for c in notices])} notifications,"
                  f" {load.max_in_window(sends)} message sends of any kind (ceiling {args.ceiling})")
            once = sum(1 for v in per_slip.values() if v == 1)
            missing = sum(1 for v in per_slip.values() if v == 0)
            twice = len(per_slip) - once - missing
            print(f"exactly once: {once}/{len(per_slip)}; missing {missing}, more than once {twice}")
            print(f"sent per instance: {sent_by[-args.instances:]}; instances exited {status}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postgres", default=os.environ.get("SWBOT_TEST_POSTGRES_URL"))
    ap.add_argument("--redis-url", default=os.environ.get("SWBOT_TEST_REDIS_URL"))
    ap.add_argument("--users", type=int, default=60)
    ap.add_argument("--slips", type=int, default=300)
    ap.add_argument("--ceiling", type=int, default=25)
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not args.postgres or not args.redis_url:
        ap.error("--postgres and --redis-url are required (or SWBOT_TEST_POSTGRES_URL / SWBOT_TEST_REDIS_URL)")
    if cluster.nginx_binary() is None:
        ap.error("nginx is not installed (Debian: apt-get install nginx)")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
