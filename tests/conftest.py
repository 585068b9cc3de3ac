"""Shared fixtures: keys, vault, and a migrated database on SQLite — and on PostgreSQL when
SWBOT_TEST_POSTGRES_URL points at a server that answers (each test gets its own schema)."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from bot.domain.clock import Clock, parse_instant
from storage.db import Database
from storage.quarantine import Quarantine
from storage.vault import Keys, Vault
from tests.support.clock import NOW_ENV, test_clock
from tests.support.migrated import create_postgres_schema_at_head, open_at_head

# No per-example deadline: the property tests check behaviour, not speed, and CI runs them three to a
# 2-core machine and under faketime, where one example once took 351 ms against the default 200.
settings.register_profile("swbot", deadline=None)
settings.load_profile("swbot")

POSTGRES_ENV = "SWBOT_TEST_POSTGRES_URL"
TEST_SECRET = b"test-master-secret-0123456789-abcdefghijklmnop"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--now",
        metavar="YYYY-MM-DD[THH:MM]",
        help=f"run the suite as of this instant, China time (same as {NOW_ENV}); default: the real time",
    )


def pytest_configure(config: pytest.Config) -> None:
    now = config.getoption("--now")
    if now:
        parse_instant(now)  # fail early on a bad value
        os.environ[NOW_ENV] = now  # the helpers (and in-process CLI calls) read it from here


def pytest_report_header(config: pytest.Config) -> str:
    return f"swbot clock: {test_clock()!r}"


# The fast loop (`pytest -m "not slow"`) leaves these out; CI runs everything. Whole folders of end-to-end
# tests, and the modules that spend their time on many workers, permutations or load.
SLOW_FOLDERS = frozenset({"conversation", "scale"})
SLOW_MODULES = frozenset({
    "test_notifier_workers", "test_notifier_pacing", "test_notifier", "test_notifier_actions", "test_send_ceiling",
    "test_storage_ingest", "test_storage_requests", "test_storage_accounts", "test_storage_queries",
    "test_storage_links", "test_storage_pii", "test_storage_logs", "test_ingest_batches", "test_cli_demo",
    "test_sandbox_webchat", "test_cli_ingest_workers", "test_demo", "test_api_group_commit", "test_notifier_render",
})  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        folder = path.relative_to(tests).parts[0] if path.is_relative_to(tests) else ""
        if folder in SLOW_FOLDERS or path.stem in SLOW_MODULES or item.get_closest_marker("subprocess"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def clock() -> Clock:
    """The test's clock: pinned with --now / SWBOT_TEST_NOW, else the real one."""
    return test_clock()


@pytest.fixture
def keys() -> Keys:
    return Keys.derive(TEST_SECRET)


@pytest.fixture
def vault(keys: Keys) -> Vault:
    return Vault(keys)


def _postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


_pg_checked: dict[str, str | None] = {}


async def _postgres_problem(url: str) -> str | None:
    """None when the server answers, else why not (cached per run)."""
    if url in _pg_checked:
        return _pg_checked[url]
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn), 5)
        await conn.close()
        problem = None
    except Exception as exc:  # any failure means "no usable server here"
        problem = f"{type(exc).__name__}: {exc}"
    _pg_checked[url] = problem
    return problem


async def make_database(backend: str, tmp_path: Path, clock: Clock | None = None) -> tuple[Database, object]:
    """A migrated database and a cleanup callback."""
    clock = clock or test_clock()
    if backend == "sqlite":
        db = await open_at_head(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}", clock)

        async def cleanup() -> None:
            await db.dispose()

        return db, cleanup
    url = _postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)")
    problem = await _postgres_problem(url)
    if problem:
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES_ENV}: {problem}")
    import asyncpg

    schema = "t_" + uuid.uuid4().hex[:12]
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    db = await create_postgres_schema_at_head(url, schema, clock)

    async def cleanup() -> None:
        await db.dispose()
        c = await asyncpg.connect(dsn)
        await c.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await c.close()

    return db, cleanup


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> AsyncIterator[Database]:
    database, cleanup = await make_database(request.param, tmp_path, clock)
    try:
        yield database
    finally:
        await cleanup()  # type: ignore[operator]


@pytest.fixture
async def sqlite_db(tmp_path: Path, clock: Clock) -> AsyncIterator[Database]:
    database, cleanup = await make_database("sqlite", tmp_path, clock)
    try:
        yield database
    finally:
        await cleanup()  # type: ignore[operator]


@pytest.fixture
def quarantine(tmp_path: Path, vault: Vault, clock: Clock) -> Quarantine:
    return Quarantine(tmp_path / "quarantine", vault, clock)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """For `bot.cli.main` in-process: a data dir of its own (returned), no .env from the working
    directory, no settings leaking from the environment, and the root logger restored afterwards
    (main() installs its own handler)."""
    for name in ("SWBOT_DATABASE_URL", "SWBOT_SECRET_KEY", "SWBOT_TOKEN", "SWBOT_MAX_MESSAGE_BYTES"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("SWBOT_DATA_DIR", str(data))
    monkeypatch.setenv("SWBOT_LOG_LEVEL", "WARNING")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield data
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
