"""bot.domain.identity: ID numbers (domain.md §5 vectors), phones, masking."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from bot.domain.identity import (
    InvalidIdNumber,
    InvalidPhone,
    check_id_number,
    is_valid_id_number,
    make_id_number,
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_id_number,
    normalize_phone,
)

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)

TODAY = dt.date(2025, 6, 1)

# An independent MOD 11-2 (ISO 7064) oracle, so the tests do not only trust stdnum.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def mod11_2(body17: str) -> str:
    r = sum(int(a) * w for a, w in zip(body17, _WEIGHTS, strict=True)) % 11
    return "10X98765432"[r]


# ---------------------------------------------------------------- domain.md "Resident ID numbers"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002X", "11010519491231002X"),  # GB 11643-1999 example
        ("440524188001010014", "440524188001010014"),  # stdnum validate() rejects: county anachronism
        ("360426199101010071", "360426199101010071"),
        ("44011320141005001x", "44011320141005001X"),  # lower-case x normalised
        ("110101202311012176", "110101202311012176"),
        ("990426199112010074", "990426199112010074"),  # unknown region 99 is not a rejection
    ],
)

def test_valid_numbers(raw: str, expected: str) -> None:
    assert check_id_number(raw, TODAY) == expected
    assert is_valid_id_number(raw, TODAY)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("110101202311012171", "checksum"),
        ("110105194912310021", "checksum"),  # should be X
        ("11010519491331002X", "checksum"),  # month 13, and the checksum also fails (checked first)
        ("11010519491231002", "length"),
        ("110105209912310029", "future"),  # checksum valid; stdnum would accept it
        ("110105491231002", "length"),  # old 15-digit format
        ("", "length"),
        ("1101051949123100X2", "format"),  # X only as the check character
        ("11010519491231002Y", "format"),
        ("11010519A91231002X", "format"),
    ],
)
def test_invalid_numbers(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdNumber) as exc:
        check_id_number(raw, TODAY)
    assert exc.value.reason == reason
    assert not is_valid_id_number(raw, TODAY)


def test_unknown_region_really_is_rejected_by_stdnum() -> None:
    # Guard for why we do not call validate(): if stdnum changes, this reminds us to re-read §5.
    assert not ric.is_valid("990426199112010074")
    assert not ric.is_valid("440524188001010014")


def test_future_is_relative_to_today() -> None:
    assert check_id_number("110105209912310029", dt.date(2100, 1, 1)) == "110105209912310029"
    born_today = make_id_number("110105", TODAY, 1)
    assert check_id_number(born_today, TODAY) == born_today
    with pytest.raises(InvalidIdNumber) as exc:
        check_id_number(born_today, TODAY - dt.timedelta(days=1))
    assert exc.value.reason == "future"


@pytest.mark.parametrize(
    "body",
    [
        "11010519490229001",  # 1949 is not a leap year
        "11010519491301001",  # month 13
        "11010519491200001",  # day 0
        "11010518791231001",  # before 1880-01-01
    ],
)
def test_birth_date_must_be_real_and_after_1880(body: str) -> None:
    number = body + mod11_2(body)  # correct checksum, so the date check is what fails
    with pytest.raises(InvalidIdNumber) as exc:
        check_id_number(number, TODAY)
    assert exc.value.reason == "birth_date"


def test_1880_01_01_is_the_earliest_accepted() -> None:
    assert is_valid_id_number(make_id_number("440524", dt.date(1880, 1, 1), 1), TODAY)


@pytest.mark.parametrize(
    "raw",
    [
        " 1101 0519 4912 3100 2x ",
        "110105-19491231-002X",
        "110105–19491231—002x",  # en and em dashes
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width, as typed on a Chinese keyboard
        "110105\t19491231\n002X",
    ],
)
def test_normalisation_strips_spaces_and_dashes(raw: str) -> None:
    assert normalize_id_number(raw) == "11010519491231002X"
    assert check_id_number(raw, TODAY) == "11010519491231002X"


def test_normalize_uppercases_only_a_trailing_x() -> None:
    assert normalize_id_number("4401132014100500 1x") == "44011320141005001X"
    assert normalize_id_number("x1") == "x1"


def test_error_message_never_holds_the_number() -> None:
    for raw in ("110101202311012171", "110105209912310029", "11010519491231002", "11010519A91231002X"):
        with pytest.raises(InvalidIdNumber) as exc:
            check_id_number(raw, TODAY)
        assert not re.search(r"\d{4}", str(exc.value)), str(exc.value)
        assert raw[:6] not in repr(exc.value)


def test_non_string_is_a_format_error() -> None:
    with pytest.raises(InvalidIdNumber) as exc:
        check_id_number(None, TODAY)  # type: ignore[arg-type]
    assert exc.value.reason == "format"


def test_invalid_id_number_is_a_value_error_with_known_reasons() -> None:
    assert issubclass(InvalidIdNumber, ValueError)
    with pytest.raises(ValueError):
        InvalidIdNumber("because")


# ---------------------------------------------------------------- make_id_number and the stdnum trap


def test_make_id_number_reproduces_the_standard_example() -> None:
    assert make_id_number("110105", dt.date(1949, 12, 31), 2) == "11010519491231002X"
    assert make_id_number("440524", dt.date(1880, 1, 1), 1) == "440524188001010014"


def test_calc_check_digit_needs_18_characters() -> None:
    # DESIGN §4a: given 17 characters stdnum silently returns a wrong digit.
    assert ric.calc_check_digit("11010519491231002X") == "X"
    assert ric.calc_check_digit("11010519491231002") != "X"


@pytest.mark.parametrize(
    ("region", "birth", "seq"),
    [
        ("11010", dt.date(1990, 1, 1), 1),
        ("1101051", dt.date(1990, 1, 1), 1),
        ("11010a", dt.date(1990, 1, 1), 1),
        ("110105", dt.date(1990, 1, 1), -1),
        ("110105", dt.date(1990, 1, 1), 1000),
        ("110105", dt.date(999, 1, 1), 1),
    ],
)
def test_make_id_number_rejects_bad_parts(region: str, birth: dt.date, seq: int) -> None:
    with pytest.raises(ValueError):
        make_id_number(region, birth, seq)


regions = st.from_regex(r"[1-9][0-9]{5}", fullmatch=True)
births = st.dates(min_value=dt.date(1880, 1, 1), max_value=TODAY)
seqs = st.integers(min_value=0, max_value=999)


@given(regions, births, seqs)
def test_make_id_number_always_validates(region: str, birth: dt.date, seq: int) -> None:
    number = make_id_number(region, birth, seq)
    assert len(number) == 18
    assert number[-1] == mod11_2(number[:17])
    assert number[6:14] == birth.strftime("%Y%m%d")
    assert check_id_number(number, TODAY) == number


@given(regions, births, seqs, st.sampled_from("0123456789X"))
def test_any_other_check_character_fails(region: str, birth: dt.date, seq: int, check: str) -> None:
    number = make_id_number(region, birth, seq)
    forged = number[:17] + check
    if check == number[-1]:
        assert is_valid_id_number(forged, TODAY)
    else:
        with pytest.raises(InvalidIdNumber) as exc:
            check_id_number(forged, TODAY)
        assert exc.value.reason == "checksum"


@given(regions, births, seqs, st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=9))
def test_single_digit_change_always_fails_the_checksum(
    region: str, birth: dt.date, seq: int, pos: int, delta: int
) -> None:
    # MOD 11-2 detects every single substitution: weights are non-zero mod the prime 11.
    number = make_id_number(region, birth, seq)
    changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    with pytest.raises(InvalidIdNumber) as exc:
        check_id_number(changed, TODAY)
    assert exc.value.reason == "checksum"


@given(regions, births, seqs, st.integers(min_value=0, max_value=15))
def test_adjacent_transposition_fails_the_checksum(region: str, birth: dt.date, seq: int, pos: int) -> None:
    number = make_id_number(region, birth, seq)
    a, b = number[pos], number[pos + 1]
    swapped = number[:pos] + b + a + number[pos + 2 :]
    assert is_valid_id_number(swapped, TODAY) == (a == b)


# ---------------------------------------------------------------- phones

MOBILE_SPELLINGS = [
    "+86 138-0013-8000",
    "8613800138000",
    "+8613800138000",
    "0086 13800138000",
    "13800138000",
    "138 0013 8000",
    "138-0013-8000",
    "138.0013.8000",
    "(+86) 138 0013 8000",
    "+86 (138) 0013-8000",
    "  13800138000\n",
    "＋８６ １３８００１３８０００",  # full-width
]


@pytest.mark.parametrize("raw", MOBILE_SPELLINGS)
def test_chinese_mobile_spellings_normalise_equal(raw: str) -> None:
    assert normalize_phone(raw) == "13800138000"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+852 9123 4567", "+85291234567"),
        ("00852 9123 4567", "+85291234567"),
        ("85291234567", "+85291234567"),  # Telegram contacts come without "+"
        ("+1 (202) 555-0123", "+12025550123"),
        ("+1 312 555 0123", "+13125550123"),  # with "+", 1-3… is not read as a Chinese mobile
        ("+86 21 1234 5678", "+862112345678"),
        ("021-1234 5678", "+862112345678"),  # domestic trunk 0 → Chinese landline
        ("0086 21 12345678", "+862112345678"),
        ("12345", "+12345"),
    ],
)
def test_other_numbers_become_plus_digits(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "short"),
        ("1234", "short"),
        ("+86", "short"),
        ("0086 12", "short"),
        ("138-0013-8000 ext 5", "characters"),
        ("13800138000x", "characters"),
        ("1+3800138000", "characters"),
        ("138/0013/8000", "characters"),
        ("tel:13800138000", "characters"),
        ("1" * 21, "long"),
    ],
)
def test_invalid_phones(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhone) as exc:
        normalize_phone(raw)
    assert exc.value.reason == reason
    assert isinstance(exc.value, ValueError)
    assert not re.search(r"\d{3}", str(exc.value))


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
separators = st.sampled_from(["", " ", "-", ".", " - "])


@given(mobiles, st.sampled_from(["", "86", "+86", "0086", "+86 ", "(+86) ", "0086-"]), separators)
def test_any_spelling_of_a_mobile_normalises_to_it(mobile: str, prefix: str, sep: str) -> None:
    spelled = prefix + sep.join((mobile[:3], mobile[3:7], mobile[7:]))
    assert normalize_phone(spelled) == mobile
    assert normalize_phone(normalize_phone(spelled)) == mobile  # idempotent


@given(st.from_regex(r"\+[1-9][0-9]{4,14}", fullmatch=True))
def test_normalised_form_is_a_fixed_point(phone: str) -> None:
    once = normalize_phone(phone)
    assert normalize_phone(once) == once


# ---------------------------------------------------------------- masking


def test_masking_vectors() -> None:
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("+86 138-0013-8000") == "138****8000"  # normalised first
    assert mask_phone("+852 9123 4567") == "+85*****4567"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张三丰", "张**"),
        ("欧阳娜娜", "欧***"),
        ("John Smith", "J*********"),  # one star per other character, the space included
        ("阿卜杜·热合曼", "阿******"),
        (" 李四 ", "李*"),
        ("王", "王"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_name(name: str | None, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("E12345678", "E1*****78"),  # passport-like: first 2 + last 2
        ("12345678", "12****78"),
        ("ABCDE", "A***E"),  # short: at least half starred
        ("AB", "A*"),
        ("A", "*"),
        ("", ""),
        (None, ""),
        ("110105491231002", "11***********02"),  # old 15-digit number: birth date hidden too
    ],
)
def test_mask_other_id_lengths(value: str | None, masked: str) -> None:
    assert mask_id_number(value) == masked


def test_mask_phone_never_raises_and_hides_short_numbers() -> None:
    assert mask_phone("") == ""
    assert mask_phone(None) == ""
    assert mask_phone("+12345") == "+****5"
    assert mask_phone("12") == "**"
    assert mask_phone("not a phone") == "not****ne"  # not a phone: masked as it stands


@given(regions, births, seqs)
def test_masked_id_never_reveals_the_birth_date(region: str, birth: dt.date, seq: int) -> None:
    number = make_id_number(region, birth, seq)
    masked = mask_id_number(number)
    assert len(masked) == 18
    assert masked[6:14] == "********"  # digits 7–14
    assert masked[:6] == number[:6] and masked[14:] == number[14:]


@given(st.text(alphabet="0123456789ABCDEFX", min_size=1, max_size=40).filter(lambda s: len(s) != 18))
def test_masked_other_id_reveals_at_most_half(value: str) -> None:
    masked = mask_id_number(value)
    assert len(masked) == len(value)
    assert masked.count("*") >= (len(value) + 1) // 2
    shown = [i for i, ch in enumerate(masked) if ch != "*"]
    assert len(shown) <= 4
    assert all(masked[i] == value[i] for i in shown)


@given(mobiles)
def test_masked_mobile_reveals_only_3_plus_4(mobile: str) -> None:
    masked = mask_phone(mobile)
    assert masked == mobile[:3] + "****" + mobile[7:]
    assert sum(ch.isdigit() for ch in masked) == 7


@given(st.from_regex(r"\+?[0-9]{5,20}", fullmatch=True))
def test_masked_phone_reveals_at_most_7_digits(phone: str) -> None:
    masked = mask_phone(phone)
    assert sum(ch.isdigit() for ch in masked) <= 7
    assert masked.count("*") >= 4
