"""Telegram users, bindings and the in-chat binding flow.

One Telegram user holds at most one identity and one identity at most one Telegram user (both
enforced by unique constraints); a new verified binding moves it and reports the chat it left.
The in-chat flow's progress lives in `tg_users`, so a restart mid-flow resumes and several
instances agree. Failures are counted per Telegram user: 5 in 24 hours lock the flow 24 hours.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.domain import languages
from bot.domain.identity import InvalidIdNumber, InvalidPhone, check_id_number, normalize_phone
from bot.domain.records import NOTIFY_KINDS, Holder
from storage.db import affected, clock_of
from storage.models import Account, BindFailure, Binding, Inventory, Outbox, TgUser
from storage.outbox import KIND_SETTING
from storage.vault import Vault, VaultError

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(hours=24)
LOCK_DURATION = timedelta(hours=24)
FLOW_TTL = timedelta(minutes=15)
_TAG_ALPHABET = string.ascii_letters + string.digits

STEP_NAME = "name"
STEP_ID = "id"
STEP_PHONE = "phone"


def new_tag() -> str:
    return "".join(secrets.choice(_TAG_ALPHABET) for _ in range(6))


@dataclass(frozen=True)
class BindResult:
    binding: Binding
    moved_from_chat: int | None  # the chat that held this identity before, now told it moved


async def get_user(session: AsyncSession, tg_id: int) -> TgUser | None:
    return await session.get(TgUser, tg_id)


async def ensure_user(session: AsyncSession, tg_id: int) -> TgUser:
    user = await session.get(TgUser, tg_id)
    if user is None:
        user = TgUser(telegram_user_id=tg_id)
        session.add(user)
        await session.flush()
    return user


async def binding_of(session: AsyncSession, tg_id: int) -> Binding | None:
    return (await session.execute(select(Binding).where(Binding.telegram_user_id == tg_id))).scalar_one_or_none()


# Built once: every update runs it, and SQLAlchemy keeps a statement's cache key on the statement
# object, so a prebuilt one skips both building the query and computing its key (≈ a quarter of
# this read's CPU on PostgreSQL).
_USER_AND_BINDING = (
    select(TgUser, Binding)
    .outerjoin(Binding, Binding.telegram_user_id == TgUser.telegram_user_id)
    .where(TgUser.telegram_user_id == bindparam("tg_id"))
)


def user_and_binding_sync(session: Session, tg_id: int) -> tuple[TgUser | None, Binding | None]:
    """The Telegram user and their binding (with its account) in one statement: every update
    needs both, and a tap should cost as few database round trips as possible."""
    row = session.execute(_USER_AND_BINDING, {"tg_id": tg_id}).first()
    return (None, None) if row is None else (row[0], row[1])


async def user_and_binding(session: AsyncSession, tg_id: int) -> tuple[TgUser | None, Binding | None]:
    return await session.run_sync(user_and_binding_sync, tg_id)


async def binding_by_id(session: AsyncSession, binding_id: int) -> Binding | None:
    return await session.get(Binding, binding_id)


def holder_of(vault: Vault, account: Account) -> Holder:
    """Who a binding belongs to, masked for display (plaintext never leaves this function)."""
    return Holder.of(
        vault.decrypt(account.name_enc, "accounts.name"), vault.decrypt(account.id_number_enc, "accounts.id_number")
    )


async def bind(session: AsyncSession, tg_id: int, chat_id: int, account_pk: int, method: str) -> BindResult:
    """Bind (or re-bind) this Telegram user to the account; a previous holder loses it."""
    await ensure_user(session, tg_id)
    previous = (
        await session.execute(select(Binding).where(Binding.account_pk == account_pk))
    ).scalar_one_or_none()
    moved_from = None
    if previous is not None and previous.telegram_user_id != tg_id:
        moved_from = previous.chat_id
    # Whatever this user or this identity held before goes, with its pending notifications
    # (cascade), and the new binding gets a fresh tag so every older button expires.
    await session.execute(
        delete(Binding).where((Binding.telegram_user_id == tg_id) | (Binding.account_pk == account_pk))
    )
    await session.flush()
    binding = Binding(
        telegram_user_id=tg_id, account_pk=account_pk, chat_id=chat_id, tag=new_tag(), method=method, active=True
    )
    session.add(binding)
    await clear_flow(session, tg_id)
    await session.flush()
    await session.refresh(binding, ["account"])
    return BindResult(binding, moved_from)


async def unbind(session: AsyncSession, tg_id: int) -> bool:
    """Delete the binding, its settings and its notifications; True when there was one."""
    binding = await binding_of(session, tg_id)
    if binding is None:
        return False
    await session.execute(delete(Outbox).where(Outbox.binding_id == binding.id))
    await session.delete(binding)
    user = await session.get(TgUser, tg_id)
    if user is not None:
        user.search_term = None
        user.awaiting = None
    await session.flush()
    return True


async def set_language(session: AsyncSession, tg_id: int, lang: str) -> None:
    user = await ensure_user(session, tg_id)
    user.language = lang


async def set_seen_language(session: AsyncSession, tg_id: int, lang: str) -> None:
    user = await ensure_user(session, tg_id)
    user.seen_language = lang


def notice_language(user: TgUser | None) -> str:
    """Language for messages outside a conversation: the choice, else what they bound in."""
    if user is None:
        return languages.DEFAULT
    return user.language or user.seen_language or languages.DEFAULT


async def set_notify(session: AsyncSession, binding: Binding, kind: str, on: bool) -> None:
    setattr(binding, KIND_SETTING[kind], on)
    await session.flush()


def enabled_kinds(binding: Binding) -> frozenset[str]:
    """The Settings switches that are on (outbox kinds that share a switch are not listed)."""
    return frozenset(kind for kind in NOTIFY_KINDS if getattr(binding, KIND_SETTING[kind]))


async def set_active(session: AsyncSession, tg_id: int, active: bool) -> bool:
    """Mark a binding (in)active when the user blocks/unblocks the bot; True when one changed."""
    result = await session.execute(
        update(Binding).where(Binding.telegram_user_id == tg_id, Binding.active.is_(not active)).values(active=active)
    )
    return bool(affected(result))


# -- in-chat binding flow -----------------------------------------------------------------------------------


async def locked_until(session: AsyncSession, tg_id: int) -> datetime | None:
    user = await session.get(TgUser, tg_id)
    if user is not None and user.bind_locked_until is not None and user.bind_locked_until > clock_of(session).now():
        return user.bind_locked_until
    return None


async def start_flow(session: AsyncSession, tg_id: int) -> None:
    user = await ensure_user(session, tg_id)
    user.bind_step = STEP_NAME
    user.bind_name_enc = None
    user.bind_identity_key = None
    user.bind_expires_at = clock_of(session).now() + FLOW_TTL
    user.awaiting = None


async def clear_flow(session: AsyncSession, tg_id: int) -> None:
    user = await session.get(TgUser, tg_id)
    if user is not None:
        user.bind_step = None
        user.bind_name_enc = None
        user.bind_identity_key = None
        user.bind_expires_at = None


def flow_step(user: TgUser | None, now: datetime) -> str | None:
    """The step the user is at, or None (no flow, or it expired)."""
    if user is None or user.bind_step is None:
        return None
    if user.bind_expires_at is None or user.bind_expires_at < now:
        return None
    return user.bind_step


# `awaiting` after a typed input was answered: the encoded state of the screen it led to.
SHOWN_PREFIX = "shown:"


def input_seen(user: TgUser | None, message_id: int) -> bool:
    """Whether a typed step already consumed this message: Telegram delivering it again because
    its answer was lost (message ids only grow within a private chat)."""
    return user is not None and user.input_message_id is not None and message_id <= user.input_message_id


def input_took(user: TgUser, message_id: int, *, shown: str | None = None) -> None:
    """A typed step consumes this message (in the step's transaction). `shown`: the encoded state
    of the screen it leads to (`callbacks.encode`), shown again if the message comes again."""
    user.input_message_id = message_id
    if shown is not None:
        user.awaiting = SHOWN_PREFIX + shown


def input_replay(user: TgUser | None, message_id: int) -> str | None:
    """The encoded state of the screen this message already led to, when it is a typed input
    delivered again; None otherwise."""
    if user is None or user.awaiting is None or not user.awaiting.startswith(SHOWN_PREFIX):
        return None
    return user.awaiting[len(SHOWN_PREFIX) :] if input_seen(user, message_id) else None


def normalize_name(name: str) -> str:
    return " ".join(name.split())


async def flow_name(session: AsyncSession, vault: Vault, user: TgUser, name: str) -> None:
    user.bind_name_enc = vault.encrypt(normalize_name(name), "flow.name")
    user.bind_step = STEP_ID
    user.bind_expires_at = clock_of(session).now() + FLOW_TTL


async def flow_id_number(session: AsyncSession, vault: Vault, user: TgUser, raw: str) -> bool:
    """Record the typed ID number (only its blind index); False when it is not a valid number."""
    try:
        number = check_id_number(raw, clock_of(session).today())
        key = vault.identity_index("1", number)
    except InvalidIdNumber:
        return False
    user.bind_identity_key = key
    user.bind_step = STEP_PHONE
    user.bind_expires_at = clock_of(session).now() + FLOW_TTL
    return True


async def flow_match(session: AsyncSession, vault: Vault, user: TgUser, phone: str) -> int | None:
    """The account whose name, ID number and phone all match what the user gave, or None."""
    if user.bind_identity_key is None or user.bind_name_enc is None:
        return None
    account = (
        await session.execute(select(Account).where(Account.identity_key == user.bind_identity_key))
    ).scalar_one_or_none()
    if account is None:
        return None
    try:
        typed_name = vault.decrypt(user.bind_name_enc, "flow.name")
        account_name = normalize_name(vault.decrypt(account.name_enc, "accounts.name"))
        phone_key = vault.phone_index(normalize_phone(phone))
    except (VaultError, InvalidPhone):
        return None
    if typed_name != account_name or phone_key != account.phone_key:
        return None
    return account.id


async def record_failure(session: AsyncSession, tg_id: int) -> tuple[datetime | None, int]:
    """Count a failed attempt: (the lock end if this failure locks the flow, attempts left)."""
    now = clock_of(session).now()
    session.add(BindFailure(telegram_user_id=tg_id, at=now))
    await session.flush()
    recent = (
        await session.execute(
            select(func.count()).where(BindFailure.telegram_user_id == tg_id, BindFailure.at > now - FAILURE_WINDOW)
        )
    ).scalar_one()
    await clear_flow(session, tg_id)
    if recent >= MAX_FAILURES:
        user = await ensure_user(session, tg_id)
        user.bind_locked_until = now + LOCK_DURATION
        await session.execute(delete(BindFailure).where(BindFailure.telegram_user_id == tg_id))
        return user.bind_locked_until, 0
    return None, MAX_FAILURES - recent


# -- disputes -------------------------------------------------------------------------------------------------


async def mark_list(session: AsyncSession, identity_key: bytes, list_id: int, *, disputed: bool) -> Inventory | None:
    """Record the person's answer to "was this you?" on their own list (None if not theirs)."""
    inv = (
        await session.execute(
            select(Inventory).where(
                Inventory.id == list_id, Inventory.identity_key == identity_key, Inventory.draft.is_(False)
            )
        )
    ).scalar_one_or_none()
    if inv is None:
        return None
    now = clock_of(session).now()
    if disputed:
        inv.disputed_at = now
        inv.confirmed_at = None
    else:
        inv.confirmed_at = now
        inv.disputed_at = None
    await session.flush()
    return inv
