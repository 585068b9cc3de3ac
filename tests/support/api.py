"""The operator API under test: settings, a signing client, a running server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.api import SIGNATURE_HEADER, TIMESTAMP_HEADER, make_api_app, sign, start_api
from bot.runtime import Services
from bot.settings import Settings
from storage.db import Database
from storage.ingest import Ingestor
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support import paths
from tests.support.clock import test_clock

KEY = "operator-api-key-0123456789abcdef"
SAMPLES = paths.SAMPLES
LIST_XML = (SAMPLES / "ceb621_two_lines.xml").read_bytes()


def api_settings(tmp_path: Path, **kw: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": SecretStr(KEY),
        "api_listen": "127.0.0.1:0",
        "data_dir": tmp_path,
        "bot_username": "swbot_test_bot",
    }
    values.update(kw)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Api:
    url: str
    session: aiohttp.ClientSession
    db: Database
    vault: Vault
    quarantine: Quarantine

    def headers(self, body: bytes, *, ts: int | None = None, key: str = KEY) -> dict[str, str]:
        ts = int(self.db.clock.timestamp()) if ts is None else ts
        return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(key.encode(), ts, body)}

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with self.session.post(
            self.url + path, data=body, headers=self.headers(body) if headers is None else headers
        ) as r:
            return r.status, await r.json()


async def serve(db: Database, vault: Vault, settings: Settings) -> tuple[Any, int]:
    quarantine = Quarantine(settings.quarantine_dir, vault, test_clock())
    ingestor = Ingestor(db, vault, quarantine, max_bytes=settings.max_message_bytes)

    async def username() -> str:
        return settings.bot_username or "unknown"

    app = make_api_app(Services(settings=settings, db=db, vault=vault), ingestor, username)
    return await start_api(app, "127.0.0.1:0")
