"""The operator HTTP API over a real socket: signatures, size limits, ingest, links, health."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.api import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, stop_api
from storage.accounts import AccountRow, upsert_account
from storage.db import Database
from storage.links import redeem_token
from storage.models import Account, Base
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support.api import (
    KEY,
    LIST_XML,
    Api,
    api_settings,
    serve,
)
from tests.support.clock import test_clock

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)


@pytest.fixture
async def api(db: Database, vault: Vault, tmp_path: Path) -> AsyncIterator[Api]:
    settings = api_settings(tmp_path, max_message_bytes=64 * 1024)
    runner, port = await serve(db, vault, settings)
    async with aiohttp.ClientSession() as session:
        yield Api(
            f"http://127.0.0.1:{port}", session, db, vault, Quarantine(settings.quarantine_dir, vault, test_clock())
        )
    await stop_api(runner)


async def checksum(db: Database) -> str:
    """Every row of every table, hashed: equal checksums mean nothing changed."""
    h = hashlib.sha256()
    async with db.read() as s:
        for table in Base.metadata.sorted_tables:
            rows = (await s.execute(select(table).order_by(*table.primary_key.columns))).all()
            h.update(f"{table.name}:{rows!r}".encode())
    return h.hexdigest()


# -- POST /v1/messages ---------------------------------------------------------------------------------


async def test_signed_message_is_ingested_then_duplicate(api: Api) -> None:
    assert await api.post("/v1/messages", LIST_XML) == (200, {"status": "accepted", "reason": None})
    async with api.db.read() as s:
        from storage.models import Inventory, InventoryLine

        inv = (await s.execute(select(Inventory))).scalar_one()
        assert inv.order_no == "124183351885"
        assert len((await s.execute(select(InventoryLine))).all()) == 2
    before = await checksum(api.db)
    assert await api.post("/v1/messages", LIST_XML) == (200, {"status": "duplicate", "reason": None})
    assert await checksum(api.db) == before


async def test_rejected_message_is_quarantined(api: Api) -> None:
    before = await checksum(api.db)
    status, body = await api.post("/v1/messages", b"<CEB621Message><oops")
    assert status == 422
    assert body["status"] == "rejected" and body["reason"]
    assert await checksum(api.db) == before
    [entry] = api.quarantine.entries()
    assert api.quarantine.read(entry.name) == b"<CEB621Message><oops"


def _tamper(api: Api) -> dict[str, Callable[[bytes], dict[str, str]]]:
    now = int(api.db.clock.timestamp())

    def later() -> int:  # "now" when the request is signed (a busy machine may be seconds on)
        return int(api.db.clock.timestamp())

    return {
        "wrong key": lambda b: api.headers(b, key="another-key-0123456789abcdef"),
        "signed another body": lambda b: api.headers(b + b" "),
        "stale": lambda b: api.headers(b, ts=now - 301),
        "from the future": lambda b: api.headers(b, ts=later() + 305),
        "no signature": lambda b: {TIMESTAMP_HEADER: str(now)},
        "no timestamp": lambda b: {SIGNATURE_HEADER: sign(KEY.encode(), now, b)},
        "no headers": lambda b: {},
        "timestamp not a number": lambda b: {**api.headers(b), TIMESTAMP_HEADER: "12e9"},
        "signature of other timestamp": lambda b: {**api.headers(b, ts=now - 1), TIMESTAMP_HEADER: str(now)},
        "truncated signature": lambda b: {**api.headers(b), SIGNATURE_HEADER: api.headers(b)[SIGNATURE_HEADER][:-1]},
        "non-ascii signature": lambda b: {**api.headers(b), SIGNATURE_HEADER: "é" * 64},
    }


async def test_unauthenticated_requests_change_nothing(api: Api) -> None:
    before = await checksum(api.db)
    for name, make in _tamper(api).items():
        status, body = await api.post("/v1/messages", LIST_XML, make(LIST_XML))
        assert status == 401, name
        assert "error" in body, name
        link_body = b'{"account_id": "acct-1"}'
        assert (await api.post("/v1/links", link_body, make(link_body)))[0] == 401, name
    assert await checksum(api.db) == before
    assert api.quarantine.entries() == []  # not even quarantined: never read as a message


async def test_a_timestamp_inside_the_window_is_accepted(api: Api) -> None:
    status, _ = await api.post("/v1/messages", LIST_XML, api.headers(LIST_XML, ts=int(api.db.clock.timestamp()) - 290))
    assert status == 200


async def test_oversize_body_is_413(api: Api) -> None:
    big = LIST_XML + b" " * (64 * 1024)
    before = await checksum(api.db)
    assert (await api.post("/v1/messages", big))[0] == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap applies while reading
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    async with api.session.post(api.url + "/v1/messages", data=chunks(), headers=api.headers(big)) as r:
        assert r.status == 413
    assert await checksum(api.db) == before
    assert api.quarantine.entries() == []


# -- POST /v1/links ---------------------------------------------------------------------------------------


async def _account(api: Api) -> int:
    async with api.db.write() as s:
        await upsert_account(s, api.vault, AccountRow("acct-1", "王小明", "1", "11010519491231002X", "13800138000"))
        return (await s.execute(select(Account.id).where(Account.account_id == "acct-1"))).scalar_one()


async def test_link_for_a_known_account(api: Api) -> None:
    pk = await _account(api)
    status, body = await api.post("/v1/links", b'{"account_id": "acct-1", "ttl_minutes": 5}')
    assert status == 200 and body["expires_in_minutes"] == 5
    match = re.fullmatch(r"https://t\.me/swbot_test_bot\?start=([A-Za-z0-9_-]{22,64})", body["url"])
    assert match
    async with api.db.write() as s:
        redeemed = await redeem_token(s, api.vault, match.group(1), 777)
    assert redeemed.account_pk == pk


async def test_link_errors(api: Api) -> None:
    await _account(api)
    assert (await api.post("/v1/links", b'{"account_id": "nobody"}'))[0] == 404
    for bad in (
        b"not json",
        b"[]",
        b'{"account_id": 5}',
        b'{"account_id": "acct-1", "ttl_minutes": 0}',
        b'{"account_id": "acct-1", "ttl_minutes": true}',
        b'{"account_id": "acct-1", "ttl_minutes": 99999}',
    ):
        assert (await api.post("/v1/links", bad))[0] == 400, bad


async def test_a_link_request_cannot_be_replayed(api: Api) -> None:
    await _account(api)
    body = b'{"account_id": "acct-1"}'
    headers = api.headers(body)
    assert (await api.post("/v1/links", body, headers))[0] == 200
    status, answer = await api.post("/v1/links", body, headers)
    assert status == 409 and "url" not in answer


# -- GET /healthz ----------------------------------------------------------------------------------------


async def test_healthz_needs_no_signature(api: Api) -> None:
    async with api.session.get(api.url + "/healthz") as r:
        assert (r.status, await r.json()) == (200, {"ok": True, "status": "ok"})


async def test_healthz_reports_an_unreachable_database(vault: Vault, tmp_path: Path) -> None:
    before = set(threading.enumerate())
    broken = Database(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}", clock=test_clock())
    runner, port = await serve(broken, vault, api_settings(tmp_path))
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as r:
            assert (r.status, await r.json()) == (503, {"ok": False, "status": "database unavailable"})
    finally:
        await stop_api(runner)
        await broken.dispose()
        # aiosqlite stops a connection that failed to open on its worker thread, which then reports
        # to this loop. On a loaded machine that came after the loop had closed, and pytest warned
        # of an exception in a thread (in whichever test ran next): let those threads finish first.
        for thread in set(threading.enumerate()) - before:
            if thread.name.endswith("(_connection_worker_thread)"):
                await asyncio.to_thread(thread.join, 10)
                assert not thread.is_alive()
