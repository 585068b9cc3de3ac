"""`swbot sandbox`: the whole bot on demo data, with a Telegram stand-in and a web chat, offline.

What runs, all in this one process:

1. A data folder: a throwaway one (in /dev/shm when there is one: the database there is fast and
   goes away with the machine) removed on exit, or ``SWBOT_DATA_DIR`` when that is set, kept.
   The database is always SQLite in that folder, whatever ``SWBOT_DATABASE_URL`` says: demo data
   never goes into a real database.
2. The Bot API stand-in (:class:`bot.sandbox.core.BotApiCore`) over HTTP on 127.0.0.1, in its
   own thread (:class:`bot.sandbox.server.SandboxServer`), with the web chat's routes
   (:mod:`bot.sandbox.webchat`) on the same aiohttp application. The URL is printed at once; the
   page shows the progress until the bot is up.
3. Demo data exactly as the documented commands make it: ``swbot demo-data`` (``bot.demo.generate``),
   then ``swbot accounts import`` and ``swbot ingest`` (the same storage functions they call).
   A person cannot bind before the bot starts, so loading old records sends no notification.
4. The real bot, by calling :func:`bot.app.run` — the function behind ``swbot run`` — in the main
   thread, with settings that differ from a production start only where ``swbot run`` is told
   where Telegram is: ``SWBOT_BOT_API_URL`` (the stand-in), a fixed fake ``SWBOT_TOKEN``,
   ``SWBOT_BOT_USERNAME``, and ``SWBOT_API_LISTEN``/``SWBOT_API_KEY`` (a free loopback port and
   a random key) so that the notifier and the operator API run as well.

Why one process and not ``swbot run`` as a child: ``bot.app.run`` *is* ``swbot run`` (same
builder, same background attach, same poller (bot.polling) and signal handling), and keeping it in-process
gives one Ctrl-C, one log stream, one exit status, no orphaned child if the terminal goes away,
and no second interpreter to start or to find on PATH. The bot still reaches the stand-in only
over HTTP, like a bot talks to Telegram, and the web chat reaches the operator API only over
signed HTTP, like a portal would.

Stopping: Ctrl-C or SIGTERM. `swbot run`'s poller turns both into a clean shutdown
(notifier, operator API, database); then the stand-in stops, the throwaway folder is removed and
the command exits 0. Nothing binds to anything but the host given (127.0.0.1 by default) and the
page loads nothing from outside.
"""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.domain.clock import Clock
from bot.sandbox.core import BotApiCore
from bot.sandbox.demofeed import Person, read_people
from bot.sandbox.server import SandboxServer, make_app
from bot.sandbox.webchat import LoadStatus, OperatorApi, WebChat, add_webchat
from bot.settings import Settings, SettingsError

FAKE_TOKEN = "7000000001:sandbox-fake-token-no-network"  # noqa: S105 (the stand-in accepts any token)
BOT_ID = 7_000_000_001
BOT_USERNAME = "swbot_sandbox_bot"
BOT_NAME = "swbot"
USER_ID = 100_200_300
DEMO_SEED = 1
READY_PREFIX = "sandbox: ready"


def _say(text: str) -> None:
    print(f"sandbox: {text}", flush=True)


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _throwaway_dir() -> Path:
    shm = Path("/dev/shm")  # noqa: S108 (mkdtemp makes a private 0700 folder inside it)
    root = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="swbot-sandbox-", dir=root))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM before the bot runs: stop like Ctrl-C


def prepare_demo(demo_dir: Path, consumers: int, clock: Clock) -> tuple[list[Person], Path]:
    """``swbot demo-data --out demo_dir`` unless an earlier sandbox already wrote it there."""
    from bot.demo import generate

    csv_path, ceb_dir = demo_dir / "accounts.csv", demo_dir / "ceb"
    if not (csv_path.is_file() and ceb_dir.is_dir()):
        summary = generate(demo_dir, consumers=consumers, seed=DEMO_SEED, today=clock.today())
        _say(f"demo data: accounts={summary.accounts} lists={summary.lists} tax_slips={summary.tax_slips} "
             f"files={summary.files}")
    return read_people(csv_path), ceb_dir


async def load_demo(settings: Settings, clock: Clock, demo_dir: Path, status: LoadStatus) -> None:
    """Migrate, import the accounts, ingest the CEB feed (what the CLI commands do)."""
    from storage.accounts import import_accounts
    from storage.db import Database
    from storage.ingest import Ingestor, IngestStats, iter_paths
    from storage.migrate import upgrade
    from storage.quarantine import Quarantine
    from storage.vault import Vault

    vault = Vault(settings.keys())
    db = Database(settings.db_url, clock=clock)
    try:
        await db.check()
        await upgrade(db)
        report = await import_accounts(db, vault, (demo_dir / "accounts.csv").read_bytes())
        _say(f"accounts import: {report.line()}")
        paths = iter_paths([str(demo_dir / "ceb")])
        status.update(total=len(paths), loaded=0)
        ingestor = Ingestor(db, vault, Quarantine(settings.quarantine_dir, vault, clock),
                            max_bytes=settings.max_message_bytes)
        stats = IngestStats()
        for i, path in enumerate(paths, 1):
            stats.add(await ingestor.ingest(path.read_bytes(), source="file", name=str(path)))
            if i % 25 == 0 or i == len(paths):
                status.update(loaded=i)
        _say(f"ingest: {stats.line()}")
    finally:
        await db.dispose()


class ReadyWatch(threading.Thread):
    """Marks the bot ready, and says so, once it polls the stand-in (the bot runs in the main
    thread, inside `swbot run`'s poller, so a small thread watches the core)."""

    def __init__(self, core: BotApiCore, status: LoadStatus, url: str) -> None:
        super().__init__(name="sandbox-ready", daemon=True)
        self.core, self.status, self.url = core, status, url
        self.stopped = threading.Event()

    def run(self) -> None:
        # The poller calls deleteWebhook right before its first getUpdates (which the
        # core records only when that long poll is answered).
        while not self.stopped.wait(0.2):
            if self.core.calls("deleteWebhook") or self.core.calls("getUpdates"):
                self.status.update(bot_ready=True)
                print(f"{READY_PREFIX}: the bot @{self.core.bot_username} is polling; open {self.url} "
                      "(Ctrl-C stops)", flush=True)
                return


def run_sandbox(
    settings: Settings, clock: Clock, *, host: str = "127.0.0.1", port: int = 8080, consumers: int = 20
) -> int:
    if consumers < 1:
        raise SettingsError("--consumers must be at least 1")
    if not 0 <= port <= 65535:
        raise SettingsError("--port must be between 0 and 65535")
    own_dir = "data_dir" not in settings.model_fields_set
    data_dir = _throwaway_dir() if own_dir else settings.data_dir
    previous_term = signal.signal(signal.SIGTERM, _interrupt)
    core = BotApiCore(bot_id=BOT_ID, username=BOT_USERNAME, first_name=BOT_NAME, clock=clock)
    server: SandboxServer | None = None
    watch: ReadyWatch | None = None
    try:
        demo_dir = data_dir / "sandbox-demo"
        api_port = _free_port()
        api_key = secrets.token_urlsafe(32)
        base = settings.model_copy(update={"data_dir": data_dir, "database_url": None})
        status = LoadStatus()
        chat = WebChat(core, user_id=USER_ID, people=[], ceb_dir=demo_dir / "ceb",
                       api=OperatorApi(f"http://127.0.0.1:{api_port}", api_key), db_url=base.db_url, status=status,
                       clock=clock)
        # The page first, so the URL is there at once; it shows the progress until the bot runs.
        server = SandboxServer(core, host, port, app=add_webchat(make_app(core), chat))
        try:
            server.start()
        except RuntimeError as exc:
            server = None
            cause = exc.__cause__
            why = "the port is in use" if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE else cause
            raise SettingsError(f"sandbox: cannot listen on {host}:{port} ({why}); try another --port") from None
        shown_host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 (only compared)
        url = f"http://{'[' + shown_host + ']' if ':' in shown_host else shown_host}:{server.port}/"
        _say(f"data folder {data_dir}" + (" (removed on exit)" if own_dir else " (SWBOT_DATA_DIR, kept)"))
        _say(f"open {url}")

        people, _ceb_dir = prepare_demo(demo_dir, consumers, clock)
        chat.set_people(people)

        bot_settings = base.model_copy(update={
            "token": SecretStr(FAKE_TOKEN),
            "bot_api_url": f"{url}bot",
            "bot_username": BOT_USERNAME,
            "api_listen": f"127.0.0.1:{api_port}",
            "api_key": SecretStr(api_key),
            "webhook_url": None,
            "webhook_secret": None,
            "listen": None,
        })
        asyncio.run(load_demo(bot_settings, clock, demo_dir, status))
        status.update(done=True)
        watch = ReadyWatch(core, status, url)
        watch.start()

        from bot.app import run

        run(bot_settings, clock)  # the poller replaces the SIGTERM handler with its own while it runs
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # cleaning up: a second SIGTERM must not cut it short
        if watch is not None:
            watch.stopped.set()
        if server is not None:
            server.stop()
        core.shutdown()
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous_term)
    _say("stopped")
    sys.stdout.flush()
    return 0
