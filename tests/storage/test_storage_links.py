"""storage.links: one-time deep-link tokens — format, single use, expiry, a newer link voiding
the older, a race of redemptions, and only a keyed hash at rest."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from storage import links
from storage.accounts import import_accounts
from storage.db import Database
from storage.links import UnknownAccount, issue_token, redeem_token
from storage.models import Account, LinkToken
from storage.vault import Vault
from tests.support.storage import accounts_csv, people

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)


TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


@pytest.fixture
async def accounts(db: Database, vault: Vault) -> Database:
    await import_accounts(db, vault, accounts_csv(people(2)))
    return db


async def issue(db: Database, vault: Vault, account_id: str, ttl: int = 15) -> str:
    async with db.write() as s:
        return await issue_token(s, vault, account_id, ttl)


async def redeem(db: Database, vault: Vault, token: str, user: int) -> links.Redemption:
    async with db.write() as s:
        return await redeem_token(s, vault, token, user)


async def pk_of(db: Database, account_id: str) -> int:
    async with db.read() as s:
        return (await s.execute(select(Account.id).where(Account.account_id == account_id))).scalar_one()


async def test_issue_and_redeem_once(accounts: Database, vault: Vault) -> None:
    a = people(1)[0]
    token = await issue(accounts, vault, a.account_id)
    assert TOKEN.match(token)
    first = await redeem(accounts, vault, token, 111)
    assert first == links.Redemption(await pk_of(accounts, a.account_id), None)
    assert await redeem(accounts, vault, token, 111) == links.Redemption(None, "used")
    assert await redeem(accounts, vault, token, 222) == links.Redemption(None, "used")
    async with accounts.read() as s:
        row = (await s.execute(select(LinkToken))).scalar_one()
    assert row.used_by == 111 and row.used_at is not None


async def test_tokens_are_unique_and_well_formed(accounts: Database, vault: Vault) -> None:
    a = people(1)[0]
    tokens = {await issue(accounts, vault, a.account_id) for _ in range(200)}
    assert len(tokens) == 200
    assert all(TOKEN.match(t) for t in tokens)


async def test_unknown_token_and_unknown_account(accounts: Database, vault: Vault) -> None:
    assert await redeem(accounts, vault, "A" * 32, 1) == links.Redemption(None, "unknown")
    with pytest.raises(UnknownAccount):
        await issue(accounts, vault, "no-such-account")


async def test_expired_token(accounts: Database, vault: Vault) -> None:
    a = people(1)[0]
    token = await issue(accounts, vault, a.account_id, ttl=1)
    accounts.clock.advance(dt.timedelta(minutes=1, seconds=1))
    assert await redeem(accounts, vault, token, 1) == links.Redemption(None, "expired")
    # a moment before expiry it would still have worked
    accounts.clock.advance(dt.timedelta(seconds=-11))
    assert (await redeem(accounts, vault, token, 1)).account_pk is not None


async def test_a_newer_link_voids_the_older(accounts: Database, vault: Vault) -> None:
    a, b = people(2)
    old = await issue(accounts, vault, a.account_id)
    other = await issue(accounts, vault, b.account_id)  # another account's link is not affected
    new = await issue(accounts, vault, a.account_id)
    assert await redeem(accounts, vault, old, 1) == links.Redemption(None, "expired")
    assert (await redeem(accounts, vault, new, 1)).account_pk == await pk_of(accounts, a.account_id)
    assert (await redeem(accounts, vault, other, 2)).account_pk == await pk_of(accounts, b.account_id)


async def test_concurrent_redemptions_exactly_one_wins(db: Database, vault: Vault, tmp_path: Path) -> None:
    """20 redemptions at once, each in its own transaction (separate engines on SQLite, as separate
    processes would be; the shared pool on PostgreSQL): exactly one succeeds."""
    await import_accounts(db, vault, accounts_csv(people(1)))
    token = await issue(db, vault, people(1)[0].account_id)
    dbs = [Database(db.url, clock=db.clock) for _ in range(20)] if db.is_sqlite else [db] * 20
    start = asyncio.Event()

    async def attempt(i: int, target: Database) -> links.Redemption:
        await start.wait()
        return await redeem(target, vault, token, 1000 + i)

    try:
        tasks = [asyncio.create_task(attempt(i, d)) for i, d in enumerate(dbs)]
        await asyncio.sleep(0.05)
        start.set()
        results = await asyncio.gather(*tasks)
    finally:
        if db.is_sqlite:
            for d in dbs:
                await d.dispose()
    winners = [r for r in results if r.account_pk is not None]
    assert len(winners) == 1
    assert sorted(r.problem for r in results if r.account_pk is None) == ["used"] * 19
    async with db.read() as s:
        row = (await s.execute(select(LinkToken))).scalar_one()
    assert row.used_by is not None and 1000 <= row.used_by < 1020


async def test_only_the_keyed_hash_is_stored(db: Database, vault: Vault, tmp_path: Path) -> None:
    await import_accounts(db, vault, accounts_csv(people(1)))
    tokens = [await issue(db, vault, people(1)[0].account_id) for _ in range(20)]
    async with db.read() as s:
        rows = (await s.execute(select(LinkToken))).scalars().all()
    assert {r.token_hash for r in rows} == {vault.token_hash(t) for t in tokens}
    import hashlib

    assert not {r.token_hash for r in rows} & {hashlib.sha256(t.encode()).digest() for t in tokens}
    if db.is_sqlite:
        blob = b"".join(
            p.read_bytes() for p in (tmp_path / "test.db", tmp_path / "test.db-wal") if p.exists()
        )
        assert vault.token_hash(tokens[0]) in blob  # positive control: the hash is really in the file
        for t in tokens:
            assert t.encode() not in blob
    else:
        from sqlalchemy import text

        async with db.read() as s:
            dump = "\n".join((await s.execute(text("SELECT CAST(t AS text) FROM link_tokens AS t"))).scalars())
        assert vault.token_hash(tokens[0]).hex() in dump
        for t in tokens:
            assert t not in dump
