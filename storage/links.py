"""One-time binding deep-link tokens: ≥128 bits from `secrets`, stored only as a keyed hash,
single use, expiring."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import clock_of
from storage.models import Account, LinkToken
from storage.vault import Vault

DEFAULT_TTL_MINUTES = 15
TOKEN_BYTES = 24  # 192 bits → 32 URL-safe characters, within the 64-character deep-link limit


class UnknownAccount(LookupError):
    pass


@dataclass(frozen=True)
class Redemption:
    """Outcome of redeeming a token: `account_pk` when valid, else why not."""

    account_pk: int | None
    problem: str | None  # "unknown", "expired", "used"
    # A used token: (its account, who used it), so the same person's second use (a re-delivered
    # update, the link tapped twice) can be told from someone else's.
    spent: tuple[int, int | None] | None = field(default=None, compare=False)


async def issue_token(
    session: AsyncSession, vault: Vault, account_id: str, ttl_minutes: int = DEFAULT_TTL_MINUTES
) -> str:
    account_pk = (
        await session.execute(select(Account.id).where(Account.account_id == account_id))
    ).scalar_one_or_none()
    if account_pk is None:
        raise UnknownAccount(account_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = clock_of(session).now()
    # A new link voids the account's older unused ones: only the latest is valid.
    await session.execute(
        update(LinkToken)
        .where(LinkToken.account_pk == account_pk, LinkToken.used_at.is_(None))
        .values(expires_at=now)
    )
    session.add(
        LinkToken(
            token_hash=vault.token_hash(token),
            account_pk=account_pk,
            created_at=now,
            expires_at=now + timedelta(minutes=ttl_minutes),
        )
    )
    await session.flush()
    return token


async def redeem_token(session: AsyncSession, vault: Vault, token: str, telegram_user_id: int) -> Redemption:
    """Mark the token used by this user, race-safely (one conditional UPDATE)."""
    digest = vault.token_hash(token)
    now = clock_of(session).now()
    result = await session.execute(
        update(LinkToken)
        .where(LinkToken.token_hash == digest, LinkToken.used_at.is_(None), LinkToken.expires_at > now)
        .values(used_at=now, used_by=telegram_user_id)
        .returning(LinkToken.account_pk)
    )
    account_pk = result.scalar_one_or_none()
    if account_pk is not None:
        return Redemption(account_pk, None)
    row = (await session.execute(select(LinkToken).where(LinkToken.token_hash == digest))).scalar_one_or_none()
    if row is None:
        return Redemption(None, "unknown")
    if row.used_at is not None:
        return Redemption(None, "used", (row.account_pk, row.used_by))
    return Redemption(None, "expired")
