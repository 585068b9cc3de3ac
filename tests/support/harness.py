"""An in-process bot for end-to-end tests: the real Application (as `swbot run` builds it) with
the Bot API stand-in behind python-telegram-bot's BaseRequest, on a real migrated SQLite file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.app import build_application
from bot.domain.clock import Clock
from bot.ratelimiter import ChatLimits, SendLimiter
from bot.runtime import BotApp, Services
from bot.sandbox.core import BotApiCore
from bot.sandbox.request import InProcessRequest
from bot.settings import Settings
from storage.accounts import AccountRow, upsert_account
from storage.db import Database
from storage.ingest import Ingestor
from storage.links import issue_token
from storage.quarantine import Quarantine
from storage.vault import Vault
from tests.support.clock import test_clock
from tests.support.migrated import open_at_head

TOKEN = "123456:TEST-token"
SECRET = "x" * 48


@dataclass
class Harness:
    core: BotApiCore
    app: BotApp
    services: Services
    ingestor: Ingestor

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def vault(self) -> Vault:
        return self.services.vault

    async def add_account(self, account_id: str, name: str, id_number: str, phone: str) -> None:
        async with self.db.write() as s:
            await upsert_account(s, self.vault, AccountRow(account_id, name, "1", id_number, phone))

    async def link(self, account_id: str, ttl: int = 15) -> str:
        async with self.db.write() as s:
            return await issue_token(s, self.vault, account_id, ttl)

    async def ingest_dir(self, folder: Path) -> None:
        for path in sorted(folder.rglob("*.xml")):
            result = await self.ingestor.ingest(path.read_bytes(), name=path.name)
            assert result.status != "rejected", (path.name, result.reason)

    def client(self, user_id: int, first_name: str = "Test", language_code: str | None = "en"):  # type: ignore[no-untyped-def]
        from bot.sandbox.client import SandboxClient

        return SandboxClient(self.core, user_id, first_name, language_code, deliver=self.app.process_update)


def make_settings(tmp: Path, **extra: object) -> Settings:
    # Scripted users act far faster than people: no per-user throttle unless a test asks for one.
    extra.setdefault("user_rate", 1000)
    return Settings(
        token=TOKEN,  # type: ignore[arg-type]
        data_dir=tmp,
        secret_key=SECRET,  # type: ignore[arg-type]
        bot_username="swbot_sandbox_bot",
        **extra,  # type: ignore[arg-type]
    )


async def start_harness(
    tmp: Path,
    core: BotApiCore | None = None,
    clock: Clock | None = None,
    *,
    chat_pacing: bool = False,
    **settings_extra: object,
) -> Harness:
    """`chat_pacing`: keep Telegram's per-chat pace (bot.ratelimiter.ChatLimits). Off by default:
    a scripted user taps a dozen times a second, and the pace would make each of those tests wait
    seconds of real time for nothing it checks (the pace has tests of its own)."""
    clock = clock or test_clock()
    core = core or BotApiCore(clock=clock)
    settings = make_settings(tmp, **settings_extra)
    db = await open_at_head(settings.db_url, clock)
    vault = Vault(settings.keys())
    services = Services(settings=settings, db=db, vault=vault)
    app = build_application(
        settings, services, request=InProcessRequest(core), get_updates_request=InProcessRequest(core)
    )
    if not chat_pacing:
        limiter = app.bot.rate_limiter
        assert isinstance(limiter, SendLimiter)
        limiter.chats = ChatLimits(private_per_second=1_000_000)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    ingestor = Ingestor(
        db, vault, Quarantine(settings.quarantine_dir, vault, clock), max_bytes=settings.max_message_bytes
    )
    return Harness(core, app, services, ingestor)


async def stop_harness(h: Harness) -> None:
    await h.app.shutdown()
    assert h.app.post_shutdown is not None
    await h.app.post_shutdown(h.app)
    h.core.shutdown()
