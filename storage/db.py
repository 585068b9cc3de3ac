"""Engine, SQLite pragmas and sessions.

SQLite is configured the way a concurrent, durable deployment needs (WAL, foreign keys, a busy
timeout, and writes in `BEGIN IMMEDIATE` so a read-then-write transaction never fails with
SQLITE_BUSY without waiting), and the pragmas are read back at startup rather than assumed:
a connect listener that silently never runs is a known failure mode under aiosqlite.

`Database.run_write` runs synchronous code as one write transaction: on SQLite on a synchronous
engine (the standard library driver, same pragmas, same `BEGIN IMMEDIATE`) in one dedicated
thread, so a transaction of many statements costs one thread hop instead of several per
statement; on PostgreSQL through `AsyncSession.run_sync`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.clock import Clock

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
# The writer's page cache (SQLite's default is 2 MiB). A batch of messages dirties pages all over
# the random-keyed indexes; a cache that holds them saves SQLite spilling them to the WAL before the
# commit, and reading them back from the file (ingest ≈ 15 % faster on the benchmark's feed).
WRITER_CACHE_KIB = 32 * 1024

T = TypeVar("T")


class DatabaseError(Exception):
    """The database is unusable (wrong settings, unreachable, or not configured as required)."""


def clock_of(session: Session | AsyncSession) -> Clock:
    """The clock of the database this session belongs to (`Database(clock=...)`)."""
    clock = session.info.get("clock")
    assert isinstance(clock, Clock), "a session made outside Database has no clock"
    return clock


_ASYNCPG_UNAVAILABLE = (
    "PostgresConnectionError", "ConnectionDoesNotExistError", "InterfaceError", "OperatorInterventionError",
    "AdminShutdownError", "CannotConnectNowError", "CrashShutdownError", "TooManyConnectionsError",
)  # fmt: skip


def is_unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) says the database cannot be used *for now*: down,
    restarting, unreachable, the connection lost, too many connections, SQLite locked past its
    busy timeout. Such a failure is not a bug: it passes once the database is back."""
    from sqlalchemy import exc as sa

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, sa.OperationalError | sa.InterfaceError | sa.DisconnectionError | sa.TimeoutError):
            return True
        if isinstance(exc, DatabaseError | ConnectionError | TimeoutError):
            return True
        if type(exc).__module__.startswith("asyncpg") and any(
            c.__name__ in _ASYNCPG_UNAVAILABLE for c in type(exc).__mro__
        ):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return False


def affected(result: Result[Any]) -> int:
    """Rows an INSERT, UPDATE or DELETE changed (what `execute` returns for them is a CursorResult)."""
    assert isinstance(result, CursorResult), "not the result of a data-changing statement"
    return result.rowcount


def _sqlite_engine(url: str, begin: str, **kw: Any) -> AsyncEngine:
    # hide_parameters: statement parameters never reach error messages or logs.
    engine = create_async_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, hide_parameters=True, **kw
    )
    _configure_sqlite(engine.sync_engine, begin)
    return engine


def _sqlite_sync_engine(url: str, begin: str | None, *, cache_kib: int | None = None, **kw: Any) -> Engine:
    """The same database through the standard library driver (`sqlite+pysqlite`), configured
    exactly like the async engines. Used from one thread at a time (`Database.run_write`);
    check_same_thread is off so the pool may be disposed from another thread."""
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    engine = create_engine(
        sync_url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        hide_parameters=True,
        **kw,
    )
    _configure_sqlite(engine, begin, cache_kib=cache_kib)
    return engine


def _configure_sqlite(engine: Engine, begin: str | None, *, cache_kib: int | None = None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver so our BEGIN is the one that runs.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        # A savepoint's undo copies (the statement journal) in memory: spilled to a temporary
        # file they cost a write call for every page a message touches first.
        cur.execute("PRAGMA temp_store=MEMORY")
        if cache_kib is not None:
            cur.execute(f"PRAGMA cache_size=-{cache_kib}")
        cur.close()

    if begin is None:  # autocommit reads: each statement is its own snapshot
        return

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def _read_pragmas(conn: Any) -> dict[str, Any]:
    """journal_mode, foreign_keys, busy_timeout of a (sync) SQLAlchemy connection."""
    return {
        name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
        for name in ("journal_mode", "foreign_keys", "busy_timeout")
    }


def _check_pragmas(found: dict[str, Any]) -> None:
    mode, fks, busy = found["journal_mode"], found["foreign_keys"], found["busy_timeout"]
    if str(mode).lower() != "wal" or fks != 1 or int(busy or 0) < 5000:
        raise DatabaseError(f"SQLite is not configured as required: {found}")


class ReadScope:
    """One update's reads (`Database.run_read`, in order) on one read session: on PostgreSQL a tap
    reads the caller's binding, then its page, and a session and a pooled connection per read cost
    ≈ 0.2 ms of CPU each. Opened at the first read; `close()` gives the connection back and is
    called before the update's replies go out, so no connection is held while Telegram answers;
    a read after that is a `run_read` of its own, as before. On SQLite reads run inline as in
    `run_read`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._session: AsyncSession | None = None
        self._closed = False

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed or self._db._sync_read is not None:
            return await self._db.run_read(fn, *args)
        if self._session is None:
            self._session = self._db._read()
        return await self._session.run_sync(fn, *args)

    async def close(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            # Shielded like AsyncSession.__aexit__: a cancelled update still returns its connection.
            await asyncio.shield(session.close())


class Database:
    """Two views of one database: `read()` sessions and `write()` transactions.

    They are separate engines. On SQLite because a write transaction must start with
    BEGIN IMMEDIATE while readers should not take the write lock; on PostgreSQL because reads run
    in autocommit (no transaction round trips around a tap's queries) while writes are transactions.
    SQLite has a third, synchronous write engine (`sync_write_engine`, None on PostgreSQL) for
    `run_write`, used only from this database's own writer thread.

    The clock is the application's one clock: column defaults (`created_at` and the like) read it
    through the engines' execution options, storage functions through `clock_of(session)`.
    """

    def __init__(
        self, url: str, *, clock: Clock, echo: bool = False, connect_args: dict[str, Any] | None = None
    ) -> None:
        self.url = url
        self.clock = clock
        options = {"clock": clock}
        info = {"clock": clock}
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.sync_write_engine: Engine | None = None
        self._sync_write: sessionmaker[Session] | None = None
        self.sync_read_engine: Engine | None = None
        self._sync_read: sessionmaker[Session] | None = None
        self._writer: ThreadPoolExecutor | None = None
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE", echo=echo, execution_options=options)
            self.read_engine = _sqlite_engine(url, "BEGIN", echo=echo, execution_options=options)
            self.sync_write_engine = _sqlite_sync_engine(
                url, "BEGIN IMMEDIATE", cache_kib=WRITER_CACHE_KIB, echo=echo, execution_options=options
            )
            self._sync_write = sessionmaker(self.sync_write_engine, expire_on_commit=False, info=info)
            # Reads for the handlers, run inline on the event loop's thread (see run_read).
            self.sync_read_engine = _sqlite_sync_engine(url, None, echo=echo, execution_options=options)
            self._sync_read = sessionmaker(self.sync_read_engine, expire_on_commit=False, info=info)
        else:
            self.write_engine = create_async_engine(
                url,
                echo=echo,
                pool_pre_ping=True,
                hide_parameters=True,
                connect_args=connect_args or {},
                execution_options=options,
            )
            # Reads (every tap) in autocommit, as on SQLite: each statement its own snapshot, and
            # no BEGIN, ROLLBACK or pre-ping round trips around them (with them, a tap's page cost
            # three extra round trips for one or two queries). A connection the server dropped
            # fails one read, which invalidates the pool's older connections (SQLAlchemy's
            # "optimistic" disconnect handling) and is answered as "temporarily unavailable".
            self.read_engine = create_async_engine(
                url,
                echo=echo,
                hide_parameters=True,
                isolation_level="AUTOCOMMIT",
                connect_args=connect_args or {},
                execution_options=options,
            )
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False, info=info)
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False, info=info)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends normally, rolled back otherwise. The
        block may commit sooner itself (a handler does, before it calls Telegram): what it writes
        after that is a transaction of its own, committed or rolled back the same way."""
        async with self._write() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    def session(self) -> AsyncSession:
        """A write-capable session for callers that manage the transaction themselves."""
        return self._write()

    async def run_read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(session, *args)`: synchronous read-only code, in one call.

        SQLite: run inline on the event loop's thread, in autocommit. A handler's reads are a few
        indexed lookups of tens of microseconds each; in WAL mode readers never wait for writers,
        and an async driver would spend far longer on thread hops than on the reads themselves.
        PostgreSQL: in a read session through `AsyncSession.run_sync` (network I/O stays async).
        """
        if self._sync_read is None:
            async with self.read() as session:
                return await session.run_sync(fn, *args)
        with self._sync_read() as session:
            return fn(session, *args)

    def reader(self) -> ReadScope:
        """The reads of one update on one session (see ReadScope); `close()` it when done."""
        return ReadScope(self)

    async def run_write(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` as one write transaction: committed when it returns, rolled back when it
        raises (the exception propagates). `fn` is synchronous code on a synchronous `Session`.

        SQLite: on `sync_write_engine` (BEGIN IMMEDIATE, the same pragmas) in this database's one
        writer thread, so calls run one after another and the event loop is free meanwhile; the
        whole transaction is a single thread hop. If the awaiting task is cancelled, the
        transaction still runs to its end (commit or rollback) in that thread. PostgreSQL: in a
        `write()` transaction through `AsyncSession.run_sync`.
        """
        if self._sync_write is None:
            async with self.write() as session:
                return await session.run_sync(fn)
        return await asyncio.get_running_loop().run_in_executor(self._writer_thread(), self._run_sync_write, fn)

    def _run_sync_write(self, fn: Callable[[Session], T]) -> T:
        assert self._sync_write is not None
        with self._sync_write() as session, session.begin():
            return fn(session)

    def _writer_thread(self) -> ThreadPoolExecutor:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="swbot-sqlite-writer")
        return self._writer

    async def check(self) -> dict[str, Any]:
        """Verify the connection and (on SQLite) that the pragmas really took effect."""
        try:
            async with self.write_engine.connect() as conn:
                if not self.is_sqlite:
                    await conn.execute(text("SELECT 1"))
                    return {"backend": "postgresql"}
                found = await conn.run_sync(_read_pragmas)
        except Exception as exc:
            raise DatabaseError(f"cannot open the database: {type(exc).__name__}") from exc
        _check_pragmas(found)
        # The synchronous write engine is checked too, on the thread that will use it.
        try:
            sync_found = await asyncio.get_running_loop().run_in_executor(self._writer_thread(), self._sync_pragmas)
        except Exception as exc:
            raise DatabaseError(f"cannot open the database: {type(exc).__name__}") from exc
        _check_pragmas(sync_found)
        assert self.sync_read_engine is not None
        with self.sync_read_engine.connect() as conn:
            _check_pragmas(_read_pragmas(conn))
        return {"backend": "sqlite", **found}

    def _sync_pragmas(self) -> dict[str, Any]:
        assert self.sync_write_engine is not None
        with self.sync_write_engine.connect() as conn:
            return _read_pragmas(conn)

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
        if self.sync_read_engine is not None:
            self.sync_read_engine.dispose()
        if self.sync_write_engine is not None:
            if self._writer is not None:
                await asyncio.get_running_loop().run_in_executor(self._writer, self.sync_write_engine.dispose)
                self._writer.shutdown(wait=False)
                self._writer = None
            else:
                self.sync_write_engine.dispose()
