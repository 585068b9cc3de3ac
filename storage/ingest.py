"""CEB message ingest: all or nothing per message, idempotent, independent of arrival order.

Each message is parsed (storage.ceb), checked for duplicates by type + root guid and by content
hash, and applied together with the notifications it causes (outbox) inside a SAVEPOINT of a write
transaction that carries a batch of messages (group commit: one commit, one fsync, for up to
`BATCH_SIZE` messages on SQLite, `PG_BATCH_SIZE` on PostgreSQL). A message that fails is rolled back
to its savepoint and changes nothing; the others commit with the batch, and no result is reported
before that commit. Raw events (receipts, tax-slip status events, cancellations and returns and
their receipts) are stored as they come; derived columns (a list's current status, whether it was
cancelled or what came back, a tax slip's status, the links between them) are recomputed from the
events, so the final state is the same whatever order the messages arrive in. A rejected message
changes no row and is kept, encrypted, in the quarantine folder with a plain-text reason beside it.

Lists (CEB621): a declaration (appStatus 2) outranks a draft (appStatus 1) whatever their times;
among equals the newer appTime wins. A draft is kept but never counted, shown or warned about.

Cancellations and returns (CEB623/625) name their list by invtNo or ebcCode + orderNo; their
receipts (CEB624/626) name the request by preNo or copNo, and the list by invtNo. Only an approved
one (its receipt 399 审结) changes the quota: a cancelled list no longer counts, and a return takes
its lines' share of the dutiable value out (bot.domain.cbec.returned_value).

Over 400 lines: the applier is one unit — every message type's effect, the joins between them in
any arrival order, and the locks that keep parallel workers order-independent depend on each other.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import sys
from collections import namedtuple
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, partial, wraps
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Column,
    ColumnDefault,
    ColumnElement,
    Row,
    Select,
    Table,
    TextClause,
    Update,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from bot.domain import cbec
from bot.domain import receipts as receipt_rules
from bot.domain.identity import InvalidPhone, mask_phone, normalize_phone
from bot.domain.notices import NoticeKind
from storage import outbox, sqlite_exec
from storage.ceb import (
    CANCEL,
    REFUND,
    CebMessage,
    Inventory,
    InventoryReturn,
    ListRequest,
    RequestReturn,
    TaxSlip,
    TaxStatus,
)
from storage.db import Database, is_unavailable
from storage.models import (
    Account,
    Binding,
    Dec5,
    IngestedMessage,
    InventoryLine,
    ListRequestLine,
    Receipt,
    RequestReceipt,
    TaxLine,
    TaxStatusEvent,
)
from storage.models import Inventory as InventoryRow
from storage.models import ListRequest as ListRequestRow
from storage.models import TaxSlip as TaxSlipRow
from storage.prepare import ApplyRejected, Incoming, Parsed, prepare
from storage.quarantine import Quarantine
from storage.vault import Vault

log = logging.getLogger(__name__)

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED = "rejected"

QUOTA_THRESHOLDS = (80, 100)
APPROVED = "approved"
PENDING = "pending"
REFUSED = "refused"
_APPROVED_STATUS = 399  # 海关审结: the CEB624/626 receipt of an approved cancellation or return
# Outbox kind of each receipt that asks the buyer to act (bot.domain.receipts).
_ACTION_KINDS = {
    receipt_rules.VERIFY: NoticeKind.VERIFY,
    receipt_rules.OVER_LIMIT: NoticeKind.OVER_LIMIT,
    receipt_rules.MISMATCH: NoticeKind.MISMATCH,
}
_INGEST_LOCK = 0x5357_424F_5449_4E47  # PostgreSQL advisory lock key of ingest transactions ("SWBOTING")
# Messages per transaction (group commit) ... On SQLite a commit writes every page its batch
# changed, and the indexes on keyed hashes and guids spread a batch's rows all across them: 512
# messages to a commit write ≈ 30 % fewer bytes to the WAL than 256 (bench/README.md). Such a
# transaction holds the write lock ≈ 60–130 ms on a 2-vCPU machine: the bot's own writes may wait
# that long, its reads never do (WAL). On PostgreSQL parallel workers wait for each other's row
# locks until commit: shorter transactions there.
BATCH_SIZE = 512
PG_BATCH_SIZE = 256
BATCH_BYTES = 8 * 1024 * 1024  # ... and their bytes, about: a batch ends before the one that passes this
_MAX_ATTEMPTS = 5  # transactions for a batch on PostgreSQL at most; the last one runs alone


# -- PostgreSQL: which writers may run at once ------------------------------------------------------
#
# Applying a message reads before it writes (which list does this receipt name?), so two
# transactions that commit a list and its receipt at the same time would each miss the other, and
# the link would never be made. SQLite serialises write transactions (BEGIN IMMEDIATE). On
# PostgreSQL, ingest transactions run side by side (`swbot ingest --workers N`, the operator API,
# other processes) and keep out of each other's way with transaction-scoped advisory locks on the
# keys records are found by:
#
# * every read of records by a key (a list by its order, pre-entry, list or company number, the
#   requests or receipts that name a number, a person's lists for the quota) happens while this
#   transaction holds that key's lock, and every write that would change what such a read finds
#   holds it too — so two transactions that touch the same records take turns, and the second sees
#   what the first committed (READ COMMITTED: each statement reads what is committed when it starts);
# * a batch's first transaction only *tries* for locks: the keys each message names itself when
#   the batch starts, and the keys learnt while applying (the numbers of a list a receipt found, a
#   list number learnt from a receipt, a person whose quota is summed). A message whose keys another
#   transaction holds is left out (or rolled back to its savepoint) and deferred: since the final
#   state does not depend on arrival order, it may as well come later. The deferred messages then
#   go in a transaction of their own that takes all their keys up front, in sorted order, waiting
#   for them. Nobody ever waits while holding a lock taken out of that order, so there is no
#   deadlock; messages deferred again and again finally run alone (the exclusive lock on
#   `_INGEST_LOCK`; every other ingest transaction holds it shared, and older versions take it
#   exclusively for every message).
#
# Keys are 64-bit hashes of a kind and a value: a collision only makes two writers take turns.


class _NeedLocks(Exception):
    """A message needs locks another transaction holds: roll it back and defer it."""


@dataclass(frozen=True, slots=True)
class _Deferred:
    """A message left for a later transaction, with every key it is known to need."""

    keys: frozenset[int]


def _key(kind: str, *parts: str | bytes | None) -> int | None:
    """The advisory lock key of one lookup key (None when a part is missing: nothing to find by)."""
    if any(not part for part in parts):
        return None
    h = hashlib.blake2b(kind.encode(), digest_size=8)
    for part in parts:
        h.update(b"\x00" + (part if isinstance(part, bytes) else str(part).encode()))
    return int.from_bytes(h.digest(), "big", signed=True)


def _order_key(ebc_code: str | None, order_no: str | None) -> int | None:
    return _key("order", ebc_code, order_no)  # a list, and its cancellations and returns


def _list_keys(pre_no: str | None, invt_no: str | None, cop_no: str | None, ebc_code: str | None) -> list[int | None]:
    return [_key("pre", pre_no), _key("invt", invt_no), _key("cop", ebc_code, cop_no)]


def _request_keys(pre_no: str | None, cop_no: str | None) -> list[int | None]:
    return [_key("req-pre", pre_no), _key("req-cop", cop_no)]  # a request's own numbers


def _person_key(identity_key: bytes | None) -> int | None:
    return _key("person", identity_key)


def _direct_keys(message: CebMessage, vault: Vault) -> set[int]:
    """The lock keys a message names itself."""
    keys: list[int | None] = []
    for item in message.items:
        if isinstance(item, Inventory):
            identity = vault.identity_index(item.buyer_id_type, item.buyer_id_number)
            keys += [_order_key(item.ebc_code, item.order_no), _person_key(identity)]
            keys += _list_keys(item.pre_no, item.invt_no, item.cop_no, item.ebc_code)
        elif isinstance(item, InventoryReturn):
            keys += _list_keys(item.pre_no, item.invt_no, item.cop_no, item.ebc_code)
        elif isinstance(item, ListRequest):
            keys += [_order_key(item.ebc_code, item.order_no), _key("invt", item.invt_no)]
            keys += _request_keys(item.pre_no, item.cop_no)
        elif isinstance(item, RequestReturn):
            keys += [_key("invt", item.invt_no), *_request_keys(item.pre_no, item.cop_no)]
        elif isinstance(item, TaxSlip | TaxStatus):
            keys += [_key("tax", item.tax_no), _key("invt", item.invt_no)]
    return {k for k in keys if k is not None}


_LOCK_SHARED = text("SELECT pg_advisory_xact_lock_shared(:key)")
_LOCK_ALONE = text("SELECT pg_advisory_xact_lock(:key)")
# unnest keeps the array's order: the keys are taken one after another in sorted order.
_LOCK_KEYS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")
_TRY_KEYS = text("SELECT k, pg_try_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")

TRY, WAIT, ALONE = "try", "wait", "alone"  # how a transaction takes its keys (see above)


class _Locks:
    """The advisory locks of one PostgreSQL ingest transaction (released when it ends)."""

    def __init__(self, conn: Connection) -> None:
        self.c = conn
        self.held: set[int] = set()
        self.wanted: set[int] = set()  # by the message being applied

    def start(self, key_sets: list[frozenset[int]], mode: str) -> list[bool]:
        """At the start of the transaction: the ingest lock (shared, or exclusive to run ALONE),
        then the keys of each message. TRY: without waiting, and says which messages got all
        theirs; WAIT and ALONE: all of them in sorted order, waiting for each."""
        self.c.execute(_LOCK_ALONE if mode == ALONE else _LOCK_SHARED, {"key": _INGEST_LOCK})
        keys = sorted(set().union(*key_sets))
        if not keys:
            return [True] * len(key_sets)
        if mode != TRY:
            self.c.execute(_LOCK_KEYS, {"keys": keys}).all()
            self.held.update(keys)
            return [True] * len(key_sets)
        got: dict[int, bool] = {k: ok for k, ok in self.c.execute(_TRY_KEYS, {"keys": keys})}
        self.held.update(k for k, ok in got.items() if ok)
        return [all(got[k] for k in ks) for ks in key_sets]

    def need(self, *keys: int | None) -> None:
        """Hold these keys from now on, or give up on the message (`_NeedLocks`) if another
        transaction holds one of them: never wait here."""
        wanted = {k for k in keys if k is not None}
        self.wanted |= wanted
        missing = wanted - self.held
        if not missing:
            return
        got: dict[int, bool] = {k: ok for k, ok in self.c.execute(_TRY_KEYS, {"keys": sorted(missing)})}
        self.held.update(k for k, ok in got.items() if ok)
        if not all(got.values()):
            raise _NeedLocks


@dataclass(frozen=True)
class IngestResult:
    status: str
    reason: str | None = None
    msg_type: str | None = None
    notifications: int = 0
    quarantined: Path | None = None


@dataclass
class IngestStats:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0

    def add(self, result: IngestResult) -> None:
        setattr(self, result.status, getattr(self, result.status) + 1)

    def line(self) -> str:
        return f"accepted={self.accepted} duplicate={self.duplicate} rejected={self.rejected}"


class Ingestor:
    """Ingests CEB messages, many to a transaction (group commit).

    `ingest_many` parses its messages, then applies them in one write transaction with a SAVEPOINT
    around each: a message that is refused, or whose apply fails, is rolled back to its savepoint
    (it changes nothing) and quarantined; the others commit together. A result is final only once
    the batch committed, and only then is it handed back, so whoever reports it (the CLI, the
    operator API) reports what is durable. `ingest` is a batch of one.
    """

    def __init__(
        self, db: Database, vault: Vault, quarantine: Quarantine, *, max_bytes: int, batch_size: int | None = None
    ) -> None:
        self.db = db
        self.vault = vault
        self.quarantine = quarantine
        self.max_bytes = max_bytes
        self.batch_size = batch_size or (BATCH_SIZE if db.is_sqlite else PG_BATCH_SIZE)

    async def ingest(self, data: bytes, *, source: str = "file", name: str = "-") -> IngestResult:
        (result,) = await self.ingest_many([(data, name)], source=source)
        return result

    async def ingest_many(self, items: Sequence[tuple[bytes, str]], *, source: str = "file") -> list[IngestResult]:
        """Ingest (data, name) pairs, `batch_size` to a transaction; results in the same order."""
        prepared = [Incoming(data, name, prepare(data, self.max_bytes)) for data, name in items]
        return await self.commit(prepared, source=source)

    async def commit(self, items: Sequence[Incoming], *, source: str = "file") -> list[IngestResult]:
        """Apply prepared messages (`prepare`), `batch_size` to a transaction; results in order."""
        results: list[IngestResult] = []
        for start in range(0, len(items), self.batch_size):
            results.extend(await self._commit_batch(items[start : start + self.batch_size], source))
        return results

    async def _commit_batch(self, items: Sequence[Incoming], source: str) -> list[IngestResult]:
        todo = [(i, item.prepared) for i, item in enumerate(items) if isinstance(item.prepared, Parsed)]
        outcomes: dict[int, IngestResult | str] = {}
        if todo:
            outcomes = dict(zip((i for i, _ in todo), await self._write([p for _, p in todo], source), strict=True))
        results = []
        for i, item in enumerate(items):
            prepared = item.prepared
            outcome = outcomes.get(i) if isinstance(prepared, Parsed) else prepared.reason
            if isinstance(outcome, str):  # refused: quarantined with its reason
                results.append(self._reject(item.data, outcome, item.name))
            else:
                assert outcome is not None
                results.append(outcome)
        return results

    async def _write(self, batch: list[Parsed], source: str) -> list[IngestResult | str]:
        """The batch's write transaction. Per message: a result, or a refusal reason.

        On PostgreSQL a message that needs locks another transaction holds is deferred to a
        follow-up transaction that waits for them (see the locking notes above); a transaction
        that loses a deadlock or a serialization conflict is run again."""
        outcomes: list[IngestResult | str | None] = [None] * len(batch)
        todo = list(range(len(batch)))
        keys = [frozenset(_direct_keys(p.message, self.vault)) if not self.db.is_sqlite else frozenset() for p in batch]
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            mode = TRY if attempt == 1 else ALONE if attempt == _MAX_ATTEMPTS else WAIT
            apply = partial(self._apply_batch, [batch[i] for i in todo], [keys[i] for i in todo], mode, source)
            try:
                done = await self.db.run_write(apply)
            except DBAPIError as exc:
                if attempt < _MAX_ATTEMPTS and _retryable(exc):
                    log.info("ingest transaction lost a deadlock or serialization conflict; again")
                    continue
                log.warning("ingest of %d messages failed on the database: %s", len(todo), type(exc.orig).__name__)
                done = [_UNAVAILABLE] * len(todo)
            except Exception as exc:  # not any message's fault (they are guarded one by one)
                if is_unavailable(exc):  # e.g. refused while connecting, before SQLAlchemy wraps it
                    log.warning("ingest of %d messages: database unavailable (%s)", len(todo), type(exc).__name__)
                else:
                    log.error("ingest of %d messages failed: %s", len(todo), type(exc).__name__, exc_info=True)
                done = [_UNAVAILABLE] * len(todo)
            deferred = []
            for i, outcome in zip(todo, done, strict=True):
                if isinstance(outcome, _Deferred):
                    keys[i] = outcome.keys
                    deferred.append(i)
                else:
                    outcomes[i] = outcome
            if not deferred:
                break
            log.debug("ingest: %d of %d messages deferred (locked by another transaction)", len(deferred), len(todo))
            todo = deferred
        assert all(o is not None for o in outcomes), "the transaction that runs alone takes every lock"
        return outcomes  # type: ignore[return-value]

    def _apply_batch(
        self, batch: list[Parsed], keys: list[frozenset[int]], mode: str, source: str, session: Session
    ) -> list[IngestResult | str | _Deferred]:
        """One write transaction of a batch (synchronous; `Database.run_write` commits it)."""
        conn = session.connection()
        locks = None
        got = [True] * len(batch)
        if conn.dialect.name == "postgresql":
            locks = _Locks(conn)
            got = locks.start(keys, mode)
        applier = _Applier(conn, self.vault, locks)
        return [
            self._apply_one(applier, parsed, source, ks) if ok else _Deferred(ks)
            for parsed, ks, ok in zip(batch, keys, got, strict=True)
        ]

    def _apply_one(
        self, applier: _Applier, parsed: Parsed, source: str, keys: frozenset[int]
    ) -> IngestResult | str | _Deferred:
        """One message inside its savepoint: released when it applied, rolled back when it did not."""
        message = parsed.message
        conn = applier.c
        conn.exec_driver_sql(_SAVEPOINT)
        applier.start()
        try:
            # The duplicate check is the insert itself: a message whose type + root guid or content
            # hash is stored already (unique columns; in this batch too) inserts nothing, and then
            # nothing else is written.
            if not _LOG_MESSAGE.run(
                conn, guid=message.guid, sha256=parsed.digest, msg_type=message.msg_type, source=source
            ):
                outcome: IngestResult | str | _Deferred = _result(DUPLICATE, message.msg_type, 0)
            else:
                applier.apply(message)
                outcome = _result(ACCEPTED, message.msg_type, applier.notified)
        except _NeedLocks:
            # Another transaction holds records this message reaches: later, with those keys first.
            _rollback_to_savepoint(conn)
            assert applier.locks is not None
            return _Deferred(keys | applier.locks.wanted)
        except ApplyRejected as exc:
            _rollback_to_savepoint(conn)
            return exc.reason
        except IntegrityError:
            # A unique constraint refused a row this message carries: stored by a concurrent writer
            # (or by an earlier message of this batch). A duplicate, or a conflict.
            _rollback_to_savepoint(conn)
            if _seen(applier.conn, message.msg_type, message.guid, parsed.digest):
                return IngestResult(DUPLICATE, msg_type=message.msg_type)
            return f"{message.msg_type}: conflicts with stored records"
        except DBAPIError as exc:
            if _retryable(exc):
                raise  # a deadlock or serialization conflict: the whole transaction again
            # Not the message's fault as far as we can tell: nothing of it is written, and it is not
            # quarantined (it can simply be ingested again). If even the savepoint cannot be rolled
            # back, the transaction is lost: the batch fails as a whole.
            _rollback_to_savepoint(conn)
            log.warning("ingest of a %s failed on the database: %s", message.msg_type, type(exc.orig).__name__)
            return _UNAVAILABLE
        except Exception as exc:
            # Any other failure while applying: nothing of the message persists (its savepoint is
            # rolled back); it is quarantined, like every rejected one, so that it is not lost and
            # can be replayed, and the batch goes on with the next message.
            _rollback_to_savepoint(conn)
            log.error("ingest of a %s failed: %s", message.msg_type, type(exc).__name__, exc_info=True)
            return f"{message.msg_type}: internal error ({type(exc).__name__}), nothing written"
        conn.exec_driver_sql(_RELEASE)
        return outcome

    def _reject(self, data: bytes, reason: str, name: str) -> IngestResult:
        path = self.quarantine.put(data, reason, name)
        log.info("rejected %s: %s", name, reason)
        return IngestResult(REJECTED, reason=reason, quarantined=path)


@cache
def _result(status: str, msg_type: str, notifications: int) -> IngestResult:
    """An accepted or duplicate message's result (immutable: one object per kind is enough)."""
    return IngestResult(status, msg_type=msg_type, notifications=notifications)


# Not the message's fault (a locked or unreachable database): nothing was written, nothing is
# quarantined, the input stays where it is and can simply be ingested again.
_UNAVAILABLE = IngestResult(REJECTED, reason="database unavailable, nothing written; retry")
_SAVEPOINT = "SAVEPOINT swbot_message"
_RELEASE = "RELEASE SAVEPOINT swbot_message"
_ROLLBACK = "ROLLBACK TO SAVEPOINT swbot_message"
# SQLSTATE of the conflicts a retry resolves: serialization_failure, deadlock_detected.
_RETRYABLE = frozenset({"40001", "40P01"})


def _rollback_to_savepoint(conn: sqlite_exec.Executor) -> None:
    conn.exec_driver_sql(_ROLLBACK)
    conn.exec_driver_sql(_RELEASE)


def _retryable(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE


def _seen(conn: Connection, msg_type: str, guid: str, digest: bytes) -> bool:
    same_id = and_(IngestedMessage.msg_type == msg_type, IngestedMessage.guid == guid)
    stmt = select(exists().where(or_(same_id, IngestedMessage.sha256 == digest)))
    return bool(conn.execute(stmt).scalar())


# -- statements ------------------------------------------------------------------------------------
#
# Plain Core on the tables, built once with named parameters: executing one then costs neither
# building the expression, nor computing its cache key (memoised on the statement object), nor
# compiling it, nor the ORM's per-statement bookkeeping. Head rows are read without their goods
# lines (which the applier replaces with DELETE + INSERT and never reads).

def _table(model: type[Any]) -> Table:
    """A model's Table (SQLAlchemy types `__table__` as the wider FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


_lists = _table(InventoryRow)
_list_lines = _table(InventoryLine)
_receipts = _table(Receipt)
_slips = _table(TaxSlipRow)
_slip_lines = _table(TaxLine)
_events = _table(TaxStatusEvent)
_accounts = _table(Account)
_bindings = _table(Binding)


def _columns(table: Table, *names: str) -> tuple[Column[Any], ...]:
    return tuple(table.c[name] for name in names)


def _context(conn: Connection | sqlite_exec.Executor) -> Any:
    """What a column default is called with: the connection's execution options (once per
    transaction on the applier's executor)."""
    if isinstance(conn, sqlite_exec.Executor):
        return conn.default_context()
    return SimpleNamespace(execution_options=conn.get_execution_options())


@dataclass(frozen=True)
class _InsertOrSkip:
    """`INSERT … ON CONFLICT [(conflict)] DO NOTHING` of one row: nothing happens when a unique
    constraint says the row is stored already.

    Written as text, which SQLite and PostgreSQL spell the same, because SQLAlchemy 2.0 does
    not cache its dialect-specific ON CONFLICT constructs and compiles one on every execution.
    Parameters are named and typed after the columns; `run` adds the column defaults, of which
    text() knows nothing.
    """

    statement: TextClause
    defaults: dict[str, ColumnDefault]

    @classmethod
    def into(cls, table: Table, *conflict: str) -> _InsertOrSkip:
        cols = [c for c in table.columns if not c.primary_key]
        target = f" ({', '.join(conflict)})" if conflict else ""
        # Identifiers come from the models; values are bound parameters.
        names, params = ", ".join(c.name for c in cols), ", ".join(":" + c.name for c in cols)
        sql = f"INSERT INTO {table.name} ({names}) VALUES ({params}) ON CONFLICT{target} DO NOTHING"  # noqa: S608
        statement = text(sql).bindparams(*(bindparam(c.name, type_=c.type) for c in cols))
        return cls(statement, {c.name: c.default for c in cols if isinstance(c.default, ColumnDefault)})

    def run(self, conn: Connection | sqlite_exec.Executor, **values: Any) -> bool:
        """Whether the row was inserted."""
        # A callable default gets what an execution context would give it: the engine's options
        # (the clock for `created_at`).
        for name, default in self.defaults.items():
            if name not in values:
                values[name] = default.arg(_context(conn)) if default.is_callable else default.arg
        return bool(conn.execute(self.statement, values).rowcount)


class _InsertRow:
    """A plain INSERT of one row with every column: the column defaults filled in as an execution
    context would (the clock for `created_at`). `run` returns the row's values with its new id."""

    def __init__(self, table: Table) -> None:
        self.statement = insert(table)
        self.columns = [c for c in table.columns if not c.primary_key]
        self.defaults = {c.name: c.default for c in self.columns if isinstance(c.default, ColumnDefault)}

    def run(self, conn: Connection | sqlite_exec.Executor, **values: Any) -> dict[str, Any]:
        context = _context(conn)
        for c in self.columns:
            if c.name not in values:
                default = self.defaults.get(c.name)
                if default is None:
                    values[c.name] = None
                else:
                    values[c.name] = default.arg(context) if default.is_callable else default.arg
        values["id"] = conn.execute(self.statement, values).inserted_primary_key[0]  # type: ignore[index]
        return values


_requests = _table(ListRequestRow)
_request_lines = _table(ListRequestLine)
_request_receipts = _table(RequestReceipt)

_INSERT_HEAD = {table.name: _InsertRow(table) for table in (_lists, _slips)}
_LOG_MESSAGE = _InsertOrSkip.into(_table(IngestedMessage))  # unique type + root guid, unique content hash
_ADD_RECEIPT = _InsertOrSkip.into(_receipts, "guid", "return_status", "return_time")
_ADD_REQUEST_RECEIPT = _InsertOrSkip.into(_request_receipts, "kind", "guid", "return_status", "return_time")
_ADD_STATUS_EVENT = _InsertOrSkip.into(_events, "tax_no", "status", "return_time")

_LIST_BY_ORDER = select(_lists).where(
    _lists.c.ebc_code == bindparam("ebc_code"), _lists.c.order_no == bindparam("order_no")
)
# What receipts change of a list, and what linking and the quota need to know of it.
_LIST_STATE = _columns(
    _lists, "id", "guid", "order_no", "ebc_code", "cop_no", "pre_no", "invt_no", "identity_key", "decl_year",
    "app_type", "draft", "total_value", "cancelled", "status", "status_time", "status_info", "status_group",
    "counted", "cancel_state", "cancel_time", "cancel_info", "refund_state", "refund_time", "refund_info",
    "returned_value", "returned_items",
)
# The lists a receipt names (with their owner's binding, for the quota notifications). A number the
# receipt lacks is passed as NULL, which equals nothing. Never by guid: a receipt's guid is E-port's
# own ("电子口岸生成"), and the customs' own samples give lists and receipts one and the same.
_LISTS_OF_RECEIPT = outbox.with_recipient(select(*_LIST_STATE), _lists.c.identity_key).where(
    or_(
        _lists.c.pre_no == bindparam("pre_no"),
        _lists.c.invt_no == bindparam("invt_no"),
        and_(_lists.c.cop_no == bindparam("cop_no"), _lists.c.ebc_code == bindparam("ebc_code")),
    )
).limit(2)  # one is the answer, two are a rejection (so no order is needed)
_LIST_LINK = outbox.with_recipient(
    select(_lists.c.id, _lists.c.identity_key, _lists.c.order_no), _lists.c.identity_key
).where(_lists.c.invt_no == bindparam("invt_no"))
_DELETE_LIST_LINES = delete(_list_lines).where(_list_lines.c.inventory_id == bindparam("inventory_id"))
_ADD_LIST_LINES = insert(_list_lines)

_RECEIPT_STATUS = _columns(_receipts, "id", "pre_no", "invt_no", "return_status", "return_time", "return_info")
_RECEIPTS_OF_LIST = (
    select(*_RECEIPT_STATUS).where(_receipts.c.inventory_id == bindparam("inventory_id")).order_by(_receipts.c.id)
)
# Link the unlinked receipts that name a list (same NULL convention); returns them. One search per
# number, each on its partial index (only unlinked receipts are indexed by number): as a single OR,
# SQLite would read every unlinked receipt through the `inventory_id` index instead.
def _unlinked(*named_by: ColumnElement[bool]) -> Select[Any]:
    return select(_receipts.c.id).where(_receipts.c.inventory_id.is_(None), *named_by)


_ATTACH_RECEIPTS = (
    update(_receipts)
    .where(
        _receipts.c.id.in_(
            union_all(  # (an UPDATE's parameters may not be named like its table's columns)
                _unlinked(_receipts.c.pre_no == bindparam("b_pre_no")),
                _unlinked(_receipts.c.invt_no == bindparam("b_invt_no")),
                _unlinked(_receipts.c.cop_no == bindparam("b_cop_no"), _receipts.c.ebc_code == bindparam("b_ebc_code")),
            )
        )
    )
    .values(inventory_id=bindparam("b_list_id"))
    .returning(*_RECEIPT_STATUS)
)
_RECEIPT_STORED = select(
    exists().where(
        _receipts.c.guid == bindparam("guid"),
        _receipts.c.return_status == bindparam("return_status"),
        _receipts.c.return_time == bindparam("return_time"),
    )
)
_STORED_RECEIPT = select(*_columns(_receipts, "pre_no", "invt_no", "cop_no", "ebc_code", "return_info")).where(
    _receipts.c.guid == bindparam("guid"),
    _receipts.c.return_status == bindparam("return_status"),
    _receipts.c.return_time == bindparam("return_time"),
)

# -- cancellations and returns
_REQUEST_BY_KEY = select(_requests).where(
    _requests.c.kind == bindparam("kind"),
    _requests.c.ebc_code == bindparam("ebc_code"),
    _requests.c.order_no == bindparam("order_no"),
    _requests.c.doc_no == bindparam("doc_no"),
)
_DELETE_REQUEST_LINES = delete(_request_lines).where(_request_lines.c.request_id == bindparam("request_id"))
_ADD_REQUEST_LINES = insert(_request_lines)
# The requests that name a list (a number the list lacks is passed as NULL, which equals nothing).
_REQUESTS_OF_LIST = select(
    *_columns(_requests, "id", "kind", "ebc_code", "cop_no", "pre_no", "app_type", "app_status", "app_time", "guid")
).where(
    or_(
        _requests.c.invt_no == bindparam("invt_no"),
        and_(_requests.c.ebc_code == bindparam("ebc_code"), _requests.c.order_no == bindparam("order_no")),
    )
)
_REQUEST_LINES = select(_request_lines.c.request_id, _request_lines.c.gnum, _request_lines.c.qty).where(
    _request_lines.c.request_id.in_(bindparam("ids", expanding=True))
)
_REQUEST_RECEIPT_COLUMNS = _columns(
    _request_receipts, "kind", "guid", "ebc_code", "cop_no", "pre_no", "invt_no", "return_status", "return_time",
    "return_info",
)
# The common case (no request names the list by its own numbers): receipts that name its invtNo.
_REQUEST_RECEIPTS_OF_LIST = select(*_REQUEST_RECEIPT_COLUMNS).where(_request_receipts.c.invt_no == bindparam("invt_no"))
_STORED_REQUEST_RECEIPT = select(
    *_columns(_request_receipts, "pre_no", "invt_no", "cop_no", "ebc_code", "return_info")
).where(
    _request_receipts.c.kind == bindparam("kind"),
    _request_receipts.c.guid == bindparam("guid"),
    _request_receipts.c.return_status == bindparam("return_status"),
    _request_receipts.c.return_time == bindparam("return_time"),
)
# The requests a receipt may name, by preNo or copNo (`_named_by` then checks the ebcCode).
# One search per number (as one OR, SQLite reads every request of the kind instead); a request
# found by both comes twice, which the caller's set absorbs.
_REQUESTS_OF_RECEIPT = union_all(
    *(
        select(*_columns(_requests, "ebc_code", "order_no", "invt_no", "pre_no", "cop_no")).where(
            _requests.c.kind == bindparam("kind"), number == bindparam(number.key)
        )
        for number in (_requests.c.pre_no, _requests.c.cop_no)
    )
)
_LISTS_OF_REQUEST = outbox.with_recipient(select(*_LIST_STATE), _lists.c.identity_key).where(
    or_(
        _lists.c.invt_no == bindparam("invt_no"),
        and_(_lists.c.ebc_code == bindparam("ebc_code"), _lists.c.order_no == bindparam("order_no")),
    )
)
_LINES_OF_LIST = select(
    _list_lines.c.id, _list_lines.c.gnum, _list_lines.c.qty, _list_lines.c.total_price, _list_lines.c.returned_qty
).where(_list_lines.c.inventory_id == bindparam("inventory_id"))
_SET_RETURNED_QTY = (
    update(_list_lines).where(_list_lines.c.id == bindparam("b_id")).values(returned_qty=bindparam("b_qty"))
)

_SLIP_BY_NO = select(_slips).where(_slips.c.tax_no == bindparam("tax_no"))
# What a status event changes of a slip, and what its notification needs.
_SLIP_STATUS_BY_NO = outbox.with_recipient(
    select(*_columns(_slips, "id", "tax_no", "invt_no", "identity_key", "status", "status_time", "ent_duty_no")),
    _slips.c.identity_key,
).where(_slips.c.tax_no == bindparam("tax_no"))
_SLIPS_OF_LIST = (
    select(*_columns(_slips, "id", "tax_no", "inventory_id", "identity_key", "order_no"))
    .where(_slips.c.invt_no == bindparam("invt_no"))
    .order_by(_slips.c.id)
)
_DELETE_SLIP_LINES = delete(_slip_lines).where(_slip_lines.c.tax_slip_id == bindparam("tax_slip_id"))
_ADD_SLIP_LINES = insert(_slip_lines)
_STATUS_EVENTS = (
    select(_events.c.status, _events.c.return_time, _events.c.ent_duty_no)
    .where(_events.c.tax_no == bindparam("tax_no"))
    .order_by(_events.c.id)
)

# A list counts with its dutiable value less what approved returns took back (the difference of
# two Dec5 columns is computed on their scaled integers, so it is read back as Dec5 too).
_COUNTED_VALUE = type_coerce(_lists.c.total_value - _lists.c.returned_value, Dec5())
_QUOTA_CONSUMED = select(func.coalesce(func.sum(_COUNTED_VALUE), 0)).where(
    _lists.c.identity_key == bindparam("identity_key"),
    _lists.c.decl_year == bindparam("year"),
    _lists.c.counted.is_(True),
)
_OTHER_LISTS = (_lists.c.identity_key == bindparam("identity_key"), _lists.c.id != bindparam("list_id"))
_SUSPICIOUS_FACTS = select(
    select(_accounts.c.phone_key)
    .join(_bindings, _bindings.c.account_pk == _accounts.c.id)
    .where(_bindings.c.id == bindparam("binding_id"))
    .scalar_subquery(),
    exists().where(*_OTHER_LISTS, _lists.c.ebp_code == bindparam("ebp_code")),  # used this platform before
    exists().where(*_OTHER_LISTS),  # has any history
)

# Built once: on SQLite they run straight on the driver (storage.sqlite_exec). Not _REQUEST_LINES,
# whose IN list expands per call.
sqlite_exec.register(
    _LOG_MESSAGE.statement, _ADD_RECEIPT.statement, _ADD_REQUEST_RECEIPT.statement, _ADD_STATUS_EVENT.statement,
    *(head.statement for head in _INSERT_HEAD.values()),
    _LIST_BY_ORDER, _LISTS_OF_RECEIPT, _LIST_LINK, _DELETE_LIST_LINES, _ADD_LIST_LINES, _RECEIPTS_OF_LIST,
    _ATTACH_RECEIPTS, _RECEIPT_STORED, _STORED_RECEIPT, _REQUEST_BY_KEY, _DELETE_REQUEST_LINES, _ADD_REQUEST_LINES,
    _REQUESTS_OF_LIST, _REQUEST_RECEIPTS_OF_LIST, _STORED_REQUEST_RECEIPT, _REQUESTS_OF_RECEIPT, _LISTS_OF_REQUEST,
    _LINES_OF_LIST, _SET_RETURNED_QTY, _SLIP_BY_NO, _SLIP_STATUS_BY_NO, _SLIPS_OF_LIST, _DELETE_SLIP_LINES,
    _ADD_SLIP_LINES, _STATUS_EVENTS, _QUOTA_CONSUMED, _SUSPICIOUS_FACTS,
)  # fmt: skip


class _Stored:
    """A stored head row (list or tax slip): its columns as attributes, as read with Core or as
    just inserted (`_InsertRow`). It holds what the database holds (see `_Applier._update`)."""

    def __init__(self, row: Row[Any] | dict[str, Any]) -> None:
        self.__dict__.update(row if isinstance(row, dict) else row._asdict())

    def __getattr__(self, name: str) -> Any:  # only for what __init__ did not set: typed as columns are
        raise AttributeError(name)


_Head = Any  # a `_Stored` list or tax slip


@cache
def _update_columns(table: Table, columns: frozenset[str]) -> Update:
    """UPDATE of these columns of one row by id (built once per table and set of columns)."""
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}", type_=table.c[name].type) for name in sorted(columns)})
    )
    sqlite_exec.register(stmt)
    return stmt


def _tax_status_of(events: Sequence[Row[Any]]) -> dict[str, Any]:
    """A tax slip's status columns from all its status events: the newest (returnTime, status)
    wins, and the payment note number comes from the newest event that carried one."""
    latest = max(events, key=lambda e: (e.return_time, e.status))
    derived = {"status": latest.status, "status_time": latest.return_time}
    with_note = [e for e in events if e.ent_duty_no]
    if with_note:
        derived["ent_duty_no"] = max(with_note, key=lambda e: e.return_time).ent_duty_no
    return derived


def _request_outcome(answers: Sequence[Row[Any]]) -> tuple[str, Row[Any]] | None:
    """The state the newest receipt (returnTime, then status) gives a request."""
    if not answers:
        return None
    newest = max(answers, key=lambda a: (a.return_time, a.return_status))
    if newest.return_status == _APPROVED_STATUS:
        return APPROVED, newest
    if newest.return_status == 100 or newest.return_status < 0:
        return REFUSED, newest
    return PENDING, newest


def _named_by(answer: Any, request: Row[Any]) -> bool:  # a stored answer row, or a parsed RequestReturn
    if answer.pre_no and answer.pre_no == request.pre_no:
        return True
    return bool(answer.cop_no) and answer.cop_no == request.cop_no and answer.ebc_code in (None, request.ebc_code)


_NO_STATE: tuple[str | None, Any, str | None] = (None, None, None)
# A list's receipts as `_refresh_inventory` reads them (`_RECEIPT_STATUS`), when they are known
# without reading them (`_Applier._receipt`); _NEWEST: the id of one just inserted (ids only order).
_ReceiptState = namedtuple("_ReceiptState", "id pre_no invt_no return_status return_time return_info")
_NEWEST = sys.maxsize


def _cancel_state(
    requests: Sequence[Row[Any]], answers: Sequence[Row[Any]], row: _Head
) -> tuple[str | None, Any, str | None]:
    """(state, time, note) of a list's cancellation. There is one per list, so every cancellation
    receipt that names the list or its request counts; one approving receipt is enough even if the
    CEB623 itself never reached us (the customs name the list in it)."""
    mine = [a for a in answers if (row.invt_no and a.invt_no == row.invt_no) or any(_named_by(a, r) for r in requests)]
    outcome = _request_outcome(mine)
    if outcome is None:
        if not requests:
            return _NO_STATE
        newest = max(requests, key=lambda r: r.app_time)
        return PENDING, newest.app_time, None
    state, answer = outcome
    return state, answer.return_time, answer.return_info


def _refund_state(
    requests: Sequence[Row[Any]], answers: Sequence[Row[Any]], row: _Head
) -> tuple[tuple[str | None, Any, str | None], list[int]]:
    """(state, time, note) of a list's returns, and the ids of the approved ones.

    A receipt belongs to the return it names by preNo or copNo; one that names only the list
    (invtNo) belongs to its return when the list has exactly one. The list shows the best state
    any return reached: approved, else pending, else refused."""
    by_request: dict[int, list[Row[Any]]] = {r.id: [] for r in requests}
    for answer in answers:
        named = [r for r in requests if _named_by(answer, r)]
        if not named and row.invt_no and answer.invt_no == row.invt_no and len(requests) == 1:
            named = list(requests)
        for r in named:
            by_request[r.id].append(answer)
    approved, states = [], []
    for r in requests:
        outcome = _request_outcome(by_request[r.id])
        if outcome is None:
            states.append((PENDING, r.app_time, None))
            continue
        state, answer = outcome
        states.append((state, answer.return_time, answer.return_info))
        if state == APPROVED:
            approved.append(r.id)
    if not states:
        return _NO_STATE, []
    rank = {APPROVED: 2, PENDING: 1, REFUSED: 0}
    best = max(states, key=lambda st: (rank[st[0]], st[1]))
    return best, sorted(approved)


class _Applier:
    """Applies parsed messages inside the caller's transaction, on a synchronous connection.

    Every statement is prepared Core (above), run when it is reached, so the database is always
    up to date and later reads see earlier writes. A head row (list, tax slip) is a `_Stored`:
    read with Core, or the values a Core INSERT just wrote. Every later change to a head row goes
    through `_update`: one UPDATE of just the columns whose value changes, mirrored on the object
    in hand. Goods lines are replaced with DELETE + one multi-row INSERT; receipts, status events
    and the ingest log rely on their unique constraints instead of a "was it stored before?" query
    (INSERT … ON CONFLICT DO NOTHING). Nothing goes through the ORM's unit of work, so rolling a
    message back to its savepoint leaves no object behind.

    One applier serves a whole batch; `start` readies it for the next message. On PostgreSQL
    `locks` keeps concurrent ingest transactions apart (see `_Locks`); on SQLite it is None.
    """

    def __init__(self, conn: Connection, vault: Vault, locks: _Locks | None = None) -> None:
        self.conn = conn
        # Core statements go straight to the transaction's connection (on SQLite to its driver).
        self.c = sqlite_exec.Executor(conn)
        self.vault = vault
        self.locks = locks
        self.notified = 0
        # Bindings do not change within a message: one lookup per identity and message.
        self._recipients: dict[bytes | None, outbox.Recipient | None] = {}
        # A step replaced by a coroutine function (the failure-injection tests do that with
        # `async def`) is run to completion right here, as the asynchronous applier used to.
        for name, attr in vars(type(self)).items():
            code = getattr(attr, "__code__", None)
            if code is not None and code.co_flags & inspect.CO_COROUTINE:
                setattr(self, name, _run_to_end(attr.__get__(self)))

    def start(self) -> None:
        """Forget what the previous message learnt (its notifications, the recipients it read)."""
        self.notified = 0
        self._recipients = {}
        if self.locks is not None:
            self.locks.wanted = set()

    def apply(self, message: CebMessage) -> None:
        for item in message.items:
            if isinstance(item, Inventory):
                self._inventory(item)
            elif isinstance(item, InventoryReturn):
                self._receipt(item)
            elif isinstance(item, ListRequest):
                self._request(item)
            elif isinstance(item, RequestReturn):
                self._request_receipt(item)
            elif isinstance(item, TaxSlip):
                self._tax_slip(item)
            elif isinstance(item, TaxStatus):
                self._tax_status(item)
            else:  # pragma: no cover - every parsed item type is handled above
                raise TypeError(f"no applier for {type(item).__name__}")

    def _need(self, *keys: int | None) -> None:
        if self.locks is not None:
            self.locks.need(*keys)

    def _lock_list(self, row: _Head) -> None:
        """Before a found list is changed or read on: every key it can be found by (PostgreSQL)."""
        if self.locks is not None:
            self.locks.need(
                _order_key(row.ebc_code, row.order_no), *_list_keys(row.pre_no, row.invt_no, row.cop_no, row.ebc_code)
            )

    def _update(self, row: _Head, table: Table, **values: Any) -> None:
        """Set columns of a stored head row: one UPDATE of those whose value changes, if any, and
        the same values on `row`."""
        changed = {name: value for name, value in values.items() if getattr(row, name) != value}
        if not changed:
            return
        params = {f"b_{name}": value for name, value in changed.items()}
        self.c.execute(_update_columns(table, frozenset(changed)), {"b_id": row.id, **params})
        row.__dict__.update(changed)

    def _insert_head(self, table: Table, **values: Any) -> _Stored:
        """A new head row, written now: every column (defaults filled in) and its new id."""
        return _Stored(_INSERT_HEAD[table.name].run(self.c, **values))

    def _recipient(self, identity_key: bytes | None) -> outbox.Recipient | None:
        if identity_key not in self._recipients:
            self._recipients[identity_key] = outbox.recipient_for_sync(self.c, identity_key)
        return self._recipients[identity_key]

    def _enqueue(self, recipient: outbox.Recipient | None, kind: str, event_key: str, **kw: Any) -> None:
        if outbox.enqueue_sync(self.conn, recipient, kind, event_key, **kw):
            self.notified += 1

    # -- CEB621 ----------------------------------------------------------------------------------

    def _inventory(self, inv: Inventory) -> None:
        gnums = [line.gnum for line in inv.lines]
        if len(set(gnums)) != len(gnums):
            raise ApplyRejected("CEB621: duplicate gnum in InventoryList")
        found = self.c.execute(_LIST_BY_ORDER, {"ebc_code": inv.ebc_code, "order_no": inv.order_no}).one_or_none()
        row: _Head = None if found is None else _Stored(found)
        is_new = row is None
        if row is not None:
            self._lock_list(row)  # the numbers it holds already (this message's own are held)
        # A declaration outranks a draft whatever their times (a declared list never goes back to
        # 暂存); among equals the newer appTime wins. Any order of arrival ends on the same one.
        if row is not None and (inv.declared, inv.app_time, inv.guid) <= (not row.draft, row.app_time, row.guid):
            # An older (or the same) version of a list we already hold: keep the newer one.
            return
        was_draft = row is not None and row.draft
        identity_key = self.vault.identity_index(inv.buyer_id_type, inv.buyer_id_number)
        try:
            phone_masked = mask_phone(normalize_phone(inv.buyer_telephone))
        except InvalidPhone:
            phone_masked = "-"
        goods = sum((line.total_price for line in inv.lines), Decimal(0))
        fields = {
            "guid": inv.guid,
            "app_type": inv.app_type,
            "app_time": inv.app_time,
            "order_no": inv.order_no,
            "ebp_code": inv.ebp_code,
            "ebp_name": inv.ebp_name,
            "ebc_code": inv.ebc_code,
            "ebc_name": inv.ebc_name,
            "logistics_no": inv.logistics_no,
            "logistics_code": inv.logistics_code,
            "logistics_name": inv.logistics_name,
            "cop_no": inv.cop_no,
            "decl_date": inv.decl_date,
            "decl_year": inv.decl_date.year,
            "customs_code": inv.customs_code,
            "port_code": inv.port_code,
            "trade_mode": inv.trade_mode,
            "country": inv.country,
            "currency": inv.currency,
            "freight": inv.freight,
            "insured_fee": inv.insured_fee,
            "goods_value": goods,
            "total_value": cbec.dutiable_value([goods], inv.freight, inv.insured_fee),
            "identity_key": identity_key,
            "buyer_phone_key": self.vault.phone_index(inv.buyer_telephone),
            "buyer_phone_masked": phone_masked,
            "address_key": self.vault.address_index(inv.consignee_address),
            "cancelled": inv.app_type == "3",
            "draft": not inv.declared,
        }
        old_identity = None if row is None else row.identity_key
        if row is None:
            row = self._insert_head(
                _lists, pre_no=inv.pre_no, invt_no=inv.invt_no, status=None, status_time=None, status_info=None,
                status_group=cbec.IN_PROGRESS, counted=False, **fields,
            )
        else:
            # Numbers assigned later by E-port/customs may only be known from receipts.
            pre_no, invt_no = inv.pre_no or row.pre_no, inv.invt_no or row.invt_no
            self._update(row, _lists, **fields, pre_no=pre_no, invt_no=invt_no)
            self.c.execute(_DELETE_LIST_LINES, {"inventory_id": row.id})
        if inv.lines:
            self.c.execute(
                _ADD_LIST_LINES,
                [
                    {
                        "inventory_id": row.id,
                        "gnum": line.gnum,
                        "item_no": line.item_no,
                        "gcode": line.gcode,
                        "gname": line.gname,
                        "country": line.country,
                        "currency": line.currency,
                        "qty": line.qty,
                        "unit": line.unit,
                        "price": line.price,
                        "total_price": line.total_price,
                    }
                    for line in inv.lines
                ],
            )
        attached = self._attach_receipts(row)
        # A new list has no receipts but those just attached; a known one may have older ones.
        # Its cancellation or returns may have come first too.
        self._refresh_inventory(row, attached if is_new else None, requests=True)
        self._attach_tax_slips(row)
        if inv.declared and (is_new or was_draft):  # a draft is not a declaration: no warning
            self._check_suspicious(row)
        if old_identity is not None and old_identity != identity_key:
            self._refresh_quota(old_identity, row.decl_year)

    def _attach_receipts(self, row: _Head) -> Sequence[Row[Any]]:
        """Link the unlinked receipts that name this list; returns them."""
        rows: Sequence[Row[Any]]
        rows = self.c.execute(
            _ATTACH_RECEIPTS,
            {
                "b_list_id": row.id,
                "b_pre_no": row.pre_no or None,
                "b_invt_no": row.invt_no or None,
                "b_cop_no": row.cop_no or None,
                "b_ebc_code": row.ebc_code,
            },
        ).all()
        return rows

    def _refresh_inventory(
        self, row: _Head, receipts: Sequence[Any] | None = None, *, requests: bool = False
    ) -> None:
        """Recompute the list's derived columns: its status from all its receipts (the newest
        returnTime wins) and, with `requests` (or when its list number was just learnt), its
        cancellation and returns; then the quota and the notifications that follow.

        `receipts`: all of the list's receipts when the caller already has them (else read here).
        """
        while True:
            if receipts is None:
                receipts = self.c.execute(_RECEIPTS_OF_LIST, {"inventory_id": row.id}).all()
            else:
                receipts = sorted(receipts, key=lambda r: r.id)
            pre_no, invt_no = row.pre_no, row.invt_no
            for r in receipts:
                pre_no = pre_no or r.pre_no
                invt_no = invt_no or r.invt_no
            if (pre_no, invt_no) == (row.pre_no, row.invt_no):
                break
            # A number learnt from one receipt may be the only link to another receipt that
            # arrived earlier (e.g. one naming the list by invtNo alone): attach those too.
            requests = requests or invt_no != row.invt_no
            self._need(*_list_keys(pre_no, invt_no, None, None))
            self._update(row, _lists, pre_no=pre_no, invt_no=invt_no)
            self._attach_receipts(row)
            receipts = None
        latest = max(receipts, key=lambda r: (r.return_time, r.return_status), default=None)
        was_counted = row.counted
        if requests:
            self._refresh_requests(row)
        cancelled = row.app_type == "3" or row.cancel_state == APPROVED
        returned = row.returned_value > 0 and row.returned_value >= row.total_value  # everything went back
        status = latest.return_status if latest else None
        self._update(
            row,
            _lists,
            status=status,
            status_time=latest.return_time if latest else None,
            status_info=latest.return_info if latest else None,
            cancelled=cancelled,
            status_group=cbec.status_group(status, cancelled=cancelled, returned=returned),
            counted=not row.draft and cbec.is_counted(status, cancelled=cancelled, returned=returned),
        )
        if row.counted or was_counted:
            self._refresh_quota(row.identity_key, row.decl_year)
        if not row.draft:
            # Queued from the state, not from what changed (the dedupe keys make a repeat a no-op):
            # a list declared after its receipts, or a receipt before its list, is told the same.
            self._notify_list_status(row)
            self._notify_quota_back(row)

    def _refresh_requests(self, row: _Head) -> None:
        """The list's cancellation and return state from every request and receipt that names it.

        Computed from scratch each time (never from what arrived when), so any arrival order of
        list, requests and receipts ends in the same columns.
        """
        found = self.c.execute(
            _REQUESTS_OF_LIST, {"invt_no": row.invt_no or None, "ebc_code": row.ebc_code, "order_no": row.order_no}
        ).all()
        # Drafts never reached customs; a withdrawn return (appType 3) no longer asks for anything.
        live = [r for r in found if r.app_status == "2" and r.app_type != "3"]
        pre_nos = sorted({r.pre_no for r in live if r.pre_no})
        cop_nos = sorted({r.cop_no for r in live if r.cop_no})
        if pre_nos or cop_nos:  # built here: how many numbers varies (rare: most lists have no request)
            self._need(*(key for r in live for key in _request_keys(r.pre_no, r.cop_no)))
            conds = [_request_receipts.c.invt_no == row.invt_no] if row.invt_no else []
            if pre_nos:
                conds.append(_request_receipts.c.pre_no.in_(pre_nos))
            if cop_nos:
                conds.append(_request_receipts.c.cop_no.in_(cop_nos))
            answers = self.c.execute(select(*_REQUEST_RECEIPT_COLUMNS).where(or_(*conds))).all()
        elif row.invt_no:
            answers = self.c.execute(_REQUEST_RECEIPTS_OF_LIST, {"invt_no": row.invt_no}).all()
        else:
            answers = []
        cancel = _cancel_state([r for r in live if r.kind == CANCEL], [a for a in answers if a.kind == CANCEL], row)
        refunds = [r for r in live if r.kind == REFUND]
        refund_answers = [a for a in answers if a.kind == REFUND]
        lines: dict[int, list[tuple[int, Decimal]]] = {}
        if refunds:
            for line in self.c.execute(_REQUEST_LINES, {"ids": [r.id for r in refunds]}).all():
                lines.setdefault(line.request_id, []).append((line.gnum, line.qty))
        refund, approved_ids = _refund_state(refunds, refund_answers, row)
        returned: dict[int, Decimal] = {}
        for request_id in approved_ids:
            for gnum, qty in lines.get(request_id, ()):
                returned[gnum] = returned.get(gnum, Decimal(0)) + qty
        # The goods lines matter only when something came back now or before (stored returned_qty).
        list_lines = []
        if returned or row.returned_items:
            list_lines = self.c.execute(_LINES_OF_LIST, {"inventory_id": row.id}).all()
        shares = []
        items = 0
        for line in list_lines:
            back = min(returned.get(line.gnum, Decimal(0)), line.qty)
            if back > 0:
                items += 1
            shares.append((line.total_price, line.qty, back))
            wanted = back if back > 0 else None
            if line.returned_qty != wanted:
                self.c.execute(_SET_RETURNED_QTY, {"b_id": line.id, "b_qty": wanted})
        value = cbec.returned_value(row.total_value, shares) if items else Decimal(0)
        self._update(
            row,
            _lists,
            cancel_state=cancel[0],
            cancel_time=cancel[1],
            cancel_info=cancel[2],
            refund_state=refund[0],
            refund_time=refund[1],
            refund_info=refund[2],
            returned_value=value,
            returned_items=items,
        )

    def _attach_tax_slips(self, row: _Head) -> None:
        if not row.invt_no:
            return
        for found in self.c.execute(_SLIPS_OF_LIST, {"invt_no": row.invt_no}).all():
            slip = _Stored(found)
            newly_known = slip.identity_key != row.identity_key
            order_no = slip.order_no or row.order_no
            self._update(slip, _slips, inventory_id=row.id, identity_key=row.identity_key, order_no=order_no)
            if newly_known:
                self._notify_new_tax(slip)

    # -- CEB622 ----------------------------------------------------------------------------------

    def _receipt(self, ret: InventoryReturn) -> None:
        inv = self._find_inventory(ret)
        stored = _ADD_RECEIPT.run(
            self.c, inventory_id=None if inv is None else inv.id, guid=ret.guid, pre_no=ret.pre_no,
            invt_no=ret.invt_no, ebc_code=ret.ebc_code, cop_no=ret.cop_no, return_status=ret.return_status,
            return_time=ret.return_time, return_info=ret.return_info,
        )
        if not stored:
            self._check_same_receipt(ret)
            return  # stored before (same guid, status and time)
        if inv is None:
            return  # kept until its list arrives
        had_invt_no = inv.invt_no
        receipts = None
        if self.locks is None:
            # SQLite: no other transaction writes while this one runs, so the list as read is up to
            # date, and its status columns are its newest receipt so far (every receipt linked to a
            # list goes through `_refresh_inventory`, which also learnt their numbers). That one and
            # the new one decide the status: no need to read them all again. The old newest comes
            # first (the newest of equals is the first in id order, as when all are read).
            receipts = [_ReceiptState(_NEWEST, ret.pre_no, ret.invt_no, ret.return_status, ret.return_time,
                                      ret.return_info)]  # fmt: skip
            if inv.status is not None:
                receipts.append(_ReceiptState(0, None, None, inv.status, inv.status_time, inv.status_info))
        self._refresh_inventory(inv, receipts)
        if inv.invt_no and inv.invt_no != had_invt_no:
            self._attach_tax_slips(inv)

    def _find_inventory(self, ret: InventoryReturn) -> _Stored | None:
        with_company = bool(ret.cop_no and ret.ebc_code)
        rows = self.c.execute(
            _LISTS_OF_RECEIPT,
            {
                "pre_no": ret.pre_no or None,
                "invt_no": ret.invt_no or None,
                "cop_no": ret.cop_no if with_company else None,
                "ebc_code": ret.ebc_code if with_company else None,
            },
        ).all()
        if len(rows) > 1:
            if self._receipt_stored(ret):
                return None  # a copy of a stored receipt changes nothing, ambiguous or not
            raise ApplyRejected("CEB622: receipt matches more than one list")
        if not rows:
            return None
        self._recipients[rows[0].identity_key] = outbox.recipient_of(rows[0])
        row = _Stored(rows[0])
        self._lock_list(row)
        return row

    def _check_same_receipt(self, ret: InventoryReturn) -> None:
        """A receipt whose guid, status and time are stored already must be that receipt: a
        different one under the same keys is refused, never dropped silently."""
        params = {"guid": ret.guid, "return_status": ret.return_status, "return_time": ret.return_time}
        stored = self.c.execute(_STORED_RECEIPT, params).one_or_none()
        if stored is not None and tuple(stored) != (ret.pre_no, ret.invt_no, ret.cop_no, ret.ebc_code, ret.return_info):
            raise ApplyRejected("CEB622: another receipt with the same guid, status and time is stored")

    # -- CEB623 / CEB625 and their receipts CEB624 / CEB626 ----------------------------------------

    def _request(self, req: ListRequest) -> None:
        msg = "CEB623" if req.kind == CANCEL else "CEB625"
        doc_no = (req.cop_no or "") if req.kind == REFUND else ""
        key = {"kind": req.kind, "ebc_code": req.ebc_code, "order_no": req.order_no, "doc_no": doc_no}
        found = self.c.execute(_REQUEST_BY_KEY, key).one_or_none()
        rank = (req.declared, req.app_time, req.guid)
        if found is not None and rank <= (found.app_status == "2", found.app_time, found.guid):
            return  # an older (or the same) version of a request we hold
        values = {
            "guid": req.guid, "invt_no": req.invt_no, "cop_no": req.cop_no, "pre_no": req.pre_no,
            "app_type": req.app_type, "app_status": req.app_status, "app_time": req.app_time, "reason": req.reason,
        }  # fmt: skip
        if found is None:
            request_id = self.c.execute(insert(_requests).values(**key, **values)).inserted_primary_key[0]
        else:
            # What it named before is looked up by the numbers it held, and changes with it.
            self._need(_key("invt", found.invt_no), *_request_keys(found.pre_no, found.cop_no))
            request_id = found.id
            self.c.execute(update(_requests).where(_requests.c.id == request_id).values(**values))
            self.c.execute(_DELETE_REQUEST_LINES, {"request_id": request_id})
            if found.invt_no and found.invt_no != req.invt_no:
                self._refresh_lists_named(found.invt_no, req.ebc_code, req.order_no)  # the list it named before
        if req.lines:
            gnums = [line.gnum for line in req.lines]
            if len(set(gnums)) != len(gnums):
                raise ApplyRejected(f"{msg}: the same gnum twice in InvtRefundList")
            self.c.execute(
                _ADD_REQUEST_LINES, [{"request_id": request_id, "gnum": ln.gnum, "qty": ln.qty} for ln in req.lines]
            )
        self._refresh_lists_named(req.invt_no, req.ebc_code, req.order_no)

    def _request_receipt(self, ret: RequestReturn) -> None:
        stored = _ADD_REQUEST_RECEIPT.run(
            self.c, kind=ret.kind, guid=ret.guid, ebc_code=ret.ebc_code, cop_no=ret.cop_no, pre_no=ret.pre_no,
            invt_no=ret.invt_no, return_status=ret.return_status, return_time=ret.return_time,
            return_info=ret.return_info,
        )
        if not stored:
            params = {"kind": ret.kind, "guid": ret.guid, "return_status": ret.return_status,
                      "return_time": ret.return_time}  # fmt: skip
            same = self.c.execute(_STORED_REQUEST_RECEIPT, params).one_or_none()
            if same is not None and tuple(same) != (ret.pre_no, ret.invt_no, ret.cop_no, ret.ebc_code, ret.return_info):
                msg = "CEB624" if ret.kind == CANCEL else "CEB626"
                raise ApplyRejected(f"{msg}: another receipt with the same guid, status and time is stored")
            return
        named = {(None, None, ret.invt_no)} if ret.invt_no else set()
        if ret.pre_no or ret.cop_no:
            params = {"kind": ret.kind, "pre_no": ret.pre_no, "cop_no": ret.cop_no}
            named |= {
                (r.ebc_code, r.order_no, r.invt_no)
                for r in self.c.execute(_REQUESTS_OF_RECEIPT, params)
                if _named_by(ret, r)
            }
        for ebc_code, order_no, invt_no in sorted(named, key=lambda n: tuple(x or "" for x in n)):
            self._refresh_lists_named(invt_no, ebc_code, order_no)

    def _refresh_lists_named(self, invt_no: str | None, ebc_code: str | None, order_no: str | None) -> None:
        self._need(_key("invt", invt_no), _order_key(ebc_code, order_no))
        rows = self.c.execute(
            _LISTS_OF_REQUEST, {"invt_no": invt_no or None, "ebc_code": ebc_code, "order_no": order_no}
        ).all()
        for found in rows:
            self._recipients[found.identity_key] = outbox.recipient_of(found)
            row = _Stored(found)
            self._lock_list(row)
            self._refresh_inventory(row, requests=True)

    def _receipt_stored(self, ret: InventoryReturn) -> bool:
        params = {"guid": ret.guid, "return_status": ret.return_status, "return_time": ret.return_time}
        return bool(self.c.execute(_RECEIPT_STORED, params).scalar_one())

    # -- CEB816 / CEB818 -------------------------------------------------------------------------

    def _tax_slip(self, tax: TaxSlip) -> None:
        gnums = [line.gnum for line in tax.lines]
        if len(set(gnums)) != len(gnums):
            raise ApplyRejected("CEB816: duplicate gnum in TaxListRd")
        self._add_status_event(tax.tax_no, tax.invt_no, tax.status, tax.ent_duty_no, tax.return_time, "CEB816")
        found = self.c.execute(_SLIP_BY_NO, {"tax_no": tax.tax_no}).one_or_none()
        slip: _Head = None if found is None else _Stored(found)
        if slip is not None and slip.invt_no != tax.invt_no:
            raise ApplyRejected("CEB816: taxNo already belongs to another list")
        if slip is not None and (tax.return_time, tax.guid) <= (slip.return_time, slip.guid):
            self._refresh_tax_status(slip)
            return
        values = {
            "guid": tax.guid,
            "invt_no": tax.invt_no,
            "return_time": tax.return_time,
            "customs_tax": tax.customs_tax,
            "value_added_tax": tax.value_added_tax,
            "consumption_tax": tax.consumption_tax,
            "total_tax": tax.customs_tax + tax.value_added_tax + tax.consumption_tax,
            "note": tax.note,
            "logistics_no": tax.logistics_no,
            "customs_code": tax.customs_code,
            "ebc_code": tax.ebc_code,
        }
        if slip is None:
            values.update(
                tax_no=tax.tax_no, status=tax.status, status_time=tax.return_time, order_no=tax.order_no,
                ent_duty_no=tax.ent_duty_no,
            )
        else:
            values["order_no"] = tax.order_no or slip.order_no
        inv = self.c.execute(_LIST_LINK, {"invt_no": tax.invt_no}).one_or_none()
        if inv is not None:
            self._recipients[inv.identity_key] = outbox.recipient_of(inv)
            values.update(
                inventory_id=inv.id, identity_key=inv.identity_key, order_no=values["order_no"] or inv.order_no
            )
        values.update(_tax_status_of(self._status_events(tax.tax_no)))
        if slip is None:
            # A new slip is written once, with its link and status.
            slip = self._insert_head(_slips, **values)
            self._notify_new_tax(slip)
        else:
            before = slip.status
            self._update(slip, _slips, **values)
            self._notify_tax_status(slip, before)
            self.c.execute(_DELETE_SLIP_LINES, {"tax_slip_id": slip.id})
        if tax.lines:
            self.c.execute(
                _ADD_SLIP_LINES,
                [
                    {
                        "tax_slip_id": slip.id,
                        "gnum": tl.gnum,
                        "gcode": tl.gcode,
                        "tax_price": tl.tax_price,
                        "customs_tax": tl.customs_tax,
                        "value_added_tax": tl.value_added_tax,
                        "consumption_tax": tl.consumption_tax,
                    }
                    for tl in tax.lines
                ],
            )

    def _tax_status(self, st: TaxStatus) -> None:
        self._add_status_event(st.tax_no, st.invt_no, st.status, st.ent_duty_no, st.return_time, "CEB818")
        found = self.c.execute(_SLIP_STATUS_BY_NO, {"tax_no": st.tax_no}).one_or_none()
        if found is not None:
            self._recipients[found.identity_key] = outbox.recipient_of(found)
            slip = _Stored(found)
            if slip.invt_no != st.invt_no:
                raise ApplyRejected("CEB818: taxNo belongs to another list")
            self._refresh_tax_status(slip, notify=True)

    def _add_status_event(
        self, tax_no: str, invt_no: str, status: int, ent_duty_no: str | None, at: object, source: str
    ) -> None:
        # One event per (taxNo, status, time): a copy of a stored one inserts nothing.
        _ADD_STATUS_EVENT.run(
            self.c, tax_no=tax_no, invt_no=invt_no, status=status, ent_duty_no=ent_duty_no, return_time=at,
            source=source,
        )

    def _status_events(self, tax_no: str) -> Sequence[Row[Any]]:
        rows: Sequence[Row[Any]] = self.c.execute(_STATUS_EVENTS, {"tax_no": tax_no}).all()
        return rows

    def _refresh_tax_status(self, slip: _Head, *, notify: bool = False) -> None:
        before = slip.status
        self._update(slip, _slips, **_tax_status_of(self._status_events(slip.tax_no)))
        if notify:
            self._notify_tax_status(slip, before)

    def _notify_tax_status(self, slip: _Head, before: int) -> None:
        if slip.status != before and slip.status in (cbec.TAX_SUMMARISED, cbec.TAX_VOID):
            self._enqueue(
                self._recipient(slip.identity_key), NoticeKind.TAX_STATUS, f"taxstatus:{slip.tax_no}:{slip.status}",
                ref_id=slip.id, payload={"status": slip.status},
            )

    def _notify_new_tax(self, slip: _Head) -> None:
        self._enqueue(self._recipient(slip.identity_key), NoticeKind.TAX_NEW, f"tax:{slip.tax_no}", ref_id=slip.id)

    # -- derived notifications -------------------------------------------------------------------

    def _refresh_quota(self, identity_key: bytes, year: int) -> None:
        limit = cbec.annual_limit(year)
        if limit is None:
            return
        recipient = self._recipient(identity_key)
        if recipient is None:
            return
        self._need(_person_key(identity_key))  # the person's lists: written by others too
        consumed = self.c.execute(_QUOTA_CONSUMED, {"identity_key": identity_key, "year": year}).scalar_one()
        consumed = Decimal(consumed)  # SUM and COALESCE keep the Dec5 type: already in yuan
        for pct in QUOTA_THRESHOLDS:
            if consumed * 100 >= limit * pct:
                payload = {"year": year, "threshold": pct}
                self._enqueue(recipient, NoticeKind.QUOTA, f"quota:{year}:{pct}", payload=payload)

    def _notify_list_status(self, row: _Head) -> None:
        """A receipt that asks the buyer to act, else "released" or "refused / shipped back".

        One notice per event, whatever the burst: the action by its receipt, the status pushes by
        list and outcome (800 then 899 is one "released"). The notifier renders them from the
        list as it is at send time and drops what a newer receipt has overtaken.
        """
        recipient = self._recipient(row.identity_key)
        if recipient is None:
            return
        action = receipt_rules.action_needed(row.status, row.status_info)
        if action is not None:
            kind = _ACTION_KINDS[action.kind]
            if recipient.settings.get(kind):
                at = f"{row.status_time:%Y%m%d%H%M%S%f}"
                self._enqueue(recipient, kind, f"action:{row.id}:{action.kind}:{at}", ref_id=row.id,
                              payload={"status": row.status, "at": at})  # fmt: skip
                return  # it says everything the status push would
        if row.status in (800, 899):
            outcome = "released"
        elif row.status in (100, 700):
            outcome = "refused"
        else:
            return
        self._enqueue(recipient, NoticeKind.LIST_STATUS, f"status:{row.id}:{outcome}", ref_id=row.id,
                      payload={"outcome": outcome})  # fmt: skip

    def _notify_quota_back(self, row: _Head) -> None:
        """A cancellation or return gave quota back: the list reached customs (its status would
        count it) and now counts for less. Checked on every refresh, so any arrival order of the
        list, its receipts, the request and its receipt tells the person once."""
        if not cbec.is_counted(row.status):
            return
        if row.cancelled:
            cause = "cancel"
        elif row.returned_value > 0:
            cause = "refund"
        else:
            return
        self._enqueue(
            self._recipient(row.identity_key), NoticeKind.QUOTA_BACK, f"quotaback:{row.id}:{cause}", ref_id=row.id,
            payload={"year": row.decl_year, "cause": cause},
        )

    def _check_suspicious(self, row: _Head) -> None:
        recipient = self._recipient(row.identity_key)
        if recipient is None:
            return
        self._need(_person_key(row.identity_key))
        phone_key, used_before, has_history = self.c.execute(
            _SUSPICIOUS_FACTS,
            {
                "binding_id": recipient.binding_id,
                "identity_key": row.identity_key,
                "list_id": row.id,
                "ebp_code": row.ebp_code,
            },
        ).one()
        reasons = []
        if phone_key != row.buyer_phone_key:
            reasons.append("phone")
        if has_history and not used_before:
            reasons.append("platform")
        if reasons:
            self._enqueue(
                recipient, NoticeKind.SUSPICIOUS, f"suspicious:{row.id}", ref_id=row.id, payload={"reasons": reasons}
            )


def _run_to_end(step: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """A coroutine function as a plain one; it must finish without suspending (nothing here has
    an event loop to wait on)."""

    @wraps(step)
    def run(*args: Any, **kwargs: Any) -> Any:
        coro = step(*args, **kwargs).__await__()
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value
        coro.close()
        raise RuntimeError(f"{step.__name__} suspended; ingest steps must not wait")

    return run


def iter_paths(paths: Sequence[str]) -> list[Path]:
    """Files named, and `*.xml` under directories (recursively), in sorted path order."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*.xml") if q.is_file()))
        else:
            found.append(p)
    return found
