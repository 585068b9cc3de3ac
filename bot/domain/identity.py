"""Resident ID numbers, phone numbers and masking (pure; no I/O).

Sources: reference/domain.md §5 (GB 11643-1999, python-stdnum surprises), DESIGN §4 / §4a.
Nothing here ever puts a number, phone or name into an exception message: those messages may
reach logs, and logs must never hold personal data (DESIGN §5).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Final

from stdnum.cn import ric

__all__ = [
    "ID_REASONS",
    "InvalidIdNumber",
    "InvalidPhone",
    "check_id_number",
    "is_valid_id_number",
    "make_id_number",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "normalize_id_number",
    "normalize_phone",
]

# Earliest birth date we accept: the standard's own example #2 is 1880-01-01.
MIN_BIRTH_DATE: Final = dt.date(1880, 1, 1)

ID_REASONS: Final = ("length", "format", "checksum", "birth_date", "future")

_ID_LENGTH: Final = 18
_ID_FORMAT: Final = re.compile(r"[0-9]{17}[0-9X]")
# Whitespace and every dash users paste (ASCII, Unicode hyphens, en/em dash, minus sign).
_ID_STRIP: Final = re.compile(r"[\s\-‐‑‒–—―−]+")


class InvalidIdNumber(ValueError):
    """An ID number failed a check. `reason` is one of ID_REASONS; the message never holds the number."""

    def __init__(self, reason: str) -> None:
        if reason not in ID_REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        super().__init__(f"invalid resident ID number ({reason})")
        self.reason = reason


def normalize_id_number(raw: str) -> str:
    """Strip whitespace and dashes, uppercase a trailing x.

    NFKC first so full-width digits typed on a Chinese keyboard (１１０１…) become ASCII.
    (stdnum's compact() does not strip inner spaces or hyphens: domain.md §5 surprise 3.)
    """
    s = _ID_STRIP.sub("", unicodedata.normalize("NFKC", raw))
    if s.endswith("x"):
        s = s[:-1] + "X"
    return s


def _birth_date(number: str) -> dt.date | None:
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def check_id_number(raw: str, today: dt.date) -> str:
    """Return the normalised 18-character number or raise InvalidIdNumber.

    Checks, in this order: length, format, checksum, birth date (real, >= 1880-01-01), not in the
    future. The region code is deliberately NOT checked: stdnum's validate() rejects real people
    whose county was created after their birth (domain.md §5 surprise 1).
    """
    if not isinstance(raw, str):
        raise InvalidIdNumber("format")
    number = normalize_id_number(raw)
    if len(number) != _ID_LENGTH:
        raise InvalidIdNumber("length")
    if not _ID_FORMAT.fullmatch(number):
        raise InvalidIdNumber("format")
    # calc_check_digit wants all 18 characters and ignores the last one (DESIGN §4a).
    if ric.calc_check_digit(number) != number[-1]:
        raise InvalidIdNumber("checksum")
    birth = _birth_date(number)
    if birth is None or birth < MIN_BIRTH_DATE:
        raise InvalidIdNumber("birth_date")
    if birth > today:
        # stdnum accepts future dates (domain.md §5 surprise 2).
        raise InvalidIdNumber("future")
    return number


def is_valid_id_number(raw: str, today: dt.date) -> bool:
    try:
        check_id_number(raw, today)
    except InvalidIdNumber:
        return False
    return True


def make_id_number(region: str, birth: dt.date, seq: int) -> str:
    """Build a valid 18-character number (demo data and tests): region + yyyyMMdd + seq + check."""
    if not re.fullmatch(r"[0-9]{6}", region):
        raise ValueError("region must be 6 digits")
    if not 0 <= seq <= 999:
        raise ValueError("seq must be 0..999")
    if not 1000 <= birth.year <= 9999:
        raise ValueError("birth year must have 4 digits")
    body = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{seq:03d}"
    # Pad with a placeholder check char: calc_check_digit ignores the 18th character.
    return body + ric.calc_check_digit(body + "0")


# ---------------------------------------------------------------- phones

_PHONE_CHARS: Final = re.compile(r"[\s(]*\+?[0-9\s().\-]*")
_CN_MOBILE: Final = re.compile(r"1[3-9][0-9]{9}")
_PHONE_MIN_DIGITS: Final = 5
# E.164 allows 15 digits; leave room for a short extension but refuse junk.
_PHONE_MAX_DIGITS: Final = 20


class InvalidPhone(ValueError):
    """Not a phone number. `reason`: "short", "long" or "characters"; the message never holds the input."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid phone number ({reason})")
        self.reason = reason


def normalize_phone(raw: str) -> str:
    """Canonical form so two spellings of one phone compare equal (DESIGN §4a "Phones").

    Chinese mobiles → the 11-digit national number ("13800138000"), with or without 86 / +86 /
    0086. Anything else → "+" and the international digits ("+85291234567"). A domestic number
    with a trunk 0 ("021-1234 5678") is read as Chinese: "+862112345678", the same as
    "+86 21 1234 5678". Without a "+" an 11-digit 1[3-9]… number is taken as a Chinese mobile.
    """
    if not isinstance(raw, str):
        raise InvalidPhone("characters")
    s = unicodedata.normalize("NFKC", raw).strip()
    if not _PHONE_CHARS.fullmatch(s):
        raise InvalidPhone("characters")
    digits = re.sub(r"[^0-9]", "", s)
    if len(digits) < _PHONE_MIN_DIGITS:
        raise InvalidPhone("short")
    if len(digits) > _PHONE_MAX_DIGITS:
        raise InvalidPhone("long")
    if digits.startswith("00"):  # international call prefix, with or without "+"
        intl = digits[2:]
    elif "+" in s:
        intl = digits
    elif _CN_MOBILE.fullmatch(digits):
        return digits
    elif digits.startswith("0"):  # domestic trunk prefix: a Chinese landline
        intl = "86" + digits[1:]
    else:  # e.g. Telegram contacts: "8613800138000" or "85291234567" without the "+"
        intl = digits
    if intl.startswith("86") and _CN_MOBILE.fullmatch(intl[2:]):
        return intl[2:]
    if len(intl) < _PHONE_MIN_DIGITS:
        raise InvalidPhone("short")
    return "+" + intl


# ---------------------------------------------------------------- masking


def _mask_middle(s: str, head: int, tail: int, min_hidden: int) -> str:
    """Keep `head` and `tail` characters, shrinking them until at least `min_hidden` are starred."""
    n = len(s)
    min_hidden = min(max(min_hidden, 1), n)
    while head + tail > n - min_hidden:
        if tail >= head and tail > 0:
            tail -= 1
        else:
            head -= 1
    return s[:head] + "*" * (n - head - tail) + (s[n - tail :] if tail else "")


def mask_id_number(n: str | None) -> str:
    """18 characters: first 6 + last 4 (hides the birth date): 110105********002X.

    Other lengths (ID type 2 "other", old 15-digit numbers): first 2 + last 2, and never fewer than
    half the characters starred (short values reveal less).
    """
    if not n:
        return ""
    s = normalize_id_number(n)
    if len(s) == _ID_LENGTH:
        return _mask_middle(s, 6, 4, 8)
    return _mask_middle(s, 2, 2, (len(s) + 1) // 2)


def mask_phone(p: str | None) -> str:
    """First 3 + last 4 of the normalised number: 138****8000; "+85291234567" → "+85*****4567".

    Never raises: input that is not a phone is masked as it stands (spaces removed). At least 4
    characters are always starred, so short numbers reveal less than 3 + 4.
    """
    if not p:
        return ""
    try:
        s = normalize_phone(p)
    except InvalidPhone:
        s = re.sub(r"\s+", "", p)
    return _mask_middle(s, 3, 4, 4)


def mask_name(name: str | None) -> str:
    """First character, then one "*" per other character: 张三丰 → 张**, 欧阳娜娜 → 欧***.

    Every other character counts, spaces and the "·" of transliterated names included, so
    "John Smith" → "J*********" (9 stars). Surrounding whitespace is dropped first.
    """
    if not name:
        return ""
    s = unicodedata.normalize("NFC", name).strip()
    if not s:
        return ""
    return s[0] + "*" * (len(s) - 1)
