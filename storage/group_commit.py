"""Group commit for messages that arrive one at a time (the operator API's pushes).

A push hands its message to `GroupCommit.ingest` and waits. The first push of a quiet moment
starts a batch after `linger` (a couple of milliseconds, so pushes that arrive together share it);
pushes that arrive while a batch is being written go in the next one. Each batch is one
`Ingestor.ingest_many`: one transaction, a savepoint per message, so a bad push changes nothing and
is quarantined while the others commit. Each caller gets its own result, and only once its batch
committed: an answer never promises what a crash could still take back.

A caller that gives up waiting (a client that hung up) does not take its message out: it is
ingested with its batch all the same, exactly as if the answer had been lost on the way back.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from storage.ingest import BATCH_BYTES, Ingestor, IngestResult

log = logging.getLogger(__name__)

LINGER = 0.002  # seconds the first message of a quiet moment waits for company


@dataclass
class _Push:
    data: bytes
    name: str
    done: asyncio.Future[IngestResult] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit:
    def __init__(
        self, ingestor: Ingestor, *, source: str, linger: float = LINGER, max_batch: int | None = None
    ) -> None:
        self.ingestor = ingestor
        self.source = source
        self.linger = linger
        self.max_batch = max_batch or ingestor.batch_size
        self._queue: list[_Push] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0  # transactions written (for tests and logs)

    async def ingest(self, data: bytes, *, name: str = "-") -> IngestResult:
        """This message's result, once the batch it went in committed."""
        if self._closed:
            raise RuntimeError("group commit is closed")
        push = _Push(data, name)
        self._queue.append(push)
        self._arrived.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="swbot-group-commit")
        # Shielded: a caller that stops waiting leaves its message in the batch (see above).
        return await asyncio.shield(push.done)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            if len(self._queue) < self.max_batch and self.linger > 0:
                await asyncio.sleep(self.linger)
            await self._write(self._take())

    def _take(self) -> list[_Push]:
        """The next batch: `max_batch` pushes at most, and no more bytes than BATCH_BYTES unless
        the first alone has more."""
        held, n = 0, 0
        for push in self._queue[: self.max_batch]:
            if n and held + len(push.data) > BATCH_BYTES:
                break
            held += len(push.data)
            n += 1
        batch, self._queue = self._queue[:n], self._queue[n:]
        return batch

    async def _write(self, batch: list[_Push]) -> None:
        try:
            results = await self.ingestor.ingest_many([(p.data, p.name) for p in batch], source=self.source)
        except Exception as exc:  # ingest_many reports database trouble as results: this is a bug
            log.error("group commit of %d messages failed: %s", len(batch), type(exc).__name__, exc_info=True)
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(exc)
            return
        self.batches += 1
        for p, result in zip(batch, results, strict=True):
            if not p.done.done():
                p.done.set_result(result)

    async def close(self) -> None:
        """Stop taking messages; those handed over already are written first."""
        self._closed = True
        self._arrived.set()
        if self._task is not None:
            await self._task
            self._task = None
