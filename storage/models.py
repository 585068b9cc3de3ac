"""SQLAlchemy 2 models.

Personal data (names, ID numbers, phones) exists only as AES-GCM ciphertext (`*_enc`) and keyed
blind indexes (`*_key`); records reach a person through `identity_key`, the blind index of
ID type + ID number, whichever of account or record arrives first. Derived columns (a list's
current status, a tax slip's status) are recomputed from the stored events on every ingest, so
the final state does not depend on arrival order.

Over 400 lines: one declarative module for the whole schema, as Alembic's autogenerate and the
migration-vs-model test read it; splitting the tables apart would hide their foreign keys.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

_SCALE = Decimal(100000)


def _clock_now(context: Any) -> datetime:
    """Column default: "now" from the clock the Database put in its engines' execution options."""
    return context.execution_options["clock"].now()  # type: ignore[no-any-return]


class Dec5(TypeDecorator[Decimal]):
    """Exact decimal(19,5) on every backend: an integer count of 1e-5 units.

    SQLite has no exact decimal type (Numeric round-trips through float), and sums of money
    must be exact to the fen, so amounts and quantities are stored scaled.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> int | None:
        if value is None:
            return None
        scaled = Decimal(value) * _SCALE
        if scaled != scaled.to_integral_value():
            raise ValueError("more than 5 decimal places")
        return int(scaled)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value) / _SCALE


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Key = LargeBinary(32)


def _where(condition: str) -> dict[str, Any]:
    """A partial index's condition, on both dialects."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# -- registry and Telegram side --------------------------------------------------------------------


class Account(Base):
    """A Single Window real-name personal account (the registry bindings are checked against)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), unique=True)
    id_type: Mapped[str] = mapped_column(String(1))
    identity_key: Mapped[bytes] = mapped_column(Key, unique=True)
    phone_key: Mapped[bytes] = mapped_column(Key)
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now, onupdate=_clock_now)


class TgUser(Base):
    """A Telegram user who talked to the bot: language choice and in-chat binding progress."""

    __tablename__ = "tg_users"

    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    language: Mapped[str | None] = mapped_column(String(8))  # an explicit choice (Settings)
    # The language the person's Telegram showed when they last bound: for messages sent outside a
    # conversation (notifications), which carry no language_code. Never overrides `language`.
    seen_language: Mapped[str | None] = mapped_column(String(8))
    # In-chat binding flow, kept here (not in process memory) so a restart resumes it and
    # several instances behind one webhook agree.
    bind_step: Mapped[str | None] = mapped_column(String(8))
    bind_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    bind_identity_key: Mapped[bytes | None] = mapped_column(Key)
    bind_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    bind_locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    # The newest message a typed step consumed (a binding step, a calculator amount, a searched
    # number): the same message delivered again (its answer was lost) is answered with where it
    # led, not read as new input. Message ids only grow within a private chat.
    input_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # The clearance "find by number" term: too long for callback data, so buttons carry a
    # fingerprint and the term lives here.
    search_term: Mapped[str | None] = mapped_column(String(64))
    awaiting: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)


class BindFailure(Base):
    __tablename__ = "bind_failures"
    __table_args__ = (Index(None, "telegram_user_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)


class Binding(Base):
    """One Telegram user ↔ one identity. `tag` is random per binding and travels in every
    button, so buttons from before an unbind or re-bind are recognised as expired."""

    __tablename__ = "bindings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(
        ForeignKey("tg_users.telegram_user_id", ondelete="CASCADE"), unique=True
    )
    account_pk: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    tag: Mapped[str] = mapped_column(String(8), unique=True)
    method: Mapped[str] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_tax: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_status: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_quota: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_suspicious: Mapped[bool] = mapped_column(Boolean, default=True)
    # Receipts that ask the buyer to act, and released / refused pushes (migration 0003).
    notify_verify: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_over_limit: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_mismatch: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_list_status: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)

    account: Mapped[Account] = relationship(lazy="joined")


class LinkToken(Base):
    """A one-time deep-link token; only its keyed hash is stored."""

    __tablename__ = "link_tokens"

    token_hash: Mapped[bytes] = mapped_column(Key, primary_key=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_by: Mapped[int | None] = mapped_column(BigInteger)


# -- customs records -------------------------------------------------------------------------------


class Inventory(Base):
    """A clearance list (CEB621 申报清单), keyed by e-commerce company + order number."""

    __tablename__ = "inventories"
    __table_args__ = (
        UniqueConstraint("ebc_code", "order_no"),
        Index("ix_inventories_identity_time", "identity_key", "app_time"),
        Index("ix_inventories_identity_group_time", "identity_key", "status_group", "app_time"),
        Index("ix_inventories_identity_year", "identity_key", "decl_year", "counted"),
        Index("ix_inventories_ebc_cop", "ebc_code", "cop_no"),  # receipts that name a list by copNo
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(36), index=True)
    app_type: Mapped[str] = mapped_column(String(1))
    app_time: Mapped[datetime] = mapped_column(DateTime)  # 入库时间
    order_no: Mapped[str] = mapped_column(String(60))
    ebp_code: Mapped[str] = mapped_column(String(18))
    ebp_name: Mapped[str] = mapped_column(String(100))
    ebc_code: Mapped[str] = mapped_column(String(18))
    ebc_name: Mapped[str] = mapped_column(String(100))
    logistics_no: Mapped[str] = mapped_column(String(60))
    logistics_code: Mapped[str] = mapped_column(String(18))
    logistics_name: Mapped[str] = mapped_column(String(100))
    cop_no: Mapped[str | None] = mapped_column(String(20))
    pre_no: Mapped[str | None] = mapped_column(String(18), index=True)
    invt_no: Mapped[str | None] = mapped_column(String(18), index=True)
    decl_date: Mapped[date] = mapped_column(Date)
    decl_year: Mapped[int] = mapped_column(Integer)
    customs_code: Mapped[str] = mapped_column(String(4))
    port_code: Mapped[str] = mapped_column(String(4))
    trade_mode: Mapped[str] = mapped_column(String(4))
    country: Mapped[str] = mapped_column(String(3))
    currency: Mapped[str] = mapped_column(String(3))
    freight: Mapped[Decimal] = mapped_column(Dec5)
    insured_fee: Mapped[Decimal] = mapped_column(Dec5)
    goods_value: Mapped[Decimal] = mapped_column(Dec5)
    total_value: Mapped[Decimal] = mapped_column(Dec5)  # dutiable value: goods + freight + insurance
    identity_key: Mapped[bytes] = mapped_column(Key)
    # What the suspicious-declaration check needs of the buyer's contact, and no more.
    buyer_phone_key: Mapped[bytes] = mapped_column(Key)
    buyer_phone_masked: Mapped[str] = mapped_column(String(32))
    address_key: Mapped[bytes] = mapped_column(Key)
    # Derived from the receipts (newest returnTime wins).
    status: Mapped[int | None] = mapped_column(Integer)
    status_time: Mapped[datetime | None] = mapped_column(DateTime)
    status_info: Mapped[str | None] = mapped_column(Text)
    status_group: Mapped[str] = mapped_column(String(12))
    counted: Mapped[bool] = mapped_column(Boolean)
    # CEB621 appType 3, or an approved cancellation (CEB623 + its CEB624 399).
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    # appStatus 1 (暂存): kept, never shown, never counted (a draft is not a declaration).
    draft: Mapped[bool] = mapped_column(Boolean, default=False)
    # Derived from the list's cancellation (CEB623/624) and returns (CEB625/626), whatever order
    # they arrive in: state None / "pending" / "approved" / "refused", the time of that state
    # (the approving receipt's, or the request's), and the newest receipt's note.
    cancel_state: Mapped[str | None] = mapped_column(String(10))
    cancel_time: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_info: Mapped[str | None] = mapped_column(Text)
    refund_state: Mapped[str | None] = mapped_column(String(10))
    refund_time: Mapped[datetime | None] = mapped_column(DateTime)
    refund_info: Mapped[str | None] = mapped_column(Text)
    # What approved returns took back: the returned lines' share of the dutiable value (which no
    # longer counts toward the quota), and how many goods lines went back.
    returned_value: Mapped[Decimal] = mapped_column(Dec5, default=Decimal(0))
    returned_items: Mapped[int] = mapped_column(Integer, default=0)
    disputed_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)

    lines: Mapped[list[InventoryLine]] = relationship(
        order_by="InventoryLine.gnum", cascade="all, delete-orphan", lazy="selectin"
    )


class InventoryLine(Base):
    __tablename__ = "inventory_lines"
    __table_args__ = (UniqueConstraint("inventory_id", "gnum"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inventory_id: Mapped[int] = mapped_column(ForeignKey("inventories.id", ondelete="CASCADE"))
    gnum: Mapped[int] = mapped_column(Integer)
    item_no: Mapped[str | None] = mapped_column(String(30))
    gcode: Mapped[str] = mapped_column(String(10))
    gname: Mapped[str] = mapped_column(String(250))
    country: Mapped[str] = mapped_column(String(3))
    currency: Mapped[str] = mapped_column(String(3))
    qty: Mapped[Decimal] = mapped_column(Dec5)
    unit: Mapped[str] = mapped_column(String(3))
    price: Mapped[Decimal] = mapped_column(Dec5)
    total_price: Mapped[Decimal] = mapped_column(Dec5)
    returned_qty: Mapped[Decimal | None] = mapped_column(Dec5)  # approved returns (derived)


class Receipt(Base):
    """A clearance-list receipt (CEB622). Kept even before its list arrives, joined later."""

    __tablename__ = "receipts"
    __table_args__ = (
        UniqueConstraint("guid", "return_status", "return_time"),  # also the lookup by guid
        # Receipts are looked up by their numbers only while no list holds them (to link them when
        # the list arrives), and by list only once linked: each index holds just those rows, so a
        # receipt for a known list (most of them) adds two index entries, not six.
        Index("ix_receipts_inventory_id", "inventory_id", **_where("inventory_id IS NOT NULL")),
        Index("ix_receipts_pre_no", "pre_no", **_where("inventory_id IS NULL")),
        Index("ix_receipts_invt_no", "invt_no", **_where("inventory_id IS NULL")),
        Index("ix_receipts_cop_ebc", "cop_no", "ebc_code", **_where("inventory_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inventory_id: Mapped[int | None] = mapped_column(ForeignKey("inventories.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(36))
    pre_no: Mapped[str | None] = mapped_column(String(18))
    invt_no: Mapped[str | None] = mapped_column(String(18))
    ebc_code: Mapped[str | None] = mapped_column(String(18))
    cop_no: Mapped[str | None] = mapped_column(String(20))
    return_status: Mapped[int] = mapped_column(Integer)
    return_time: Mapped[datetime] = mapped_column(DateTime)
    return_info: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)


class ListRequest(Base):
    """A cancellation (CEB623) or a return (CEB625) of a list, kept even before its list arrives.

    One row per request: a cancellation per list (ebcCode + orderNo), a return per list and copNo
    (`doc_no`, "" when absent). A newer version (appTime) replaces an older one. Its status is the
    newest of its receipts (request_receipts), matched by preNo, copNo or the list's invtNo.
    """

    __tablename__ = "list_requests"
    __table_args__ = (
        UniqueConstraint("kind", "ebc_code", "order_no", "doc_no"),
        Index("ix_list_requests_order", "ebc_code", "order_no"),  # a list's requests, of either kind
        Index("ix_list_requests_cop", "cop_no", "ebc_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "cancel" / "refund"
    doc_no: Mapped[str] = mapped_column(String(20))
    guid: Mapped[str] = mapped_column(String(36))
    ebc_code: Mapped[str] = mapped_column(String(18))
    order_no: Mapped[str] = mapped_column(String(60))
    invt_no: Mapped[str | None] = mapped_column(String(18), index=True)
    cop_no: Mapped[str | None] = mapped_column(String(20))
    pre_no: Mapped[str | None] = mapped_column(String(18), index=True)
    app_type: Mapped[str] = mapped_column(String(1))
    app_status: Mapped[str] = mapped_column(String(1))
    app_time: Mapped[datetime] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)

    lines: Mapped[list[ListRequestLine]] = relationship(
        order_by="ListRequestLine.gnum", cascade="all, delete-orphan", lazy="selectin"
    )


class ListRequestLine(Base):
    """A returned goods line of a CEB625: the list line (gnum) and the quantity sent back."""

    __tablename__ = "list_request_lines"
    __table_args__ = (UniqueConstraint("request_id", "gnum"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("list_requests.id", ondelete="CASCADE"))
    gnum: Mapped[int] = mapped_column(Integer)
    qty: Mapped[Decimal] = mapped_column(Dec5)


class RequestReceipt(Base):
    """A receipt of a cancellation (CEB624) or a return (CEB626), kept as it came."""

    __tablename__ = "request_receipts"
    __table_args__ = (
        UniqueConstraint("kind", "guid", "return_status", "return_time"),
        Index("ix_request_receipts_cop", "cop_no", "ebc_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    guid: Mapped[str] = mapped_column(String(36))
    ebc_code: Mapped[str | None] = mapped_column(String(18))
    cop_no: Mapped[str | None] = mapped_column(String(20))
    pre_no: Mapped[str | None] = mapped_column(String(18), index=True)
    invt_no: Mapped[str | None] = mapped_column(String(18), index=True)
    return_status: Mapped[int] = mapped_column(Integer)
    return_time: Mapped[datetime] = mapped_column(DateTime)
    return_info: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)


class TaxSlip(Base):
    """An electronic tax slip (CEB816). Its status is the newest of its status events."""

    __tablename__ = "tax_slips"
    __table_args__ = (
        Index("ix_tax_slips_identity_time", "identity_key", "return_time"),
        Index("ix_tax_slips_identity_status_time", "identity_key", "status", "return_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tax_no: Mapped[str] = mapped_column(String(50), unique=True)
    guid: Mapped[str] = mapped_column(String(36))
    invt_no: Mapped[str] = mapped_column(String(18), index=True)
    inventory_id: Mapped[int | None] = mapped_column(
        ForeignKey("inventories.id", ondelete="SET NULL"), index=True
    )
    identity_key: Mapped[bytes | None] = mapped_column(Key)
    return_time: Mapped[datetime] = mapped_column(DateTime)  # 入库时间
    customs_tax: Mapped[Decimal] = mapped_column(Dec5)
    value_added_tax: Mapped[Decimal] = mapped_column(Dec5)
    consumption_tax: Mapped[Decimal] = mapped_column(Dec5)
    total_tax: Mapped[Decimal] = mapped_column(Dec5)
    status: Mapped[int] = mapped_column(Integer)
    status_time: Mapped[datetime] = mapped_column(DateTime)
    ent_duty_no: Mapped[str | None] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(Text)
    order_no: Mapped[str | None] = mapped_column(String(60))
    logistics_no: Mapped[str | None] = mapped_column(String(60))
    customs_code: Mapped[str | None] = mapped_column(String(4))
    ebc_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)

    lines: Mapped[list[TaxLine]] = relationship(
        order_by="TaxLine.gnum", cascade="all, delete-orphan", lazy="selectin"
    )


class TaxLine(Base):
    __tablename__ = "tax_lines"
    __table_args__ = (UniqueConstraint("tax_slip_id", "gnum"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tax_slip_id: Mapped[int] = mapped_column(ForeignKey("tax_slips.id", ondelete="CASCADE"))
    gnum: Mapped[int] = mapped_column(Integer)
    gcode: Mapped[str | None] = mapped_column(String(10))
    tax_price: Mapped[Decimal] = mapped_column(Dec5)
    customs_tax: Mapped[Decimal] = mapped_column(Dec5)
    value_added_tax: Mapped[Decimal] = mapped_column(Dec5)
    consumption_tax: Mapped[Decimal] = mapped_column(Dec5)


class TaxStatusEvent(Base):
    """Tax-slip status history: the CEB816 itself and every CEB818, whatever the arrival order."""

    __tablename__ = "tax_status_events"
    __table_args__ = (UniqueConstraint("tax_no", "status", "return_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tax_no: Mapped[str] = mapped_column(String(50), index=True)
    invt_no: Mapped[str] = mapped_column(String(18))
    status: Mapped[int] = mapped_column(Integer)
    ent_duty_no: Mapped[str | None] = mapped_column(String(60))
    return_time: Mapped[datetime] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)


class IngestedMessage(Base):
    """Every accepted message, by type + root guid and by content hash: a second copy is a
    duplicate. A guid is unique per message type only (the customs' own samples share one across
    types), so another type with the same guid is another message."""

    __tablename__ = "ingested_messages"
    __table_args__ = (UniqueConstraint("msg_type", "guid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(36))
    sha256: Mapped[bytes] = mapped_column(Key, unique=True)
    msg_type: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(8))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)


# -- notifications ---------------------------------------------------------------------------------


class Outbox(Base):
    """A notification to deliver, written in the same transaction as the records that cause it.
    `dedupe_key` (event + binding) is unique, so a re-ingest or a crash never makes a second one."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    binding_id: Mapped[int] = mapped_column(ForeignKey("bindings.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_clock_now)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    tg_message_id: Mapped[int | None] = mapped_column(BigInteger)


# -- personal-information rights (PIPL) ------------------------------------------------------------


class DataRequest(Base):
    """A person's request under PIPL Art. 45 (a copy of my data): when, and what was sent. Holds no
    personal data besides the Telegram user id; enforces "once a day" and is itself in the copy."""

    __tablename__ = "data_requests"
    __table_args__ = (Index(None, "telegram_user_id", "requested_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # "copy"
    requested_at: Mapped[datetime] = mapped_column(DateTime)
