"""Benchmark: the long soak — 100 users for 10 minutes, faults, a kill, notifications (issue 13 §5).

    .venv/bin/python bench/soak.py [--users 100] [--minutes 10] [--ceiling 25] [--no-faults]
        [--no-kill] [--redis-url redis://127.0.0.1:6379/0]

`swbot run` as a process against the Bot API stand-in (bot.sandbox.soak, the same run as
tests/scale/test_soak.py, longer): every user taps through the screens (think time U(0.5, 1.5) × 0.5 s),
new tax slips arrive through the operator API in bursts of 30 every 5 s (over the ceiling of 25),
5 % of Telegram calls are answered 429 and 1 % 502, and the bot is SIGKILLed a third of the way in
and started again.

Printed: taps and tap → view percentiles, taps not answered, refusals (and how many of them are
for updates handled again after the kill), how many updates the killed process had taken and not
finished (handled again from its spool), apologies, notifications expected / delivered once / twice / never,
the most notices in any 1-second window against the ceiling, tracebacks in the logs, and the bot's
resident memory over time (after the restart: first sample, last sample, growth). The verdict
requires all of: every tap answered, no refusal but for an update handled again after the kill (a
view already shown is "not modified", a tap already answered "too old"), no apology, every
notification delivered, twice only if the killed process had sent it in its last second (Telegram
took it, the database had not recorded it: delivery is at least once), no window over the ceiling,
no traceback, memory growth < 30 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.domain.clock import Clock  # noqa: E402
from bot.i18n import get_translator  # noqa: E402
from bot.sandbox.load import max_in_window  # noqa: E402
from bot.sandbox.soak import soak  # noqa: E402
from bot.views import menu as menu_views  # noqa: E402


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="swbot-soak-"))
    seconds = args.minutes * 60
    try:
        r = await soak(
            work,
            users=args.users,
            seconds=seconds,
            ceiling=args.ceiling,
            clock=Clock.system(),
            faults=not args.no_faults,
            kill_at=None if args.no_kill else seconds / 3,
            redis_url=args.redis_url,
            burst=args.burst,
            burst_every=args.burst_every,
            log_level="WARNING",
            progress=lambda m: print(f"  {m}", flush=True),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    apology = menu_views.error_text(get_translator("en"))
    apologies = r.answer_texts.count(apology) + sum(apology in t for t in r.bot_texts)
    once = sum(1 for n in r.notices.values() if n == 1)
    twice = sum(1 for n in r.notices.values() if n > 1)
    never = sum(1 for n in r.notices.values() if n == 0)
    window = max_in_window(r.notice_times)
    tracebacks = sum(log.count("Traceback") for log in r.logs)
    restarted = max((t for t, kb in r.rss_kb if kb == 0), default=0.0)
    serving = [(t, kb) for t, kb in r.rss_kb if kb and t >= restarted + 5.0]
    first, last = (serving[0][1], serving[-1][1]) if serving else (0, 0)
    print()
    print(r.stats.line("swbot run"))
    print(f"unanswered={len(r.unanswered)} refusals={len(r.refusals)} (of updates handled again after the kill: "
          f"{len(r.refusals) - len(r.unexplained_refusals())}) apologies={apologies} injected_faults={r.injected}")
    print(f"after the kill: {len(r.replayed)} updates the killed process had taken and not finished, "
          "handled again from its spool")
    print(f"notifications expected={len(r.expected)} once={once} twice={twice} never={never}; "
          f"most in 1 s: {window} (ceiling {args.ceiling})")  # fmt: skip
    if twice:
        before = ", ".join(f"{r.killed_at - r.first_notice[t]:.3f} s" for t in r.duplicates() if r.killed_at)
        print(f"  sent twice: the first copy went out {before} before the kill "
              f"({'all within its last second: at-least-once' if r.duplicates_from_the_kill() else 'NOT explained'})")
    print(f"outbox rows at the end: {r.outbox}")
    for c in r.unexplained_refusals()[:8]:
        print(f"  refused: {c.method} {c.error_code} {c.description}")
    print(f"tracebacks in the logs: {tracebacks}; exit status {r.exit_code}")
    step = max(1, len(r.rss_kb) // 12)
    print("bot memory (s: MB):", ", ".join(f"{t:.0f}: {kb / 1024:.0f}" for t, kb in r.rss_kb[::step]))
    span = serving[-1][0] - serving[0][0] if serving else 0.0
    print(f"bot memory after the restart: {first / 1024:.0f} MB → {last / 1024:.0f} MB "
          f"({(last - first) / 1024:+.1f} MB over {span:.0f} s)")  # fmt: skip
    ok = (
        not r.unanswered
        and not r.unexplained_refusals()
        and not apologies
        and not never
        and r.duplicates_from_the_kill()
        and window <= args.ceiling
        and not tracebacks
        and last - first < 30 * 1024
    )
    print("verdict:", "HELD" if ok else "BROKEN")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--ceiling", type=int, default=25, help="SWBOT_BROADCAST_RATE for the bot")
    ap.add_argument("--burst", type=int, default=30, help="new tax slips per burst (above the ceiling)")
    ap.add_argument("--burst-every", type=float, default=5.0, help="seconds between bursts")
    ap.add_argument("--no-faults", action="store_true")
    ap.add_argument("--no-kill", action="store_true")
    ap.add_argument("--redis-url", default=None, help="SWBOT_REDIS_URL for the bot")
    return asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
