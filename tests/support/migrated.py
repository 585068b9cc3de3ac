"""A test's database at the migrations' head, made from one migrated once per test run: on SQLite
a copy of the file (≈ 1 ms instead of ≈ 0.3 s to migrate), on PostgreSQL a new schema from the
template schema's DDL (≈ 0.12 s instead of ≈ 0.5 s). Most tests start from an empty database; the
migrations themselves have tests of their own (tests/storage/test_storage_migration.py, and
test_storage_db's check that the migrated schema matches the models)."""

from __future__ import annotations

import asyncio
import atexit
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.domain.clock import Clock
from storage.db import Database
from storage.migrate import head, upgrade

_template: Path | None = None


async def _head_template(clock: Clock) -> Path:
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="swbot-test-template-"))
        atexit.register(shutil.rmtree, folder, True)
        db = Database(f"sqlite+aiosqlite:///{folder / 'head.db'}", clock=clock)
        await db.check()
        await upgrade(db)
        await db.dispose()  # the last connection closed: the WAL is checkpointed into the file
        assert not (folder / "head.db-wal").exists(), "the template must be one self-contained file"
        _template = folder / "head.db"
    return _template


async def open_at_head(url: str, clock: Clock) -> Database:
    """`url`'s database, checked and at head: a new SQLite file starts as a copy of the template;
    anything else (PostgreSQL, a file that exists) is migrated as usual."""
    parsed = make_url(url)
    path = Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None
    if path is not None and not path.exists():
        shutil.copyfile(await _head_template(clock), path)
        db = Database(url, clock=clock)
        await db.check()
        return db
    db = Database(url, clock=clock)
    await db.check()
    await upgrade(db)
    return db


_pg_schema_sql: dict[str, str | None] = {}  # server URL → the schema's DDL at head (None: no pg_dump)
_TEMPLATE_SCHEMA = "swbot_template_schema"


async def _pg_template_sql(url: str, clock: Clock) -> str | None:
    """The DDL of a schema migrated to head, written with the template schema's name, by
    `pg_dump --schema-only` (once per run and server); None when pg_dump is not there."""
    if url not in _pg_schema_sql:
        import asyncpg

        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        schema = f"{_TEMPLATE_SCHEMA}_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(dsn)
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            db = Database(url, clock=clock, connect_args={"server_settings": {"search_path": schema}})
            await db.check()
            await upgrade(db)
            await db.dispose()
            dump = await asyncio.to_thread(
                subprocess.run,
                ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", "-n", schema, dsn],
                capture_output=True,
                text=True,
            )
        except FileNotFoundError:
            dump = None
        finally:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()
        if dump is None or dump.returncode != 0:
            _pg_schema_sql[url] = None
        else:
            # (psql's own commands, e.g. \restrict, are not SQL)
            sql = "\n".join(line for line in dump.stdout.splitlines() if not line.startswith("\\"))
            _pg_schema_sql[url] = sql.replace(f"{schema}.", "{schema}.").replace(f"SCHEMA {schema}", "SCHEMA {schema}")
    return _pg_schema_sql[url]


async def create_postgres_schema_at_head(url: str, schema: str, clock: Clock) -> Database:
    """A new schema `schema` on `url`'s server at head, and a Database whose search path is it:
    made from the migrated template's DDL (≈ 0.12 s instead of ≈ 0.5 s to migrate), or migrated
    when pg_dump is not installed."""
    import asyncpg

    sql = await _pg_template_sql(url, clock)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        if sql is None:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        else:
            await conn.execute(sql.replace("{schema}", schema))
            await conn.execute(f'INSERT INTO "{schema}".alembic_version (version_num) VALUES ($1)', head())
    finally:
        await conn.close()
    db = Database(url, clock=clock, connect_args={"server_settings": {"search_path": schema}})
    await db.check()
    if sql is None:
        await upgrade(db)
    return db
