"""Simulated users against the Bot API stand-in: the load and soak runs of ``bench/`` and ``tests/``.

Many bound users tap through the bot's screens at once, the way people would: each taps a button,
waits until the bot shows the new view, thinks for a moment and taps again. What is measured comes
from the stand-in's own record (when it handled each call), never from the bot:

- tap → view: from the moment the tap is queued to the bot's first edit (or message) in that chat;
- every tap answered exactly once (a second answer is refused by the stand-in, which counts it);
- refusals: 4xx answers the bot earned, injected faults excluded;
- message sends per 1-second window, for the broadcast ceiling.

A :class:`ViewWatch` listens to the core's calls, so 100 users waiting cost nothing while they wait
(no polling, no scanning of the call record).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.domain.clock import Clock
from bot.sandbox.core import BotApiCore
from bot.sandbox.models import Call, MessageView

# What Telegram counts as a message for its limits (answers and edits are not sends).
MESSAGE_SENDS = frozenset({"sendMessage", "copyMessage", "forwardMessage", "sendPhoto", "sendDocument"})
VIEW_CALLS = frozenset({"editMessageText", "sendMessage"})
# The screens a user taps through, in order; a label missing on the current screen is skipped.
# "1. " is the first row of a list; "▶" the next page.
TOUR = ("💳 Quota", "🏠 Menu", "🧾 Tax slips", "▶", "1. ", "🏠 Menu", "📦 Clearance", "▶", "1. ", "🏠 Menu")
HOME = "🏠 Menu"


def is_notice_keyboard(markup: Any) -> bool:
    """Whether an inline keyboard (a reply_markup dict, or MessageView.buttons rows) is a
    notification's: its buttons answer the notice, they do not navigate. The simulated users
    navigate on their own screen and leave notices alone."""
    from bot import callbacks as cb

    rows = markup.get("inline_keyboard", ()) if isinstance(markup, dict) else (markup or ())
    kinds = set()
    for row in rows:
        for b in row:
            try:
                _, state = cb.decode(b.get("callback_data", ""))
            except cb.BadCallback:
                continue
            kinds.add(isinstance(state, cb.OpenTaxFromNotice | cb.Suspicious))
    return kinds == {True}  # only buttons that answer a notice (a screen also has navigation)


def nav_view(core: BotApiCore, user_id: int) -> MessageView | None:
    """The user's newest screen with navigation buttons (notifications skipped)."""
    newest = core.last_with_keyboard(user_id)  # cheap: looks from the end
    if newest is None or not is_notice_keyboard(newest.buttons):
        return newest
    for m in reversed(core.messages(user_id)):  # a notice came last: look further back (rare)
        if m.from_bot and m.buttons and not is_notice_keyboard(m.buttons):
            return m
    return None


def max_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """The most timestamps in any half-open window [t, t + window)."""
    ts = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ts):
        while ts[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def windows_over(times: Iterable[float], ceiling: float, window: float = 1.0) -> int:
    """How many sends end a window [t - window, t] holding more than ``ceiling`` sends."""
    ts = sorted(times)
    over, lo = 0, 0
    for hi, t in enumerate(ts):
        while ts[lo] <= t - window:
            lo += 1
        if hi - lo + 1 > ceiling:
            over += 1
    return over


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(max(round(p), 1), 99) - 1]


def rss_kb(pid: int) -> int:
    """Resident memory of a process (Linux), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class ViewWatch:
    """Tells a waiting user when the bot has shown something in their chat."""

    def __init__(self, core: BotApiCore, loop: asyncio.AbstractEventLoop) -> None:
        self.core = core
        self.loop = loop
        self._waiting: dict[int, asyncio.Future[float]] = {}
        core.add_call_listener(self._on_call)

    def close(self) -> None:
        self.core.remove_call_listener(self._on_call)

    def _on_call(self, call: Call) -> None:  # the core's lock is held; be quick
        if not call.ok or call.method not in VIEW_CALLS:
            return
        future = self._waiting.get(call.params.get("chat_id"))  # type: ignore[arg-type]
        if future is None:
            return
        # A notification arriving meanwhile is not the view the user waits for.
        if call.method == "sendMessage" and is_notice_keyboard(call.params.get("reply_markup")):
            return
        self.loop.call_soon_threadsafe(_resolve, future, call.at)

    def expect(self, chat_id: int) -> asyncio.Future[float]:
        """Register before acting: the future gets the stand-in's time of the next view call."""
        future: asyncio.Future[float] = self.loop.create_future()
        self._waiting[chat_id] = future
        return future

    async def wait(self, chat_id: int, future: asyncio.Future[float], seconds: float) -> float | None:
        try:
            return await asyncio.wait_for(asyncio.shield(future), seconds)
        except TimeoutError:
            return None
        finally:
            if self._waiting.get(chat_id) is future:
                del self._waiting[chat_id]


def _resolve(future: asyncio.Future[float], at: float) -> None:
    if not future.done():
        future.set_result(at)


@dataclass
class LoadStats:
    latencies: list[float] = field(default_factory=list)  # seconds, tap → view
    queries: list[str] = field(default_factory=list)  # every tap's callback query id
    no_view: int = 0  # taps after which no view came within the timeout
    started: float = 0.0
    ended: float = 0.0

    @property
    def taps(self) -> int:
        return len(self.queries)

    def rate(self) -> float:
        return len(self.latencies) / max(self.ended - self.started, 1e-9)

    def line(self, name: str) -> str:
        ms = [x * 1000 for x in self.latencies]
        return (
            f"{name:18s} taps={self.taps:6d} served/s={self.rate():7.1f} p50={percentile(ms, 50):8.1f} ms "
            f"p95={percentile(ms, 95):8.1f} ms p99={percentile(ms, 99):8.1f} ms no_view={self.no_view}"
        )


def next_label(view: MessageView, step: int, tour: tuple[str, ...] = TOUR) -> tuple[int | None, dict[str, Any]]:
    """The next button of the tour, from position `step`, that this screen has: (its position in
    the tour, the button); (None, the menu button or else the first one) when none is there."""
    buttons = [b for row in view.buttons for b in row if "callback_data" in b]
    for i in range(len(tour)):
        at = (step + i) % len(tour)
        want = tour[at]
        for b in buttons:
            if b["text"] == want or (want.endswith(" ") and b["text"].startswith(want)):
                return at, b
    home = next((b for b in buttons if b["text"] == HOME), buttons[0] if buttons else None)
    if home is None:
        raise LookupError("no button on this screen")
    return None, home


async def tap_through(
    core: BotApiCore,
    watch: ViewWatch,
    user_id: int,
    stats: LoadStats,
    *,
    until: float,
    think: float,
    rng: random.Random,
    view_timeout: float = 10.0,
    running: Callable[[], bool] = lambda: True,
    tour: tuple[str, ...] = TOUR,
) -> None:
    """One user: tap, wait for the view, think `think` × U(0.5, 1.5) s, until `until` (monotonic)."""
    step = rng.randrange(len(tour))
    while time.monotonic() < until and running():
        view = nav_view(core, user_id)
        waited = time.monotonic() + view_timeout
        while view is None:  # a view of several messages: its keyboard comes with the last one
            if time.monotonic() > waited:
                raise AssertionError(f"user {user_id} has no screen with buttons")
            await asyncio.sleep(0.05)
            view = nav_view(core, user_id)
        at, button = next_label(view, step, tour)
        step = 0 if at is None else at + 1
        future = watch.expect(user_id)
        t0 = time.monotonic()
        update = core.user_tap(user_id, user_id, view.message_id, button["callback_data"])
        stats.queries.append(update["callback_query"]["id"])
        shown_at = await watch.wait(user_id, future, view_timeout)
        if shown_at is None:
            stats.no_view += 1
        else:
            stats.latencies.append(shown_at - t0)
        await asyncio.sleep(think * rng.uniform(0.5, 1.5))


async def run_users(
    core: BotApiCore,
    users: list[int],
    *,
    seconds: float,
    think: float,
    seed: int = 1,
    view_timeout: float = 10.0,
    running: Callable[[], bool] = lambda: True,
    tour: tuple[str, ...] = TOUR,
) -> LoadStats:
    """All `users` tap through at once for `seconds`."""
    loop = asyncio.get_running_loop()
    watch = ViewWatch(core, loop)
    stats = LoadStats(started=time.monotonic())
    until = stats.started + seconds
    try:
        await asyncio.gather(
            *(
                tap_through(
                    core,
                    watch,
                    uid,
                    stats,
                    until=until,
                    think=think,
                    rng=random.Random(seed * 1_000_003 + uid),
                    view_timeout=view_timeout,
                    running=running,
                    tour=tour,
                )
                for uid in users
            )
        )
    finally:
        watch.close()
        stats.ended = time.monotonic()
    return stats


def unanswered(core: BotApiCore, queries: Iterable[str]) -> list[str]:
    return [q for q in queries if core.callback_answer(q) is None]


def send_times(core: BotApiCore, keep: Callable[[Call], bool] = lambda c: True) -> list[float]:
    """When the stand-in accepted each message send that `keep` selects."""
    return [c.at for c in core.calls() if c.ok and c.method in MESSAGE_SENDS and keep(c)]


# ------------------------------------------------------------------------------- preparing


@dataclass(frozen=True)
class Prepared:
    people: list[Any]  # bot.sandbox.demofeed.Person, in account order
    tokens: list[str]  # one binding deep-link token per person
    ceb_dir: Path


async def prepare(
    db_url: str,
    secret: str,
    demo_dir: Path,
    consumers: int,
    *,
    clock: Clock,
    seed: int = 1,
    quarantine_dir: Path | None = None,
) -> Prepared:
    """Demo data for `consumers` people imported and ingested into `db_url` (migrated first), and a
    binding link token for each: what `swbot demo-data`, `accounts import`, `ingest`, `link` do."""
    from bot.demo import generate
    from bot.sandbox.demofeed import read_people
    from storage.accounts import import_accounts
    from storage.db import Database
    from storage.ingest import Ingestor, iter_paths
    from storage.links import issue_token
    from storage.migrate import upgrade
    from storage.quarantine import Quarantine
    from storage.vault import Keys, Vault

    generate(demo_dir, consumers=consumers, seed=seed, today=clock.today())
    vault = Vault(Keys.derive(secret.encode()))
    db = Database(db_url, clock=clock)
    try:
        await db.check()
        await upgrade(db)
        await import_accounts(db, vault, (demo_dir / "accounts.csv").read_bytes())
        ingestor = Ingestor(
            db, vault, Quarantine(quarantine_dir or demo_dir / "quarantine", vault, clock), max_bytes=10 * 1024 * 1024
        )
        for path in iter_paths([str(demo_dir / "ceb")]):
            await ingestor.ingest(path.read_bytes(), source="file", name=str(path))
        people = read_people(demo_dir / "accounts.csv")
        tokens = []
        async with db.write() as s:
            for person in people:
                tokens.append(await issue_token(s, vault, person.account_id, 60))
    finally:
        await db.dispose()
    return Prepared(people, tokens, demo_dir / "ceb")


async def bind_all(
    core: BotApiCore, users: list[int], tokens: list[str], *, within: float = 60.0, language_code: str = "en"
) -> None:
    """Each user opens their deep link; returns once every one sees the main menu."""
    for uid, token in zip(users, tokens, strict=True):
        core.add_user(uid, f"User{uid}", language_code=language_code)
        core.user_message(uid, f"/start {token}")
    deadline = time.monotonic() + within
    waiting = set(users)
    while waiting:
        waiting = {u for u in waiting if not _has_menu(core, u)}
        if waiting and time.monotonic() > deadline:
            raise AssertionError(f"{len(waiting)} users not bound after {within} s")
        await asyncio.sleep(0.1)


def _has_menu(core: BotApiCore, uid: int) -> bool:
    view = core.last_with_keyboard(uid)
    return view is not None and "💳 Quota" in view.labels


def new_tax_slips(prepared: Prepared, index: int, now: datetime, rng: random.Random) -> tuple[str, list[bytes]]:
    """A new cleared order and its tax slip for person `index`: (tax slip number, CEB messages)."""
    from bot.sandbox.demofeed import new_tax_messages

    feed = new_tax_messages(prepared.ceb_dir, prepared.people[index], now=now, rng=rng)
    return feed.tax_no, [xml for _, xml in feed.messages]


async def push(api_url: str, key: str, body: bytes, *, now: int) -> int:
    """POST one CEB message to the operator API, signed; the HTTP status (0: no answer)."""
    import aiohttp

    from bot.api import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    headers = {TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign(key.encode(), now, body)}
    headers["Content-Type"] = "application/xml"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(api_url + "/v1/messages", data=body, headers=headers) as resp,
        ):
            await resp.read()
            return resp.status
    except aiohttp.ClientError:
        return 0


def swbot_command() -> list[str]:
    """How to start `swbot` from this interpreter's environment."""
    import sys

    swbot = Path(sys.executable).with_name("swbot")
    return [str(swbot)] if swbot.exists() else [sys.executable, "-m", "bot.cli"]


def clean_env() -> dict[str, str]:
    """This process's environment without any SWBOT_ setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SWBOT_")}
