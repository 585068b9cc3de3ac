"""`swbot` command line (DESIGN §2). Every command migrates the database first.

Exit status: 0 success, 2 bad settings or usage, 3 something was rejected, 1 other failure.
Output lines are part of the contract: ingest ends with `accepted=N duplicate=N rejected=N`,
accounts import with `imported=N updated=N rejected=N`, link with the deep link URL.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import NoReturn

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from bot.domain.clock import Clock
from bot.logs import setup_logging
from bot.settings import Settings, SettingsError, load_settings
from storage.db import Database, DatabaseError
from storage.vault import Vault, VaultError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3

log = logging.getLogger("swbot")
TODAY_HELP = "as of this day, China time (default: the real day)"
MAX_WORKERS = 8  # ingest worker processes (PostgreSQL), each with a connection of its own


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like a settings error
        self.exit(EXIT_USAGE, f"swbot: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="swbot", description="Single Window cross-border e-commerce Telegram bot")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("run", help="migrate, then run the bot, the notifier and the operator API")
    ingest = sub.add_parser("ingest", help="import CEB messages from files, folders or - (stdin)")
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.add_argument(
        "--workers", type=_workers, default=1, metavar="N",
        help=f"transactions at once, 1-{MAX_WORKERS} (PostgreSQL only; SQLite has one writer: 1)",
    )
    ingest.add_argument(
        "-v", "--verbose", action="store_true", help="also print `accepted PATH` or `duplicate PATH` for every file"
    )
    accounts = sub.add_parser("accounts", help="the account registry")
    acc_sub = accounts.add_subparsers(dest="accounts_command", required=True, parser_class=_Parser)
    imp = acc_sub.add_parser("import", help="import accounts from CSV")
    imp.add_argument("file", metavar="FILE")
    link = sub.add_parser("link", help="issue a one-time binding deep link")
    link.add_argument("account_id", metavar="ACCOUNT_ID")
    link.add_argument("--ttl", type=int, default=15, metavar="MINUTES", help="validity (default 15)")
    demo = sub.add_parser("demo-data", help="write realistic synthetic accounts and CEB messages")
    demo.add_argument("--out", required=True, metavar="DIR")
    demo.add_argument("--consumers", type=int, default=20, metavar="N")
    demo.add_argument("--seed", type=int, default=1, metavar="S")
    demo.add_argument("--today", type=_day, default=None, metavar="YYYY-MM-DD", help=TODAY_HELP)
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    db_sub.add_parser("upgrade", help="run the Alembic migrations")
    q = sub.add_parser("quarantine", help="inspect rejected messages")
    q_sub = q.add_subparsers(dest="quarantine_command", required=True, parser_class=_Parser)
    q_sub.add_parser("list", help="list quarantined messages with their reasons")
    show = q_sub.add_parser("show", help="print one quarantined message, decrypted")
    show.add_argument("file", metavar="FILE")
    sandbox = sub.add_parser("sandbox", help="the bot with a local Telegram stand-in and a web chat")
    sandbox.add_argument("--port", type=int, default=8080)
    sandbox.add_argument("--consumers", type=int, default=20, metavar="N")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--today", type=_day, default=None, metavar="YYYY-MM-DD", help=TODAY_HELP)
    return p


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_WORKERS}: {text!r}")
    return n


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def make_clock(today: date | None) -> Clock:
    """The one clock of this process: the real one, or one set to `today` (at the real time of day)."""
    return Clock.system() if today is None else Clock.on_day(today)


@dataclass
class Storage:
    settings: Settings
    db: Database
    vault: Vault


@asynccontextmanager
async def open_storage(settings: Settings, clock: Clock) -> AsyncIterator[Storage]:
    """Keys, database (checked and migrated) — what every command starts with."""
    from storage.migrate import upgrade

    vault = Vault(settings.keys())
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url, clock=clock)
    try:
        await db.check()
        await upgrade(db)
        yield Storage(settings, db, vault)
    finally:
        await db.dispose()


async def _ingest(
    settings: Settings, clock: Clock, paths: Sequence[str], workers: int = 1, verbose: bool = False
) -> int:
    """Files in sorted order, a batch of them to a transaction (group commit). Each batch's lines are
    printed (and flushed) only once it committed: a file reported is in the database, whatever
    happens to this process afterwards."""
    from storage.feed import FeedItem, Reported, WorkerSetup, ingest_feed, ingest_feed_parallel
    from storage.ingest import REJECTED, Ingestor, IngestStats, iter_paths
    from storage.quarantine import Quarantine

    if workers > 1 and make_url(settings.db_url).get_backend_name() == "sqlite":
        print("swbot: --workers above 1 needs PostgreSQL (SQLite takes one writer at a time)", file=sys.stderr)
        return EXIT_USAGE
    sources: list[tuple[str, Path | None]] = []
    for raw in paths:
        if raw == "-":
            sources.append(("-", None))
        else:
            sources.extend((str(p), p) for p in iter_paths([raw]))

    def read() -> Iterator[FeedItem]:
        for name, path in sources:
            try:
                data = (
                    sys.stdin.buffer.read(settings.max_message_bytes + 1)  # capped like a file
                    if path is None
                    else _read_capped(path, settings.max_message_bytes)
                )
            except OSError as exc:
                yield FeedItem(name, None, f"cannot read ({exc.strerror})")
                continue
            yield FeedItem(name, data)

    stats = IngestStats()

    def report(batch: Reported) -> None:
        for item, result in batch:
            if result is None:
                stats.rejected += 1
                print(f"rejected {item.name}: {item.error}")
                continue
            stats.add(result)
            if result.status == REJECTED:
                print(f"rejected {item.name}: {result.reason}")
            elif verbose:
                print(f"{result.status} {item.name}")
        sys.stdout.flush()

    async with open_storage(settings, clock) as st:
        ingestor = Ingestor(
            st.db, st.vault, Quarantine(settings.quarantine_dir, st.vault, clock), max_bytes=settings.max_message_bytes,
        )
        if workers > 1:
            setup = WorkerSetup(
                settings.db_url, settings.keys(), settings.quarantine_dir, settings.max_message_bytes,
                ingestor.batch_size, clock, partial(setup_logging, settings.log_level, _secrets(settings)),
            )  # fmt: skip
            await ingest_feed_parallel(setup, read(), report, workers=workers)
        else:
            await ingest_feed(ingestor, read(), report, parsers=_parsers(len(sources), ingestor.batch_size))
    print(stats.line())
    return EXIT_REJECTED if stats.rejected else EXIT_OK


def _secrets(settings: Settings) -> list[SecretStr | None]:
    """What the logs must never show."""
    return [settings.token, settings.api_key, settings.secret_key]


def _parsers(files: int, batch_size: int) -> int:
    """Worker processes to parse in: one or two beside the database work when there are cores to
    spare and more than one batch (a single batch has nothing to overlap with)."""
    if files <= batch_size:
        return 0
    return max(0, min((os.cpu_count() or 1) - 1, 2))


def _read_capped(path: Path, cap: int) -> bytes:
    # Read one byte past the cap so the parser reports "too large" without loading a huge file.
    with path.open("rb") as fh:
        return fh.read(cap + 1)


async def _accounts_import(settings: Settings, clock: Clock, file: str) -> int:
    from storage.accounts import import_accounts

    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        print(f"swbot: cannot read {file}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    async with open_storage(settings, clock) as st:
        report = await import_accounts(st.db, st.vault, data)
    for problem in report.problems:
        print(f"rejected {problem}")
    print(report.line())
    return EXIT_REJECTED if report.rejected else EXIT_OK


async def _link(settings: Settings, clock: Clock, account_id: str, ttl: int) -> int:
    from storage.links import UnknownAccount, issue_token

    if not 1 <= ttl <= 7 * 24 * 60:
        print("swbot: --ttl must be between 1 and 10080 minutes", file=sys.stderr)
        return EXIT_USAGE
    username = settings.bot_username or await _ask_username(settings)
    async with open_storage(settings, clock) as st:
        try:
            async with st.db.write() as session:
                token = await issue_token(session, st.vault, account_id, ttl)
        except UnknownAccount:
            print(f"swbot: no account with id {account_id}", file=sys.stderr)
            return EXIT_FAILURE
    print(f"https://t.me/{username}?start={token}")
    return EXIT_OK


async def _ask_username(settings: Settings) -> str:
    from telegram import Bot
    from telegram.error import TelegramError

    bot = Bot(settings.require_token(), base_url=settings.bot_api_url)
    try:
        async with bot:
            username = (await bot.get_me()).username
    except TelegramError as exc:
        raise SettingsError(
            f"SWBOT_BOT_USERNAME: not set and getMe failed ({type(exc).__name__}); set it to print links offline"
        ) from None
    if not username:  # every bot has one; a stand-in that says otherwise is misconfigured
        raise SettingsError("SWBOT_BOT_USERNAME: not set and getMe gave no username; set it")
    return username


async def _db_upgrade(settings: Settings, clock: Clock) -> int:
    async with open_storage(settings, clock) as st:
        from storage.migrate import current

        rev = await current(st.db)
    print(f"database at revision {rev}")
    return EXIT_OK


def _demo(out: str, consumers: int, seed: int, clock: Clock) -> int:
    from bot.demo import generate

    if consumers < 1:
        print("swbot: --consumers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    summary = generate(Path(out), consumers=consumers, seed=seed, today=clock.today())
    print(
        f"accounts={summary.accounts} lists={summary.lists} receipts={summary.receipts} "
        f"tax_slips={summary.tax_slips} tax_statuses={summary.tax_statuses} files={summary.files}"
    )
    return EXIT_OK


async def _quarantine(settings: Settings, clock: Clock, args: argparse.Namespace) -> int:
    from storage.quarantine import Quarantine

    q = Quarantine(settings.quarantine_dir, Vault(settings.keys()), clock)
    if args.quarantine_command == "list":
        entries = q.entries()
        for e in entries:
            print(f"{e.name}\t{e.at:%Y-%m-%d %H:%M:%S}\t{e.size}\t{e.source}\t{e.reason}")
        print(f"quarantined={len(entries)}")
        return EXIT_OK
    try:
        sys.stdout.buffer.write(q.read(Path(args.file).name))
    except (FileNotFoundError, OSError):
        print(f"swbot: no quarantined file {args.file}", file=sys.stderr)
        return EXIT_FAILURE
    except VaultError:
        print(f"swbot: {args.file} does not decrypt with this SWBOT_SECRET_KEY", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


async def _dispatch(settings: Settings, clock: Clock, args: argparse.Namespace) -> int:
    if args.command == "ingest":
        return await _ingest(settings, clock, args.paths, args.workers, args.verbose)
    if args.command == "accounts":
        return await _accounts_import(settings, clock, args.file)
    if args.command == "link":
        return await _link(settings, clock, args.account_id, args.ttl)
    if args.command == "db":
        return await _db_upgrade(settings, clock)
    if args.command == "quarantine":
        return await _quarantine(settings, clock, args)
    raise AssertionError(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    clock = make_clock(getattr(args, "today", None))
    try:
        settings = load_settings()
        setup_logging(settings.log_level, secrets=_secrets(settings))
        if args.command == "demo-data":
            return _demo(args.out, args.consumers, args.seed, clock)
        if args.command == "run":
            from bot.app import run

            return run(settings, clock)
        if args.command == "sandbox":
            from bot.sandbox.run import run_sandbox

            return run_sandbox(settings, clock, host=args.host, port=args.port, consumers=args.consumers)
        return asyncio.run(_dispatch(settings, clock, args))
    except SettingsError as exc:
        print(f"swbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: one line, details only in the log
        if isinstance(exc, DatabaseError):
            print(f"swbot: SWBOT_DATABASE_URL: {exc}", file=sys.stderr)
            return EXIT_USAGE
        log.exception("unexpected failure")
        print(f"swbot: failed: {type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
