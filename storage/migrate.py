"""Alembic migrations, run programmatically (every CLI command migrates first).

Several `swbot run` instances (and a `swbot ingest` beside them) may start at once on one
PostgreSQL: each takes a transaction-scoped advisory lock before it migrates, so one of them
migrates and the others then find the schema at head. On SQLite the write transaction's
BEGIN IMMEDIATE already serializes them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key for "migrating swbot's schema" (the bytes of "swbot-mg").
MIGRATION_LOCK = int.from_bytes(b"swbot-mg", "big") & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    def _go(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            # Held until the commit below; Alembic runs inside this transaction.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        command.upgrade(alembic_config(conn), revision)

    async with db.write_engine.connect() as conn:
        await conn.run_sync(_go)
        await conn.commit()


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
