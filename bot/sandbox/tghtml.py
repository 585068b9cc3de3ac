"""Telegram's ``parse_mode=HTML``: text + entities, with Telegram's rules and error wording.

The scanner follows TDLib's ``parse_html`` (td/telegram/MessageEntity.cpp): the same tag set, the
same attribute handling and the same messages ("Unsupported start tag "x" at byte offset N",
"Can't find end tag corresponding to start tag "b"", …). One deliberate difference, on by default:
a bare ``&`` that does not start ``&lt; &gt; &amp; &quot;`` or a numeric reference is an error
(TDLib keeps it literally) because a bare ``&`` in a bot's output means it forgot ``html.escape``,
and the next record holding ``<`` would then break the message for real.

Offsets and lengths are in UTF-16 code units, as the Bot API counts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TAG_TYPES = {
    "b": "bold", "strong": "bold",
    "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_SPACE = frozenset(" \t\r\n\v\f\0")
_TRIM = " \t\r\n\v\f"
_SPECIAL = re.compile(r"[<&]")
_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,10})|#[xX]([0-9a-fA-F]{1,8}));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.\-]*")


class EntityParseError(ValueError):
    """``str(exc)`` is the Bot API description without the ``Bad Request: `` prefix."""


@dataclass(frozen=True, slots=True)
class Parsed:
    text: str
    entities: list[dict[str, Any]]


def utf16_len(s: str) -> int:
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _fail(message: str) -> EntityParseError:
    return EntityParseError(f"can't parse entities: {message}")


def _decode_entity(m: re.Match[str]) -> str | None:
    named, dec, hexa = m.group(1), m.group(2), m.group(3)
    if named:
        return _NAMED[named]
    code = int(dec) if dec else int(hexa, 16)
    if code <= 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


@dataclass(slots=True)
class _Open:
    tag: str
    argument: str
    start: int  # UTF-16 offset in the output
    out_index: int  # index into the output pieces, to recover the inner text of <a>
    expandable: bool


def parse_html(source: str, *, strict_ampersand: bool = True) -> Parsed:
    """Parse Telegram HTML. Raises :class:`EntityParseError`. The result is not trimmed."""
    out: list[str] = []
    pos = 0  # UTF-16 length of the output so far
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0
    while True:
        m = _SPECIAL.search(source, i)
        j = m.start() if m else n
        if j > i:
            seg = source[i:j]
            out.append(seg)
            pos += utf16_len(seg)
        if j >= n:
            break
        if source[j] == "&":
            em = _ENTITY.match(source, j)
            ch = _decode_entity(em) if em else None
            if ch is None or em is None:
                if strict_ampersand:
                    raise _fail(f'Character "&" must be escaped as "&amp;" at byte offset '
                                f"{_byte_offset(source, j)}")
                out.append("&")
                pos += 1
                i = j + 1
                continue
            out.append(ch)
            pos += utf16_len(ch)
            i = em.end()
            continue
        if j + 1 < n and source[j + 1] == "/":
            i = _end_tag(source, j, stack, entities, out, pos)
        else:
            i, opened = _start_tag(source, j, pos, len(out))
            stack.append(opened)
    if stack:
        raise _fail(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return Parsed("".join(out), entities)


def _start_tag(source: str, begin: int, pos: int, out_index: int) -> tuple[int, _Open]:
    n = len(source)
    k = begin + 1
    while k < n and source[k] not in _SPACE and source[k] != ">":
        k += 1
    if k >= n:
        raise _fail(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
    tag = source[begin + 1:k].lower()
    if tag not in TAG_TYPES:
        raise _fail(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(source, begin)}')
    argument = ""
    expandable = False
    while source[k] != ">":
        while k < n and source[k] in _SPACE:
            k += 1
        if k >= n:
            raise _fail(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
        if source[k] == ">":
            break
        a0 = k
        while k < n and source[k] not in _SPACE and source[k] not in "=>":
            k += 1
        attr = source[a0:k].lower()
        if not attr:
            raise _fail(f'Empty attribute name in the tag "{tag}" at byte offset {_byte_offset(source, begin)}')
        while k < n and source[k] in _SPACE:
            k += 1
        if k >= n:
            raise _fail(f'Unclosed start tag "{tag}" at byte offset {_byte_offset(source, begin)}')
        if source[k] != "=":
            if tag == "blockquote" and attr == "expandable":
                expandable = True
                continue
            raise _fail(f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                        f"at byte offset {_byte_offset(source, begin)}")
        k += 1
        while k < n and source[k] in _SPACE:
            k += 1
        if k >= n:
            raise _fail(f'Unclosed start tag "{tag}" at byte offset {_byte_offset(source, begin)}')
        if source[k] not in "'\"":
            tm = _NAME_TOKEN.match(source, k)
            end = tm.end() if tm else k
            value = source[k:end].lower()
            if end >= n or (source[end] not in _SPACE and source[end] != ">"):
                raise _fail(f"Unexpected end of name token at byte offset {_byte_offset(source, k)}")
            k = end
        else:
            value, k = _quoted(source, k)
            if k >= n:
                raise _fail(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
        if tag == "a" and attr == "href":
            argument = value
        elif tag == "code" and attr == "class" and value.startswith("language-"):
            argument = value[9:]
        elif tag == "span" and attr == "class" and value.startswith("tg-"):
            argument = value[3:]
        elif tag == "tg-emoji" and attr == "emoji-id":
            argument = value
        elif tag == "blockquote" and attr == "expandable":
            expandable = True
    if tag == "span" and argument != "spoiler":
        raise _fail(f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(source, begin)}')
    return k + 1, _Open(tag, argument, pos, out_index, expandable)


def _quoted(source: str, k: int) -> tuple[str, int]:
    """A quoted attribute value starting at ``source[k]``; references decoded, a bare ``&`` kept
    (TDLib does the same; URLs with unescaped query strings are common and harmless here)."""
    n = len(source)
    quote = source[k]
    k += 1
    parts: list[str] = []
    while k < n and source[k] != quote:
        if source[k] == "&":
            em = _ENTITY.match(source, k)
            ch = _decode_entity(em) if em else None
            if ch is not None and em is not None:
                parts.append(ch)
                k = em.end()
                continue
        parts.append(source[k])
        k += 1
    if k < n:
        k += 1
    return "".join(parts), k


def _end_tag(source: str, begin: int, stack: list[_Open], entities: list[dict[str, Any]],
             out: list[str], pos: int) -> int:
    n = len(source)
    if not stack:
        raise _fail(f"Unexpected end tag at byte offset {_byte_offset(source, begin)}")
    k = begin + 2
    while k < n and source[k] not in _SPACE and source[k] != ">":
        k += 1
    end_name = source[begin + 2:k].lower()
    while k < n and source[k] in _SPACE:
        k += 1
    if k >= n or source[k] != ">":
        raise _fail(f"Unclosed end tag at byte offset {_byte_offset(source, begin)}")
    opened = stack.pop()
    if end_name and end_name != opened.tag:
        raise _fail(f"Unmatched end tag at byte offset {_byte_offset(source, begin)}, "
                    f'expected "</{opened.tag}>", found "</{end_name}>"')
    length = pos - opened.start
    if length > 0:
        entity = _entity(opened, length, out, entities)
        if entity is not None:
            entities.append(entity)
    return k + 1


def _entity(opened: _Open, length: int, out: list[str],
            entities: list[dict[str, Any]]) -> dict[str, Any] | None:
    tag = opened.tag
    entity: dict[str, Any] = {"type": TAG_TYPES[tag], "offset": opened.start, "length": length}
    if tag == "a":
        url = opened.argument or "".join(out[opened.out_index:])
        if not url or any(c in _SPACE for c in url):
            return None  # Telegram drops a link it cannot use and keeps the text
        entity["url"] = url
    elif tag == "tg-emoji":
        if not opened.argument.isdigit() or int(opened.argument) <= 0:
            raise _fail("Invalid custom emoji identifier specified")
        entity["custom_emoji_id"] = opened.argument
    elif tag == "code" and opened.argument:
        entity["_language"] = opened.argument  # only meaningful directly inside <pre>
    elif tag == "pre":
        # <pre><code class="language-x">…</code></pre> is one pre entity with a language.
        if entities and entities[-1]["type"] == "code" and entities[-1]["offset"] == opened.start \
                and entities[-1]["length"] == length:
            inner = entities.pop()
            if inner.get("_language"):
                entity["language"] = inner["_language"]
    elif tag == "blockquote" and opened.expandable:
        entity["type"] = "expandable_blockquote"
    return entity


def trim(parsed: Parsed) -> Parsed:
    """Telegram strips leading and trailing whitespace from a message text; entities follow."""
    text = parsed.text
    stripped = text.strip(_TRIM)
    if len(stripped) == len(text):
        return Parsed(text, [_public(e) for e in parsed.entities])
    lead = len(text) - len(text.lstrip(_TRIM))  # ASCII only, so characters == UTF-16 units
    new_len = utf16_len(stripped)
    entities = []
    for e in parsed.entities:
        start = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, new_len)
        if end > start:
            entities.append(_public({**e, "offset": start, "length": end - start}))
    return Parsed(stripped, entities)


def _public(entity: dict[str, Any]) -> dict[str, Any]:
    if "_language" in entity:
        entity = {k: v for k, v in entity.items() if k != "_language"}
    return entity
