"""CBEC retail-import policy: limits, what counts toward the quota, tax formulas, derived rates.

Pure and Decimal-only (never float). Sources: reference/domain.md §1 and its test vectors;
DESIGN §4 / §4a.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from typing import Final

__all__ = [
    "CONSUMPTION_RATES",
    "COUNTED_STATUSES",
    "FEN",
    "IN_PROGRESS",
    "REJECTED",
    "RELEASED",
    "STATUS_GROUPS",
    "TARIFF_STEP",
    "TAX_GENERATED",
    "TAX_SLIP_STATUSES",
    "TAX_SUMMARISED",
    "TAX_VOID",
    "VAT_RATES",
    "Quota",
    "Rates",
    "TaxAmounts",
    "annual_limit",
    "comprehensive_rate",
    "derive_rates",
    "dutiable_value",
    "is_counted",
    "line_tax",
    "quota_for",
    "returned_value",
    "round_fen",
    "single_limit",
    "status_group",
    "vat_rate_on",
]

FEN: Final = Decimal("0.01")
ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)
K_WITHIN: Final = Decimal("0.7")  # VAT and consumption tax at 70% within the limits (2016 No. 18)
# Enough digits that the one division per amount can never move a value across a half-fen.
_PREC: Final = 50


def round_fen(x: Decimal) -> Decimal:
    return x.quantize(FEN, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- limits (domain.md §1.1)

CBEC_START: Final = dt.date(2016, 4, 8)
RULES_2019: Final = dt.date(2019, 1, 1)


def annual_limit(year: int) -> Decimal | None:
    """Annual personal limit; None before 2016 (no annual limit existed)."""
    if year < 2016:
        return None
    return Decimal(20000) if year < 2019 else Decimal(26000)


def single_limit(d: dt.date) -> Decimal | None:
    """Single-transaction limit; None before 2016-04-08 (postal-article tax regime)."""
    if d < CBEC_START:
        return None
    return Decimal(2000) if d < RULES_2019 else Decimal(5000)


def vat_rate_on(d: dt.date) -> Decimal:
    """Import VAT rate in force on a date (16% step UNCONFIRMED in domain.md §1.3)."""
    if d < dt.date(2018, 5, 1):
        return Decimal("0.17")
    if d < dt.date(2019, 4, 1):
        return Decimal("0.16")
    return Decimal("0.13")


# ---------------------------------------------------------------- list statuses (DESIGN §4, §4a)

COUNTED_STATUSES: Final = frozenset({120, 300, 399, *range(500, 600), 800, 899})
_IN_PROGRESS_STATUSES: Final = frozenset({1, 2, 3, 4, 120, 300, 399, *range(500, 600)})
_RELEASED_STATUSES: Final = frozenset({800, 899})

class StatusGroup(StrEnum):
    """The clearance list's status groups (DESIGN §4a), in the order the filter shows them. The
    values are stored (inventories.status_group); the callback codec gives each a letter."""

    IN_PROGRESS = "in_progress"
    RELEASED = "released"
    REJECTED = "rejected"  # rejected or returned


IN_PROGRESS: Final = StatusGroup.IN_PROGRESS
RELEASED: Final = StatusGroup.RELEASED
REJECTED: Final = StatusGroup.REJECTED
STATUS_GROUPS: Final = tuple(StatusGroup)


def is_counted(status: int | None, *, cancelled: bool = False, returned: bool = False) -> bool:
    """Does a list with this current status count toward the annual quota?"""
    if cancelled or returned or status is None:
        return False
    return status in COUNTED_STATUSES


def status_group(status: int | None, *, cancelled: bool = False, returned: bool = False) -> StatusGroup:
    """in progress / released / rejected-or-returned (DESIGN §4a).

    No receipt yet (None) is in progress. An unknown non-negative code is also "in progress":
    we do not call a record final on a code we do not know.
    """
    if cancelled or returned:
        return REJECTED
    if status is None or status in _IN_PROGRESS_STATUSES:
        return IN_PROGRESS
    if status in _RELEASED_STATUSES:
        return RELEASED
    if status < 0 or status in (100, 700):
        return REJECTED
    return IN_PROGRESS


# ---------------------------------------------------------------- quota (domain.md §1.2)


def dutiable_value(line_totals: Iterable[Decimal], freight: Decimal, insured_fee: Decimal) -> Decimal:
    """完税价格 of a list: Σ line totalPrice + freight + insuredFee (tax excluded; not rounded)."""
    return sum(line_totals, ZERO) + freight + insured_fee


def returned_value(total_value: Decimal, lines: Iterable[tuple[Decimal, Decimal, Decimal]]) -> Decimal:
    """The part of a list's dutiable value that approved returns take out of the quota.

    `lines`: (line totalPrice, line qty, returned qty) for every goods line. A returned line's
    完税价格 is its goods value plus its share of freight and insurance, shared in proportion to
    line value (domain.md §1.2, §1.5 and Q5), so a full return gives back exactly `total_value`.
    Returned quantities above the line's are capped; the result is rounded half-up to the fen.
    """
    rows = list(lines)
    goods = sum((total for total, _, _ in rows), ZERO)
    back = ZERO
    everything = True
    for total, qty, returned in rows:
        part = min(max(returned, ZERO), qty)
        everything = everything and part == qty
        back += total if part == qty else (total * part / qty if qty > 0 else ZERO)
    if everything and rows:
        return total_value
    if goods <= 0:
        return ZERO
    with localcontext() as ctx:
        ctx.prec = _PREC
        return min(round_fen(total_value * back / goods), total_value)


@dataclass(frozen=True)
class Quota:
    year: int
    limit: Decimal | None
    consumed: Decimal
    available: Decimal | None
    counted: int

    @property
    def over_limit(self) -> bool:
        return self.available is not None and self.available < 0

    @property
    def used_ratio(self) -> Decimal | None:
        """consumed / limit, not clamped (may exceed 1); None when there is no limit."""
        if not self.limit:
            return None
        return self.consumed / self.limit


def quota_for(year: int, counted_values: Iterable[Decimal]) -> Quota:
    """Quota of one calendar year from the dutiable values of its counted lists.

    The caller selects the lists (is_counted, declaration year) and, for a partial return,
    passes the list's value less the returned lines' value (domain.md §1.5).
    """
    values = list(counted_values)
    consumed = round_fen(sum(values, ZERO))
    limit = annual_limit(year)
    available = None if limit is None else limit - consumed
    return Quota(year=year, limit=limit, consumed=consumed, available=available, counted=len(values))


# ---------------------------------------------------------------- tax (domain.md §1.3, §1.4)


@dataclass(frozen=True)
class TaxAmounts:
    customs: Decimal
    consumption: Decimal
    vat: Decimal

    @property
    def total(self) -> Decimal:
        return self.customs + self.consumption + self.vat


def _check_rate(name: str, r: Decimal, upper: Decimal) -> None:
    if not ZERO <= r < upper:
        raise ValueError(f"{name} rate out of range")


def line_tax(
    price: Decimal,
    *,
    tariff_rate: Decimal,
    consumption_rate: Decimal,
    vat_rate: Decimal,
    within_limits: bool,
) -> TaxAmounts:
    """Tax of one line with dutiable value `price` (domain.md §1.4).

    k = 0.7 and tariff 0 within the limits; k = 1 and the full tariff outside them.
    D = P·t;  C = (P+D)/(1−c)·c·k;  V = (P + D + C_full)·v·k, where C_full is the statutory
    (unreduced) consumption tax. Since P + D + C_full = (P+D)/(1−c), V = (P+D)·v·k/(1−c).
    Each amount is computed exactly (one division, at high precision) and only then rounded
    half-up to the fen, so the rounding never depends on the order of operations.
    """
    if price < 0:
        raise ValueError("price must not be negative")
    _check_rate("tariff", tariff_rate, Decimal(10))
    _check_rate("consumption", consumption_rate, ONE)
    _check_rate("vat", vat_rate, ONE)
    k = K_WITHIN if within_limits else ONE
    t = ZERO if within_limits else tariff_rate
    with localcontext() as ctx:
        ctx.prec = _PREC
        d = price * t
        base = price + d
        c = base * consumption_rate * k / (ONE - consumption_rate)
        v = base * vat_rate * k / (ONE - consumption_rate)
        return TaxAmounts(customs=round_fen(d), consumption=round_fen(c), vat=round_fen(v))


def comprehensive_rate(consumption_rate: Decimal, vat_rate: Decimal) -> Decimal:
    """The published CBEC "综合税率" within the limits: (c + v)/(1 − c)·0.7 (not rounded)."""
    return (consumption_rate + vat_rate) / (ONE - consumption_rate) * K_WITHIN


# ---------------------------------------------------------------- derived rates (domain.md §2.4)

# Statutory rates the tax detail snaps to. VAT: 17/16/13 general, 11/10/9 reduced (books, food…).
VAT_RATES: Final = tuple(Decimal(x) for x in ("0.13", "0.09", "0.16", "0.10", "0.17", "0.11"))
# Ad-valorem consumption-tax rates in Chinese law (cosmetics 15, former 30; jewellery and wooden
# goods 5; alcohol 10/20; watches 20; tobacco 36/56; cars 1–40; batteries and coatings 4; …).
CONSUMPTION_RATES: Final = tuple(
    Decimal(x)
    for x in (
        "0", "0.01", "0.03", "0.04", "0.05", "0.09", "0.10", "0.12", "0.15",
        "0.20", "0.25", "0.30", "0.36", "0.40", "0.56",
    )
)  # fmt: skip
TARIFF_STEP: Final = Decimal("0.005")  # MFN tariff lines are whole or half per cent
_DISPLAY: Final = Decimal("0.0001")  # unsnapped rates: 0.01 % precision


@dataclass(frozen=True)
class Rates:
    tariff: Decimal | None
    consumption: Decimal | None
    vat: Decimal | None


def _tariff_candidates(price: Decimal, customs_tax: Decimal) -> Iterator[Decimal]:
    """Half-per-cent tariffs that reproduce the customs tax, nearest to the raw ratio first."""
    raw = customs_tax / price
    centre = int((raw / TARIFF_STEP).to_integral_value(rounding=ROUND_HALF_UP))
    reach = int((FEN / price / TARIFF_STEP).to_integral_value(rounding=ROUND_HALF_UP)) + 1
    # When several reproduce the amount (tiny prices), whole per cents beat half per cents, then
    # the nearest to the raw ratio: a 50 % tariff is far likelier than 50.5 %.
    steps = sorted(range(max(0, centre - reach), centre + reach + 1), key=lambda n: (n % 2, abs(n - centre)))
    for n in steps:
        t = Decimal(n) / 200  # exact: n × 0.5 %
        if round_fen(price * t) == customs_tax:
            yield t


def _raw(rate: Decimal) -> Decimal:
    return rate.quantize(_DISPLAY, ROUND_HALF_UP)


def _vat_for(base: Decimal, c: Decimal, k: Decimal, vat: Decimal, preferred: Decimal | None) -> Decimal | None:
    """The statutory VAT rate that reproduces `vat` on this base, or None."""
    hits = [v for v in VAT_RATES if round_fen(base * v * k / (ONE - c)) == vat]
    if not hits:
        return None
    v_raw = vat * (ONE - c) / (base * k)
    return min(hits, key=lambda v: (v != preferred, abs(v - v_raw)))


def _c_and_v(
    base: Decimal, k: Decimal, consumption_tax: Decimal | None, vat: Decimal | None, preferred: Decimal | None
) -> tuple[Decimal | None, Decimal | None, bool]:
    """(consumption rate, VAT rate, settled) for one base P + D; settled = nothing better to find."""
    if consumption_tax is None:
        return None, None, True  # VAT depends on c, so neither can be derived
    # C = base·c·k/(1−c)  ⇒  c = C/(C + base·k)
    c_raw = consumption_tax / (consumption_tax + base * k)
    c_hits = [c for c in CONSUMPTION_RATES if round_fen(base * c * k / (ONE - c)) == consumption_tax]
    c_hits.sort(key=lambda c: abs(c - c_raw))
    if vat is None:
        return (c_hits[0], None, True) if c_hits else (_raw(c_raw), None, False)
    for c in c_hits:
        v = _vat_for(base, c, k, vat, preferred)
        if v is not None:
            return c, v, True
    c = c_hits[0] if c_hits else c_raw
    v_raw = vat * (ONE - c) / (base * k)
    # c itself is inexact here, so snap v only when it is within display precision.
    near = [v for v in VAT_RATES if abs(v - v_raw) < _DISPLAY * 5]
    return (c if c_hits else _raw(c)), (near[0] if near else _raw(v_raw)), False


def derive_rates(
    price: Decimal | None,
    customs_tax: Decimal | None,
    consumption_tax: Decimal | None,
    vat: Decimal | None,
    *,
    within_limits: bool | None = None,
    on: dt.date | None = None,
) -> Rates:
    """Invert line_tax: the rates shown in a tax detail, from a line's 完税价格 and its three taxes.

    CEB816 lines carry no rates (domain.md §2.4), so they are derived. Because the amounts are
    rounded to the fen, a rate is snapped to a statutory one (VAT_RATES, CONSUMPTION_RATES, the
    half-per-cent tariff grid) when that rate reproduces the amounts exactly; otherwise it is the
    raw ratio rounded to 0.0001. When several statutory rates reproduce the same amounts (tiny
    prices), the one nearest the raw ratio wins, and `on` (the slip's date) prefers the VAT rate
    then in force. within_limits=None: a customs tax > 0 means outside the limits (k = 1).
    Within the limits the tariff shown is 0. What cannot be derived is None.
    """
    if price is None or price <= 0:
        return Rates(None, None, None)
    if within_limits is None:
        within_limits = not (customs_tax is not None and customs_tax > 0)
    k = K_WITHIN if within_limits else ONE
    preferred = vat_rate_on(on) if on is not None else None
    with localcontext() as ctx:
        ctx.prec = _PREC
        # (tariff shown, customs tax before rounding): the latter is part of the other taxes' base.
        tariffs: list[tuple[Decimal, Decimal]]
        if within_limits:
            tariffs = [(ZERO, ZERO)]
        elif customs_tax is None:
            return Rates(None, None, None)  # the base P + D is unknown
        else:
            tariffs = [(t, price * t) for t in _tariff_candidates(price, customs_tax)]
            tariffs = tariffs or [(_raw(customs_tax / price), customs_tax)]
        fallback: Rates | None = None
        for tariff, duty in tariffs:
            c, v, settled = _c_and_v(price + duty, k, consumption_tax, vat, preferred)
            if settled:
                return Rates(tariff, c, v)
            fallback = fallback or Rates(tariff, c, v)
        return fallback or Rates(None, None, None)  # tariffs is never empty


# ---------------------------------------------------------------- tax slips (domain.md §2.4)

TAX_GENERATED: Final = 1
TAX_SUMMARISED: Final = 2
TAX_VOID: Final = 3
TAX_SLIP_STATUSES: Final = {TAX_GENERATED: "generated", TAX_SUMMARISED: "summarised", TAX_VOID: "void"}
