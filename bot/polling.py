"""`swbot run` in polling mode (no SWBOT_WEBHOOK_URL): getUpdates, acknowledged only once handled.

Telegram forgets an update once a getUpdates call asks for a higher `offset`. python-telegram-bot's
Updater asks for the next one as soon as it has queued the last batch in memory, so a process
killed then loses every update it had fetched but not handled. This poller asks for an offset
past an update only once that update was handled: the offset is the oldest update still being
handled (or one past the newest when none is). Telegram then sends the updates still in hand
again with the new ones; they are recognised by their id (ids only grow) and not handled twice.
A SIGKILL loses nothing: the next start gets every update from the oldest one that was in hand.
Of those, the ones handled meanwhile are in a journal (`HandledJournal`: their ids, appended as
each is done, in the data folder) and are not handled again; the ones that were in hand are
(at least once, as in webhook mode; handlers are repeatable: README, "Running at scale").

Updates run through the Application's update processor as they arrive (per-user order, bounded
concurrency), not a batch at a time: a slow update holds back only the offset, never the others.
While Telegram only sends back updates in hand (it answers at once while any is unacknowledged),
the poller waits for one to finish, at most `REPEAT_PAUSE`, before asking again.

On SIGTERM or SIGINT: no more polling, the updates in hand finish (at most `DRAIN_TIMEOUT`), a last
getUpdates acknowledges them, and the process exits 0 after the usual shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.warnings import PTBUserWarning

from bot.lifecycle import running
from bot.runtime import BotApp
from bot.settings import Settings

log = logging.getLogger(__name__)
# getUpdates through do_api_request on purpose (see Poller.get_updates); PTB suggests its own method.
warnings.filterwarnings("ignore", r"Please use 'Bot\.getUpdates'", PTBUserWarning)

POLL_TIMEOUT = 10  # seconds a getUpdates call waits for something new
READ_TIMEOUT_MARGIN = 5.0  # seconds past that for the answer to arrive
REPEAT_PAUSE = 0.1  # seconds to wait for an update in hand to finish when nothing new came
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0  # seconds between attempts while the Bot API fails
DRAIN_TIMEOUT = 25.0  # as in webhook mode
JOURNAL_FILE = "handled-updates"  # in the data folder (HandledJournal)
WINDOW = 90  # updates an update in hand may fall behind the newest before it is let go (Poller.offset)


class HandledJournal:
    """The ids of the updates handled since the last acknowledged offset, as 8-byte records
    appended to a file: they survive the process (a SIGKILL keeps what the kernel was given).
    Rewritten without the acknowledged ones once it holds `COMPACT_AT` records."""

    COMPACT_AT = 4096
    RECORD = 8

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes() if path.exists() else b""
        whole = len(data) - len(data) % self.RECORD  # a record cut short by a crash is dropped
        self.ids = {int.from_bytes(data[i : i + self.RECORD], "big") for i in range(0, whole, self.RECORD)}
        self._records = len(self.ids)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if whole != len(data):
            os.ftruncate(self._fd, whole)

    def __contains__(self, update_id: int) -> bool:
        return update_id in self.ids

    def add(self, update_id: int) -> None:
        self.ids.add(update_id)
        os.write(self._fd, update_id.to_bytes(self.RECORD, "big"))
        self._records += 1

    def acknowledged(self, offset: int) -> None:
        """Telegram forgets the updates below `offset`: their ids are not needed any more (and
        must not linger: after a week without updates Telegram numbers them afresh)."""
        if not self.ids:
            return
        self.ids = {i for i in self.ids if i >= offset}
        if not self.ids:
            os.ftruncate(self._fd, 0)
            self._records = 0
            return
        if self._records < self.COMPACT_AT:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(b"".join(i.to_bytes(self.RECORD, "big") for i in sorted(self.ids)))
        os.replace(tmp, self.path)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._records = len(self.ids)

    def close(self) -> None:
        os.close(self._fd)


class Poller:
    """The updates in hand and the offset that acknowledges everything before them."""

    def __init__(self, app: BotApp, journal: HandledJournal) -> None:
        self.app = app
        self.journal = journal
        self.in_hand: dict[int, asyncio.Task[None]] = {}  # update_id → its handling
        self.newest: int | None = None  # the highest update_id taken
        self.handled = 0
        self._let_go: set[int] = set()  # in hand, but acknowledged (see offset)

    def offset(self) -> int | None:
        """What the next getUpdates asks for: nothing past an update still in hand, unless it is
        `WINDOW` updates behind the newest. Telegram sends at most 100 updates a call, from the
        offset on: an update in hand that long would keep the new ones out, so it is let go
        (acknowledged while it still runs; a crash now would lose it)."""
        if not self.in_hand:
            return None if self.newest is None else self.newest + 1
        oldest = min(self.in_hand)
        assert self.newest is not None
        if self.newest - oldest < WINDOW:
            return oldest
        kept = [i for i in self.in_hand if i > self.newest - WINDOW]
        for let_go in self.in_hand.keys() - kept - self._let_go:
            self._let_go.add(let_go)
            log.info("update %d: still running %d updates later; acknowledged before it is done", let_go, WINDOW)
        return min(kept) if kept else self.newest + 1

    async def get_updates(self, offset: int | None, wait: float, limit: int = 100) -> list[dict[str, Any]]:
        """getUpdates, its answer left as JSON: the updates in hand come back with every call while
        they run, and only new ones are worth making into Update objects."""
        kwargs: dict[str, Any] = {"timeout": wait, "limit": limit, "allowed_updates": Update.ALL_TYPES}
        if offset is not None:
            kwargs["offset"] = offset
        result = await self.app.bot.do_api_request(
            "getUpdates", api_kwargs=kwargs, read_timeout=wait + READ_TIMEOUT_MARGIN
        )
        return result if isinstance(result, list) else []

    def take(self, updates: Sequence[dict[str, Any]]) -> int:
        """Start handling those not taken before, in order; how many were new."""
        new = 0
        for data in updates:
            update_id = data.get("update_id") if isinstance(data, dict) else None
            if not isinstance(update_id, int) or (self.newest is not None and update_id <= self.newest):
                continue  # in hand (sent again: it is not acknowledged yet) or handled
            self.newest = update_id
            if update_id in self.journal:
                continue  # handled by the process before this one, which died before acknowledging it
            try:
                update = Update.de_json(data, self.app.bot)
            except Exception as exc:  # not an update we can read: acknowledged with the others
                log.warning("update %d: unreadable (%s), skipped", update_id, type(exc).__name__)
                continue
            task = asyncio.create_task(self._handle(update), name=f"swbot-update-{update_id}")
            self.in_hand[update_id] = task
            new += 1
        return new

    async def _handle(self, update: Update) -> None:
        try:
            await self.app.update_processor.process_update(update, self.app.process_update(update))
        except Exception:
            # The handlers' errors are the error handler's (the user got the kind answer); this is
            # a failure around them. Counted as handled: asked for again it would fail again.
            log.error("update %d: unexpected failure outside the handlers", update.update_id, exc_info=True)
        except asyncio.CancelledError:  # cut off at the stop: not handled, it comes again
            self.in_hand.pop(update.update_id, None)
            raise
        self.journal.add(update.update_id)
        self.in_hand.pop(update.update_id, None)
        self._let_go.discard(update.update_id)
        self.handled += 1

    async def poll(self, stop: asyncio.Event) -> None:
        """getUpdates until `stop` is set."""
        backoff = BACKOFF_FIRST
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                sent = self.offset()
                call = asyncio.ensure_future(self.get_updates(sent, POLL_TIMEOUT))
                await asyncio.wait([call, stopping], return_when=asyncio.FIRST_COMPLETED)
                if not call.done():  # stopping: what this call would bring is not acknowledged
                    call.cancel()
                    await asyncio.gather(call, return_exceptions=True)
                    return
                try:
                    updates = call.result()
                except InvalidToken:
                    raise
                except RetryAfter as exc:
                    wait = exc.retry_after
                    await self._pause(stop, wait.total_seconds() if isinstance(wait, timedelta) else float(wait))
                    continue
                except Exception as exc:  # the Bot API unreachable or refusing: poll again, later
                    if isinstance(exc, Conflict):
                        log.warning("getUpdates failed (another process polls this bot); again in %.0f s", backoff)
                    elif isinstance(exc, TelegramError):
                        log.warning("getUpdates failed (%s); again in %.0f s", type(exc).__name__, backoff)
                    else:
                        log.error("getUpdates failed unexpectedly; again in %.0f s", backoff, exc_info=True)
                    await self._pause(stop, backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
                backoff = BACKOFF_FIRST
                if sent is not None:  # Telegram has forgotten what is below it
                    self.journal.acknowledged(sent)
                if not self.take(updates) and updates and self.in_hand:
                    # Only updates in hand came back: Telegram answers at once while any is
                    # unacknowledged. Ask again once one is done, or shortly.
                    await asyncio.wait(list(self.in_hand.values()), timeout=REPEAT_PAUSE)
        finally:
            stopping.cancel()

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            pass

    async def drain(self, within: float = DRAIN_TIMEOUT) -> bool:
        """Let the updates in hand finish; those still running after `within` are cancelled and
        stay unacknowledged (the next start gets them again). Then acknowledge the rest."""
        offset = None
        if self.in_hand:
            log.info("stopping: %d update(s) in hand", len(self.in_hand))
            await asyncio.wait(list(self.in_hand.values()), timeout=within)
        if self.in_hand:
            offset = min(self.in_hand)  # the oldest unfinished one and everything after it come again
            log.warning("stopping: %d update(s) still running after %.0f s; they come again at the next start",
                        len(self.in_hand), within)
            late = list(self.in_hand.values())
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        finished = offset is None
        offset = self.offset() if finished else offset
        if offset is not None:
            try:  # what python-telegram-bot's Updater does at stop too: tell Telegram what is done
                await self.get_updates(offset, 0, limit=1)
                self.journal.acknowledged(offset)
            except TelegramError as exc:
                log.warning("could not acknowledge the handled updates (%s); they come again", type(exc).__name__)
        return finished


async def serve_polling(app: BotApp, settings: Settings, *, drain_timeout: float = DRAIN_TIMEOUT) -> int:
    """Poll until SIGTERM/SIGINT, then finish what is in hand; returns 0."""
    poller = Poller(app, HandledJournal(settings.data_dir / JOURNAL_FILE))
    async with running(app) as stop:
        # A webhook left set makes getUpdates fail; pending updates are kept.
        await app.bot.delete_webhook(drop_pending_updates=False)
        log.info("polling for updates")
        try:
            await poller.poll(stop)
        finally:
            log.info("stopping: no new updates, finishing those in hand")
            await poller.drain(drain_timeout)
            poller.journal.close()
    log.info("stopped")
    return 0
