"""The callback_data codec: exact round trips, the 64-byte bound, and strict canonical decoding."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot import callbacks as cb
from bot.domain import calculator, cbec
from bot.domain.records import NOTIFY_KINDS, DateRange

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)

# ---------------------------------------------------------------- strategies

tags = st.one_of(st.just(cb.UNBOUND), st.from_regex(r"[A-Za-z0-9]{6}", fullmatch=True))
ids = st.one_of(st.integers(1, cb.MAX_ID), st.sampled_from([1, 35, 36, cb.MAX_ID]))
pages = st.one_of(st.integers(0, cb.MAX_PAGE), st.sampled_from([0, 1, cb.MAX_PAGE]))
years = st.integers(cb.MIN_YEAR, cb.MAX_YEAR)
days = st.dates(cb.MIN_DATE, cb.MAX_DATE)


@st.composite
def date_filters(draw: st.DrawFn) -> cb.DateFilter:
    if draw(st.booleans()):
        return cb.DateFilter(draw(st.sampled_from(cb.PRESETS)))
    a, b = sorted([draw(days), draw(days)])
    return cb.DateFilter.custom(a, b)


fingerprints = st.one_of(st.none(), st.text(min_size=1, max_size=60).map(cb.fingerprint))
tax_lists = st.builds(cb.TaxList, st.sampled_from([None, *cbec.TAX_SLIP_STATUSES]), date_filters(), pages)
clearance_lists = st.builds(
    cb.ClearanceList, st.sampled_from([None, *cbec.STATUS_GROUPS]), date_filters(), pages, fingerprints
)

quota_details = st.builds(cb.QuotaDetails, years, pages)
months = st.tuples(years, st.integers(1, 12))
categories = st.sampled_from(sorted(calculator.BY_KEY))
export_targets = st.sampled_from([cb.EXPORT_TAX, cb.EXPORT_CLEARANCE])


@st.composite
def calc_results(draw: st.DrawFn, *, longest: bool = False) -> cb.CalcResult:
    low = cb.MAX_PRICE_FEN - 1000 if longest else 1
    price = draw(st.integers(low, cb.MAX_PRICE_FEN))
    unit = draw(st.sampled_from(calculator.MEASURES) if longest else st.sampled_from([None, *calculator.MEASURES]))
    if unit is None:
        return cb.CalcResult(draw(categories), price)
    amount = draw(st.integers(cb.MAX_MEASURE_CENTI - 1000 if longest else 1, cb.MAX_MEASURE_CENTI))
    return cb.CalcResult(draw(categories), price, unit, amount)

states = st.one_of(
    st.sampled_from(
        [
            cb.Noop(),
            cb.Menu(),
            cb.Help(),
            cb.Privacy(),
            cb.BindStart(),
            cb.BindCancel(),
            cb.Settings(),
            cb.UnbindAsk(),
            cb.UnbindConfirm(),
            cb.Calc(),
            cb.MyData(),
            cb.MyDataSend(),
        ]
    ),
    st.builds(cb.Quota, years),
    quota_details,
    tax_lists,
    st.builds(cb.TaxDetail, ids, tax_lists),
    clearance_lists,
    st.builds(cb.ClearanceDetail, ids, st.one_of(clearance_lists, quota_details)),
    st.builds(cb.ClearanceSearch, clearance_lists),
    st.builds(cb.Calendar, st.one_of(tax_lists, clearance_lists), months, st.one_of(st.none(), days)),
    st.builds(cb.SetLanguage, st.sampled_from(["zh_CN", "en"])),
    st.builds(cb.SetNotify, st.sampled_from(NOTIFY_KINDS), st.booleans()),
    st.builds(cb.Suspicious, ids, st.sampled_from([cb.ME, cb.NOT_ME])),
    st.builds(cb.OpenTaxFromNotice, ids),
    st.builds(cb.CalcAsk, categories),
    calc_results(),
    st.builds(cb.QuotaChart, years),
    st.builds(cb.ExportMenu, export_targets, years),
    st.builds(cb.ExportFile, export_targets, years, st.sampled_from([cb.CSV, cb.PDF])),
)


# ---------------------------------------------------------------- properties


@given(states, tags)
@settings(max_examples=1500)
def test_round_trip_exact_and_within_64_bytes(state: cb.State, tag: str) -> None:
    data = cb.encode(state, tag)
    assert data.isascii()
    assert 1 <= len(data.encode()) <= cb.MAX_BYTES
    assert cb.decode(data) == (tag, state)
    assert cb.decode(data.encode()) == (tag, state)


def _check_any(data: bytes) -> None:
    try:
        tag, state = cb.decode(data)
    except cb.BadCallback:
        return
    # Whatever decodes is canonical: re-encoding gives back the very same bytes.
    assert cb.encode(state, tag).encode() == data


@given(st.binary(min_size=0, max_size=100))
@settings(max_examples=2000)
@example(b"")
@example(b"1.-.m")
@example(b"1.-.m.")
@example(b"2.-.m")
@example(b"1.-.q.02026")
@example(b"\xff\xfe")
def test_any_bytes_decode_or_bad_callback(data: bytes) -> None:
    _check_any(data)


# Random bytes rarely look like our format; these are close to it and exercise the parser deeply.
_alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_ +"
near_misses = st.one_of(
    st.text(alphabet=_alphabet, max_size=70).map(lambda s: ("1.-." + s).encode()),
    st.text(alphabet=_alphabet, max_size=70).map(lambda s: ("1.aZ3k9Q." + s).encode()),
)


@given(near_misses)
@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
def test_near_miss_strings_decode_or_bad_callback(data: bytes) -> None:
    _check_any(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(cb.encode(draw(states), draw(tags)).encode())
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "drop", "insert", "truncate"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[i] = draw(st.sampled_from(b"0az.-Z9_\xff"))
        elif op == "drop" and data:
            del data[i]
        elif op == "insert":
            data.insert(i, draw(st.sampled_from(b"0az.-Z9")))
        else:
            del data[i:]
    return bytes(data)


@given(mutated())
@settings(max_examples=3000)
def test_mutated_encodings_decode_or_bad_callback(data: bytes) -> None:
    _check_any(data)


def test_the_strategy_covers_every_state_the_codec_knows() -> None:
    """A state added to the codec without a strategy here would never be property-tested."""
    defined = {c for c in vars(cb).values() if isinstance(c, type) and issubclass(c, cb.State) and c is not cb.State}
    assert defined == set(cb._KINDS)
    seen: set[type] = set()

    @given(states)
    @settings(max_examples=600, database=None)
    def collect(state: cb.State) -> None:
        seen.add(type(state))

    collect()
    assert seen == set(cb._KINDS)


# Extreme field values (the longest encodings) for every kind, nested states included.
far_days = st.dates(cb.MAX_DATE - timedelta(days=400), cb.MAX_DATE)


@st.composite
def long_filters(draw: st.DrawFn) -> cb.DateFilter:
    a, b = sorted([draw(far_days), draw(far_days)])
    return cb.DateFilter.custom(a, b)


long_pages = st.integers(cb.MAX_PAGE - 1000, cb.MAX_PAGE)
long_ids = st.integers(cb.MAX_ID - 10**6, cb.MAX_ID)
long_tax_lists = st.builds(cb.TaxList, st.sampled_from(sorted(cbec.TAX_SLIP_STATUSES)), long_filters(), long_pages)
long_clearance_lists = st.builds(
    cb.ClearanceList, st.sampled_from(sorted(cbec.STATUS_GROUPS)), long_filters(), long_pages, fingerprints.filter(bool)
)
long_backs = st.one_of(long_tax_lists, long_clearance_lists)
long_states = st.one_of(
    st.builds(cb.TaxDetail, long_ids, long_tax_lists),
    st.builds(
        cb.ClearanceDetail, long_ids, st.one_of(long_clearance_lists, st.builds(cb.QuotaDetails, years, long_pages))
    ),
    st.builds(cb.ClearanceSearch, long_clearance_lists),
    st.builds(cb.Calendar, long_backs, st.tuples(st.just(cb.MAX_YEAR), st.integers(1, 12)), far_days),
    st.builds(cb.Suspicious, long_ids, st.sampled_from([cb.ME, cb.NOT_ME])),
    st.builds(cb.OpenTaxFromNotice, long_ids),
    st.builds(cb.QuotaDetails, years, long_pages),
    calc_results(longest=True),
    st.builds(cb.ExportFile, export_targets, years, st.sampled_from([cb.CSV, cb.PDF])),
)


@given(long_states, st.from_regex(r"[A-Za-z0-9]{6}", fullmatch=True))
@settings(max_examples=500)
def test_the_longest_states_still_fit_in_64_bytes(state: cb.State, tag: str) -> None:
    data = cb.encode(state, tag)
    assert len(data.encode()) <= cb.MAX_BYTES
    assert cb.decode(data) == (tag, state)


@given(st.binary(min_size=cb.MAX_BYTES + 1, max_size=300))
@settings(max_examples=300)
def test_anything_over_64_bytes_is_rejected(data: bytes) -> None:
    with pytest.raises(cb.BadCallback):
        cb.decode(data)


@given(states, tags, st.text(min_size=1, max_size=40))
@settings(max_examples=500)
def test_a_valid_encoding_with_anything_appended_is_rejected_or_canonical(state: cb.State, tag: str, tail: str) -> None:
    data = cb.encode(state, tag) + tail
    try:
        got_tag, got = cb.decode(data)
    except cb.BadCallback:
        return
    assert cb.encode(got, got_tag) == data and cb.is_tag(got_tag)


@given(st.text(max_size=80))
@settings(max_examples=1500)
def test_any_text_decodes_to_a_valid_state_or_bad_callback(text: str) -> None:
    try:
        tag, state = cb.decode(text)
    except cb.BadCallback:
        return
    assert type(state) in cb._KINDS and cb.is_tag(tag)
    assert cb.encode(state, tag) == text


# ---------------------------------------------------------------- examples

T = "aZ3k9Q"


def test_readable_examples() -> None:
    assert cb.encode(cb.Menu(), T) == "1.aZ3k9Q.m"
    assert cb.encode(cb.Quota(2026), T) == "1.aZ3k9Q.q.2026"
    assert cb.encode(cb.TaxList(2, cb.DateFilter(cb.LAST_30_DAYS), 1), T) == "1.aZ3k9Q.t.2.d.1"
    assert cb.encode(cb.SetLanguage("en"), cb.UNBOUND) == "1.-.l.e"
    assert cb.encode(cb.CalcResult("cos", 68000, calculator.VOLUME, 3000), cb.UNBOUND) == "1.-.r.cos.1ggw.l.2bc"
    assert cb.encode(cb.CalcResult("gen", 30000), T) == "1.aZ3k9Q.r.gen.n5c.."
    assert cb.encode(cb.ExportFile(cb.EXPORT_TAX, 2025, cb.PDF), T) == "1.aZ3k9Q.E.t.2025.p"
    custom = cb.DateFilter.custom(date(2000, 1, 1), date(2000, 2, 6))
    assert cb.encode(cb.ClearanceList(cbec.RELEASED, custom), T) == "1.aZ3k9Q.c.r.0-10.0."


def test_maximal_states_fit() -> None:
    worst = cb.DateFilter.custom(date(2099, 12, 30), date(2099, 12, 31))
    back = cb.ClearanceList(cbec.REJECTED, worst, cb.MAX_PAGE, cb.fingerprint("x" * 60))
    for state in (
        cb.ClearanceDetail(cb.MAX_ID, back),
        cb.Calendar(back, (2099, 12), date(2099, 12, 31)),
        cb.ClearanceSearch(back),
        cb.TaxDetail(cb.MAX_ID, cb.TaxList(cbec.TAX_VOID, worst, cb.MAX_PAGE)),
    ):
        assert len(cb.encode(state, T)) <= 64


@pytest.mark.parametrize(
    "data",
    [
        "0.aZ3k9Q.m",  # unknown version
        "1.aZ3k9.m",  # short tag
        "1.aZ3k9Q!.m",
        "1.aZ3k9Q.m.x",  # extra field
        "1.aZ3k9Q.q",  # missing field
        "1.aZ3k9Q.q.02026",  # non-canonical year
        "1.aZ3k9Q.q.1999",  # year out of range
        "1.aZ3k9Q.Q.2026.01",  # leading zero
        "1.aZ3k9Q.Q.2026.A",  # upper case base36
        "1.aZ3k9Q.Q.2026.+1",
        "1.aZ3k9Q.Q.2026.1_0",
        "1.aZ3k9Q.Q.2026.255s",  # page over the maximum
        "1.aZ3k9Q.o.0",  # id 0
        "1.aZ3k9Q.o.1y2p0ij32e8e8",  # id 2**63
        "1.aZ3k9Q.t.4.a.0",  # unknown tax status
        "1.aZ3k9Q.t.0.z.0",  # unknown date preset
        "1.aZ3k9Q.t.0.10-0.0",  # range ends before it starts
        "1.aZ3k9Q.t.0.0-s6l.0",  # end after 2099-12-31 (s6k)
        "1.aZ3k9Q.t.0.0-.0",
        "1.aZ3k9Q.c.a.a.0.ABCDEF",  # fingerprint not lower base36
        "1.aZ3k9Q.c.a.a.0.abc",
        "1.aZ3k9Q.T.1.c.a.a.0.",  # a tax detail cannot go back to a clearance list
        "1.aZ3k9Q.k.0..m",  # a calendar must go back to a list
        "1.aZ3k9Q.k.xc..t.0.a.0",  # month past 2099-12
        "1.aZ3k9Q.N.t.2",
        "1.aZ3k9Q.S.1.m",
        "1.aZ3k9Q.l.zh",
        "1.aZ3k9Q.Z",
        "1.-.i.xyz",  # unknown calculator category
        "1.-.r.gen.0..",  # price 0
        "1.-.r.gen.1..1",  # an amount without a unit
        "1.-.r.cos.1.l.",  # a unit without an amount
        "1.-.r.cos.1.q.1",  # unknown unit
        "1.-.r.gen.1",
        "1.aZ3k9Q.E.t.2025.x",  # unknown format
        "1.aZ3k9Q.e.z.2025",  # unknown export
        "1.-.m" + "x" * 60,  # oversize
        "1.-.ḿ",
        "",
    ],
)
def test_rejects(data: str) -> None:
    with pytest.raises(cb.BadCallback):
        cb.decode(data)


def test_encode_rejects_bad_tags() -> None:
    for tag in ("", "abc", "abcdefg", "ab-def", "абвгде"):
        with pytest.raises(ValueError):
            cb.encode(cb.Menu(), tag)


def test_state_validation() -> None:
    with pytest.raises(ValueError):
        cb.DateFilter.custom(date(2025, 2, 1), date(2025, 1, 1))
    with pytest.raises(ValueError):
        cb.DateFilter(cb.CUSTOM)
    with pytest.raises(ValueError):
        cb.TaxList(page=-1)
    with pytest.raises(ValueError):
        cb.ClearanceList(group="nope")
    with pytest.raises(ValueError):
        cb.Calendar(cb.TaxList(), (2025, 13))
    with pytest.raises(ValueError):
        cb.ClearanceDetail(5, cb.TaxList())  # type: ignore[arg-type]


def test_new_tag_and_fingerprint() -> None:
    from storage.bindings import new_tag

    tags_seen = {new_tag() for _ in range(50)}
    assert all(cb.TAG_RE.fullmatch(t) for t in tags_seen) and len(tags_seen) == 50
    assert cb.fingerprint("CEB123") == cb.fingerprint("CEB123")
    assert cb.fingerprint("CEB123") != cb.fingerprint("CEB124")
    assert len(cb.fingerprint("")) == 6


def test_normalize_term() -> None:
    assert cb.normalize_term("  4403 2024 I123 ") == "44032024I123"
    assert cb.normalize_term("   ") is None
    assert cb.normalize_term("x" * 61) is None
    assert cb.normalize_term("订单123") is None
    assert cb.normalize_term("x" * 60) == "x" * 60


def test_presets_resolve_against_today() -> None:
    today = date(2025, 5, 31)
    assert cb.DateFilter().resolve(today) == DateRange()
    assert cb.DateFilter(cb.LAST_30_DAYS).resolve(today) == DateRange(date(2025, 5, 2), today)
    # three months back from 31 May is 28 Feb (clamped); the range starts the day after
    assert cb.DateFilter(cb.LAST_3_MONTHS).resolve(today) == DateRange(date(2025, 3, 1), today)
    assert cb.DateFilter(cb.LAST_3_MONTHS).resolve(date(2025, 1, 15)) == DateRange(
        date(2024, 10, 16), date(2025, 1, 15)
    )
    assert cb.DateFilter(cb.THIS_YEAR).resolve(today) == DateRange(date(2025, 1, 1), today)
    custom = cb.DateFilter.custom(date(2024, 2, 1), date(2024, 2, 29))
    assert custom.resolve(today) == DateRange(date(2024, 2, 1), date(2024, 2, 29))


def test_list_states_to_query_filters() -> None:
    today = date(2025, 5, 31)
    f = cb.TaxList(cbec.TAX_VOID, cb.DateFilter(cb.THIS_YEAR)).to_filter(today)
    assert f.status == cbec.TAX_VOID and f.dates == DateRange(date(2025, 1, 1), today)
    state = cb.ClearanceList(cbec.RELEASED, search=cb.fingerprint("X1"))
    lf = state.to_filter(today, "X1")
    assert lf.group == cbec.RELEASED and lf.number == "X1" and lf.dates == DateRange()
    assert cb.ClearanceList().to_filter(today, "X1").number is None  # no search in the state
    assert cb.TaxList().is_default and cb.ClearanceList().is_default
    assert not cb.ClearanceList(search=cb.fingerprint("X1")).is_default


def test_calendar_step_and_target() -> None:
    c = cb.Calendar(cb.TaxList(), (2025, 1))
    assert (c.step, c.target) == ("start", "tax")
    c = cb.Calendar(cb.ClearanceList(), (2025, 1), date(2025, 1, 5))
    assert (c.step, c.target) == ("end", "clr")
