"""The closed set of languages (bot.domain.languages): every one has a complete catalog, a
distinct wire letter and Telegram subtag, and the one-tap switch cycles through all of them."""

from __future__ import annotations

import pytest

from bot import callbacks as cb
from bot.domain import languages
from bot.domain.languages import LANGUAGES, Lang
from bot.i18n import get_translator, po_path


def test_each_language_has_a_catalog_and_distinct_codes() -> None:
    assert len({x.wire for x in LANGUAGES}) == len({x.telegram for x in LANGUAGES}) == len(LANGUAGES)
    for x in LANGUAGES:
        assert po_path(x.lang).is_file()
        assert get_translator(x.lang).lang == x.lang
        # A settings button for each language encodes and decodes through the codec.
        assert cb.decode(cb.encode(cb.SetLanguage(x.lang), "-")) == ("-", cb.SetLanguage(x.lang))


def test_the_switch_cycles_through_every_language() -> None:
    seen, here = [], languages.DEFAULT
    for _ in LANGUAGES:
        seen.append(here)
        here = languages.next_language(here)
    assert here == languages.DEFAULT and sorted(seen) == sorted(x.lang for x in LANGUAGES)
    assert languages.next_language("xx") == languages.DEFAULT


@pytest.mark.parametrize(
    ("stored", "code", "expected"),
    [
        ("en", "zh-hans", Lang.EN),  # a choice wins
        (None, "zh-hant", Lang.ZH_CN),
        (None, "ZH_TW", Lang.ZH_CN),
        (None, "en-GB", Lang.EN),
        (None, "ru", languages.FOREIGN),
        (None, None, languages.DEFAULT),
        (None, "  ", languages.DEFAULT),
        ("klingon", "en", Lang.EN),  # a stored value we do not know is no choice
    ],
)
def test_resolve(stored: str | None, code: str | None, expected: Lang) -> None:
    assert languages.resolve(stored, code) is expected
