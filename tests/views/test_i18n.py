"""Catalogs are complete and consistent with the code; money and dates look as specified."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot import i18n
from bot.i18n import LANGS, Translator, get_translator, resolve_lang
from tests.support import paths

ROOT = paths.ROOT
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
METHOD_MAP = [("bot/**.py", "python"), ("handlers/**.py", "python")]


def _catalog(lang: str):
    with i18n.po_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


def _ids(catalog) -> set:
    return {m.id for m in catalog if m.id}


def _code_messages() -> dict:
    """msgid (str, or (singular, plural)) → where it is used, by running Babel's extraction."""
    found: dict = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), METHOD_MAP, keywords=KEYWORDS, comment_tags=("TR",)
    ):
        if context is not None:
            pytest.fail(f"{filename}:{lineno}: contexts are not used; drop pgettext or extend this test")
        key = message if isinstance(message, str) else tuple(message)
        if (isinstance(key, str) and not key) or (isinstance(key, tuple) and not all(key)):
            continue
        found.setdefault(key, f"{filename}:{lineno}")
    return found


@pytest.mark.parametrize("lang", LANGS)
def test_catalog_compiles(lang: str) -> None:
    t = i18n.compile_catalog(lang)
    assert t.gettext("◀ Back") != ""


@pytest.mark.parametrize("lang", LANGS)
def test_no_untranslated_or_fuzzy(lang: str) -> None:
    catalog = _catalog(lang)
    assert not catalog.fuzzy, "the catalog header is marked fuzzy"
    problems = []
    for m in catalog:
        if not m.id:
            continue
        if m.fuzzy:
            problems.append(f"fuzzy: {m.id!r}")
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if not strings or not all(strings):
            problems.append(f"untranslated: {m.id!r}")
    assert not problems, "\n".join(problems)


def test_every_string_in_the_code_is_in_both_catalogs() -> None:
    used = _code_messages()
    assert len(used) > 100  # the extraction really ran over bot/ and handlers/
    for lang in LANGS:
        missing = {k: where for k, where in used.items() if k not in _ids(_catalog(lang))}
        assert not missing, f"{lang}: add these to the catalog (see bot/i18n.py): {missing}"


def test_template_matches_the_catalogs() -> None:
    with (i18n.LOCALES_DIR / "messages.pot").open("rb") as f:
        pot = _ids(read_po(f))
    for lang in LANGS:
        assert _ids(_catalog(lang)) >= pot


_BRACE = re.compile(r"\{(\w*)\}")
_PERCENT = re.compile(r"%\((\w+)\)[sd]")


def _placeholders(s: str) -> set[str]:
    return set(_BRACE.findall(s)) | {"%" + n for n in _PERCENT.findall(s)}


@pytest.mark.parametrize("lang", LANGS)
def test_placeholders_match(lang: str) -> None:
    bad = []
    for m in _catalog(lang):
        if not m.id:
            continue
        ids = (m.id,) if isinstance(m.id, str) else m.id
        strings = (m.string,) if isinstance(m.string, str) else m.string
        expected = _placeholders(ids[-1])
        assert _placeholders(ids[0]) == expected, m.id
        for s in strings:
            if _placeholders(s) != expected:
                bad.append((m.id, s))
    assert not bad, bad


@pytest.mark.parametrize("lang", LANGS)
def test_translations_are_html_safe(lang: str) -> None:
    # Translated text goes into HTML messages unescaped: it must not contain markup characters.
    for m in _catalog(lang):
        strings = (m.string,) if isinstance(m.string, str) else m.string
        for s in strings if m.id else ():
            assert not set(s) & set("<>&"), (m.id, s)


def test_english_catalog_is_identity() -> None:
    for m in _catalog("en"):
        if m.id:
            ids = (m.id,) if isinstance(m.id, str) else m.id
            strings = (m.string,) if isinstance(m.string, str) else m.string
            assert tuple(strings) == tuple(ids)


# ---------------------------------------------------------------- translator


def test_gettext_and_ngettext() -> None:
    zh, en = get_translator("zh_CN"), get_translator("en")
    assert zh.gettext("◀ Back") == "◀ 返回"
    assert zh._("◀ Back") == "◀ 返回"
    assert en.gettext("◀ Back") == "◀ Back"
    assert en.ngettext("{n} tax slip", "{n} tax slips", 1).format(n=1) == "1 tax slip"
    assert en.ngettext("{n} tax slip", "{n} tax slips", 12).format(n=12) == "12 tax slips"
    assert zh.ngettext("{n} tax slip", "{n} tax slips", 12).format(n=12) == "12 张税单"
    assert zh.gettext("no such message") == "no such message"
    assert get_translator("en") is en  # cached


def test_unknown_language_rejected() -> None:
    with pytest.raises(ValueError):
        Translator("fr")


@pytest.mark.parametrize(
    ("stored", "code", "expected"),
    [
        (None, None, "zh_CN"),
        (None, "", "zh_CN"),
        (None, "zh", "zh_CN"),
        (None, "zh-hans", "zh_CN"),
        (None, "zh-hant", "zh_CN"),
        (None, "ZH-TW", "zh_CN"),
        (None, "en", "en"),
        (None, "en-US", "en"),
        (None, "ru", "en"),
        ("en", "zh-hans", "en"),
        ("zh_CN", "en", "zh_CN"),
        ("fr", "en", "en"),  # a stored value we do not support is ignored
    ],
)
def test_resolve_lang(stored: str | None, code: str | None, expected: str) -> None:
    assert resolve_lang(stored, code) == expected


def test_money() -> None:
    zh, en = get_translator("zh_CN"), get_translator("en")
    assert zh.money(Decimal("1234.5")) == "¥1,234.50"
    assert en.money(Decimal("1234.5")) == "CN¥1,234.50"
    assert zh.money(Decimal("12345.6")) == "¥12,345.60"
    assert en.money(Decimal("12345.6")) == "CN¥12,345.60"
    assert zh.money(Decimal("-5")) == "-¥5.00"
    assert en.money(Decimal("-5")) == "-CN¥5.00"
    assert zh.money(Decimal("0.01")) == "¥0.01"


def test_dates() -> None:
    zh, en = get_translator("zh_CN"), get_translator("en")
    d, dt = date(2024, 3, 9), datetime(2024, 3, 9, 14, 5)
    assert zh.date(d) == "2024年3月9日"
    assert en.date(d) == "Mar 9, 2024"
    assert zh.month(d) == "2024年3月"
    assert en.month(d) == "Mar 2024"
    assert zh.datetime(dt) == "2024年3月9日 14:05"
    assert en.datetime(dt) == "Mar 9, 2024, 14:05"
    assert zh.short_date(d) == "2024/3/9"
    assert en.short_date(d) == "3/9/2024"


def test_weekdays_monday_first() -> None:
    assert get_translator("zh_CN").weekday_names("narrow") == ("一", "二", "三", "四", "五", "六", "日")
    assert get_translator("zh_CN").weekday_names() == ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
    assert get_translator("en").weekday_names() == ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
    assert get_translator("en").weekday_names("abbreviated")[0] == "Mon"


def test_numbers_and_percent() -> None:
    zh, en = get_translator("zh_CN"), get_translator("en")
    assert zh.percent(Decimal("0.13")) == "13%"
    assert en.percent(Decimal("0.091")) == "9.1%"
    assert en.percent(Decimal("0")) == "0%"
    assert en.percent(Decimal("0.4167"), digits=0) == "42%"
    assert en.number(Decimal("2.50000")) == "2.5"
    assert zh.number(Decimal("1234.5")) == "1,234.5"


def test_locales_dir_is_next_to_the_package() -> None:
    assert i18n.LOCALES_DIR == Path(i18n.__file__).resolve().parent.parent / "locales"
    for lang in LANGS:
        assert i18n.po_path(lang).is_file()


@pytest.mark.parametrize("lang", LANGS)
def test_remembered_formats_are_babels(lang: str) -> None:
    """Money and dates are remembered per language; a remembered text is never another value's:
    equal Decimals that print differently, a date and a datetime, one instant in two zones."""
    from datetime import timedelta, timezone

    from babel.dates import format_skeleton
    from babel.numbers import format_currency

    t = Translator(lang)  # a fresh one: nothing remembered yet
    for amount in (Decimal("43.05"), Decimal("43.050"), Decimal("-0"), Decimal("0"), Decimal("1E+2"), Decimal(100)):
        for _ in range(2):  # the second time from memory
            assert t.money(amount) == format_currency(amount, "CNY", locale=t.locale)
    china, utc = timezone(timedelta(hours=8)), UTC
    at = datetime(2026, 3, 9, 23, 30, tzinfo=china)
    for when in (date(2026, 3, 9), datetime(2026, 3, 9), at, at.astimezone(utc)):
        for _ in range(2):
            assert t.date(when) == format_skeleton("yMMMd", when, locale=t.locale)
            assert t.short_date(when) == format_skeleton("yMd", when, locale=t.locale)
    assert t.time(at) != t.time(at.astimezone(utc))  # equal datetimes, not one remembered text
    for i in range(i18n.MEMO_SIZE + 10):  # bounded
        t.money(Decimal(i))
    assert len(t._memo) <= i18n.MEMO_SIZE
