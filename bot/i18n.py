"""Translations, money and dates for the two languages the bot speaks (zh_CN, en).

Catalogs are gettext `.po` files, msgids in English::

    locales/messages.pot                     template, extracted from the code
    locales/zh_CN/LC_MESSAGES/messages.po    Chinese
    locales/en/LC_MESSAGES/messages.po       English (msgstr = msgid, so nothing is "untranslated")

The `.mo` files are not committed: each `.po` is compiled in memory the first time its language is
needed (read_po → write_mo → GNUTranslations) and cached per process. The `locales` directory sits
next to the `bot` package both in a checkout and in an installed wheel (it is package data).

Workflow after changing strings (run from the repository root)::

    pybabel extract -F babel.cfg -k _ -k N_ -k ngettext:1,2 -k pgettext:1c,2 \\
        --add-comments=TR -o locales/messages.pot .
    pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching
    # translate the new entries in locales/zh_CN/LC_MESSAGES/messages.po (and copy msgid → msgstr
    # in locales/en/...), remove any "#, fuzzy" flag, then check:
    python -m pytest tests/views/test_i18n.py -q
    # optional, the bot compiles in memory anyway:
    pybabel compile -d locales -D messages --statistics

Rules for code: no f-strings inside `_()`; translate first, then `.format(name=...)` with `{name}`
placeholders; HTML-escape record data before it goes into a translated template; use `N_()` to mark
module-level constants and translate them at render time. Never `gettext.install()`: updates are
processed concurrently, so each update carries its own `Translator`.
"""

from __future__ import annotations

import gettext as _gettext
import io
from datetime import date as _date
from datetime import datetime as _datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from babel import Locale
from babel.dates import format_skeleton, get_day_names
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent

from bot.domain import languages

LANGS: tuple[str, ...] = tuple(x.lang for x in languages.LANGUAGES)
DOMAIN = "messages"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it (module-level constants)."""
    return message


def resolve_lang(stored: str | None, language_code: str | None) -> str:
    """The user's language (`bot.domain.languages.resolve`): a stored choice, else Telegram's."""
    return languages.resolve(stored, language_code).value


def po_path(lang: str) -> Path:
    return LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalog(lang: str) -> _gettext.GNUTranslations:
    """Read `lang`'s .po and compile it in memory (fuzzy entries are left out, like msgfmt)."""
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


@cache
def _catalog(lang: str) -> _gettext.GNUTranslations:
    return compile_catalog(lang)


# Formatted amounts and dates kept per language: Babel re-reads locale data and patterns on every
# call (≈ 25 µs an amount, 10 µs a date), and a list screen formats a dozen of each per tap,
# mostly the same few hundred values again and again. Cleared when full.
MEMO_SIZE = 4096


class Translator:
    """Everything locale-dependent a view needs: strings, money, dates, numbers."""

    __slots__ = ("_gt", "_memo", "lang", "locale")

    def __init__(self, lang: str) -> None:
        if lang not in LANGS:
            raise ValueError(f"unsupported language {lang!r}")
        self.lang = lang
        self.locale = Locale.parse(lang)
        self._gt = _catalog(lang)
        self._memo: dict[tuple[object, ...], str] = {}

    def _remember(self, key: tuple[object, ...], text: str) -> str:
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = text
        return text

    def __repr__(self) -> str:
        return f"Translator({self.lang!r})"

    # -- strings ---------------------------------------------------------------------------
    def gettext(self, message: str) -> str:
        return self._gt.gettext(message)

    _ = gettext

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._gt.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self._gt.pgettext(context, message)

    # -- numbers ---------------------------------------------------------------------------
    def money(self, amount: Decimal, currency: str = "CNY") -> str:
        """`¥1,234.50` (zh_CN) / `CN¥1,234.50` (en); amounts must be Decimal, never float."""
        # str(): equal Decimals may print differently (-0, 1E+2), so the text is the key.
        key = ("money", str(amount), currency)
        hit = self._memo.get(key)
        return hit if hit is not None else self._remember(key, format_currency(amount, currency, locale=self.locale))

    def number(self, value: Decimal | int) -> str:
        """Quantities: grouping, no trailing zeros (`2.50000` → `2.5`)."""
        return format_decimal(value, locale=self.locale)

    def percent(self, ratio: Decimal, digits: int = 2) -> str:
        """A fraction as a percentage: 0.13 → `13%`, 0.091 → `9.1%` (up to `digits` decimals)."""
        pattern = "#,##0%" if digits <= 0 else "#,##0." + "#" * digits + "%"
        return format_percent(ratio, pattern, locale=self.locale)

    # -- dates -----------------------------------------------------------------------------
    def _skeleton(self, skeleton: str, d: _date) -> str:
        # The type and tzinfo are in the key: a date never equals a datetime, but aware datetimes
        # of one instant in two zones do, and print differently.
        key = (skeleton, type(d), d, getattr(d, "tzinfo", None))
        hit = self._memo.get(key)
        return hit if hit is not None else self._remember(key, format_skeleton(skeleton, d, locale=self.locale))

    def date(self, d: _date) -> str:
        """Medium date: `2024年3月9日` / `Mar 9, 2024`."""
        return self._skeleton("yMMMd", d)

    def short_date(self, d: _date) -> str:
        """Compact numeric date for buttons: `2024/3/9` / `3/9/2024`."""
        return self._skeleton("yMd", d)

    def time(self, dt: _datetime) -> str:
        """24-hour clock in both languages: the times are China local time."""
        return self._skeleton("Hm", dt)

    def datetime(self, dt: _datetime) -> str:
        """`2024年3月9日 14:05` / `Mar 9, 2024, 14:05` (the locale's own date-time glue)."""
        glue = self.locale.datetime_formats["medium"]
        return str(glue).replace("{1}", self.date(dt)).replace("{0}", self.time(dt))

    def month(self, d: _date) -> str:
        """Month header: `2024年3月` / `Mar 2024` (a skeleton, never a hand-written pattern)."""
        return self._skeleton("yMMM", d)

    def weekday_names(self, width: Literal["abbreviated", "narrow", "short", "wide"] = "short") -> tuple[str, ...]:
        """Monday-first weekday names; Babel's dict starts with Sunday, so index by key."""
        names = get_day_names(width, locale=self.locale)
        return tuple(names[i] for i in range(7))


@cache
def get_translator(lang: str) -> Translator:
    return Translator(lang)
