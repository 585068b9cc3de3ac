"""`swbot ingest` in batches: --verbose, --workers (PostgreSQL only), parsing in worker processes,
and a SIGKILL in the middle of a run losing nothing it reported."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot import cli
from bot.demo import generate
from bot.domain.clock import Clock
from storage.db import Database
from storage.ingest import BATCH_SIZE
from storage.models import Account, IngestedMessage
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.conftest import POSTGRES_ENV, TEST_SECRET, _postgres_problem
from tests.support import paths
from tests.support.cli import good_messages, run, write
from tests.support.clock import test_clock
from tests.support.storage import bind, records_state

SECRET = TEST_SECRET.decode()
REPO = paths.ROOT


def demo_feed(out: Path, consumers: int, *, shuffle: int | None = None) -> tuple[Path, list[Path]]:
    """A demo feed; with `shuffle`, its files renamed so that their sorted order is a random one."""
    generate(out, consumers=consumers, seed=5, today=test_clock().today())
    files = sorted((out / "ceb").glob("*.xml"))
    if shuffle is not None:
        order = random.Random(shuffle).sample(files, len(files))
        for n, path in enumerate(order):
            path.rename(path.with_name(f"{n:06d}-{path.name}"))
        files = sorted((out / "ceb").glob("*.xml"))
    return out, files


# -- options -----------------------------------------------------------------------------------------


def test_workers_above_one_are_refused_on_sqlite(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = tmp_path / "inbox"
    write(inbox / "01.xml", good_messages(1)[0])
    code, lines, err = run(capsys, "ingest", "--workers", "2", str(inbox))
    assert (code, lines) == (2, [])
    assert err.splitlines() == ["swbot: --workers above 1 needs PostgreSQL (SQLite takes one writer at a time)"]
    assert not (cli_env / "swbot.db").exists()  # refused before anything was opened
    for bad in ("0", "9", "two"):
        with pytest.raises(SystemExit) as stopped:  # argparse: a usage error, before anything runs
            cli.main(["ingest", "--workers", bad, str(inbox)])
        out, err = capsys.readouterr()
        assert (stopped.value.code, out) == (2, "")
        assert err.splitlines() == [f"swbot: argument --workers: must be a whole number from 1 to 8: '{bad}'"]
    code, lines, _ = run(capsys, "ingest", "--workers", "1", str(inbox))
    assert (code, lines) == (0, ["accepted=1 duplicate=0 rejected=0"])


def test_verbose_names_every_file_in_order(cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inbox = tmp_path / "inbox"
    msgs = good_messages(2)
    for i, m in enumerate(msgs):
        write(inbox / f"{i:02d}.xml", m)
    write(inbox / "05-broken.xml", b"<CEB621Message>")
    write(inbox / "06-again.xml", msgs[0])
    code, lines, _ = run(capsys, "ingest", "--verbose", str(inbox))
    assert code == 3
    assert lines == [
        *(f"accepted {inbox / f'{i:02d}.xml'}" for i in range(4)),
        f"rejected {inbox / '05-broken.xml'}: not a CEB message (wrong or missing namespace)",
        f"duplicate {inbox / '06-again.xml'}",
        "accepted=4 duplicate=1 rejected=1",
    ]


def test_a_large_feed_parsed_in_worker_processes_ends_as_parsed_inline(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    feed, files = demo_feed(tmp_path / "demo", consumers=12)
    assert len(files) > 2 * BATCH_SIZE  # enough to start parser processes, and three batches
    assert cli._parsers(len(files), BATCH_SIZE) >= (1 if (os.cpu_count() or 1) > 1 else 0)
    monkeypatch.setenv("SWBOT_SECRET_KEY", SECRET)  # one key for both (identity indexes compare)
    states = []
    for parsers in (None, 0):
        monkeypatch.setenv("SWBOT_DATA_DIR", str(tmp_path / f"data-{parsers}"))
        if parsers is not None:
            monkeypatch.setattr(cli, "_parsers", lambda files, batch_size: 0)
        code, lines, _ = run(capsys, "ingest", str(feed / "ceb"))
        assert (code, lines) == (0, [f"accepted={len(files)} duplicate=0 rejected=0"])
        states.append(asyncio.run(_records(f"sqlite+aiosqlite:///{tmp_path / f'data-{parsers}' / 'swbot.db'}")))
    assert states[0] == states[1]


async def _records(url: str) -> dict[str, Any]:
    db = Database(url, clock=test_clock())
    try:
        return await records_state(db)
    finally:
        await db.dispose()


# -- PostgreSQL: --workers N ----------------------------------------------------------------------------


@pytest.fixture
async def pg_databases() -> AsyncIterator[list[str]]:
    """Two fresh PostgreSQL databases (URLs) of their own: the CLI opens a database by URL only."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    if problem := await _postgres_problem(url):
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES_ENV}: {problem}")
    import asyncpg

    server = url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]
    names = [f"swbot_cli_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        for name in names:
            await conn.execute(f'CREATE DATABASE "{name}"')
        yield [f"{url.rsplit('/', 1)[0]}/{name}" for name in names]
    finally:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def _bind_everyone(url: str, vault: Vault) -> None:
    db = Database(url, clock=test_clock())
    try:
        async with db.read() as s:
            ids = (await s.execute(select(Account.account_id).order_by(Account.id))).scalars().all()
        for n, account_id in enumerate(ids):
            await bind(db, account_id, 7700 + n)
    finally:
        await db.dispose()


@pytest.mark.postgres
def test_workers_end_as_one_worker_on_a_shuffled_feed(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    pg_databases: list[str], vault: Vault,
) -> None:
    """A demo feed in a random order, its people bound: three worker processes leave the records
    exactly as one does, and notify without a duplicate."""
    feed, files = demo_feed(tmp_path / "demo", consumers=8, shuffle=7)
    monkeypatch.setenv("SWBOT_SECRET_KEY", SECRET)
    states = []
    for url, workers in zip(pg_databases, ("1", "3"), strict=True):
        monkeypatch.setenv("SWBOT_DATABASE_URL", url)
        code, lines, _ = run(capsys, "accounts", "import", str(feed / "accounts.csv"))
        assert code == 0, lines
        asyncio.run(_bind_everyone(url, vault))
        code, lines, err = run(capsys, "ingest", "--workers", workers, str(feed / "ceb"))
        assert (code, lines) == (0, [f"accepted={len(files)} duplicate=0 rejected=0"]), err
        states.append(asyncio.run(_records(url)))
        code, lines, _ = run(capsys, "ingest", "--workers", workers, str(feed / "ceb"))
        assert (code, lines) == (0, [f"accepted=0 duplicate={len(files)} rejected=0"])
    assert states[0] == states[1]
    assert states[0]["counts"]["receipts"] > 0 and states[0]["requests"]


# -- SIGKILL in the middle of a run ------------------------------------------------------------------------


def _killed_midway(env: dict[str, str], inbox: Path, *extra: str) -> list[str]:
    """`swbot ingest --verbose` as its own process, SIGKILLed once it has reported two batches;
    the lines it printed."""
    command = [sys.executable, "-m", "bot.cli", "ingest", "--verbose", *extra, str(inbox)]
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    children: set[int] = set()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if len(lines) >= 2 * BATCH_SIZE:
                children = _children(proc.pid)
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert children, "it had started worker processes"
    deadline = time.monotonic() + 20
    while (alive := {pid for pid in children if _running(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, "worker processes outlived the killed run"
    return lines


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWBOT_")}
    return {**env, "SWBOT_DATA_DIR": str(data), "SWBOT_SECRET_KEY": SECRET, "SWBOT_LOG_LEVEL": "WARNING", **extra}


async def _stored_digests(url: str) -> set[bytes]:
    db = Database(url, clock=Clock.system())
    try:
        async with db.read() as s:
            return set((await s.execute(select(IngestedMessage.sha256))).scalars())
    finally:
        await db.dispose()


def _check_reported_are_stored(lines: list[str], url: str, quarantine_dir: Path, keys: Vault) -> None:
    assert lines and not lines[-1].startswith("accepted="), "killed after the end"
    stored = asyncio.run(_stored_digests(url))
    quarantined = {e.source for e in Quarantine(quarantine_dir, keys, test_clock()).entries()}
    for line in lines:
        status, name = line.split(" ", 1)
        if status == "accepted":
            assert hashlib.sha256(Path(name).read_bytes()).digest() in stored, name
        else:
            assert status == "rejected" and Path(name.split(":")[0]).name in quarantined, line


def _sigkill_midway_loses_nothing_reported(
    tmp_path: Path, vault: Vault, urls: list[str], extra: tuple[str, ...] = ()
) -> None:
    """Every file reported before the kill is in the database (the rejected one in the quarantine);
    a second run takes in the rest, and the records end as one uninterrupted run leaves them."""
    feed, files = demo_feed(tmp_path / "demo", consumers=48)
    inbox = feed / "ceb"
    write(inbox / "000-broken.xml", b"<CEB621Message>")  # a rejection among the reports
    envs = [
        _env(tmp_path / name, **({"SWBOT_DATABASE_URL": url} if url.startswith("postgresql") else {}))
        for name, url in zip(("killed", "whole"), urls, strict=True)
    ]
    lines = _killed_midway(envs[0], inbox, *extra)
    _check_reported_are_stored(lines, urls[0], tmp_path / "killed" / "quarantine", vault)
    assert sum(line.startswith("accepted ") for line in lines) >= BATCH_SIZE
    assert len(asyncio.run(_stored_digests(urls[0]))) < len(files)  # it really was stopped midway

    def finish(env: dict[str, str]) -> str:
        done = subprocess.run([sys.executable, "-m", "bot.cli", "ingest", *extra, str(inbox)], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
        assert done.returncode == 3, done.stderr
        return done.stdout.splitlines()[-1]

    again, whole = finish(envs[0]), finish(envs[1])
    assert whole == f"accepted={len(files)} duplicate=0 rejected=1"
    accepted, duplicate = (int(part.split("=")[1]) for part in again.split()[:2])
    assert accepted + duplicate == len(files) and accepted > 0 and again.endswith("rejected=1")
    assert asyncio.run(_records(urls[0])) == asyncio.run(_records(urls[1]))


@pytest.mark.subprocess
def test_sigkill_midway_loses_nothing_reported_sqlite(tmp_path: Path, vault: Vault) -> None:
    urls = [f"sqlite+aiosqlite:///{tmp_path / name / 'swbot.db'}" for name in ("killed", "whole")]
    _sigkill_midway_loses_nothing_reported(tmp_path, vault, urls)


@pytest.mark.subprocess
@pytest.mark.postgres
def test_sigkill_midway_loses_nothing_reported_postgres_workers(
    tmp_path: Path, vault: Vault, pg_databases: list[str]
) -> None:
    _sigkill_midway_loses_nothing_reported(tmp_path, vault, pg_databases, ("--workers", "2"))
