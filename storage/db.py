"""Engine, SQLite pragmas and sessions.

SQLite is configured the way a concurrent, durable deployment needs (WAL, foreign keys, a busy
timeout, and writes in `BEGIN IMMEDIATE` so a read-then-write transaction never fails with
SQLITE_BUSY without waiting), and the pragmas are read back at startup rather than assumed:
a connect listener that silently never runs is a known failure mode under aiosqlite.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


class DatabaseError(Exception):
    """The database is unusable (wrong settings, unreachable, or not configured as required)."""


def _sqlite_engine(url: str, begin: str, **kw: Any) -> AsyncEngine:
    # hide_parameters: statement parameters never reach error messages or logs.
    engine = create_async_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, hide_parameters=True, **kw
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver so our BEGIN is the one that runs.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class Database:
    """Two views of one database: `read()` sessions and `write()` transactions.

    On SQLite they are separate engines because a write transaction must start with
    BEGIN IMMEDIATE while readers should not take the write lock; on PostgreSQL they share one.
    """

    def __init__(self, url: str, *, echo: bool = False, connect_args: dict[str, Any] | None = None) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE", echo=echo)
            self.read_engine = _sqlite_engine(url, "BEGIN", echo=echo)
        else:
            self.write_engine = create_async_engine(
                url, echo=echo, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args or {}
            )
            self.read_engine = self.write_engine
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends normally, rolled back otherwise."""
        async with self._write() as session, session.begin():
            yield session

    def session(self) -> AsyncSession:
        """A write-capable session for callers that manage the transaction themselves."""
        return self._write()

    async def check(self) -> dict[str, Any]:
        """Verify the connection and (on SQLite) that the pragmas really took effect."""
        try:
            async with self.write_engine.connect() as conn:
                if not self.is_sqlite:
                    await conn.execute(text("SELECT 1"))
                    return {"backend": "postgresql"}
                mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
                fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
                busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        except Exception as exc:
            raise DatabaseError(f"cannot open the database: {type(exc).__name__}") from exc
        found = {"journal_mode": mode, "foreign_keys": fks, "busy_timeout": busy}
        if str(mode).lower() != "wal" or fks != 1 or int(busy or 0) < 5000:
            raise DatabaseError(f"SQLite is not configured as required: {found}")
        return {"backend": "sqlite", **found}

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
