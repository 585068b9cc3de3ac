"""The calculator against next-features.md §2.5: E1–E15 and Q6–Q9, to the fen."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import calculator as calc
from bot.domain import cbec

YEAR = 2025


def _m(unit: str, amount: str) -> calc.Measure:
    return calc.Measure(unit, D(amount))


# (id, category, P, measure, consumption tax, VAT, total, comprehensive rate or None)
VECTORS = [
    ("E1", "gen", "300.00", None, "0.00", "27.30", "27.30", "0.091"),
    ("E2", "low", "200.00", None, "0.00", "12.60", "12.60", "0.063"),
    ("E3", "cos", "680.00", _m(calc.VOLUME, "30"), "84.00", "72.80", "156.80", None),
    ("E4", "cos", "120.00", _m(calc.VOLUME, "400"), "0.00", "10.92", "10.92", "0.091"),
    ("E4a", "cos", "480.00", _m(calc.VOLUME, "50"), "0.00", "43.68", "43.68", "0.091"),
    ("E4b", "cos", "500.00", _m(calc.VOLUME, "50"), "61.76", "53.53", "115.29", None),
    ("E5", "jwl", "2000.00", None, "155.56", "202.22", "357.78", None),
    ("E6", "win", "600.00", None, "46.67", "60.67", "107.34", None),
    ("E7", "glf", "3000.00", None, "233.33", "303.33", "536.66", None),
    ("E9", "wch", "4800.00", None, "0.00", "436.80", "436.80", "0.091"),
    ("E10", "low", "150.00", None, "0.00", "9.45", "9.45", "0.063"),
    ("E11", "bat", "500.00", None, "14.58", "47.40", "61.98", None),
    ("E12", "gen", "5000.00", None, "0.00", "455.00", "455.00", "0.091"),
    ("E13", "cos", "5000.00", _m(calc.VOLUME, "100"), "617.65", "535.29", "1152.94", None),
    ("E14", "bee", "240.00", _m(calc.VOLUME, "12000"), "2.13", "22.12", "24.25", None),
    ("E15", "spi", "800.00", _m(calc.WEIGHT, "1000"), "140.88", "91.11", "231.99", None),
]


@pytest.mark.parametrize(
    ("vid", "key", "price", "measure", "ct", "vat", "total", "rate"), VECTORS, ids=[v[0] for v in VECTORS]
)
def test_vectors_to_the_fen(vid, key, price, measure, ct, vat, total, rate) -> None:  # type: ignore[no-untyped-def]
    e = calc.estimate(calc.BY_KEY[key], D(price), measure, year=YEAR)
    assert (e.consumption, e.vat, e.total) == (D(ct), D(vat), D(total)), vid
    assert e.within_limits and not e.at_least
    if rate is not None:
        assert e.rate == D(rate)


def test_rounding_order_is_per_component() -> None:
    # E6 and E7: P × comprehensive rate rounds differently from the sum of rounded components.
    for key, price, whole in (("win", "600", "107.33"), ("glf", "3000", "536.67")):
        e = calc.estimate(calc.BY_KEY[key], D(price), year=YEAR)
        assert cbec.round_fen(D(price) * e.rate) == D(whole)  # type: ignore[operator]
        assert e.total != D(whole)


def test_rates_and_thresholds() -> None:
    cos = calc.BY_KEY["cos"]
    e3 = calc.estimate(cos, D("680"), _m(calc.VOLUME, "30"), year=YEAR)
    assert e3.luxury and e3.consumption_rate == D("0.15")
    assert round(e3.rate, 6) == D("0.230588")  # type: ignore[arg-type]
    # 15 元 per piece, inclusive: 10 masks at 150 are 高档, at 149.99 not.
    assert calc.estimate(cos, D("150"), _m(calc.PIECES, "10"), year=YEAR).luxury
    assert not calc.estimate(cos, D("149.99"), _m(calc.PIECES, "10"), year=YEAR).luxury
    # Grams count like millilitres.
    assert calc.estimate(cos, D("500"), _m(calc.WEIGHT, "50"), year=YEAR).luxury
    # E14: 19 760 元/t ≥ 3000 → 甲类 250 元/t; a cheap beer is 乙类 220 元/t.
    e14 = calc.estimate(calc.BY_KEY["bee"], D("240"), _m(calc.VOLUME, "12000"), year=YEAR)
    assert round(e14.specific, 4) == D("3.0364")
    cheap = calc.estimate(calc.BY_KEY["bee"], D("30"), _m(calc.VOLUME, "12000"), year=YEAR)  # 2 470 元/t
    assert round(cheap.specific, 4) == round(D(12) / 988 * 220, 4)
    # E15: C_full = (800 + 1)/0.8·0.2 + 1 = 201.25
    e15 = calc.estimate(calc.BY_KEY["spi"], D("800"), _m(calc.WEIGHT, "1000"), year=YEAR)
    assert e15.specific == D(1) and e15.consumption == cbec.round_fen(D("201.25") * D("0.7"))


def test_uncertain_rates_are_flagged() -> None:
    assert calc.VAT_UNCERTAIN in calc.estimate(calc.BY_KEY["low"], D("200"), year=YEAR).warnings
    assert calc.CONSUMPTION_UNCERTAIN in calc.estimate(calc.BY_KEY["bat"], D("500"), year=YEAR).warnings
    assert calc.estimate(calc.BY_KEY["gen"], D("300"), year=YEAR).warnings == ()


def test_q6_over_the_annual_limit_refuses_the_whole_order() -> None:
    e = calc.estimate(calc.BY_KEY["gen"], D("3000.00"), year=YEAR, used=D("23500.00"))
    assert calc.ANNUAL_REFUSED in e.warnings
    assert e.quota is not None and e.quota.refused
    assert e.quota.after == D("23500.00")  # used stays: nothing of the order clears
    assert e.quota.available == D("2500.00")


def test_q7_exactly_at_the_annual_limit_is_allowed() -> None:
    e = calc.estimate(calc.BY_KEY["gen"], D("5000.00"), year=YEAR, used=D("21000.00"))
    assert calc.ANNUAL_REFUSED not in e.warnings
    assert e.quota is not None and not e.quota.refused
    assert (e.quota.after, e.quota.available) == (D("26000.00"), D("0.00"))


def test_q8_freight_counts_toward_the_single_limit() -> None:
    price, measure = calc.parse_input("4950+60", calc.BY_KEY["gen"])
    assert price == D("5010") and measure is None
    e = calc.estimate(calc.BY_KEY["gen"], price, year=YEAR, used=D(0))
    assert calc.OVER_SINGLE in e.warnings and not e.within_limits
    assert e.rate is None and e.at_least  # full tax plus an unknown duty: a lower bound
    assert e.vat == cbec.round_fen(D("5010") * D("0.13"))  # k = 1, not 0.7
    assert e.quota is not None and e.quota.after == D("5010")  # one item still counts


def test_q9_luxury_watch_is_never_taxed_at_70_percent() -> None:
    e = calc.estimate(calc.BY_KEY["wch"], D("12000"), year=YEAR, used=D(0))
    assert calc.LUXURY_WATCH in e.warnings and calc.OVER_SINGLE in e.warnings
    assert e.rate is None and not e.within_limits and e.at_least
    assert e.consumption_rate == D("0.20")
    # Full statutory amounts without the duty: C = 12000/0.8·0.2, V = 12000/0.8·0.13.
    assert (e.consumption, e.vat) == (D("3000.00"), D("1950.00"))
    assert e.quota is not None and e.quota.after == D("12000")  # counts toward the 26 000


def test_no_quota_before_binding() -> None:
    assert calc.estimate(calc.BY_KEY["gen"], D("300"), year=YEAR).quota is None


@pytest.mark.parametrize(
    ("text", "key", "price", "measure"),
    [
        ("300", "gen", "300", None),
        ("¥1,234.50", "gen", "1234.50", None),
        ("４９５０＋６０", "gen", "5010", None),
        ("680 30ml", "cos", "680", (calc.VOLUME, "30")),
        ("680元 30 毫升", "cos", "680", (calc.VOLUME, "30")),
        ("150 10片", "cos", "150", (calc.PIECES, "10")),
        ("240 24x500ml", "bee", "240", (calc.VOLUME, "12000")),
        ("240 12L", "bee", "240", (calc.VOLUME, "12000")),
        ("800 2斤", "spi", "800", (calc.WEIGHT, "1000")),
        ("800 2×500g", "spi", "800", (calc.WEIGHT, "1000")),
        ("300 50ml", "gen", "300", None),  # a measure where none is needed is ignored
    ],
)
def test_parse_input(text: str, key: str, price: str, measure: tuple[str, str] | None) -> None:
    p, m = calc.parse_input(text, calc.BY_KEY[key])
    assert p == D(price)
    assert (None if m is None else (m.unit, m.amount)) == (None if measure is None else (measure[0], D(measure[1])))


@pytest.mark.parametrize(
    ("text", "key", "code"),
    [
        ("", "gen", calc.NOT_A_PRICE),
        ("abc", "gen", calc.NOT_A_PRICE),
        ("0", "gen", calc.NOT_A_PRICE),
        ("1.001", "gen", calc.NOT_A_PRICE),
        ("2000000", "gen", calc.TOO_LARGE),
        ("680", "cos", calc.NEEDS_MEASURE),
        ("680 thirty ml", "cos", calc.WRONG_UNIT),
        ("240 10片", "bee", calc.WRONG_UNIT),
        ("800", "spi", calc.NEEDS_MEASURE),
    ],
)
def test_parse_input_rejects(text: str, key: str, code: str) -> None:
    with pytest.raises(calc.InputError) as exc:
        calc.parse_input(text, calc.BY_KEY[key])
    assert exc.value.code == code


@given(
    price=st.decimals(min_value=D("0.01"), max_value=D(100000), places=2),
    c=st.sampled_from([D(0), D("0.04"), D("0.10"), D("0.15"), D("0.20")]),
    v=st.sampled_from([D("0.13"), D("0.09")]),
    within=st.booleans(),
)
def test_compound_formula_reduces_to_line_tax(price: D, c: D, v: D, within: bool) -> None:
    """The specific-tax formula with S → 0 is domain.md §1.4 (cbec.line_tax) exactly."""
    tiny = D("1e-40")  # forces the compound branch; far below any rounding
    got = calc.tax_of(price, ad_valorem=c, specific=tiny, vat_rate=v, within_limits=within)
    t = cbec.line_tax(price, tariff_rate=D(0), consumption_rate=c, vat_rate=v, within_limits=within)
    assert got == (t.consumption, t.vat)
