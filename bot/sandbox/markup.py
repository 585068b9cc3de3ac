"""Validation and normalisation of ``reply_markup`` the way the Bot API checks it.

The result is the markup as Telegram would store and echo it: only known, non-null fields, so two
markups compare equal exactly when Telegram would consider them the same ("message is not
modified").
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.spec import load_spec

CALLBACK_DATA_MAX_BYTES = 64
MAX_INLINE_BUTTONS = 100  # PTB's InlineKeyboardMarkupLimit.TOTAL_BUTTON_NUMBER (undocumented by Telegram)
_NOT_ACTIONS = frozenset({"text", "icon_custom_emoji_id", "style"})


class MarkupError(ValueError):
    """``str(exc)`` is the Bot API description without the ``Bad Request: `` prefix."""


def _fields(type_name: str) -> tuple[str, ...]:
    return tuple(load_spec().types[type_name])


# Sets, and loops over the button's own keys: buttons are checked on every send (hot path).
_INLINE_FIELDS = frozenset(_fields("InlineKeyboardButton"))
_INLINE_ACTIONS = _INLINE_FIELDS - _NOT_ACTIONS
_REPLY_FIELDS = frozenset(_fields("KeyboardButton"))
_REPLY_ACTIONS = _REPLY_FIELDS - _NOT_ACTIONS
_REPLY_MARKUP_FIELDS = tuple(f for f in _fields("ReplyKeyboardMarkup") if f != "keyboard")


def parse_reply_markup(value: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Validate a decoded ``reply_markup``. Returns the normalised markup, or None for none."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MarkupError("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in value:
        return {"inline_keyboard": _inline_rows(value["inline_keyboard"])}
    if inline_only:
        raise MarkupError("inline keyboard expected: only InlineKeyboardMarkup can be used when editing")
    if "keyboard" in value:
        markup: dict[str, Any] = {"keyboard": _reply_rows(value["keyboard"])}
        for name in _REPLY_MARKUP_FIELDS:
            if value.get(name) is not None:
                markup[name] = value[name]
        return markup
    if "remove_keyboard" in value:
        if value["remove_keyboard"] is not True:
            raise MarkupError('Field "remove_keyboard" of the ReplyKeyboardRemove must be true')
        return {"remove_keyboard": True, **({"selective": True} if value.get("selective") else {})}
    if "force_reply" in value:
        if value["force_reply"] is not True:
            raise MarkupError('Field "force_reply" of the ForceReply must be true')
        out: dict[str, Any] = {"force_reply": True}
        for name in ("input_field_placeholder", "selective"):
            if value.get(name) is not None:
                out[name] = value[name]
        return out
    raise MarkupError("can't parse reply keyboard markup JSON object")


def _rows(rows: Any, what: str) -> list[list[Any]]:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise MarkupError(f'Field "{what}" must be an Array of Arrays of buttons')
    return rows


def _inline_rows(rows: Any) -> list[list[dict[str, Any]]]:
    result = []
    count = 0
    for row in _rows(rows, "inline_keyboard"):
        out_row = []
        for button in row:
            out_row.append(_inline_button(button))
            count += 1
        result.append(out_row)
    if count > MAX_INLINE_BUTTONS:
        raise MarkupError("reply markup is too long")
    return result


def _inline_button(button: Any) -> dict[str, Any]:
    if not isinstance(button, dict):
        raise MarkupError("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    text = button.get("text")
    if not isinstance(text, str):
        raise MarkupError('can\'t parse inline keyboard button: Field "text" must be of type String')
    if not text.strip():
        raise MarkupError("can't parse inline keyboard button: Text must be non-empty")
    actions = [name for name, v in button.items() if v is not None and name in _INLINE_ACTIONS]
    if not actions:
        raise MarkupError("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise MarkupError("can't parse inline keyboard button: exactly one of the optional fields must be used "
                          f"to specify type of the button, got {', '.join(actions)}")
    action = actions[0]
    if action == "callback_data":
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES:
            raise MarkupError("BUTTON_DATA_INVALID")
    elif action == "url":
        url = button["url"]
        if not isinstance(url, str) or not url or any(c.isspace() for c in url):
            raise MarkupError("BUTTON_URL_INVALID")
    return {name: v for name, v in button.items() if v is not None and name in _INLINE_FIELDS}


def _reply_rows(rows: Any) -> list[list[dict[str, Any]]]:
    return [[_reply_button(b) for b in row] for row in _rows(rows, "keyboard")]


def _reply_button(button: Any) -> dict[str, Any]:
    if isinstance(button, str):
        button = {"text": button}
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise MarkupError('can\'t parse keyboard button: Field "text" must be of type String')
    if not button["text"].strip():
        raise MarkupError("can't parse keyboard button: Text must be non-empty")
    actions = [name for name, v in button.items() if v is not None and v is not False and name in _REPLY_ACTIONS]
    if len(actions) > 1:
        raise MarkupError("can't parse keyboard button: at most one of the optional fields can be used "
                          f"to specify type of the button, got {', '.join(actions)}")
    return {name: v for name, v in button.items() if v is not None and v is not False and name in _REPLY_FIELDS}


def inline_buttons(markup: dict[str, Any] | None) -> list[list[dict[str, Any]]]:
    if not markup:
        return []
    rows: list[list[dict[str, Any]]] = markup.get("inline_keyboard", [])
    return rows


def callback_data_on(markup: dict[str, Any] | None) -> set[str]:
    return {b["callback_data"] for row in inline_buttons(markup) for b in row if "callback_data" in b}
