"""Alembic migrations, run programmatically (every CLI command migrates first).

SQLite cannot alter most of a table in place, so Alembic's batch mode copies it into a new table
and drops the old one. With foreign keys on, dropping a parent table deletes its children first
(ON DELETE CASCADE: a list's lines and receipts, a binding's notifications). So on SQLite the
migration runs with foreign keys off on its own connection, and the keys are checked afterwards.

Several `swbot run` instances (and a `swbot ingest` beside them) may start at once on one
PostgreSQL: each takes a transaction-scoped advisory lock before it migrates, so one of them
migrates and the others then find the schema at head. On SQLite the migration's write transaction
(BEGIN IMMEDIATE) already serializes them.
"""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from storage.db import Database, DatabaseError

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key for "migrating swbot's schema" (the bytes of "swbot-mg").
MIGRATION_LOCK = int.from_bytes(b"swbot-mg", "big") & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _sqlite_migrate(engine: Engine, revision: str, down: bool) -> None:
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction, where it takes effect
        try:
            (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)
            conn.commit()
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
            conn.commit()
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
    if broken:
        raise DatabaseError(f"foreign keys broken after migrating to {revision}: {len(broken)} rows")


async def _migrate(db: Database, revision: str, *, down: bool = False) -> None:
    if db.sync_write_engine is not None:  # SQLite
        await asyncio.to_thread(_sqlite_migrate, db.sync_write_engine, revision, down)
        return

    def _go(conn: Connection) -> None:
        # Held until the commit below; Alembic runs inside this transaction.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)

    async with db.write_engine.connect() as conn:
        await conn.run_sync(_go)
        await conn.commit()


async def upgrade(db: Database, revision: str = "head") -> None:
    await _migrate(db, revision)


async def downgrade(db: Database, revision: str) -> None:
    await _migrate(db, revision, down=True)


async def current(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def _cur(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with db.read_engine.connect() as conn:
        return await conn.run_sync(_cur)


@cache
def head() -> str | None:
    """The newest revision this code knows (what `upgrade()` brings a database to)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
