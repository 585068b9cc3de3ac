"""The tax and quota calculator: what an order will cost in tax, and whether it fits the quota.

Pure and Decimal-only. Facts and test vectors: reference/next-features.md §2 (categories §2.3,
limits §2.4, vectors E1–E15 and Q6–Q9 §2.5); formulas domain.md §1.4 (`cbec.line_tax`).

- Within the limits (完税价格 ≤ the single limit): tariff 0, consumption tax and VAT at 70 %.
- Each component is rounded half-up to the fen, then summed (E6 and E7 show why it matters).
- Specific and compound consumption tax (beer, 白酒): C_full = (P + S)/(1 − c)·c + S with S the
  specific amount; VAT = (P + C_full)·v; both × 0.7 within the limits.
- Over the single limit: the order leaves the CBEC rates. One indivisible item is taxed in full
  (k = 1) *plus a customs duty* that depends on its tariff line, which we do not know: the amounts
  shown are then a lower bound. An order of several items is refused.
- Over the annual limit: customs refuses the *whole* order (CEB622 status 100, Code 1313); nothing
  of it counts (next-features.md §2.4). used + order == limit still passes (the receipt prints ">").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Final

from bot.domain import cbec

ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)
VAT: Final = Decimal("0.13")
VAT_REDUCED: Final = Decimal("0.09")

# Measures (what the user typed after the price), in base units: millilitres, grams, pieces.
VOLUME: Final = "ml"
WEIGHT: Final = "g"
PIECES: Final = "pc"
MEASURES: Final = (VOLUME, WEIGHT, PIECES)

# What a category needs besides the price.
NEEDS_NOTHING: Final = ""
NEEDS_COSMETIC: Final = "cosmetic"  # ml / g or pieces: the 10 元/ml(g), 15 元/片 threshold
NEEDS_VOLUME: Final = "volume"  # beer: litres (or weight)
NEEDS_QUANTITY: Final = "quantity"  # 白酒: ml or g (the 0.5 元 per 500 g/ml part)

COSMETIC_PER_UNIT: Final = Decimal(10)  # 元 per ml or g, inclusive
COSMETIC_PER_PIECE: Final = Decimal(15)  # 元 per 片/张, inclusive
COSMETIC_RATE: Final = Decimal("0.15")
WATCH_THRESHOLD: Final = Decimal(10000)  # 元 per watch, inclusive
WATCH_RATE: Final = Decimal("0.20")
BEER_LITRES_PER_TON: Final = Decimal(988)  # UNCONFIRMED conversion (next-features.md §2.3)
BEER_CLASS_A_PRICE: Final = Decimal(3000)  # 元 per ton and above: 甲类
BEER_CLASS_A: Final = Decimal(250)  # 元 per ton
BEER_CLASS_B: Final = Decimal(220)
SPIRITS_RATE: Final = Decimal("0.20")
SPIRITS_PER_500: Final = Decimal("0.5")  # 元 per 500 g (ml)

MAX_PRICE: Final = Decimal(1_000_000)  # a calculator input, not a limit of the law
MAX_MEASURE: Final = Decimal(10_000_000)


@dataclass(frozen=True)
class Category:
    """A row of next-features.md §2.3. `key` is part of the callback wire format: never change it."""

    key: str
    consumption: Decimal  # ad-valorem rate (for cosmetics and watches: the rate above the threshold)
    vat: Decimal
    needs: str = NEEDS_NOTHING
    vat_certain: bool = True  # False: v is not confirmed for every item of the kind ("≈")
    consumption_certain: bool = True  # False: the consumption-tax rule itself is not confirmed


CATEGORIES: Final = (
    Category("gen", ZERO, VAT),  # 奶粉, 保健品, 服装, 箱包, 电子, 普通化妆品
    Category("cos", COSMETIC_RATE, VAT, needs=NEEDS_COSMETIC),
    Category("low", ZERO, VAT_REDUCED, vat_certain=False),  # 图书, 食用植物油, 农产品
    Category("jwl", Decimal("0.10"), VAT),  # 珍珠, 玉石, 宝石
    Category("gld", ZERO, VAT, consumption_certain=False),  # 金银/铂金首饰, 钻石: 5 % at retail only
    Category("wch", WATCH_RATE, VAT),
    Category("glf", Decimal("0.10"), VAT),
    Category("win", Decimal("0.10"), VAT),  # 葡萄酒 and other 其他酒
    Category("bee", ZERO, VAT, needs=NEEDS_VOLUME, consumption_certain=False),  # litre→ton UNCONFIRMED
    Category("spi", SPIRITS_RATE, VAT, needs=NEEDS_QUANTITY),
    Category("bat", Decimal("0.04"), VAT, consumption_certain=False),  # 电池, 涂料: 4 % UNCONFIRMED
)
BY_KEY: Final = {c.key: c for c in CATEGORIES}


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class Measure:
    unit: str  # VOLUME, WEIGHT or PIECES
    amount: Decimal  # in that unit, > 0


class InputError(ValueError):
    """Typed input the calculator cannot use; `code` says why (the view words it)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# Codes of InputError
NOT_A_PRICE: Final = "price"
TOO_LARGE: Final = "too_large"
NEEDS_MEASURE: Final = "needs_measure"
WRONG_UNIT: Final = "wrong_unit"

_UNITS: Final = {
    "ml": (VOLUME, ONE), "毫升": (VOLUME, ONE), "l": (VOLUME, Decimal(1000)), "升": (VOLUME, Decimal(1000)),
    "g": (WEIGHT, ONE), "克": (WEIGHT, ONE), "kg": (WEIGHT, Decimal(1000)), "千克": (WEIGHT, Decimal(1000)),
    "公斤": (WEIGHT, Decimal(1000)), "斤": (WEIGHT, Decimal(500)),
    "片": (PIECES, ONE), "张": (PIECES, ONE), "pc": (PIECES, ONE), "pcs": (PIECES, ONE),
    "piece": (PIECES, ONE), "pieces": (PIECES, ONE), "sheet": (PIECES, ONE), "sheets": (PIECES, ONE),
}  # fmt: skip
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_PRICE_RE: Final = re.compile(rf"^(?:¥|cny|rmb)?\s*({_NUMBER}(?:\s*\+\s*{_NUMBER})*)\s*(?:元|yuan|cny|rmb)?\s*(.*)$")
_MEASURE_RE: Final = re.compile(
    rf"^(?:({_NUMBER})\s*[x×*]\s*)?({_NUMBER})\s*({'|'.join(sorted(map(re.escape, _UNITS), key=len, reverse=True))})$"
)


def _number(s: str) -> Decimal:
    return Decimal(s.replace(",", ""))


def parse_input(text: str, category: Category) -> tuple[Decimal, Measure | None]:
    """The 完税价格 and the measure from what the user typed, e.g. `680 30ml`, `4950+60`,
    `240 24x500ml`, `800 2斤`. Full-width characters are accepted. Raises InputError."""
    s = unicodedata.normalize("NFKC", text).strip().lower()
    m = _PRICE_RE.match(s)
    if m is None:
        raise InputError(NOT_A_PRICE)
    try:
        price = sum((_number(x) for x in m.group(1).split("+")), ZERO)
    except InvalidOperation:
        raise InputError(NOT_A_PRICE) from None
    if price <= 0 or price != price.quantize(cbec.FEN):  # nothing below the fen
        raise InputError(NOT_A_PRICE)
    if price > MAX_PRICE:
        raise InputError(TOO_LARGE)
    rest = m.group(2).strip()
    measure = None
    if rest:
        mm = _MEASURE_RE.match(rest.replace(" ", ""))
        if mm is None:
            raise InputError(NOT_A_PRICE if category.needs == NEEDS_NOTHING else WRONG_UNIT)
        count = _number(mm.group(1)) if mm.group(1) else ONE
        unit, factor = _UNITS[mm.group(3)]
        amount = count * _number(mm.group(2)) * factor
        if amount <= 0 or amount != amount.quantize(cbec.FEN):  # 0.01 ml / g / piece at most
            raise InputError(WRONG_UNIT)
        if amount > MAX_MEASURE:
            raise InputError(TOO_LARGE)
        measure = Measure(unit, amount)
    check_measure(category, measure)
    return price, measure if category.needs != NEEDS_NOTHING else None


def check_measure(category: Category, measure: Measure | None) -> None:
    """Raise InputError when the category needs a measure it did not get (or another kind)."""
    if category.needs == NEEDS_NOTHING:
        return
    if measure is None:
        raise InputError(NEEDS_MEASURE)
    if category.needs in (NEEDS_VOLUME, NEEDS_QUANTITY) and measure.unit == PIECES:
        raise InputError(WRONG_UNIT)


# ---------------------------------------------------------------- the estimate

# Warning codes, in the order they are shown.
OVER_SINGLE: Final = "over_single"  # 完税价格 over the single limit
LUXURY_WATCH: Final = "luxury_watch"  # a watch at or over 10 000 元: 高档手表, full tax only
ANNUAL_REFUSED: Final = "annual_refused"  # used + order over the annual limit: the whole order refused
VAT_UNCERTAIN: Final = "vat_uncertain"
CONSUMPTION_UNCERTAIN: Final = "consumption_uncertain"


@dataclass(frozen=True)
class QuotaAfter:
    """This year's quota around the purchase (only for a bound person)."""

    year: int
    limit: Decimal
    used: Decimal  # before the purchase
    after: Decimal  # after it; == used when the order would be refused
    refused: bool  # used + price > limit: 退单, Code 1313

    @property
    def available(self) -> Decimal:
        return self.limit - self.after


@dataclass(frozen=True)
class Estimate:
    category: Category
    price: Decimal  # 完税价格
    measure: Measure | None
    consumption_rate: Decimal  # the ad-valorem rate that applies (0 under a threshold)
    specific: Decimal  # the specific part of the statutory consumption tax (beer, 白酒), unrounded
    vat_rate: Decimal
    within_limits: bool
    consumption: Decimal  # levied, to the fen
    vat: Decimal
    luxury: bool  # the 高档 threshold was reached (cosmetics, watches)
    warnings: tuple[str, ...]
    quota: QuotaAfter | None

    @property
    def total(self) -> Decimal:
        return self.consumption + self.vat

    @property
    def rate(self) -> Decimal | None:
        """The comprehensive rate within the limits: (c + v)/(1 − c)·0.7 for ad-valorem goods,
        total/price where a specific tax makes it depend on the amount. None outside the limits
        (the 70 % rate never applies there)."""
        if not self.within_limits:
            return None
        if self.specific:
            return self.total / self.price
        return cbec.comprehensive_rate(self.consumption_rate, self.vat_rate)

    @property
    def at_least(self) -> bool:
        """Outside the limits the amounts leave out the customs duty: they are a lower bound."""
        return not self.within_limits

    @property
    def approximate_vat(self) -> bool:
        return not self.category.vat_certain

    @property
    def approximate_consumption(self) -> bool:
        return not self.category.consumption_certain


def tax_of(
    price: Decimal, *, ad_valorem: Decimal, specific: Decimal, vat_rate: Decimal, within_limits: bool
) -> tuple[Decimal, Decimal]:
    """(consumption tax, VAT) levied, each rounded to the fen. Tariff left out (0 within the limits).

    Ad-valorem only: exactly `cbec.line_tax`. With a specific part S (full statutory amount):
    C_full = (P + S)/(1 − c)·c + S, V_full = (P + C_full)·v, levied × k.
    """
    if not specific:
        t = cbec.line_tax(
            price, tariff_rate=ZERO, consumption_rate=ad_valorem, vat_rate=vat_rate, within_limits=within_limits
        )
        return t.consumption, t.vat
    k = cbec.K_WITHIN if within_limits else ONE
    with localcontext() as ctx:
        ctx.prec = 50
        c_full = (price + specific) / (ONE - ad_valorem) * ad_valorem + specific
        return cbec.round_fen(c_full * k), cbec.round_fen((price + c_full) * vat_rate * k)


def _rates(category: Category, price: Decimal, measure: Measure | None) -> tuple[Decimal, Decimal, bool]:
    """(ad-valorem rate, specific amount, luxury threshold reached) for one order."""
    key = category.key
    if key == "cos":
        assert measure is not None
        per = COSMETIC_PER_PIECE if measure.unit == PIECES else COSMETIC_PER_UNIT
        luxury = price >= per * measure.amount  # price / amount ≥ per, without a division
        return (COSMETIC_RATE if luxury else ZERO), ZERO, luxury
    if key == "wch":
        luxury = price >= WATCH_THRESHOLD
        return (WATCH_RATE if luxury else ZERO), ZERO, luxury
    if key == "bee":
        assert measure is not None
        litres_per_ton = BEER_LITRES_PER_TON if measure.unit == VOLUME else Decimal(1000)
        with localcontext() as ctx:
            ctx.prec = 50
            tons = measure.amount / 1000 / litres_per_ton  # ml → l → t; g → kg → t
            per_ton = BEER_CLASS_A if price / tons >= BEER_CLASS_A_PRICE else BEER_CLASS_B
            return ZERO, tons * per_ton, False
    if key == "spi":
        assert measure is not None
        return SPIRITS_RATE, measure.amount / 500 * SPIRITS_PER_500, False
    return category.consumption, ZERO, False


def estimate(
    category: Category,
    price: Decimal,
    measure: Measure | None = None,
    *,
    year: int,
    single_limit: Decimal = Decimal(5000),
    used: Decimal | None = None,
) -> Estimate:
    """The calculator's answer for one order of `price` (完税价格). `used`: this year's consumed
    amount of a bound person (None before binding: no quota lines)."""
    check_measure(category, measure)
    c, specific, luxury = _rates(category, price, measure)
    within = price <= single_limit
    consumption, vat = tax_of(price, ad_valorem=c, specific=specific, vat_rate=category.vat, within_limits=within)
    warnings = []
    if not within:
        warnings.append(OVER_SINGLE)
    if category.key == "wch" and luxury:
        warnings.append(LUXURY_WATCH)
    quota = None
    limit = cbec.annual_limit(year)
    if used is not None and limit is not None:
        refused = used + price > limit
        quota = QuotaAfter(year, limit, used, used if refused else used + price, refused)
        if refused:
            warnings.append(ANNUAL_REFUSED)
    if not category.vat_certain:
        warnings.append(VAT_UNCERTAIN)
    if not category.consumption_certain:
        warnings.append(CONSUMPTION_UNCERTAIN)
    return Estimate(
        category=category,
        price=price,
        measure=measure,
        consumption_rate=c,
        specific=specific,
        vat_rate=category.vat,
        within_limits=within,
        consumption=consumption,
        vat=vat,
        luxury=luxury,
        warnings=tuple(warnings),
        quota=quota,
    )
