"""The notifier: drains the outbox to Telegram, paced, at least once, beside the interactive bot.

Runs as a task inside `swbot run` with its OWN Bot instance (own connection pool, no
AIORateLimiter), so flood control on notifications never holds up answers to taps: a 429 here
pauses only this notifier.

One cycle (`drain_once`):
1. Claim due rows with a lease (storage.outbox.claim_due: FOR UPDATE SKIP LOCKED on PostgreSQL,
   compare-and-set on SQLite), so several `swbot run` instances drain one outbox without sending a
   row twice, and a crashed worker's rows are taken over once its lease runs out.
2. Keep one row per chat per cycle; a chat's other rows, and rows for chats still inside
   `per_chat_interval`, go back to pending with a later due time (not an attempt).
3. Per row: re-read the binding (still there? active? kind still on?), render the text from the
   database in the recipient's language — nothing rendered is ever stored — wait for a send slot,
   send with protect_content, and record the outcome.
4. Outcomes are written in small batches, a send's at once (with whatever else came in while
   the previous batch was written). A crash between Telegram accepting a message and that commit,
   a few milliseconds, is the only way to get a duplicate (the lease expires and the row is sent
   again).

Pacing: a limiter at `rate` sends/s in this process — smooth spacing plus a hard window measured
from Telegram's answers, so no 1-second window ever holds more than `rate` sends on the server's
clock, whatever the network jitter — and `per_chat_interval` between two sends to one chat. On top
of it the bot-wide ceiling (bot.ceiling, `ceiling=`): shared by every process and instance through
Redis when configured, it counts the replies the bot sends too, so notifications use what they
leave. With `paid_broadcast`, sends carry `allow_paid_broadcast` (Telegram then allows up to 1000/s).

A database outage is waited out: outcomes not yet written are kept and written first, before
anything new is claimed, so a row is never claimed again (and sent twice) for want of its outcome.

Errors (PTB classes; order matters — BadRequest and TimedOut are NetworkError subclasses):
RetryAfter → pause this notifier for retry_after, row due again after it, not an attempt;
Forbidden → row "blocked", binding inactive (handlers.membership reactivates it); BadRequest,
ChatMigrated → "failed" at once; TimedOut, NetworkError, other TelegramError → exponential backoff
with jitter, then "failed" with the reason after `max_attempts`.

Over 400 lines: the send loop, its pacing (Pacer) and the outcome bookkeeping are one state
machine around a lease; the SQL is in storage.outbox, the texts in bot.views.notices.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.ceiling import Ceiling
from bot.ceiling import Paused as CeilingPaused
from bot.domain import languages
from bot.ratelimiter import retry_after_seconds
from bot.views.common import Screen
from storage import outbox
from storage.db import Database, is_unavailable
from storage.models import Binding, Outbox
from storage.vault import Vault

log = logging.getLogger(__name__)



# (read session, vault, outbox row, binding, language) → the notice as a views Screen (its parts
# in order, the keyboard on the last), or None when there is nothing to say any more (the record is
# gone or the event superseded): the row is cancelled. Injected by whoever builds the Notifier.
RenderFn = Callable[[AsyncSession, Vault, Outbox, Binding, str], Awaitable[Screen | None]]


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class Paused(Exception):
    """The pacer is paused (flood control) for longer than the caller wants to hold a lease."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"paused for {seconds:.1f} s")
        self.seconds = seconds


@dataclass(eq=False)
class Slot:
    """One send's place in the pacer: when it started, and when its answer came back."""

    start: float
    waited: float
    end: float | None = None


class Pacer:
    """At most `rate` sends in any 1-second window as the SERVER sees them, spread evenly.

    Two rules. Sends start `(1 + margin) / rate` apart (smooth: no bursts), with a little catch-up
    credit after a gap. And a hard window that does not
    depend on network jitter: a send may start only `cap / rate` seconds after the send `cap`
    places before it has been ANSWERED. The server handles each request between our start and its
    answer, so any `cap + 1` consecutive sends are then at least that far apart on its clock, that
    is, no 1-second window holds more than `rate` of them. Callers report answers with `done()`.
    """

    def __init__(self, rate: float, *, margin: float = 0.01, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.cap = max(1, math.floor(rate))
        self.window = self.cap / rate
        self.interval = (1 + margin) / rate
        # Catch-up after a short gap: a couple of sends may start early. Kept small on purpose:
        # bursts raise the answer latency, which the hard window then has to wait out.
        self.credit = min(2 * self.interval, 0.05)
        self.clock = clock
        self.paused_until = 0.0
        self._next = 0.0
        self._slots: deque[Slot] = deque(maxlen=self.cap)
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    def ready_at(self, now: float) -> float:
        at = max(self._next, self.paused_until)
        if len(self._slots) == self.cap:
            oldest = self._slots[0]
            # Still in flight: we cannot know when the server counted it yet; look again shortly.
            at = max(at, now + 0.002 if oldest.end is None else oldest.end + self.window)
        return at

    async def acquire(self, stopping: asyncio.Event, *, max_pause: float = math.inf) -> Slot | None:
        """Wait for a slot and take it; None when `stopping` was set first. Raises `Paused` when a
        pause has more than `max_pause` seconds left. Send right after, then call `done(slot)`."""
        start = self.clock()
        async with self._lock:  # FIFO: waiters take slots in arrival order
            while True:
                now = self.clock()
                if self.paused_until - now > max_pause:
                    raise Paused(self.paused_until - now)
                at = self.ready_at(now)
                if at <= now:
                    break
                if await _sleep_or_stop(stopping, at - now):
                    return None
            slot = Slot(now, now - start)
            self._slots.append(slot)
            self._next = max(self._next, now - self.credit) + self.interval
        return slot

    def done(self, slot: Slot) -> None:
        """The send's answer (or error, or timeout) is in."""
        slot.end = self.clock()


async def _sleep_or_stop(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep; True when `stopping` was set meanwhile."""
    if stopping.is_set():
        return True
    try:
        await asyncio.wait_for(stopping.wait(), timeout=max(seconds, 0.0))
    except TimeoutError:
        return False
    return True


# -- outcomes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    row_id: int
    action: str  # sent, reschedule, failed, blocked, cancel, release
    tg_message_id: int | None = None
    at: datetime | None = None
    error: str | None = None
    count_attempt: bool = False


@dataclass(frozen=True)
class _Prepared:
    binding: Binding
    screen: Screen | None  # None: only re-checked, not rendered


class Notifier:
    """Drains the outbox. `start()` runs the poll loop as a task; `drain_once()` is one cycle
    (tests call it directly). Intervals are parameters so tests run fast."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        bot: Bot,
        *,
        rate: float,
        per_chat_interval: float,
        poll_interval: float,
        worker_id: str | None = None,
        render: RenderFn,
        batch_size: int | None = None,
        lease_seconds: float = 30.0,
        max_attempts: int = 8,
        backoff_base: float = 2.0,
        backoff_cap: float = 900.0,
        max_in_flight: int = 16,
        flush_every: int = 32,
        pause_release_after: float = 2.0,
        recheck_after: float = 1.0,
        ceiling: Ceiling | None = None,
        paid_broadcast: bool = False,
    ) -> None:
        self.db = db
        self.vault = vault
        self.bot = bot
        self.per_chat_interval = per_chat_interval
        self.poll_interval = poll_interval
        self.worker_id = (worker_id or default_worker_id())[:64]
        self.render = render
        # About two seconds of sends per claim: small enough that the lease never runs out while a
        # batch is worked through, large enough that claiming is a small share of the time.
        self.batch_size = batch_size or min(1000, max(10, math.ceil(2 * rate)))
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_in_flight = max_in_flight
        self.flush_every = flush_every
        self.pause_release_after = pause_release_after
        self.recheck_after = recheck_after
        self.pacer = Pacer(rate)
        self.ceiling = ceiling
        self.paid_broadcast = paid_broadcast
        self._chat_ready: dict[int, float] = {}  # binding id → monotonic time it may get the next message
        self._outcomes: list[_Outcome] = []
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_claimed = 0
        self.sent = 0  # counters for logs and the benchmark
        self.failed = 0

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        await self.bot.initialize()  # idempotent; the owner shuts the bot down
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="swbot-notifier")
        log.info(
            "notifier %s started (%.3g msg/s, %.3g s per chat)", self.worker_id, self.pacer.rate, self.per_chat_interval
        )

    async def stop(self) -> None:
        """Finish the sends in flight, hand back the claimed rows not yet sent, write the outcomes."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            try:
                await self._task
            finally:
                self._task = None
        await self._settle()
        log.info("notifier %s stopped (sent=%d failed=%d)", self.worker_id, self.sent, self.failed)

    def wake(self) -> None:
        """Look at the outbox now instead of at the next poll (for writers in this process)."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self.drain_once()
            except Exception as exc:
                # Database down, say: keep the loop alive and try again after a poll interval.
                if is_unavailable(exc):
                    log.warning("notifier: database unavailable (%s); trying again", type(exc).__name__)
                else:
                    log.exception("notifier cycle failed")
                self._last_claimed = 0
            if self._last_claimed:
                continue  # rows may have arrived while this batch was being sent: look again now
            # Nothing due: sleep out the poll interval (counted from this cycle's start) or until woken.
            idle = max(0.0, started + self.poll_interval - time.monotonic())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=idle)
            except TimeoutError:
                pass
            self._wake.clear()

    # -- one cycle -------------------------------------------------------------------------------

    async def drain_once(self) -> int:
        """Claim a batch and work through it. Returns how many rows were acted on (sent, failed,
        cancelled, rescheduled after an error), not counting rows put off for per-chat spacing."""
        if self._stopping.is_set():
            return 0
        if self._outcomes:
            # Left over from a database outage: these rows are still leased to us and some were
            # sent. Record them before claiming anything, or their lease could run out and they
            # would be claimed (and sent) again.
            await self._flush()
            if self._outcomes:
                self._last_claimed = 0
                return 0
        async with self.db.write() as session:
            rows = await outbox.claim_due(session, self.worker_id, self.batch_size, self.lease_seconds)
            work = await self._select(session, rows)
        self._last_claimed = len(rows)
        if not work:
            return 0
        try:
            await self._work_through(work)
        finally:
            await self._settle()
        return len(work)

    async def _work_through(self, work: list[Outbox]) -> None:
        """A small pipeline: rows are re-checked and rendered a chunk at a time (one read session
        per chunk) just ahead of the senders, so what is sent is at most a couple of chunks —
        tens of milliseconds at full rate — older than the database."""
        chunk = max(1, self.max_in_flight)
        ready: asyncio.Queue[tuple[Outbox, _Prepared | _Outcome] | None] = asyncio.Queue(maxsize=chunk)

        async def prepare() -> None:
            try:
                for i in range(0, len(work), chunk):
                    rows = work[i : i + chunk]
                    if self._stopping.is_set():
                        done: dict[int, _Prepared | _Outcome] = {r.id: _Outcome(r.id, "release") for r in rows}
                    else:
                        done = await self._prepare_many(rows)
                    for row in rows:
                        await ready.put((row, done[row.id]))
            finally:
                for _ in range(chunk):
                    await ready.put(None)

        async def send() -> None:
            while (item := await ready.get()) is not None:
                await self._deliver(*item)

        await asyncio.gather(prepare(), *(send() for _ in range(chunk)))

    def _later(self, seconds: float) -> datetime:
        """`seconds` from now, on the application's clock (the outbox's time)."""
        return self.db.clock.now() + timedelta(seconds=seconds)

    async def _select(self, session: AsyncSession, rows: list[Outbox]) -> list[Outbox]:
        """One row per chat, and only for chats past their spacing; the rest are due later."""
        now_mono = time.monotonic()
        now = self.db.clock.now()
        work: list[Outbox] = []
        eta: dict[int, float] = {}  # binding id → when (s from now) its latest planned message goes out
        for row in rows:
            if row.attempts >= self.max_attempts:
                # Taken over from crashed workers too often: something about it kills the sender.
                await outbox.mark_failed(session, row.id, self.worker_id, "lease expired too many times")
                self.failed += 1
                continue
            b = row.binding_id
            if b not in eta:
                wait = self._chat_ready.get(b, 0.0) - now_mono
                if wait <= 0:
                    eta[b] = len(work) * self.pacer.interval  # roughly its place in this batch
                    work.append(row)
                    continue
                eta[b] = wait - self.per_chat_interval
            # Spread the chat's other rows one interval apart after the one going out.
            eta[b] += self.per_chat_interval
            await outbox.reschedule(
                session, row.id, self.worker_id, now + timedelta(seconds=max(eta[b], 0.0)), None, count_attempt=False
            )
        self._prune_chats(now_mono)
        return work

    def _prune_chats(self, now_mono: float) -> None:
        if len(self._chat_ready) > 10_000:
            self._chat_ready = {k: v for k, v in self._chat_ready.items() if v > now_mono}

    # -- one row ---------------------------------------------------------------------------------

    async def _deliver(self, row: Outbox, prepared: _Prepared | _Outcome) -> None:
        if isinstance(prepared, _Outcome):  # decided without sending (cancelled, handed back, …)
            outcome = prepared
        else:
            try:
                outcome = await self._attempt(row, prepared)
            except Exception as exc:  # a bug here: retry later rather than lose the row
                log.exception("notification %s: unexpected error", row.id)
                outcome = self._backoff(row, f"internal error: {type(exc).__name__}")
            finally:
                self._chat_ready[row.binding_id] = time.monotonic() + self.per_chat_interval
        self._outcomes.append(outcome)
        urgent = outcome.action == "sent"
        if (urgent or len(self._outcomes) >= self.flush_every) and (self._flusher is None or self._flusher.done()):
            # In the background: a sender never waits for the disk. A send is recorded at once
            # (with whatever else came in meanwhile): until then a crash would send it again.
            self._flusher = asyncio.create_task(self._flush())

    async def _attempt(self, row: Outbox, prepared: _Prepared) -> _Outcome:
        if self._stopping.is_set():
            return _Outcome(row.id, "release")
        assert prepared.screen is not None
        texts = prepared.screen.messages
        keyboard = prepared.screen.keyboard if isinstance(prepared.screen.keyboard, InlineKeyboardMarkup) else None
        chat_id = prepared.binding.chat_id
        first_id: int | None = None
        try:
            for i, text in enumerate(texts):
                slot = await self.pacer.acquire(self._stopping, max_pause=self.pause_release_after)
                if slot is None:
                    # Stopping. Parts already sent would be sent again; notifications are one part.
                    return _Outcome(row.id, "release")
                ticket = None
                try:
                    if self.ceiling is not None:
                        ticket = await self.ceiling.acquire(self._stopping, max_pause=self.pause_release_after)
                        if ticket is None:
                            return _Outcome(row.id, "release")
                    if i == 0 and slot.waited > self.recheck_after:
                        # Waited long (a pause): look again before sending, without re-rendering.
                        still = (await self._prepare_many([row], render=False))[row.id]
                        if isinstance(still, _Outcome):
                            return still
                    message = await self.bot.send_message(
                        chat_id=chat_id,
                        text=text,
                        parse_mode=ParseMode.HTML,
                        protect_content=True,  # personal data: no forwarding, no saving
                        link_preview_options=LinkPreviewOptions(is_disabled=True),
                        reply_markup=keyboard if i == len(texts) - 1 else None,
                        allow_paid_broadcast=True if self.paid_broadcast else None,  # None: not sent
                    )
                finally:
                    self.pacer.done(slot)
                    if ticket is not None:
                        assert self.ceiling is not None
                        await self.ceiling.release(ticket)
                if first_id is None:
                    first_id = message.message_id
        except (Paused, CeilingPaused) as exc:
            # Flood control: do not sit on the lease; the row is due again when the pause ends.
            return _Outcome(row.id, "reschedule", at=self._later(exc.seconds), count_attempt=False)
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc)
            self.pacer.pause(seconds)
            if self.ceiling is not None:
                await self.ceiling.pause(seconds)  # every process's notifications wait with us
            log.warning("notifier: flood control, pausing %.1f s", seconds)
            return _Outcome(
                row.id,
                "reschedule",
                at=self._later(seconds),
                error=f"429 retry after {seconds:g} s",
                count_attempt=False,
            )
        except Forbidden as exc:
            log.info("notification %s: chat blocked the bot; binding %s inactive", row.id, row.binding_id)
            return _Outcome(row.id, "blocked", error=f"403 {exc.message}")
        except ChatMigrated:
            return self._fail(row, "chat migrated: not a private chat")
        except InvalidToken as exc:
            # Configuration fault: nothing will get through; keep the row and shout.
            log.error("notifier: the bot token was refused (%s); pausing", type(exc).__name__)
            self.pacer.pause(60.0)
            return _Outcome(
                row.id, "reschedule", at=self._later(60), error="invalid token", count_attempt=False
            )
        except BadRequest as exc:  # before NetworkError: it is a subclass, and permanent
            return self._fail(row, f"400 {exc.message}")
        except TimedOut:  # ambiguous: it may have been delivered; this is where duplicates come from
            return self._backoff(row, "timed out")
        except NetworkError as exc:
            return self._backoff(row, f"network error: {exc.message}")
        except TelegramError as exc:
            return self._backoff(row, f"telegram error: {exc.message}")
        self.sent += 1
        return _Outcome(row.id, "sent", tg_message_id=first_id)

    async def _prepare_many(self, rows: list[Outbox], *, render: bool = True) -> dict[int, _Prepared | _Outcome]:
        """Re-check each row's recipient and render it from the database as it is now."""
        result: dict[int, _Prepared | _Outcome] = {}
        try:
            async with self.db.read() as session:
                bindings = await outbox.recipients(session, {row.binding_id for row in rows})
                langs: dict[int, str | None] = {}
                if render and bindings:
                    langs = await outbox.notice_languages(session, [b.telegram_user_id for b in bindings.values()])
                for row in rows:
                    result[row.id] = await self._prepare_one(session, row, bindings.get(row.binding_id), langs, render)
        except Exception as exc:  # the database, most likely: try these rows again soon
            log.warning("notifier: preparing %d rows failed (%s); handing them back", len(rows), type(exc).__name__)
            return {row.id: _Outcome(row.id, "release") for row in rows}
        return result

    async def _prepare_one(
        self, session: AsyncSession, row: Outbox, binding: Binding | None, langs: dict[int, str | None], render: bool
    ) -> _Prepared | _Outcome:
        if binding is None:
            return _Outcome(row.id, "cancel", error="binding deleted")
        if not binding.active:
            # Blocked meanwhile: keep the row pending; it goes out if the user comes back.
            return _Outcome(row.id, "release")
        setting = outbox.KIND_SETTING.get(row.kind)
        if setting is None:
            return _Outcome(row.id, "cancel", error=f"unknown kind {row.kind}")
        if not getattr(binding, setting):
            return _Outcome(row.id, "cancel", error="kind switched off")
        if not render:
            return _Prepared(binding, None)
        lang = langs.get(binding.telegram_user_id)
        try:
            screen = await self.render(session, self.vault, row, binding, languages.parse(lang) or languages.DEFAULT)
        except Exception as exc:  # a bug in a view: retry later (and eventually fail) rather than lose it
            log.exception("notification %s: rendering failed", row.id)
            return self._backoff(row, f"internal error: {type(exc).__name__}")
        if screen is None or not screen.text:
            return _Outcome(row.id, "cancel", error="nothing to notify any more")
        return _Prepared(binding, screen)

    def _fail(self, row: Outbox, reason: str) -> _Outcome:
        log.warning("notification %s failed: %s", row.id, reason)
        return _Outcome(row.id, "failed", error=reason)

    def _backoff(self, row: Outbox, reason: str) -> _Outcome:
        attempt = row.attempts + 1  # this one
        if attempt >= self.max_attempts:
            return self._fail(row, f"gave up after {attempt} attempts: {reason}")
        delay = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        delay = delay / 2 + random.uniform(0, delay / 2)  # jitter so retries do not march in step
        return _Outcome(row.id, "reschedule", at=self._later(delay), error=reason, count_attempt=True)

    # -- writing outcomes ------------------------------------------------------------------------

    async def _settle(self) -> None:
        """Wait for a background flush, then write whatever is left."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        await self._flush()

    async def _flush(self) -> None:
        """Write the outcomes so far, and those that come in meanwhile (a send recorded while a
        write was under way started no write of its own: it must not wait for the next one)."""
        async with self._flush_lock:
            while self._outcomes:
                batch, self._outcomes = self._outcomes, []
                try:
                    async with self.db.write() as session:
                        # The common case, "sent", in one round trip; the rest one by one.
                        sent = [(o.row_id, o.tg_message_id) for o in batch if o.action == "sent"]
                        held = await outbox.mark_sent_many(session, self.worker_id, sent)
                        if held < len(sent):
                            log.warning("notifier: %d sent rows had lost their lease", len(sent) - held)
                        for o in batch:
                            if o.action != "sent":
                                await self._apply(session, o)
                except Exception as exc:
                    # Keep them for the next flush: losing them would only cause resends after the
                    # lease, but there is no reason to accept that while the database may come back.
                    if is_unavailable(exc):
                        log.warning("notifier: database unavailable (%s); %d outcomes kept to write later",
                                    type(exc).__name__, len(batch))
                    else:
                        log.exception("notifier: writing %d outcomes failed; will retry", len(batch))
                    self._outcomes[:0] = batch
                    return

    async def _apply(self, session: AsyncSession, o: _Outcome) -> None:
        w = self.worker_id
        if o.action == "sent":
            held = await outbox.mark_sent(session, o.row_id, w, o.tg_message_id)
        elif o.action == "reschedule":
            assert o.at is not None
            held = await outbox.reschedule(session, o.row_id, w, o.at, o.error, o.count_attempt)
        elif o.action == "failed":
            self.failed += 1
            held = await outbox.mark_failed(session, o.row_id, w, o.error or "failed")
        elif o.action == "blocked":
            self.failed += 1
            held = await outbox.mark_blocked(session, o.row_id, w, o.error or "blocked")
        elif o.action == "cancel":
            held = await outbox.cancel(session, o.row_id, w, o.error)
        elif o.action == "release":
            held = bool(await outbox.release(session, [o.row_id], w))
        else:
            raise AssertionError(o.action)
        if not held:
            log.warning("notification %s: lease lost before its outcome (%s) was written", o.row_id, o.action)
