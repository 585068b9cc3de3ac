"""The languages the bot speaks: a closed set. Adding one is a row here and its catalog in
`locales/` (the menus, the switches, the callback codec and the notifier all read this table)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Lang(StrEnum):
    ZH_CN = "zh_CN"
    EN = "en"


@dataclass(frozen=True)
class Language:
    lang: Lang
    endonym: str  # the language named in itself, on the switch in every interface language
    telegram: str  # the primary subtag of Telegram's `language_code` that selects it
    wire: str  # one letter in callback data: stable, part of the button format


LANGUAGES: Final = (
    Language(Lang.ZH_CN, "中文", "zh", "z"),
    Language(Lang.EN, "English", "en", "e"),
)
BY_LANG: Final = {x.lang: x for x in LANGUAGES}
DEFAULT: Final = Lang.ZH_CN  # the bot's audience: also for a user whose client sends no language
FOREIGN: Final = Lang.EN  # for a Telegram language we do not speak


def parse(value: str | None) -> Lang | None:
    """A stored code as a Lang; None when it is not one of ours."""
    try:
        return Lang(value) if value else None
    except ValueError:
        return None


def resolve(stored: str | None, language_code: str | None) -> Lang:
    """The user's language: a stored choice wins; else Telegram's language_code by its primary
    subtag ("zh-hans" → zh_CN); no code → DEFAULT; a language we do not speak → FOREIGN.

    Telegram's `language_code` is an IETF tag or missing; Babel's negotiation returns None for
    "zh", so the primary subtag is matched here (telegram.md §4)."""
    chosen = parse(stored)
    if chosen is not None:
        return chosen
    if not language_code or not language_code.strip():
        return DEFAULT
    primary = language_code.strip().lower().replace("_", "-").split("-")[0]
    return next((x.lang for x in LANGUAGES if x.telegram == primary), FOREIGN)


def next_language(current: str) -> Lang:
    """The one after `current` (the welcome screen's one-tap switch cycles through them)."""
    codes = [x.lang for x in LANGUAGES]
    here = parse(current)
    return codes[(codes.index(here) + 1) % len(codes)] if here in codes else DEFAULT
