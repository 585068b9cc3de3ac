"""The notification outbox: rows written in the same transaction as the records that cause them.

Each kind can be switched off per binding (Settings); an inactive binding gets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.records import NOTIFY_QUOTA, NOTIFY_SUSPICIOUS, NOTIFY_TAX_NEW, NOTIFY_TAX_STATUS
from storage.models import Account, Binding, Outbox

NEW_TAX = NOTIFY_TAX_NEW
TAX_STATUS = NOTIFY_TAX_STATUS
QUOTA = NOTIFY_QUOTA
SUSPICIOUS = NOTIFY_SUSPICIOUS

KIND_SETTING = {
    NEW_TAX: "notify_tax",
    TAX_STATUS: "notify_status",
    QUOTA: "notify_quota",
    SUSPICIOUS: "notify_suspicious",
}
KINDS = tuple(KIND_SETTING)


@dataclass(frozen=True)
class Recipient:
    binding_id: int
    settings: dict[str, bool]


async def recipient_for(session: AsyncSession, identity_key: bytes | None) -> Recipient | None:
    """The active binding of the person with this identity, if any."""
    if identity_key is None:
        return None
    row = (
        await session.execute(
            select(Binding)
            .join(Account, Binding.account_pk == Account.id)
            .where(Account.identity_key == identity_key, Binding.active.is_(True))
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    return Recipient(row.id, {k: bool(getattr(row, col)) for k, col in KIND_SETTING.items()})


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
    if recipient is None or not recipient.settings.get(kind, False):
        return False
    values = {
        "dedupe_key": f"{event_key}:{recipient.binding_id}",
        "binding_id": recipient.binding_id,
        "kind": kind,
        "ref_id": ref_id,
        "payload": payload or {},
        "status": "pending",
        "attempts": 0,
    }
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Outbox).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    result = await session.execute(stmt)
    return bool(result.rowcount)
