"""Scale-out, end to end, run the way an operator runs it (README, "Running at scale"):

nginx with deploy/nginx's configuration, two `swbot run` instances started by
deploy/swbot-instances, one PostgreSQL database of their own, and the Bot API stand-in pushing
webhook updates as Telegram does (chats in parallel, one chat in order, re-delivery of what was
not answered 2xx). Bound users tap through their screens concurrently while `swbot ingest` brings
in new tax slips, Telegram answers 5 % of the calls with a 429 (retry after 1 s) and 1 % with a
502, and midway one instance is SIGKILLed. Then:

- every tap was answered and its screen shown, and Telegram (the stand-in) has nothing left to deliver;
- every new tax slip was notified exactly once, to its owner;
- no 1-second window holds more notifications than the configured ceiling for the whole bot,
  measured at the stand-in (replies to the user being answered are counted in that ceiling but
  never held back by it: Telegram's ~30/s is for bulk sends, bot/ceiling.py);
- both instances served updates (nginx balances per request), the killed one lost nothing, and
  the other drains and exits 0 on SIGTERM.

The kill lands between two Bot API requests (the stand-in holds requests for a moment around it):
a kill in the few milliseconds between Telegram accepting a notification and the notifier
recording it would send that notification again once its lease runs out, which no sender can
avoid without an idempotency key Telegram does not offer (bot/notifier.py). Updates in flight at
the killed instance are not protected: they are what the kill is about.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from pathlib import Path

import pytest

from bot.domain.clock import Clock
from bot.sandbox import cluster
from bot.sandbox.client import SandboxClient
from bot.sandbox.core import BotApiCore
from bot.sandbox.demofeed import Person, new_tax_messages, read_people
from bot.sandbox.load import max_in_window
from bot.sandbox.models import Call, MessageView
from bot.sandbox.server import SandboxServer
from tests.conftest import POSTGRES_ENV, _postgres_problem

pytestmark = [pytest.mark.subprocess, pytest.mark.postgres]

USERS = 12
SECONDS = 30.0  # of tapping; the kill comes at 40 % of it
CEILING = 5  # SWBOT_BROADCAST_RATE: notifications a second for the whole bot (2 × 5 without sharing)
NEW_SLIPS = 48  # tax slips ingested while the users tap, in 4 batches: bursts over the ceiling
SECRET_KEY = "e2e-scale-master-secret-0123456789-abcdefghijkl"
WEBHOOK_SECRET = "e2e-Scale_secret"
MESSAGE_SENDS = frozenset({"sendMessage", "copyMessage", "forwardMessage", "sendPhoto", "sendDocument"})
# Buttons the users tap, in this order where the screen has them ("1. ": a list's first row;
# "▶": next page). Nothing that changes settings, unbinds, asks for typing or renders files.
TOUR = ("💳 Quota", "🏠 Menu", "🧾 Tax slips", "▶", "1. ", "🏠 Menu", "📦 Clearance", "▶", "1. ", "🏠 Menu")
FIRST_USER = 880_000_001
REDIS_ENV = "SWBOT_TEST_REDIS_URL"


def _skip_reason() -> str | None:
    if cluster.nginx_binary() is None:
        return "nginx is not installed (Debian: apt-get install nginx; .ci/run installs it)"
    if cluster.swbot_binary() is None:
        return "the swbot console script is not installed (pip install -e .)"
    if not os.environ.get(POSTGRES_ENV):
        return f"needs a PostgreSQL server at {POSTGRES_ENV}"
    if not os.environ.get(REDIS_ENV):
        return f"needs Redis for the bot-wide send ceiling at {REDIS_ENV} (e.g. redis://127.0.0.1:6379/0)"
    return None




async def _cli(env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        cluster.swbot_binary() or "swbot", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, f"swbot {' '.join(args)} failed:\n{text[-3000:]}"
    return text


async def _tokens(db_url: str, people: list[Person], clock: Clock) -> list[str]:
    """A binding deep-link token per person (what `swbot link` prints, without a process each)."""
    from storage.db import Database
    from storage.links import issue_token
    from storage.vault import Keys, Vault

    db = Database(db_url, clock=clock)
    vault = Vault(Keys.derive(SECRET_KEY.encode()))
    try:
        async with db.write() as session:
            return [await issue_token(session, vault, p.account_id, 60) for p in people]
    finally:
        await db.dispose()


def _next_button(client: SandboxClient, step: int) -> tuple[int, str, MessageView]:
    """The next step, the label to tap and the message it is on (read once: a notification may
    become the newest message with buttons between reading the labels and tapping)."""
    view = client.core.last_with_keyboard(client.chat_id)
    assert view is not None
    labels = view.labels
    for i in range(len(TOUR)):
        at = (step + i) % len(TOUR)
        want = TOUR[at]
        for label in labels:
            if label == want or (want.endswith(" ") and label.startswith(want)):
                return at + 1, label, view
    # A notification is the newest message with buttons: open the slip, then carry on.
    return step, "🏠 Menu" if "🏠 Menu" in labels else labels[0], view


class Run:
    def __init__(self, core: BotApiCore) -> None:
        self.core = core
        self.taps: list[str] = []  # callback query ids
        self.unanswered: list[str] = []
        self.running = True


async def _tap_through(run: Run, client: SandboxClient, rng: random.Random) -> None:
    step = rng.randrange(len(TOUR))
    while run.running:
        step, label, view = _next_button(client, step)
        reaction = await client.tap(label, message=view, until=lambda: True)  # returns once the bot answered 200
        assert reaction.update is not None
        query_id = reaction.update["callback_query"]["id"]
        run.taps.append(query_id)
        if reaction.answer is None:
            run.unanswered.append(query_id)
        await asyncio.sleep(rng.uniform(0.2, 0.6))


async def _ingest_new_slips(run: Run, env: dict[str, str], work: Path, demo: Path, people: list[Person],
                            chats: dict[str, int], clock: Clock) -> None:
    rng = random.Random(11)
    batches = 4
    for batch in range(batches):
        folder = work / f"new-{batch}"
        folder.mkdir()
        for n in range(NEW_SLIPS // batches):
            index = rng.randrange(len(people))
            feed = new_tax_messages(demo / "ceb", people[index], now=clock.now(), rng=rng)
            for i, (_, xml) in enumerate(feed.messages):
                (folder / f"{n:03d}-{i}.xml").write_bytes(xml)
            chats[feed.tax_no] = FIRST_USER + index
        out = await _cli(env, "ingest", str(folder))
        assert out.strip().splitlines()[-1].endswith("rejected=0"), out
        await asyncio.sleep(SECONDS / (batches + 1))


async def _kill_between_requests(core: BotApiCore, instances: cluster.Instances) -> None:
    await asyncio.sleep(SECONDS * 0.4)
    core.hold()  # no Bot API request takes effect from here ...
    try:
        await asyncio.sleep(0.5)  # ... and what was accepted before is recorded by its sender
        instances.kill(0)
        await asyncio.sleep(0.3)  # the stand-in drops the dead instance's held requests
    finally:
        core.release()


def _is_notification(call: Call) -> bool:
    return call.ok and call.method == "sendMessage" and "New tax slip" in str(call.params.get("text", ""))


def _notifications(core: BotApiCore, expected: dict[str, int]) -> dict[str, list[int]]:
    """Each expected tax slip number → the chats a "New tax slip" message about it was sent to."""
    sent: dict[str, list[int]] = {no: [] for no in expected}
    for call in core.calls("sendMessage"):
        if _is_notification(call):
            text = str(call.params["text"])
            for no in expected:
                if no in text:
                    sent[no].append(int(call.params["chat_id"]))
    return sent


async def test_two_instances_behind_nginx_lose_nothing(tmp_path: Path, clock: Clock) -> None:
    reason = _skip_reason()
    if reason:
        if os.environ.get("SWBOT_REQUIRE_NGINX") == "1":  # .ci/run installs nginx: never skip there
            pytest.fail(f"SWBOT_REQUIRE_NGINX=1 but {reason}")
        pytest.skip(reason)
    server_url = os.environ[POSTGRES_ENV]
    if problem := await _postgres_problem(server_url):
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES_ENV}: {problem}")

    core = BotApiCore()
    core.webhook_retry_delay = 0.2
    sandbox = SandboxServer(core)
    base_url = sandbox.start()
    token = f"{secrets.randbelow(10**9) + 10**9}:E2E-scale"  # its own bot: its own shared ceiling key
    async with cluster.postgres_database(server_url) as db_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWBOT_")}
        env.update({
            "SWBOT_TOKEN": token,
            "SWBOT_BOT_API_URL": base_url,
            "SWBOT_DATABASE_URL": db_url,
            "SWBOT_SECRET_KEY": SECRET_KEY,
            "SWBOT_DATA_DIR": str(tmp_path / "data"),
            "SWBOT_BROADCAST_RATE": str(CEILING),
            "SWBOT_OUTBOX_POLL_INTERVAL": "0.5",
            "SWBOT_LOG_LEVEL": "INFO",
        })
        env["SWBOT_REDIS_URL"] = os.environ[REDIS_ENV]  # the token is this run's own: so is its key
        demo = tmp_path / "demo"
        await _cli(env, "demo-data", "--out", str(demo), "--consumers", str(USERS), "--seed", "5",
                   "--today", clock.today().isoformat())
        await _cli(env, "accounts", "import", str(demo / "accounts.csv"))
        await _cli(env, "ingest", str(demo / "ceb"))
        people = read_people(demo / "accounts.csv")[:USERS]
        tokens = await _tokens(db_url, people, clock)

        instances = cluster.Instances(2, env, tmp_path)
        nginx = cluster.Nginx(tmp_path / "nginx", instances.ports)
        nginx.start()
        env["SWBOT_WEBHOOK_URL"] = nginx.webhook_url
        env["SWBOT_WEBHOOK_SECRET"] = WEBHOOK_SECRET
        try:
            instances.start()
            seq = core.call_seq()
            clients = [SandboxClient(core, FIRST_USER + i, f"User{i}", "en", timeout=60) for i in range(USERS)]
            await asyncio.gather(*(c.send(f"/start {t}", until=lambda: True) for c, t in zip(clients, tokens,
                                                                                              strict=True)))
            for c in clients:
                assert "💳 Quota" in c.labels(), c.visible_text()

            core.inject_faults(rate_429=0.05, rate_5xx=0.01, seed=7)  # flood control and a flaky front end
            run = Run(core)
            expected: dict[str, int] = {}
            tappers = [asyncio.ensure_future(_tap_through(run, c, random.Random(i))) for i, c in enumerate(clients)]
            ingest = asyncio.ensure_future(_ingest_new_slips(run, env, tmp_path, demo, people, expected, clock))
            killer = asyncio.ensure_future(_kill_between_requests(core, instances))
            await asyncio.sleep(SECONDS)
            run.running = False
            await asyncio.gather(*tappers, ingest, killer)

            # Every new tax slip reaches its owner (rows the killed instance had claimed come back
            # once their lease runs out), then nothing more arrives.
            deadline = time.monotonic() + 90
            while not all(_notifications(core, expected).values()) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            await asyncio.sleep(3)
            notified = _notifications(core, expected)

            assert len(run.taps) > USERS * 10, f"only {len(run.taps)} taps"
            assert run.unanswered == []
            assert [q for q in run.taps if core.callback_answer(q) is None] == []
            assert core.webhook_info()["pending_update_count"] == 0
            missing = sorted(no for no, chats in notified.items() if not chats)
            assert missing == [], f"{len(missing)} of {len(expected)} new tax slips never notified"
            twice = {no: chats for no, chats in notified.items() if len(chats) > 1}
            assert twice == {}, f"notified more than once: {twice}"
            assert notified == {no: [chat] for no, chat in expected.items()}  # each to its owner
            calls = core.calls_since(seq)
            injected = [c for c in calls if c.injected]
            assert any(c.error_code == 429 for c in injected) and any(c.error_code == 502 for c in injected)
            sends = [c.at for c in calls if c.ok and c.method in MESSAGE_SENDS]
            notices = [c.at for c in calls if _is_notification(c)]
            print(f"taps={len(run.taps)} faults={len(injected)} sends={len(sends)} "
                  f"busiest second: sends {max_in_window(sends)} "
                  f"notifications {max_in_window(notices)} ceiling={CEILING} notified={len(notices)} "
                  f"served={nginx.upstream_counts()} passed on={nginx.passed_on()} statuses={nginx.statuses()}")
            assert max_in_window(notices) <= CEILING, f"{max_in_window(notices)} notifications in one second"
            served = nginx.upstream_counts()
            assert all(served.get(f"127.0.0.1:{p}", 0) > 0 for p in instances.ports), served
            # Updates were in flight at the killed instance, and nginx gave them to the other.
            assert nginx.passed_on() > 0
        finally:
            status = instances.stop()
            nginx.stop()
            core.shutdown()
            sandbox.stop()
        log = instances.log()
        assert status == 137, log[-3000:]  # the script reports the killed instance's SIGKILL ...
        assert log.count("bot.webhook: stopped") == 1, log[-3000:]  # ... and the other drained and stopped
        assert "Traceback" not in log, log[-5000:]
