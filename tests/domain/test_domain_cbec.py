"""bot.domain.cbec: limits, counting, quota (Q1–Q5), tax (T1–T9), derived rates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.cbec import (
    CONSUMPTION_RATES,
    COUNTED_STATUSES,
    FEN,
    IN_PROGRESS,
    REJECTED,
    RELEASED,
    STATUS_GROUPS,
    TAX_GENERATED,
    TAX_SLIP_STATUSES,
    TAX_SUMMARISED,
    TAX_VOID,
    VAT_RATES,
    Quota,
    Rates,
    TaxAmounts,
    annual_limit,
    comprehensive_rate,
    derive_rates,
    dutiable_value,
    is_counted,
    line_tax,
    quota_for,
    round_fen,
    single_limit,
    status_group,
    vat_rate_on,
)

D = Decimal


# ---------------------------------------------------------------- rounding and limits


@pytest.mark.parametrize(
    ("x", "rounded"),
    [("18.109", "18.11"), ("0.005", "0.01"), ("0.004999", "0.00"), ("2.675", "2.68"), ("-0.005", "-0.01")],
)
def test_round_fen_is_half_up(x: str, rounded: str) -> None:
    assert FEN == D("0.01")
    assert str(round_fen(D(x))) == rounded


@pytest.mark.parametrize(
    ("year", "limit"),
    [(2010, None), (2015, None), (2016, D(20000)), (2018, D(20000)), (2019, D(26000)), (2025, D(26000))],
)
def test_annual_limit(year: int, limit: Decimal | None) -> None:  # Q3, Q4
    assert annual_limit(year) == limit


@pytest.mark.parametrize(
    ("day", "limit"),
    [
        (dt.date(2016, 4, 7), None),
        (dt.date(2016, 4, 8), D(2000)),
        (dt.date(2018, 12, 31), D(2000)),
        (dt.date(2019, 1, 1), D(5000)),
        (dt.date(2025, 11, 18), D(5000)),
    ],
)
def test_single_limit(day: dt.date, limit: Decimal | None) -> None:
    assert single_limit(day) == limit


@pytest.mark.parametrize(
    ("day", "rate"),
    [
        (dt.date(2016, 4, 8), "0.17"),
        (dt.date(2018, 4, 30), "0.17"),
        (dt.date(2018, 5, 1), "0.16"),
        (dt.date(2019, 3, 31), "0.16"),
        (dt.date(2019, 4, 1), "0.13"),
        (dt.date(2026, 1, 1), "0.13"),
    ],
)
def test_vat_rate_on(day: dt.date, rate: str) -> None:
    assert vat_rate_on(day) == D(rate)
    assert isinstance(vat_rate_on(day), Decimal)


# ---------------------------------------------------------------- statuses


def test_counted_statuses_are_exactly_the_listed_codes() -> None:
    assert COUNTED_STATUSES == frozenset({120, 300, 399, 800, 899} | set(range(500, 600)))
    assert isinstance(COUNTED_STATUSES, frozenset)


@pytest.mark.parametrize("status", [120, 300, 399, 500, 501, 502, 503, 550, 599, 800, 899])
def test_counted(status: int) -> None:
    assert is_counted(status)
    assert not is_counted(status, cancelled=True)
    assert not is_counted(status, returned=True)


@pytest.mark.parametrize("status", [None, 1, 2, 3, 4, 100, 700, -1, -301, 0, 499, 600, 900])
def test_not_counted(status: int | None) -> None:
    assert not is_counted(status)


@pytest.mark.parametrize(
    ("status", "group"),
    [
        (None, IN_PROGRESS),
        (1, IN_PROGRESS),
        (4, IN_PROGRESS),
        (120, IN_PROGRESS),
        (300, IN_PROGRESS),
        (399, IN_PROGRESS),
        (500, IN_PROGRESS),
        (599, IN_PROGRESS),
        (800, RELEASED),
        (899, RELEASED),
        (100, REJECTED),
        (700, REJECTED),
        (-1, REJECTED),
        (-999, REJECTED),
        (42, IN_PROGRESS),  # unknown code: not called final
    ],
)
def test_status_group(status: int | None, group: str) -> None:
    assert status_group(status) == group


@pytest.mark.parametrize("status", [None, 1, 120, 800, 899])
def test_cancelled_or_returned_is_rejected(status: int | None) -> None:
    assert status_group(status, cancelled=True) == REJECTED
    assert status_group(status, returned=True) == REJECTED


def test_status_group_constants() -> None:
    assert STATUS_GROUPS == ("in_progress", "released", "rejected")
    assert (IN_PROGRESS, RELEASED, REJECTED) == STATUS_GROUPS


def test_counted_is_in_progress_or_released() -> None:
    for status in range(-5, 1000):
        if is_counted(status):
            assert status_group(status) in (IN_PROGRESS, RELEASED)
        if status_group(status) == REJECTED:
            assert not is_counted(status)


def test_tax_slip_statuses() -> None:
    assert (TAX_GENERATED, TAX_SUMMARISED, TAX_VOID) == (1, 2, 3)
    assert TAX_SLIP_STATUSES == {1: "generated", 2: "summarised", 3: "void"}


# ---------------------------------------------------------------- quota (Q1–Q5)


def test_dutiable_value_is_goods_plus_freight_plus_insurance_unrounded() -> None:
    assert dutiable_value([D("100.005"), D("20.001")], D("10.5"), D("0.004")) == D("130.510")
    assert dutiable_value([], D("0"), D("0")) == D("0")
    assert isinstance(dutiable_value(iter([D("1")]), D("0"), D("0")), Decimal)


def test_q1_consumed_and_available() -> None:
    q = quota_for(2025, [D("1620.00"), D("410.00")])
    assert q == Quota(year=2025, limit=D(26000), consumed=D("2030.00"), available=D("23970.00"), counted=2)
    assert str(q.consumed) == "2030.00"
    assert not q.over_limit
    assert q.used_ratio == D("2030") / D("26000")


def test_q2_a_full_tax_item_still_counts() -> None:
    tax = line_tax(D("6000.00"), tariff_rate=D("0.10"), consumption_rate=D(0), vat_rate=D("0.13"), within_limits=False)
    q = quota_for(2025, [D("6000.00")])
    assert q.consumed == D("6000.00")  # tax excluded
    assert q.consumed != D("6000.00") + tax.total


def test_q3_q4_old_limit() -> None:
    assert quota_for(2018, [D("1")]).limit == D(20000)
    assert quota_for(2016, [D("1")]).available == D("19999.00")


def test_q5_returned_line_leaves_consumed() -> None:
    lines = [D("1620.00"), D("410.00")]
    freight, insured = D("12.00"), D("0.50")
    before = quota_for(2025, [dutiable_value(lines, freight, insured)])
    # The first line is returned (公告2020年第45号): the caller removes its 完税价格.
    after = quota_for(2025, [dutiable_value(lines, freight, insured) - lines[0]])
    assert before.consumed == D("2042.50")
    assert after.consumed == D("422.50")
    assert after.available - before.available == D("1620.00")


def test_quota_over_limit_and_rounding() -> None:
    q = quota_for(2025, [D("20000.004"), D("6000.003")])
    assert q.consumed == D("26000.01")  # rounded to the fen once, on the sum
    assert q.available == D("-0.01")
    assert q.over_limit
    assert q.used_ratio is not None and q.used_ratio > 1  # not clamped


def test_quota_without_limit_and_empty() -> None:
    q = quota_for(2015, [D("100")])
    assert q.limit is None and q.available is None and q.used_ratio is None
    assert not q.over_limit
    empty = quota_for(2025, [])
    assert (empty.consumed, empty.available, empty.counted) == (D("0.00"), D("26000.00"), 0)
    assert empty.used_ratio == 0


def test_quota_is_frozen() -> None:
    q = quota_for(2025, [])
    with pytest.raises(AttributeError):
        q.consumed = D(1)  # type: ignore[misc]


# ---------------------------------------------------------------- tax (T1–T9)

TAX_VECTORS = [
    # id, P, t, c, v, within, customs, consumption, vat, total
    ("T1", "410.00", "0", "0", "0.13", True, "0.00", "0.00", "37.31", "37.31"),
    ("T2", "1000.00", "0", "0", "0.13", True, "0.00", "0.00", "91.00", "91.00"),
    ("T3", "425.00", "0", "0.15", "0.13", True, "0.00", "52.50", "45.50", "98.00"),
    ("T4", "1000.00", "0", "0.10", "0.13", True, "0.00", "77.78", "101.11", "178.89"),
    ("T5", "199.00", "0", "0", "0.13", True, "0.00", "0.00", "18.11", "18.11"),
    ("T6a", "1000.00", "0", "0", "0.16", True, "0.00", "0.00", "112.00", "112.00"),
    ("T6b", "1000.00", "0", "0", "0.17", True, "0.00", "0.00", "119.00", "119.00"),
    ("T7", "1000.00", "0", "0.15", "0.16", True, "0.00", "123.53", "131.76", "255.29"),
    ("T8", "6000.00", "0.10", "0", "0.13", False, "600.00", "0.00", "858.00", "1458.00"),
    ("T9", "5200.00", "0.05", "0.15", "0.13", False, "260.00", "963.53", "835.06", "2058.59"),
]


@pytest.mark.parametrize(("vid", "p", "t", "c", "v", "within", "customs", "consumption", "vat", "total"), TAX_VECTORS)
def test_tax_vectors(
    vid: str,
    p: str,
    t: str,
    c: str,
    v: str,
    within: bool,
    customs: str,
    consumption: str,
    vat: str,
    total: str,
) -> None:
    tax = line_tax(D(p), tariff_rate=D(t), consumption_rate=D(c), vat_rate=D(v), within_limits=within)
    # Compare strings: exactly two decimals, not merely equal values.
    assert (str(tax.customs), str(tax.consumption), str(tax.vat)) == (customs, consumption, vat), vid
    assert str(tax.total) == total


def test_t3_vat_base_uses_the_full_consumption_tax() -> None:
    tax = line_tax(D("425"), tariff_rate=D(0), consumption_rate=D("0.15"), vat_rate=D("0.13"), within_limits=True)
    assert tax.vat == D("45.50")
    assert tax.vat != D("43.45")  # what the reduced consumption tax in the base would give


def test_within_limits_forces_tariff_to_zero() -> None:
    tax = line_tax(D("1000"), tariff_rate=D("0.20"), consumption_rate=D(0), vat_rate=D("0.13"), within_limits=True)
    assert tax == TaxAmounts(customs=D("0.00"), consumption=D("0.00"), vat=D("91.00"))


def test_outside_limits_is_full_rate() -> None:
    within = line_tax(D("1000"), tariff_rate=D(0), consumption_rate=D(0), vat_rate=D("0.13"), within_limits=True)
    outside = line_tax(D("1000"), tariff_rate=D(0), consumption_rate=D(0), vat_rate=D("0.13"), within_limits=False)
    assert (within.vat, outside.vat) == (D("91.00"), D("130.00"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"price": D("-1")},
        {"consumption_rate": D(1)},
        {"consumption_rate": D("-0.1")},
        {"vat_rate": D("1.5")},
        {"tariff_rate": D("-0.01")},
    ],
)
def test_line_tax_rejects_impossible_inputs(kwargs: dict[str, Decimal]) -> None:
    args = {"price": D("100"), "tariff_rate": D(0), "consumption_rate": D(0), "vat_rate": D("0.13")} | kwargs
    with pytest.raises(ValueError):
        line_tax(args.pop("price"), within_limits=True, **args)


def test_line_tax_refuses_float() -> None:
    with pytest.raises(TypeError):
        line_tax(410.0, tariff_rate=D(0), consumption_rate=D(0), vat_rate=D("0.13"), within_limits=True)  # type: ignore[arg-type]


def test_exact_half_fen_rounds_up() -> None:
    # 0.85 × 0.15 × 0.7 / 0.85 = 0.105 exactly: a half-fen that must round up, not drift down.
    tax = line_tax(D("0.85"), tariff_rate=D(0), consumption_rate=D("0.15"), vat_rate=D(0), within_limits=True)
    assert tax.consumption == D("0.11")


@pytest.mark.parametrize(
    ("c", "v", "rate"),
    [
        ("0", "0.13", "0.0910"),
        ("0.10", "0.13", "0.1789"),
        ("0.15", "0.13", "0.2306"),
        ("0", "0.16", "0.1120"),
        ("0.15", "0.16", "0.2553"),
        ("0", "0.17", "0.1190"),
        ("0.15", "0.17", "0.2635"),
        ("0.30", "0.17", "0.4700"),
    ],
)
def test_comprehensive_rate(c: str, v: str, rate: str) -> None:
    assert comprehensive_rate(D(c), D(v)).quantize(D("0.0001")) == D(rate)


@given(
    st.integers(min_value=100, max_value=2_000_000),
    st.sampled_from(CONSUMPTION_RATES),
    st.sampled_from(VAT_RATES),
)
def test_comprehensive_rate_matches_line_tax(cents: int, c: Decimal, v: Decimal) -> None:
    price = D(cents) / 100
    tax = line_tax(price, tariff_rate=D(0), consumption_rate=c, vat_rate=v, within_limits=True)
    # Two amounts, each off by at most half a fen; the rate itself is a 28-digit Decimal (c/(1-c)
    # repeats), so the product may miss the exact value in the last digits: compare to 1e-10.
    assert abs(tax.total - price * comprehensive_rate(c, v)).quantize(D("1e-10")) <= D("0.01")


# ---------------------------------------------------------------- derived rates


@pytest.mark.parametrize(("vid", "p", "t", "c", "v", "within", "customs", "consumption", "vat", "total"), TAX_VECTORS)
def test_derive_rates_gives_back_the_vector_rates(
    vid: str,
    p: str,
    t: str,
    c: str,
    v: str,
    within: bool,
    customs: str,
    consumption: str,
    vat: str,
    total: str,
) -> None:
    rates = derive_rates(D(p), D(customs), D(consumption), D(vat))  # k inferred from the customs tax
    assert rates == Rates(tariff=D(t), consumption=D(c), vat=D(v)), vid


def test_sample_410_gives_vat_13_exactly() -> None:
    rates = derive_rates(D("410.0"), D("0"), D("0"), D("37.31"))
    assert str(rates.vat) == "0.13"
    assert rates.tariff == 0 and rates.consumption == 0


def test_derive_rates_unknowns() -> None:
    assert derive_rates(D(0), D(0), D(0), D("1")) == Rates(None, None, None)
    assert derive_rates(None, D(0), D(0), D("1")) == Rates(None, None, None)
    # Outside the limits without the customs tax the base P + D is unknown.
    assert derive_rates(D("6000"), None, D(0), D("858"), within_limits=False) == Rates(None, None, None)
    # VAT depends on the consumption-tax rate.
    assert derive_rates(D("410"), D(0), None, D("37.31")) == Rates(D(0), None, None)
    assert derive_rates(D("425"), D(0), D("52.50"), None) == Rates(D(0), D("0.15"), None)


def test_derive_rates_explicit_limits_flag() -> None:
    # Outside the limits with a 0 tariff the customs tax is 0, so inference would say "within".
    tax = line_tax(D("6000"), tariff_rate=D(0), consumption_rate=D(0), vat_rate=D("0.13"), within_limits=False)
    assert derive_rates(D("6000"), tax.customs, tax.consumption, tax.vat, within_limits=False) == Rates(
        D(0), D(0), D("0.13")
    )
    assert derive_rates(D("6000"), tax.customs, tax.consumption, tax.vat).vat != D("0.13")


def test_non_statutory_rates_come_back_raw() -> None:
    # VAT 12% and tariff 8.4% are not in the snapping sets: shown to 0.01 %.
    tax = line_tax(D("6000"), tariff_rate=D("0.084"), consumption_rate=D(0), vat_rate=D("0.12"), within_limits=False)
    rates = derive_rates(D("6000"), tax.customs, tax.consumption, tax.vat)
    assert rates == Rates(D("0.084"), D(0), D("0.12"))
    assert str(rates.tariff) == "0.0840"


def test_on_date_prefers_the_vat_rate_then_in_force() -> None:
    # P = 0.50: 16 % and 17 % both give VAT 0.06 within the limits.
    args = (D("0.50"), D(0), D(0), D("0.06"))
    assert derive_rates(*args).vat == D("0.17")  # nearest to the raw ratio
    assert derive_rates(*args, on=dt.date(2018, 6, 1)).vat == D("0.16")


TARIFFS = [D(n) / 200 for n in range(0, 101)]  # 0 … 50 % in half per cent


def _all_reproducing(price: Decimal, tax: TaxAmounts, within: bool) -> set[tuple[Decimal, Decimal, Decimal]]:
    """Brute force: every statutory (t, c, v) whose line_tax gives exactly these amounts."""
    found = set()
    for t in [D(0)] if within else TARIFFS:
        for c in CONSUMPTION_RATES:
            for v in VAT_RATES:
                kw = {"tariff_rate": t, "consumption_rate": c, "vat_rate": v}
                if line_tax(price, within_limits=within, **kw) == tax:
                    found.add((t, c, v))
    return found


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=100, max_value=2_000_000),
    st.sampled_from(TARIFFS),
    st.sampled_from(CONSUMPTION_RATES),
    st.sampled_from(VAT_RATES),
    st.booleans(),
)
def test_derive_rates_inverts_line_tax(cents: int, t: Decimal, c: Decimal, v: Decimal, within: bool) -> None:
    price = D(cents) / 100
    tax = line_tax(price, tariff_rate=t, consumption_rate=c, vat_rate=v, within_limits=within)
    rates = derive_rates(price, tax.customs, tax.consumption, tax.vat, within_limits=within)
    expected = Rates(D(0) if within else t, c, v)
    if price >= 2:
        # From 2 元 up every statutory step moves some amount by at least a fen: the rates are unique.
        assert rates == expected
    else:
        # Below that several rates can give the same fen; ours must still reproduce the amounts.
        assert rates.tariff is not None and rates.consumption is not None and rates.vat is not None
        kw = {"tariff_rate": rates.tariff, "consumption_rate": rates.consumption, "vat_rate": rates.vat}
        assert line_tax(price, within_limits=within, **kw) == tax
        if len(_all_reproducing(price, tax, within)) == 1:
            assert rates == expected


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=100, max_value=2_000_000),
    st.sampled_from(TARIFFS[1:]),
    st.sampled_from(CONSUMPTION_RATES),
    st.sampled_from(VAT_RATES),
)
def test_derive_rates_infers_outside_from_customs_tax(cents: int, t: Decimal, c: Decimal, v: Decimal) -> None:
    price = D(cents) / 100
    tax = line_tax(price, tariff_rate=t, consumption_rate=c, vat_rate=v, within_limits=False)
    assert tax.customs > 0
    rates = derive_rates(price, tax.customs, tax.consumption, tax.vat)
    if price >= 2:
        assert rates == Rates(t, c, v)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=199), st.sampled_from(CONSUMPTION_RATES), st.sampled_from(VAT_RATES))
def test_uniqueness_threshold_is_honest(cents: int, c: Decimal, v: Decimal) -> None:
    # The brute force agrees with derive_rates whenever it finds exactly one answer below 2 元.
    price = D(cents) / 100
    tax = line_tax(price, tariff_rate=D(0), consumption_rate=c, vat_rate=v, within_limits=True)
    hits = _all_reproducing(price, tax, True)
    assert (D(0), c, v) in hits
    rates = derive_rates(price, tax.customs, tax.consumption, tax.vat, within_limits=True)
    assert (rates.tariff, rates.consumption, rates.vat) in hits


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=200, max_value=2000),
    st.sampled_from(TARIFFS),
    st.sampled_from(CONSUMPTION_RATES),
    st.sampled_from(VAT_RATES),
    st.booleans(),
)
def test_derive_rates_unique_just_above_2_yuan(cents: int, t: Decimal, c: Decimal, v: Decimal, within: bool) -> None:
    # The small prices where adjacent statutory rates are closest in fen.
    price = D(cents) / 100
    tax = line_tax(price, tariff_rate=t, consumption_rate=c, vat_rate=v, within_limits=within)
    rates = derive_rates(price, tax.customs, tax.consumption, tax.vat, within_limits=within)
    assert rates == Rates(D(0) if within else t, c, v)
