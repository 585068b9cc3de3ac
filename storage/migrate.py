"""Alembic migrations, run programmatically (every CLI command migrates first)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from storage.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    def _go(conn: Connection) -> None:
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
