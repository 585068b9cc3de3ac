"""The stand-in's state records and their Bot API JSON shapes."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.markup import inline_buttons


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": code, "description": …}``."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None, *,
                 injected: bool = False) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters
        self.injected = injected  # a fault the test asked for, not the bot's mistake

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def forbidden(description: str) -> ApiError:
    return ApiError(403, f"Forbidden: {description}")


class SandboxError(ValueError):
    """A user-side action that Telegram's client would not allow (tapping a button that is not
    there, writing in a group one is not in, …). A test mistake, not a bot bug."""


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of a multipart/form-data request (an ``InputFile``), as it arrived."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None

    def __repr__(self) -> str:  # the call record keeps params: do not print the bytes
        return f"Upload({self.filename!r}, {self.content_type!r}, {len(self.data)} bytes)"


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file the bot uploaded, kept by the stand-in under its file_id (for reuse, getFile and the
    web chat)."""

    file_id: str
    file_unique_id: str
    kind: str  # "photo" | "document"
    data: bytes
    file_name: str | None
    mime_type: str
    width: int = 0
    height: int = 0
    file_path: str = ""

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(slots=True)
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    blocked: bool = False  # this user has blocked the bot

    def to_api(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            d["last_name"] = self.last_name
        if self.username:
            d["username"] = self.username
        if self.language_code:
            d["language_code"] = self.language_code
        return d


@dataclass(slots=True)
class Edit:
    """A message's content before one edit."""

    date: int
    text: str
    source: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None


@dataclass(slots=True)
class Message:
    message_id: int
    chat_id: int
    date: int
    from_bot: bool
    from_id: int  # the bot's id for bot messages
    text: str = ""  # plain text, after entity parsing
    source: str | None = None  # the text as sent by the bot (HTML source when parse_mode=HTML)
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    protect_content: bool = False
    reply_to: int | None = None
    contact: dict[str, Any] | None = None
    photo: list[dict[str, Any]] | None = None  # PhotoSize objects, smallest first
    document: dict[str, Any] | None = None  # a Document object
    caption: str = ""  # plain caption of a photo or document, after entity parsing
    caption_source: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # service fields (new_chat_members, …)
    deleted: bool = False
    edit_date: int | None = None
    edits: list[Edit] = field(default_factory=list)


@dataclass(slots=True)
class Chat:
    id: int
    type: str  # "private" | "group"
    title: str | None = None
    user_id: int | None = None  # the other party of a private chat
    members: set[int] = field(default_factory=set)
    bot_status: str = "member"  # for groups: member | left | kicked | administrator
    next_message_id: int = 1
    messages: dict[int, Message] = field(default_factory=dict)
    reply_keyboard: dict[str, Any] | None = None  # the reply keyboard the user currently sees
    chat_instance: str = ""
    menu_button: dict[str, Any] | None = None


@dataclass(slots=True)
class CallbackQuery:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created: float  # core clock (monotonic + offset)
    answer: CallbackAnswer | None = None


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int


@dataclass(frozen=True, slots=True)
class Call:
    """One Bot API call as the stand-in saw it."""

    method: str
    params: dict[str, Any]
    ok: bool
    result: Any = None
    error_code: int | None = None
    description: str | None = None
    at: float = 0.0  # time.monotonic()
    injected: bool = False  # the error was injected (fail_next, inject_faults), not a refusal


@dataclass(frozen=True, slots=True)
class MessageView:
    """Plain-data snapshot of a message, for assertions and the web chat."""

    message_id: int
    chat_id: int
    from_bot: bool
    from_id: int
    date: int
    text: str  # plain text as the user sees it
    html: str  # HTML as sent (parse_mode=HTML) or the escaped plain text
    entities: tuple[dict[str, Any], ...]
    buttons: tuple[tuple[dict[str, Any], ...], ...]  # inline keyboard rows: {text, callback_data|url|…}
    reply_keyboard: tuple[tuple[dict[str, Any], ...], ...] | None  # {text, request_contact?, …}
    remove_keyboard: bool
    protect_content: bool
    edited: int  # how many times the message was edited
    deleted: bool
    contact: dict[str, Any] | None
    reply_to: int | None
    photo: tuple[dict[str, Any], ...] = ()  # PhotoSize objects, smallest first
    document: dict[str, Any] | None = None
    caption: str = ""
    caption_entities: tuple[dict[str, Any], ...] = ()

    @property
    def labels(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]


def view_of(m: Message) -> MessageView:
    markup = m.reply_markup or {}
    keyboard = markup.get("keyboard")
    if m.parse_mode == "HTML" and m.source is not None:
        as_html = m.source
    else:
        as_html = html.escape(m.text, quote=False)
    return MessageView(
        message_id=m.message_id,
        chat_id=m.chat_id,
        from_bot=m.from_bot,
        from_id=m.from_id,
        date=m.date,
        text=m.text,
        html=as_html,
        entities=tuple(dict(e) for e in m.entities),
        buttons=tuple(tuple(dict(b) for b in row) for row in inline_buttons(markup)),
        reply_keyboard=None if keyboard is None else tuple(tuple(dict(b) for b in row) for row in keyboard),
        remove_keyboard=bool(markup.get("remove_keyboard")),
        protect_content=m.protect_content,
        edited=len(m.edits),
        deleted=m.deleted,
        contact=dict(m.contact) if m.contact else None,
        reply_to=m.reply_to,
        photo=tuple(dict(p) for p in m.photo or ()),
        document=dict(m.document) if m.document else None,
        caption=m.caption,
        caption_entities=tuple(dict(e) for e in m.caption_entities),
    )
