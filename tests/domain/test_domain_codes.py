"""bot.domain.codes: bilingual code tables (domain.md §2.3, §2.4, §3; vectors M6–M9)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import codes
from bot.domain.codes import (
    COUNTRIES,
    CURRENCIES,
    LIST_STATUSES,
    UNITS,
    country_name,
    currency_name,
    customs_name,
    id_type_name,
    is_chinese,
    list_status_name,
    list_status_note,
    tax_status_name,
    trade_mode_name,
    unit_name,
)

ZH, EN = "zh_CN", "en"


# ---------------------------------------------------------------- vectors from the brief / domain.md


def test_142_differs_by_table() -> None:
    assert currency_name("142", ZH) == "人民币"
    assert currency_name("142", EN) == "Chinese yuan"
    assert unit_name("142", ZH) == "瓶"
    assert unit_name("142", EN) == "bottle"
    assert country_name("142", ZH) == "中国"


def test_japan() -> None:
    assert country_name("116", ZH) == "日本"
    assert country_name(116, EN) == "Japan"
    assert currency_name("116", ZH) == "日元"


@pytest.mark.parametrize(
    ("status", "zh"),
    [(800, "放行"), (100, "海关退单"), (399, "海关审结")],  # M6, M7, M8
)
def test_list_status_vectors(status: int, zh: str) -> None:
    assert list_status_name(status, ZH) == zh


def test_tax_status_vector_m9() -> None:
    assert tax_status_name(3, ZH) == "作废"
    assert tax_status_name(3, EN) == "Void"
    assert [tax_status_name(s, ZH) for s in (1, 2)] == ["已生成", "已汇总"]


def test_known_errors_in_public_tables_are_not_copied() -> None:
    assert country_name("303", ZH) == "英国"
    assert country_name("305", ZH) == "法国"
    assert unit_name("122", ZH) == "罐"
    assert unit_name("140", ZH) == "盒"


# ---------------------------------------------------------------- completeness against domain.md §3


def test_all_40_units() -> None:
    expected = (
        "001 002 003 006 007 008 010 011 012 014 015 016 017 018 019 020 021 022 025 026 "
        "030 032 035 036 070 083 095 096 120 121 122 123 125 127 132 136 139 140 142 163"
    ).split()
    assert sorted(UNITS) == expected
    assert len(UNITS) == 40


def test_all_currencies() -> None:
    expected = "110 116 121 122 127 129 132 133 136 142 143 300 302 303 326 330 331 501 502 601 609".split()
    assert sorted(CURRENCIES) == expected
    assert currency_name("502", ZH) == "美元"
    assert currency_name("300", EN) == "euro"


def test_all_countries() -> None:
    expected = (
        "110 112 116 121 122 129 132 133 136 141 142 143 301 302 303 304 305 306 307 309 "
        "312 315 318 326 330 331 344 501 502 601 609 701 999"
    ).split()
    assert sorted(COUNTRIES) == expected
    assert country_name("502", EN) == "United States"
    assert country_name("701", ZH).startswith("国(地)别不详")


@pytest.mark.parametrize("table", [UNITS, CURRENCIES, COUNTRIES, codes.TRADE_MODES, codes.CUSTOMS_DISTRICTS])
def test_every_entry_has_two_non_empty_names(table: dict[str, tuple[str, str]]) -> None:
    for code, (zh, en) in table.items():
        assert code.isdigit()
        assert zh and en and zh != en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), code
        assert en.isascii(), code


def test_trade_modes_and_id_types() -> None:
    assert trade_mode_name("9610", ZH) == "跨境贸易电子商务"
    assert trade_mode_name(1210, ZH) == "保税跨境贸易电子商务"
    assert trade_mode_name("1239", EN).startswith("Bonded")
    assert trade_mode_name("9710", ZH) == "9710"  # B2B export: not in our table
    assert id_type_name("1", ZH) == "身份证"
    assert id_type_name(2, EN) == "Other"


# ---------------------------------------------------------------- normalisation and fallbacks


@pytest.mark.parametrize("code", ["7", "007", 7, " 007 ", "07"])
def test_unit_codes_are_zero_padded(code: str | int) -> None:
    assert unit_name(code, ZH) == "个"
    assert unit_name(code, EN) == "piece"


@pytest.mark.parametrize(
    ("func", "code"),
    [
        (unit_name, "999"),
        (currency_name, "000"),
        (country_name, "998"),
        (country_name, "JPN"),  # ISO alpha codes are not what CEB uses
        (currency_name, "USD"),
        (trade_mode_name, "0110"),
        (id_type_name, "3"),
        (country_name, "１１６"),  # full-width digits: not a code we know, shown as is
    ],
)
def test_unknown_code_returns_the_raw_code(func, code: str) -> None:  # type: ignore[no-untyped-def]
    assert func(code, ZH) == code
    assert func(code, EN) == code


@pytest.mark.parametrize(
    "func",
    [
        unit_name,
        currency_name,
        country_name,
        trade_mode_name,
        id_type_name,
        list_status_name,
        tax_status_name,
        customs_name,
    ],
)
def test_none_or_blank_is_a_dash(func) -> None:  # type: ignore[no-untyped-def]
    for missing in (None, "", "  "):
        assert func(missing, ZH) == "-"
        assert func(missing, EN) == "-"


@pytest.mark.parametrize(
    ("lang", "chinese"),
    [
        ("zh_CN", True),
        ("zh", True),
        ("zh-Hans", True),
        ("ZH_cn", True),
        ("en", False),
        ("en_US", False),
        ("ru", False),
        ("", False),
        (None, False),
    ],
)
def test_language_selection(lang: str | None, chinese: bool) -> None:
    assert is_chinese(lang) is chinese
    assert country_name("116", lang) == ("日本" if chinese else "Japan")


# ---------------------------------------------------------------- list statuses and notes


def test_all_documented_list_statuses_have_names() -> None:
    documented = {1, 2, 3, 4, 100, 120, 300, 399, 500, 501, 502, 503, 599, 700, 800, 899}
    # 600 挂起 is not official; two code bases use it for suspensions (next-features.md §1.1).
    assert set(LIST_STATUSES) == documented | {600}
    for status in documented:
        assert list_status_name(status, ZH) != str(status)
        assert list_status_name(status, EN) != str(status)


def test_negative_status_is_a_processing_error() -> None:
    assert list_status_name(-1, ZH) == "处理异常"
    assert list_status_name("-301", EN) == "Processing error"
    assert "error" in list_status_note(-5, EN)


def test_status_given_as_string() -> None:
    assert list_status_name("800", ZH) == "放行"
    assert list_status_name(" 899 ", EN) == "Closed"
    assert tax_status_name("1", EN) == "Generated"


def test_unknown_status_is_raw() -> None:
    assert list_status_name(42, ZH) == "42"
    assert list_status_name("abc", EN) == "abc"
    assert tax_status_name(9, ZH) == "9"
    assert list_status_name("8" * 5000, ZH) == "8" * 5000  # int() refuses > 4300 digits; still no raise
    assert unit_name("8" * 5000, EN) == "8" * 5000


@pytest.mark.parametrize(
    ("status", "en", "zh"),
    [
        (800, "released by customs", "海关已放行"),
        (100, "rejected by customs (e.g. quota exceeded or data error)", "海关退单（如超出额度或数据有误）"),
        (None, "no customs receipt yet", "尚无海关回执"),
        (12345, "unknown status", "未知状态"),
    ],
)
def test_list_status_note(status: int | None, en: str, zh: str) -> None:
    assert list_status_note(status, EN) == en
    assert list_status_note(status, ZH) == zh


def test_notes_are_distinct_from_names() -> None:
    for status in LIST_STATUSES:
        assert list_status_note(status, EN)
        assert list_status_note(status, ZH)
        assert list_status_note(status, EN) != list_status_note(status, ZH)


# ---------------------------------------------------------------- customs offices (关区)


def test_customs_names() -> None:
    assert customs_name("2900", ZH) == "杭州关区"
    assert customs_name(5300, EN) == "Shenzhen Customs"
    assert customs_name("2924", ZH) == "杭州关区（2924）"  # subordinate office → its district
    assert customs_name("2924", EN) == "Hangzhou Customs (2924)"
    assert customs_name("1234", ZH) == "1234"  # district 12 not in our table
    assert customs_name("29", ZH) == "29"
    assert customs_name("29245", ZH) == "29245"
    assert customs_name("9" * 5000, ZH) == "9" * 5000  # no int() on huge strings


# ---------------------------------------------------------------- never raise


@given(
    st.one_of(st.none(), st.text(max_size=12), st.integers(min_value=-(10**12), max_value=10**12), st.booleans()),
    st.one_of(st.none(), st.text(max_size=8)),
)
def test_lookups_never_raise(code, lang) -> None:  # type: ignore[no-untyped-def]
    for func in (
        unit_name,
        currency_name,
        country_name,
        trade_mode_name,
        id_type_name,
        customs_name,
        list_status_name,
        list_status_note,
        tax_status_name,
    ):
        out = func(code, lang)
        assert isinstance(out, str)
        assert out.strip(), (func.__name__, code)
