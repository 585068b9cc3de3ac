"""The notification outbox: rows written in the same transaction as the records that cause them.

Each kind can be switched off per binding (Settings); an inactive binding gets nothing.
Writers call `enqueue` inside their own transaction (`enqueue_sync` and `recipient_for_sync` on a
synchronous session or connection, as the ingest applier runs); the notifier (bot.notifier) claims
due rows with a lease (`claim_due`) and finishes each one (`mark_sent`, `reschedule`, `mark_failed`,
`mark_blocked`, `cancel`, `release`). SQL dialect differences stay in this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Insert, Row, Select, and_, bindparam, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.domain.notices import SWITCH_OF, NoticeKind
from storage import sqlite_exec
from storage.db import affected, clock_of
from storage.models import Account, Binding, Outbox, TgUser

# Each switch's column on the binding (bot.domain.notices says which kinds a switch covers).
SWITCH_COLUMN: dict[NoticeKind, str] = {
    NoticeKind.LIST_STATUS: "notify_list_status",
    NoticeKind.VERIFY: "notify_verify",
    NoticeKind.OVER_LIMIT: "notify_over_limit",
    NoticeKind.MISMATCH: "notify_mismatch",
    NoticeKind.TAX_NEW: "notify_tax",
    NoticeKind.TAX_STATUS: "notify_status",
    NoticeKind.QUOTA: "notify_quota",
    NoticeKind.SUSPICIOUS: "notify_suspicious",
}
# Outbox kind → the binding's column that switches it.
KIND_SETTING: dict[str, str] = {kind: SWITCH_COLUMN[switch.kind] for kind, switch in SWITCH_OF.items()}
KINDS = tuple(KIND_SETTING)
_SETTING_COLUMNS = tuple(dict.fromkeys(KIND_SETTING.values()))


@dataclass(frozen=True)
class Recipient:
    binding_id: int
    settings: dict[str, bool]


# Built once, on the tables (a statement built per call, or run through the ORM, costs more than
# the query itself; ingest asks this for nearly every message).
_bindings, _accounts = Binding.__table__, Account.__table__
_RECIPIENT = (
    select(_bindings.c.id, *(_bindings.c[col] for col in _SETTING_COLUMNS))
    .join(_accounts, _bindings.c.account_pk == _accounts.c.id)
    .where(_accounts.c.identity_key == bindparam("identity_key"), _bindings.c.active.is_(True))
)
sqlite_exec.register(_RECIPIENT)  # ingest looks recipients up on SQLite's driver directly


def with_recipient(stmt: Select[Any], identity_key: ColumnElement[Any]) -> Select[Any]:
    """`stmt` plus the active binding of the person `identity_key` names, LEFT OUTER JOINed (a row
    without one stays): read it back with `recipient_of(row)`. Saves a `recipient_for` query."""
    return (
        stmt.add_columns(
            _bindings.c.id.label("recipient_id"),
            *(_bindings.c[col].label(f"recipient_{col}") for col in _SETTING_COLUMNS),
        )
        .outerjoin(_accounts, _accounts.c.identity_key == identity_key)
        .outerjoin(_bindings, and_(_bindings.c.account_pk == _accounts.c.id, _bindings.c.active.is_(True)))
    )


def recipient_of(row: Row[Any]) -> Recipient | None:
    """The recipient in a row of a `with_recipient` statement (what `recipient_for` would say)."""
    if row.recipient_id is None:  # no binding: the common case, without building the mapping
        return None
    values = row._mapping
    return Recipient(values["recipient_id"], {k: bool(values[f"recipient_{col}"]) for k, col in KIND_SETTING.items()})


def _recipient(row: Row[tuple[Any, ...]] | None) -> Recipient | None:
    if row is None:
        return None
    binding_id, *flags = row
    switches = dict(zip(_SETTING_COLUMNS, flags, strict=True))
    return Recipient(binding_id, {k: bool(switches[col]) for k, col in KIND_SETTING.items()})


async def recipient_for(session: AsyncSession, identity_key: bytes | None) -> Recipient | None:
    """The active binding of the person with this identity, if any."""
    if identity_key is None:
        return None
    return _recipient((await session.execute(_RECIPIENT, {"identity_key": identity_key})).one_or_none())


def recipient_for_sync(
    session: Session | Connection | sqlite_exec.Executor, identity_key: bytes | None
) -> Recipient | None:
    """`recipient_for` on a synchronous session or connection (the ingest applier runs on one)."""
    if identity_key is None:
        return None
    return _recipient(session.execute(_RECIPIENT, {"identity_key": identity_key}).one_or_none())


def _enqueue_statement(
    dialect: str,
    recipient: Recipient | None,
    kind: str,
    event_key: str,
    ref_id: int | None,
    payload: dict[str, Any] | None,
) -> Insert | None:
    if recipient is None or not recipient.settings.get(kind, False):
        return None
    values = {
        "dedupe_key": f"{event_key}:{recipient.binding_id}",
        "binding_id": recipient.binding_id,
        "kind": kind,
        "ref_id": ref_id,
        "payload": payload or {},
        "status": "pending",
        "attempts": 0,
    }
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(Outbox).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])


async def enqueue(
    session: AsyncSession,
    recipient: Recipient | None,
    kind: str,
    event_key: str,
    *,
    ref_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Queue one notification unless the kind is switched off or it was queued before.

    The unique `dedupe_key` (event + binding) makes this idempotent across re-ingests, crashes
    and concurrent writers. Returns whether a row was inserted.
    """
    stmt = _enqueue_statement(session.bind.dialect.name, recipient, kind, event_key, ref_id, payload)
    if stmt is None:
        return False
    result = await session.execute(stmt)
    return bool(affected(result))


def enqueue_sync(
    session: Session | Connection,
    recipient: Recipient | None,
    kind: str,
    event_key: str,
    *,
    ref_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """`enqueue` on a synchronous session or connection (the ingest applier runs on one)."""
    dialect = session.dialect if isinstance(session, Connection) else session.get_bind().dialect
    stmt = _enqueue_statement(dialect.name, recipient, kind, event_key, ref_id, payload)
    if stmt is None:
        return False
    return bool(affected(session.execute(stmt)))


# -- delivery: claiming and finishing --------------------------------------------------------------
#
# A row moves pending → sending (claimed with a lease) → sent | failed | blocked | cancelled, or back
# to pending (rescheduled, released). Every finishing call only touches a row this worker still
# holds (status sending, lease_owner = worker), so a worker whose lease expired and was taken over
# cannot overwrite the new owner's outcome. Times are naive China time like every other column,
# computed here rather than by the database so SQLite and PostgreSQL agree.

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
BLOCKED = "blocked"  # Telegram answered 403: the user blocked the bot
CANCELLED = "cancelled"
STATUSES = (PENDING, SENDING, SENT, FAILED, BLOCKED, CANCELLED)
ERROR_LEN = 200  # outbox.last_error is String(200)


def _due(now: datetime) -> ColumnElement[bool]:
    """Claimable: pending and due, or claimed by someone whose lease has run out (a crash)."""
    return or_(
        and_(Outbox.status == PENDING, Outbox.next_attempt_at <= now),
        and_(Outbox.status == SENDING, Outbox.lease_until < now),
    )


def _held(outbox_id: int, worker_id: str | None) -> ColumnElement[bool]:
    cond = and_(Outbox.id == outbox_id, Outbox.status == SENDING)
    return cond if worker_id is None else and_(cond, Outbox.lease_owner == worker_id)


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:ERROR_LEN]


async def claim_due(
    session: AsyncSession, worker_id: str, limit: int, lease_seconds: float, *, now: datetime | None = None
) -> list[Outbox]:
    """Claim up to `limit` due rows of active bindings for `worker_id`, leased for `lease_seconds`.

    Rows of an inactive binding (the user blocked the bot) are left pending, so they go out when
    the user comes back. Taking over an expired lease counts as an attempt (its outcome is
    unknown: the message may or may not have gone out), so a row that keeps killing its worker
    ends up failed instead of looping forever. Commit promptly: the claim is what other workers see.

    PostgreSQL: the candidates are locked with FOR UPDATE SKIP LOCKED, so concurrent workers pick
    disjoint rows without waiting for each other. SQLite: write transactions already run one at a
    time (BEGIN IMMEDIATE); the UPDATE repeats the due condition as a compare-and-set anyway.
    """
    now = now or clock_of(session).now()
    pick = (
        select(Outbox.id)
        .join(Binding, Binding.id == Outbox.binding_id)
        .where(_due(now), Binding.active.is_(True))
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(limit)
    )
    if session.bind.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True, of=Outbox)
    ids = list((await session.execute(pick)).scalars())
    if not ids:
        return []
    stmt = (
        update(Outbox)
        .where(Outbox.id.in_(ids), _due(now))
        .values(
            status=SENDING,
            lease_owner=worker_id,
            lease_until=now + timedelta(seconds=lease_seconds),
            # SET expressions see the old row: a taken-over lease is one more attempt.
            attempts=Outbox.attempts + case((Outbox.status == SENDING, 1), else_=0),
        )
        .returning(Outbox)
    )
    result = await session.execute(stmt, execution_options={"synchronize_session": False, "populate_existing": True})
    return sorted(result.scalars().all(), key=lambda r: (r.next_attempt_at, r.id))


async def mark_sent(
    session: AsyncSession,
    outbox_id: int,
    worker_id: str | None,
    tg_message_id: int | None,
    *,
    now: datetime | None = None,
) -> bool:
    """Telegram accepted the message. False when this worker no longer holds the row."""
    result = await session.execute(
        update(Outbox)
        .where(_held(outbox_id, worker_id))
        .values(
            status=SENT,
            sent_at=now or clock_of(session).now(),
            tg_message_id=tg_message_id,
            attempts=Outbox.attempts + 1,
            lease_owner=None,
            lease_until=None,
            last_error=None,
        )
    )
    return bool(affected(result))


async def mark_sent_many(
    session: AsyncSession, worker_id: str, sent: list[tuple[int, int | None]], *, now: datetime | None = None
) -> int:
    """`mark_sent` for many rows in one statement: (outbox id, Telegram message id) pairs.
    Returns how many this worker still held (and so were marked)."""
    if not sent:
        return 0
    message_ids = {outbox_id: tg_id for outbox_id, tg_id in sent}
    result = await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(list(message_ids)), Outbox.status == SENDING, Outbox.lease_owner == worker_id)
        .values(
            status=SENT,
            sent_at=now or clock_of(session).now(),
            attempts=Outbox.attempts + 1,
            tg_message_id=case(message_ids, value=Outbox.id),
            lease_owner=None,
            lease_until=None,
            last_error=None,
        ),
        execution_options={"synchronize_session": False},
    )
    return affected(result)


async def reschedule(
    session: AsyncSession,
    outbox_id: int,
    worker_id: str | None,
    at: datetime,
    error: str | None,
    count_attempt: bool,
) -> bool:
    """Back to pending, due at `at`. `count_attempt=False` for waits that are not failures (flood
    control, per-chat spacing, shutdown); `error=None` keeps the previous error text."""
    values: dict[str, Any] = {"status": PENDING, "next_attempt_at": at, "lease_owner": None, "lease_until": None}
    if count_attempt:
        values["attempts"] = Outbox.attempts + 1
    if error is not None:
        values["last_error"] = _clip(error)
    result = await session.execute(update(Outbox).where(_held(outbox_id, worker_id)).values(**values))
    return bool(affected(result))


async def release(session: AsyncSession, outbox_ids: list[int], worker_id: str) -> int:
    """Hand claimed rows back untouched (shutdown before they were sent): due again at once."""
    if not outbox_ids:
        return 0
    result = await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(outbox_ids), Outbox.status == SENDING, Outbox.lease_owner == worker_id)
        .values(status=PENDING, lease_owner=None, lease_until=None)
    )
    return affected(result)


async def mark_failed(
    session: AsyncSession, outbox_id: int, worker_id: str | None, reason: str, *, status: str = FAILED
) -> bool:
    """Give up on the row (permanent error, or retries exhausted), keeping why."""
    if status not in (FAILED, BLOCKED):
        raise ValueError(f"not a failure status: {status}")
    result = await session.execute(
        update(Outbox)
        .where(_held(outbox_id, worker_id))
        .values(
            status=status, last_error=_clip(reason), attempts=Outbox.attempts + 1, lease_owner=None, lease_until=None
        )
    )
    return bool(affected(result))


async def mark_blocked(session: AsyncSession, outbox_id: int, worker_id: str | None, reason: str) -> bool:
    """Telegram said 403 (the user blocked the bot): the row is parked as blocked and the binding
    goes inactive, so nothing more is claimed for it until the user unblocks (`requeue_blocked`)."""
    row = (await session.execute(select(Outbox.binding_id).where(Outbox.id == outbox_id))).scalar_one_or_none()
    if row is not None:
        await session.execute(update(Binding).where(Binding.id == row).values(active=False))
    return await mark_failed(session, outbox_id, worker_id, reason, status=BLOCKED)


async def cancel(session: AsyncSession, outbox_id: int, worker_id: str | None, reason: str | None = None) -> bool:
    """Not to be sent at all (binding gone, kind switched off, record gone or superseded)."""
    result = await session.execute(
        update(Outbox)
        .where(_held(outbox_id, worker_id))
        .values(status=CANCELLED, last_error=_clip(reason), lease_owner=None, lease_until=None)
    )
    return bool(affected(result))


async def requeue_blocked(session: AsyncSession, telegram_user_id: int) -> int:
    """The user unblocked the bot: what bounced with 403 is due again (rows still pending never
    stopped being pending; they are claimed again now that the binding is active)."""
    binding_ids = select(Binding.id).where(Binding.telegram_user_id == telegram_user_id).scalar_subquery()
    result = await session.execute(
        update(Outbox)
        .where(Outbox.binding_id.in_(binding_ids), Outbox.status == BLOCKED)
        .values(status=PENDING, next_attempt_at=clock_of(session).now(), lease_owner=None, lease_until=None)
    )
    return affected(result)


# -- what the notifier reads -------------------------------------------------------------------------


async def recipients(session: AsyncSession, binding_ids: set[int]) -> dict[int, Binding]:
    """The bindings the rows go to, by id (a deleted one is simply absent)."""
    if not binding_ids:
        return {}
    rows = await session.execute(select(Binding).where(Binding.id.in_(binding_ids)))
    return {b.id: b for b in rows.scalars()}


async def notice_languages(session: AsyncSession, telegram_user_ids: list[int]) -> dict[int, str | None]:
    """Each user's language for notices: their choice, else the one they bound in (or None)."""
    if not telegram_user_ids:
        return {}
    stmt = select(TgUser.telegram_user_id, func.coalesce(TgUser.language, TgUser.seen_language)).where(
        TgUser.telegram_user_id.in_(telegram_user_ids)
    )
    return dict((await session.execute(stmt)).tuples().all())
