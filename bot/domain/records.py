"""Plain result objects that storage queries hand to the views.

They live in the pure domain package so that `storage/` can build them and `bot/views/` can
render them without either importing the other. Amounts are `Decimal`, times are naive China
local time (as in the CEB messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Generic, TypeVar

from bot.domain import cbec
from bot.domain.cbec import StatusGroup
from bot.domain.identity import mask_id_number, mask_name
from bot.domain.notices import SWITCH_KINDS

T = TypeVar("T")

PAGE_SIZE = 5


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list view. `page` is 0-based and already clamped to [0, pages-1]."""

    items: tuple[T, ...]
    page: int
    pages: int
    total: int


def clamp_page(page: int, total: int, size: int = PAGE_SIZE) -> tuple[int, int]:
    """Return (clamped page, page count); an empty result still has one (empty) page."""
    pages = max(1, -(-total // size))
    return min(max(page, 0), pages - 1), pages


@dataclass(frozen=True)
class DateRange:
    """Inclusive range of calendar days; None on either side means open."""

    start: date | None = None
    end: date | None = None

    def contains(self, d: date) -> bool:
        return (self.start is None or d >= self.start) and (self.end is None or d <= self.end)


@dataclass(frozen=True)
class TaxFilter:
    status: int | None = None  # 1 generated, 2 summarised, 3 void; None = all
    dates: DateRange = field(default_factory=DateRange)


@dataclass(frozen=True)
class ListFilter:
    group: StatusGroup | None = None  # None = all
    dates: DateRange = field(default_factory=DateRange)
    number: str | None = None  # pre-entry, list or order number (exact match)


@dataclass(frozen=True)
class ListRow:
    id: int
    pre_no: str | None
    invt_no: str | None
    order_no: str
    stored_at: datetime  # 入库时间 = CEB621 appTime
    decl_date: date
    platform: str
    total: Decimal  # dutiable value: goods + freight + insurance
    currency: str
    status: int | None  # latest receipt's returnStatus; None before any receipt
    group: str
    disputed: bool = False
    counted: bool = False  # counts toward the quota (shown in exports)
    cancelled: bool = False  # an approved cancellation
    returned: bool = False  # approved returns took (some of) it back


@dataclass(frozen=True)
class ListLine:
    gnum: int
    gname: str
    gcode: str
    qty: Decimal
    unit: str
    price: Decimal
    total_price: Decimal
    currency: str
    country: str
    returned_qty: Decimal | None = None  # what approved returns sent back of this line


@dataclass(frozen=True)
class ListDetail:
    id: int
    pre_no: str | None
    invt_no: str | None
    order_no: str
    platform: str
    platform_code: str
    company: str
    logistics_name: str
    logistics_no: str
    decl_date: date
    stored_at: datetime
    status: int | None
    status_time: datetime | None
    status_info: str | None  # the latest receipt's returnInfo
    group: str
    customs_code: str
    port_code: str
    trade_mode: str
    freight: Decimal
    insured_fee: Decimal
    goods_value: Decimal
    total: Decimal
    currency: str
    disputed: bool
    lines: tuple[ListLine, ...]
    decl_year: int = 0
    cancelled: bool = False  # approved cancellation (or a CEB621 deletion): no longer counts
    # Cancellation and returns: state None / "pending" / "approved" / "refused", its time, the note.
    cancel_state: str | None = None
    cancel_time: datetime | None = None
    cancel_info: str | None = None
    refund_state: str | None = None
    refund_time: datetime | None = None
    refund_info: str | None = None
    returned_value: Decimal = Decimal(0)  # taken out of the quota by approved returns
    returned_items: int = 0  # goods lines sent back (in whole or in part)

    @property
    def freed(self) -> Decimal:
        """What a cancellation or return gave back to the year's quota: nothing when the list's
        status would not count it anyway (not yet at customs, refused, shipped back)."""
        if not cbec.is_counted(self.status):
            return Decimal(0)
        return self.total if self.cancelled else self.returned_value


@dataclass(frozen=True)
class TaxRow:
    id: int
    tax_no: str
    invt_no: str
    stored_at: datetime  # 入库时间 = CEB816 returnTime
    total: Decimal
    status: int


@dataclass(frozen=True)
class TaxLine:
    gnum: int
    gcode: str | None
    qty: Decimal | None  # from the matching list line (invtNo + gnum); None when unknown
    unit: str | None
    price: Decimal | None
    tax_price: Decimal  # 完税总价
    customs_tax: Decimal
    consumption_tax: Decimal
    vat: Decimal
    tariff_rate: Decimal | None
    consumption_rate: Decimal | None
    vat_rate: Decimal | None
    currency: str | None = None  # list line's 币制 (numeric) for `price`; None = 142 人民币


@dataclass(frozen=True)
class TaxDetail:
    id: int
    tax_no: str
    invt_no: str
    order_no: str | None
    platform: str | None
    status: int
    stored_at: datetime
    ent_duty_no: str | None  # payment note number, set when summarised
    customs_tax: Decimal
    consumption_tax: Decimal
    vat: Decimal
    total: Decimal
    lines: tuple[TaxLine, ...]


@dataclass(frozen=True)
class QuotaOverview:
    """The quota screen: one year's figures plus the years the keyboard offers."""

    year: int
    limit: Decimal | None
    consumed: Decimal
    available: Decimal | None
    counted: int
    years: tuple[int, ...]


# The notification switches, in Settings order (bot.domain.notices).
NOTIFY_KINDS: tuple[str, ...] = SWITCH_KINDS


@dataclass(frozen=True)
class UserSettings:
    """The settings screen: the stored language and the notification kinds switched on."""

    lang: str
    enabled: frozenset[str] = frozenset(NOTIFY_KINDS)


@dataclass(frozen=True)
class Holder:
    """Who a chat is bound to, ALREADY MASKED (张* / 110105********002X): views never see plaintext.

    Build it with `Holder.of(name, id_number)` from the decrypted values.
    """

    name: str
    id_number: str

    @classmethod
    def of(cls, name: str, id_number: str) -> Holder:
        return cls(mask_name(name), mask_id_number(id_number))


# -- chart and exports (issue 11) ----------------------------------------------------------------


@dataclass(frozen=True)
class MonthlyConsumption:
    """One year's counted dutiable value by declaration month (what the quota counts), for the chart."""

    year: int
    limit: Decimal | None
    months: tuple[Decimal, ...]  # 12 amounts, January first; 0 for a month without counted lists

    @property
    def consumed(self) -> Decimal:
        """To the fen, as the quota screen shows it."""
        return sum(self.months, Decimal(0)).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass(frozen=True)
class TaxExportRow:
    """A tax slip as the export shows it: the head of the detail screen."""

    tax_no: str
    invt_no: str
    order_no: str | None
    platform: str | None
    stored_at: datetime  # 入库时间
    status: int
    customs_tax: Decimal
    consumption_tax: Decimal
    vat: Decimal
    total: Decimal


@dataclass(frozen=True)
class TaxExport:
    year: int
    rows: tuple[TaxExportRow, ...]  # oldest first


@dataclass(frozen=True)
class ListExport:
    year: int
    rows: tuple[ListRow, ...]  # oldest first
