"""A feed of many messages (`swbot ingest`, the ingest benchmark): batches, parsing beside the
database, and on PostgreSQL several worker processes.

Messages are cut into batches of `Ingestor.batch_size` (fewer when they add up to more than
`BATCH_BYTES`), each committed as one transaction (`Ingestor.commit`). Results come back batch by
batch, in input order, each only after its batch committed: what `on_results` is told is durable.

* `ingest_feed`: one transaction at a time, in this process. Parsing (`storage.prepare.prepare`,
  pure CPU work) can run in `parsers` parser processes (`storage.parse_worker`), so it happens
  beside the transactions instead of between them.
* `ingest_feed_parallel` (PostgreSQL): `workers` processes, each with its own connection, each
  parsing and committing whole batches; transactions run side by side (the locking notes in
  storage.ingest keep them apart). Processes, not tasks: one Python process spends most of a
  PostgreSQL ingest in the driver and the event loop, so tasks in it would only take turns.

Worker processes are started fresh (a new interpreter): nothing of this process's threads or
connections is inherited. Parser processes receive message bytes through a pipe and hand back
parsed messages; they end when the pipe does (when this process closes it, or is gone). Ingest
workers ("spawn") also get the keys (to index identities and encrypt what they quarantine) and
open the database themselves; each watches this process and exits the moment it is gone (a
worker's open transaction is then rolled back: nothing it held was reported).
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import multiprocessing.connection
import os
import pickle
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.domain.clock import Clock
from storage import parse_worker
from storage.collector import collect_rarely, rarely_while
from storage.db import Database
from storage.ingest import BATCH_BYTES, Ingestor, IngestResult
from storage.prepare import Incoming, Parsed, Refused, prepare
from storage.quarantine import Quarantine
from storage.vault import Keys, Vault


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One message of a feed: its bytes, or why they could not be read (then it is reported as
    rejected, not quarantined: there is nothing to keep)."""

    name: str
    data: bytes | None
    error: str | None = None


Reported = list[tuple[FeedItem, IngestResult | None]]  # None: the item could not be read


def _spawn() -> Any:
    return multiprocessing.get_context("spawn")


def _exit_with_parent() -> None:
    """In a worker process: exit as soon as the process that started it is gone (a SIGKILL leaves
    workers blocked on their task queue otherwise, for ever)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="swbot-parent-watch", daemon=True).start()


def _batches(items: Iterator[FeedItem], size: int, max_bytes: int = BATCH_BYTES) -> Iterator[list[FeedItem]]:
    """`size` items at most, and no more bytes than `max_bytes` unless one item alone has more (a
    feed of large messages is held a few at a time, not hundreds)."""
    batch: list[FeedItem] = []
    held = 0
    for item in items:
        size_of = len(item.data or b"")
        if batch and (len(batch) == size or held + size_of > max_bytes):
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += size_of
    if batch:
        yield batch


def _report(batch: list[FeedItem], results: list[IngestResult]) -> Reported:
    """The batch's results beside its items (the unreadable ones have none)."""
    found = iter(results)
    return [(item, None if item.data is None else next(found)) for item in batch]


# -- one committer, optional parser processes -------------------------------------------------------


def prepare_all(datas: list[bytes], max_bytes: int) -> list[Parsed | Refused]:
    """`prepare` for a batch (what a parser process runs)."""
    return [prepare(data, max_bytes) for data in datas]


# Where this process found the storage package: a parser process is pointed at the same one.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(parse_worker.__file__)))


class _ParserProcess:
    """One parser process (`storage.parse_worker`): batches go in through its stdin, their parsed
    messages come back through its stdout, in the order sent.

    A plain subprocess rather than a multiprocessing pool: a spawned pool process imports the
    parent's main module and storage.ingest (SQLAlchemy, the models) before it parses anything,
    about half a second, which is much of a short feed; this one imports only the parser."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pending: deque[asyncio.Future[list[Parsed | Refused]]] = deque()
        self.ready = False
        self.started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()  # up, or failed
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls) -> _ParserProcess:
        # Run in the package's own folder (`-m` puts the working folder first on the path: a
        # `storage` package wherever swbot happens to be run must not stand in for this one).
        path = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "storage.parse_worker", cwd=_PACKAGE_ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": path},
        )  # fmt: skip
        return cls(proc)

    async def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            if await out.readexactly(1) != parse_worker.READY:
                raise RuntimeError("parser process: unexpected output")
            self.ready = True
            self.started.set_result(True)
            while True:
                header = await out.readexactly(parse_worker.HEADER)
                body = await out.readexactly(int.from_bytes(header, "big"))
                done = self.pending.popleft()
                if not done.done():
                    done.set_result(pickle.loads(body))  # noqa: S301 - our own child's pickle, through our own pipe
        except (asyncio.IncompleteReadError, RuntimeError, IndexError) as exc:
            self.ready = False
            if not self.started.done():
                self.started.set_result(False)
            while self.pending:
                failed = self.pending.popleft()
                if not failed.done():
                    failed.set_exception(RuntimeError(f"parser process ended ({type(exc).__name__})"))

    async def submit(self, datas: list[bytes], max_bytes: int) -> asyncio.Future[list[Parsed | Refused]]:
        stdin = self.proc.stdin
        assert stdin is not None
        request = pickle.dumps((max_bytes, datas), protocol=pickle.HIGHEST_PROTOCOL)
        done: asyncio.Future[list[Parsed | Refused]] = asyncio.get_running_loop().create_future()
        if self.reader.done():  # it ended already: nothing will answer
            done.set_exception(RuntimeError("parser process ended"))
            return done
        self.pending.append(done)  # failed by the reader if the process ends before answering
        try:
            stdin.write(len(request).to_bytes(parse_worker.HEADER, "big") + request)
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it ended: its stdout ends too, and the reader fails what is pending
        return done

    async def close(self) -> None:
        """Close its stdin (it ends) and wait for it; killed if it does not end within seconds."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.reader.cancel()
        for done in self.pending:
            done.cancel()


async def ingest_feed(
    ingestor: Ingestor,
    items: Iterable[FeedItem],
    on_results: Callable[[Reported], None],
    *,
    source: str = "file",
    parsers: int = 0,
) -> None:
    """Ingest `items` one batch after another; `on_results` gets each batch's results once it
    committed. Batches are parsed while the one before them commits: in `parsers` parser processes
    (here only what the committer waits for while they come up, everything if none could start),
    or inline with `parsers` = 0."""
    procs: list[_ParserProcess] = []
    # Parsed batches waiting for the committer: bounded, so memory is too.
    queue: asyncio.Queue[tuple[list[FeedItem], asyncio.Future[list[Parsed | Refused]]] | None]
    queue = asyncio.Queue(2 * parsers if parsers > 0 else 1)

    idle = asyncio.Event()  # the committer waits for a batch: nothing is parsed for it

    async def parse() -> None:
        loop = asyncio.get_running_loop()
        turn = 0
        for batch in _batches(iter(items), ingestor.batch_size):
            datas = [item.data for item in batch if item.data is not None]
            # While the parser processes come up (a tenth of a second or more), a batch is parsed
            # here only when the committer has nothing to do: the first batch, say. Otherwise this
            # waits for a parser process (or for the committer to run dry): parsing here while a
            # batch commits would only take turns with it on this process's one interpreter lock,
            # and keep it from taking the parser process's answers.
            while procs and not idle.is_set() and not any(p.ready for p in procs):
                starting: list[asyncio.Future[Any]] = [p.started for p in procs if not p.started.done()]
                if not starting:
                    break  # none could start: parsed here from now on
                dry: asyncio.Future[Any] = asyncio.ensure_future(idle.wait())
                await asyncio.wait([dry, *starting], return_when=asyncio.FIRST_COMPLETED)
                dry.cancel()
            ready = [p for p in procs if p.ready]
            if ready:
                turn += 1
                parsed = await ready[turn % len(ready)].submit(datas, ingestor.max_bytes)
            else:  # here, while the committer waits for it
                parsed = loop.create_future()
                parsed.set_result(prepare_all(datas, ingestor.max_bytes))
            idle.clear()  # it has this batch now
            await queue.put((batch, parsed))
        await queue.put(None)

    async def commit() -> None:
        while True:
            if queue.empty():
                idle.set()
            job = await queue.get()
            idle.clear()
            if job is None:
                break
            batch, parsed = job
            readable = [item for item in batch if item.data is not None]
            incoming = [
                Incoming(item.data, item.name, p)  # type: ignore[arg-type]
                for item, p in zip(readable, await parsed, strict=True)
            ]
            on_results(_report(batch, await ingestor.commit(incoming, source=source)))

    with rarely_while():  # storage.collector: otherwise much of the time goes to collections that find nothing
        try:
            for _ in range(parsers):
                procs.append(await _ParserProcess.start())
            async with asyncio.TaskGroup() as tasks:  # one failing stops the other
                tasks.create_task(parse())
                tasks.create_task(commit())
        finally:
            while not queue.empty():
                job = queue.get_nowait()
                if job is not None:
                    job[1].cancel()
            for proc in procs:
                await proc.close()


# -- worker processes (PostgreSQL) --------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSetup:
    """What an ingest worker process needs to open the database and ingest on its own (the caller
    has migrated it already). `log_init` sets up its logging (picklable: a module-level function or
    a functools.partial of one)."""

    db_url: str
    keys: Keys
    quarantine_dir: Path
    max_bytes: int
    batch_size: int
    clock: Clock
    log_init: Callable[[], None] | None = None


_worker: dict[str, Any] = {}  # in a worker process: its event loop and Ingestor


def _worker_start(setup: WorkerSetup) -> None:
    _exit_with_parent()
    collect_rarely()  # a process that only ingests
    if setup.log_init is not None:
        setup.log_init()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    vault = Vault(setup.keys)
    db = Database(setup.db_url, clock=setup.clock)
    quarantine = Quarantine(setup.quarantine_dir, vault, setup.clock)
    _worker["loop"] = loop
    _worker["ingestor"] = Ingestor(db, vault, quarantine, max_bytes=setup.max_bytes, batch_size=setup.batch_size)
    atexit.register(lambda: loop.run_until_complete(db.dispose()))


def _worker_ingest(items: list[tuple[bytes, str]], source: str) -> list[IngestResult]:
    """One batch, parsed and committed in this worker process."""
    loop, ingestor = _worker["loop"], _worker["ingestor"]
    return loop.run_until_complete(ingestor.ingest_many(items, source=source))  # type: ignore[no-any-return]


async def ingest_feed_parallel(
    setup: WorkerSetup,
    items: Iterable[FeedItem],
    on_results: Callable[[Reported], None],
    *,
    workers: int,
    source: str = "file",
) -> None:
    """Ingest `items` in `workers` processes, a batch each at a time; `on_results` gets each batch's
    results in input order, once it committed (a later batch may commit first: it waits)."""
    pool = ProcessPoolExecutor(workers, mp_context=_spawn(), initializer=_worker_start, initargs=(setup,))
    pending: deque[tuple[list[FeedItem], asyncio.Future[list[IngestResult]]]] = deque()
    try:
        for batch in _batches(iter(items), setup.batch_size):
            readable = [(item.data, item.name) for item in batch if item.data is not None]
            pending.append((batch, asyncio.wrap_future(pool.submit(_worker_ingest, readable, source))))
            if len(pending) >= 2 * workers:  # every worker busy, and one more batch each queued
                batch, done = pending.popleft()
                on_results(_report(batch, await done))
        while pending:
            batch, done = pending.popleft()
            on_results(_report(batch, await done))
    finally:
        for _, done in pending:
            done.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
