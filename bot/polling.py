"""`swbot run` in polling mode (no SWBOT_WEBHOOK_URL): getUpdates, each update durably queued
before Telegram is told it may forget it.

Telegram forgets an update once a getUpdates call asks for a higher `offset`. python-telegram-bot's
Updater asks for the next one as soon as it has queued the last batch in memory, so a process
killed then loses every update it had fetched but not handled. This poller writes the updates of
a batch to a spool in the data folder (`Spool`: appended and flushed to disk) before it asks for
the next batch, and marks each one done there once it is handled. A process that dies leaves the
ones not done in the spool; the next start handles them first (at least once, as in webhook mode;
handlers are repeatable: README, "Running at scale"). A copy Telegram sends again (the process
died before its next call acknowledged a batch) is recognised by its id (ids only grow).

Updates run through the Application's update processor as they arrive (per-user order, bounded
concurrency): a slow update holds back no other, and getUpdates long-polls as usual.

On SIGTERM or SIGINT: no more polling, the updates in hand finish (at most `DRAIN_TIMEOUT`; any
still running then stay in the spool for the next start), a last getUpdates acknowledges the last
batch, and the process exits 0 after the usual shutdown.
"""

from __future__ import annotations

import asyncio
import json
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
from storage.vault import Vault, VaultError

log = logging.getLogger(__name__)
# getUpdates through do_api_request on purpose (see Poller.get_updates); PTB suggests its own method.
warnings.filterwarnings("ignore", r"Please use 'Bot\.getUpdates'", PTBUserWarning)

POLL_TIMEOUT = 10  # seconds a getUpdates call waits for something new
READ_TIMEOUT_MARGIN = 5.0  # seconds past that for the answer to arrive
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0  # seconds between attempts while the Bot API fails
DRAIN_TIMEOUT = 25.0  # as in webhook mode
SPOOL_FILE = "update-spool"  # in the data folder (Spool)

_TAKEN, _DONE = b"T", b"D"  # a record: kind, 8-byte update id, and for T a 4-byte length and the encrypted JSON


class Spool:
    """Updates taken from Telegram and not yet handled, in an append-only file that outlives the
    process: `taken` writes a batch and flushes it to disk, `done` marks one handled. Emptied once
    nothing is left to do and it has grown past `COMPACT_BYTES`. An update is what a person typed
    or shared (a name, an ID number, a phone number): each is encrypted with the vault."""

    COMPACT_BYTES = 1 << 20
    PURPOSE = "update-spool"

    def __init__(self, path: Path, vault: Vault) -> None:
        self.path = path
        self.vault = vault
        path.parent.mkdir(parents=True, exist_ok=True)
        self.pending, self.known, whole = self.read(path, vault)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if whole != os.fstat(self._fd).st_size:
            os.ftruncate(self._fd, whole)  # a record cut short by a crash: never flushed, never acknowledged
        self._size = whole

    @classmethod
    def read(cls, path: Path, vault: Vault) -> tuple[dict[int, dict[str, Any]], set[int], int]:
        """(updates taken and not done by id, every id taken, bytes of whole records)."""
        data = path.read_bytes() if path.exists() else b""
        pending: dict[int, dict[str, Any]] = {}
        known: set[int] = set()
        at = 0
        while at + 9 <= len(data):
            kind, update_id = data[at : at + 1], int.from_bytes(data[at + 1 : at + 9], "big")
            end = at + 9
            if kind == _TAKEN:
                if end + 4 > len(data):
                    break
                length = int.from_bytes(data[end : end + 4], "big")
                if end + 4 + length > len(data):
                    break
                known.add(update_id)
                try:
                    pending[update_id] = json.loads(vault.decrypt_bytes(data[end + 4 : end + 4 + length], cls.PURPOSE))
                except (VaultError, ValueError):  # another key (SWBOT_SECRET_KEY changed): cannot be replayed
                    log.warning("update %d in the spool does not decrypt; skipped", update_id)
                end += 4 + length
            elif kind == _DONE:
                pending.pop(update_id, None)
            else:
                break
            at = end
        return pending, known, at

    def taken(self, updates: Sequence[dict[str, Any]]) -> None:
        """Write a batch (into the page cache: `sync` puts it on disk)."""
        records = []
        for update in updates:
            plain = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
            body = self.vault.encrypt_bytes(plain, self.PURPOSE)
            records.append(_TAKEN + update["update_id"].to_bytes(8, "big") + len(body).to_bytes(4, "big") + body)
            self.pending[update["update_id"]] = update
        self._write(b"".join(records))

    def sync(self) -> None:
        os.fdatasync(self._fd)

    def done(self, update_id: int) -> None:
        self.pending.pop(update_id, None)
        self._write(_DONE + update_id.to_bytes(8, "big"))
        if not self.pending and self._size > self.COMPACT_BYTES:
            os.ftruncate(self._fd, 0)
            self._size = 0

    def _write(self, data: bytes) -> None:
        os.write(self._fd, data)
        self._size += len(data)

    def close(self) -> None:
        if not self.pending:
            os.ftruncate(self._fd, 0)
        os.close(self._fd)


class Poller:
    """The updates in hand, their spool, and the offset that acknowledges what is spooled."""

    def __init__(self, app: BotApp, spool: Spool) -> None:
        self.app = app
        self.spool = spool
        self.in_hand: dict[int, asyncio.Task[None]] = {}  # update_id → its handling
        self.newest: int | None = None  # the highest update_id Telegram sent this process
        self.handled = 0

    def offset(self) -> int | None:
        """What the next getUpdates asks for: everything spooled may be forgotten by Telegram."""
        return None if self.newest is None else self.newest + 1

    def resume(self) -> None:
        """Start the updates the process before this one took and did not finish."""
        left = sorted(self.spool.pending.items())
        if left:
            log.info("%d update(s) taken before the last stop and not handled: handling them first", len(left))
        for update_id, data in left:
            self._start(update_id, data)

    async def get_updates(self, offset: int | None, wait: float, limit: int = 100) -> list[dict[str, Any]]:
        """getUpdates, its answer left as JSON (it is spooled as such)."""
        kwargs: dict[str, Any] = {"timeout": wait, "limit": limit, "allowed_updates": Update.ALL_TYPES}
        if offset is not None:
            kwargs["offset"] = offset
        result = await self.app.bot.do_api_request(
            "getUpdates", api_kwargs=kwargs, read_timeout=wait + READ_TIMEOUT_MARGIN
        )
        return result if isinstance(result, list) else []

    async def take(self, updates: Sequence[dict[str, Any]]) -> None:
        """Spool the updates not taken before, then start them, in order."""
        new = []
        for u in updates:
            update_id = u.get("update_id") if isinstance(u, dict) else None
            if not isinstance(update_id, int) or (self.newest is not None and update_id <= self.newest):
                continue
            self.newest = update_id
            # Sent again: the process before this one spooled it (and died before acknowledging).
            # By id, not by "below the newest": after a week without updates Telegram numbers
            # them afresh.
            if update_id not in self.spool.known:
                new.append(u)
        if not new:
            return
        self.spool.taken(new)
        # On disk before the next getUpdates lets Telegram forget them; the flush (milliseconds on
        # a disk) in a thread, so that the updates in hand go on meanwhile. Nothing truncates the
        # spool while it runs: these updates are pending until they are started and done.
        await asyncio.to_thread(self.spool.sync)
        for data in new:
            self._start(data["update_id"], data)

    def _start(self, update_id: int, data: dict[str, Any]) -> None:
        try:
            update = Update.de_json(data, self.app.bot)
        except Exception as exc:  # not an update we can read: done with it
            log.warning("update %d: unreadable (%s), skipped", update_id, type(exc).__name__)
            self.spool.done(update_id)
            return
        self.in_hand[update_id] = asyncio.create_task(self._handle(update), name=f"swbot-update-{update_id}")

    async def _handle(self, update: Update) -> None:
        try:
            await self.app.update_processor.process_update(update, self.app.process_update(update))
        except Exception:
            # The handlers' errors are the error handler's (the user got the kind answer); this is
            # a failure around them. Counted as handled: run again it would fail again.
            log.error("update %d: unexpected failure outside the handlers", update.update_id, exc_info=True)
        except asyncio.CancelledError:  # cut off at the stop: not handled, it stays in the spool
            self.in_hand.pop(update.update_id, None)
            raise
        self.spool.done(update.update_id)
        self.in_hand.pop(update.update_id, None)
        self.handled += 1

    async def poll(self, stop: asyncio.Event) -> None:
        """getUpdates until `stop` is set."""
        backoff = BACKOFF_FIRST
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                call = asyncio.ensure_future(self.get_updates(self.offset(), POLL_TIMEOUT))
                await asyncio.wait([call, stopping], return_when=asyncio.FIRST_COMPLETED)
                if not call.done():  # stopping: what this call would bring is not taken
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
                await self.take(updates)
        finally:
            stopping.cancel()

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            pass

    async def drain(self, within: float = DRAIN_TIMEOUT) -> None:
        """Let the updates in hand finish; those still running after `within` are cancelled and
        stay in the spool (the next start handles them). Then acknowledge the last batch."""
        if self.in_hand:
            log.info("stopping: %d update(s) in hand", len(self.in_hand))
            await asyncio.wait(list(self.in_hand.values()), timeout=within)
        if self.in_hand:
            log.warning("stopping: %d update(s) still running after %.0f s; the next start handles them",
                        len(self.in_hand), within)
            late = list(self.in_hand.values())
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        offset = self.offset()
        if offset is not None:
            try:  # what python-telegram-bot's Updater does at stop too: tell Telegram what is taken
                await self.get_updates(offset, 0, limit=1)
            except TelegramError as exc:
                log.warning("could not acknowledge the last updates (%s); they come again", type(exc).__name__)


async def serve_polling(app: BotApp, settings: Settings, *, drain_timeout: float = DRAIN_TIMEOUT) -> int:
    """Poll until SIGTERM/SIGINT, then finish what is in hand; returns 0."""
    poller = Poller(app, Spool(settings.data_dir / SPOOL_FILE, app.bot_data["services"].vault))
    async with running(app) as stop:
        # A webhook left set makes getUpdates fail; pending updates are kept.
        await app.bot.delete_webhook(drop_pending_updates=False)
        poller.resume()
        log.info("polling for updates")
        try:
            await poller.poll(stop)
        finally:
            log.info("stopping: no new updates, finishing those in hand")
            await poller.drain(drain_timeout)
            poller.spool.close()
    log.info("stopped")
    return 0
