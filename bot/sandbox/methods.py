"""The Bot API methods the stand-in implements, with Telegram's validation and error wording.

Each ``api_<method>`` takes the decoded parameters (required ones already checked) and returns the
``result`` or raises :class:`~bot.sandbox.models.ApiError`. The caller holds the lock.
getUpdates lives in :mod:`bot.sandbox.core` because it waits.

Over 400 lines: one method per Bot API call the bot makes, each a few lines of Telegram's own
checks; they share the core's lock and state, and a split by method family would only scatter them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import mimetypes
import re
import secrets
from typing import Any

from bot.sandbox.markup import MarkupError, parse_reply_markup
from bot.sandbox.models import ApiError, CallbackAnswer, Chat, Edit, Message, StoredFile, Upload, bad_request
from bot.sandbox.state import CoreState
from bot.sandbox.tghtml import EntityParseError, Parsed, parse_html, trim, utf16_len

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # sendPhoto: "at most 10 MB"
MAX_PHOTO_SIDES = 10_000  # "width and height must not exceed 10000 in total"
MAX_PHOTO_RATIO = 20  # "Width and height ratio must be at most 20"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # "files of any type of up to 50 MB"
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile: "files of up to 20MB"
WRONG_FILE_ID = "wrong file identifier/HTTP URL specified"
_FILE_PREFIX = {"photo": "AgACAgIAAxkDAAI", "document": "BQACAgIAAxkDAAI"}
MAX_ANSWER_TEXT = 200
MAX_DESCRIPTION = 512
MAX_SHORT_DESCRIPTION = 120
DELETE_WINDOW = 48 * 3600
NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message")
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
WEBHOOK_CONFLICT = ("Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first")
CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})
SCOPES_PLAIN = frozenset({"default", "all_private_chats", "all_group_chats", "all_chat_administrators"})
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_LANG = re.compile(r"(|[a-z]{2})")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class BotMethods(CoreState):
    # -- text and markup -----------------------------------------------------------------------

    def _text(self, p: dict[str, Any], *, editing: bool) -> tuple[Parsed, str, str | None]:
        source = p.get("text")
        if not isinstance(source, str) or not source:
            raise bad_request("message text is empty")
        mode = p.get("parse_mode")
        try:
            if mode:
                if mode.lower() == "html":
                    parsed = parse_html(source, strict_ampersand=self.strict_ampersand)
                    mode = "HTML"
                elif mode.lower() in ("markdown", "markdownv2"):
                    raise bad_request(f"parse_mode {mode} is not supported by the swbot sandbox; use HTML")
                else:
                    raise bad_request("unsupported parse_mode")
            else:
                parsed = Parsed(source, self._entities(source, p.get("entities")))
        except EntityParseError as exc:
            raise bad_request(str(exc)) from None
        parsed = trim(parsed)
        if not parsed.text:
            raise bad_request("message text is empty")
        if utf16_len(parsed.text) > MAX_TEXT:
            raise bad_request("MESSAGE_TOO_LONG" if editing else "message is too long")
        return parsed, source, mode

    @staticmethod
    def _entities(text: str, entities: Any) -> list[dict[str, Any]]:
        if entities is None:
            return []
        size = utf16_len(text)
        if not isinstance(entities, list):
            raise EntityParseError("can't parse entities: entities must be an Array")
        out = []
        for e in entities:
            if not isinstance(e, dict) or not isinstance(e.get("type"), str):
                raise EntityParseError("can't parse entities: an entity must be an Object with a type")
            offset, length = e.get("offset"), e.get("length")
            if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length <= 0 \
                    or offset + length > size:
                raise EntityParseError(f"can't parse entities: entity {e} is out of the text")
            out.append(dict(e))
        return out

    @staticmethod
    def _markup(value: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
        try:
            return parse_reply_markup(value, inline_only=inline_only)
        except MarkupError as exc:
            raise bad_request(str(exc)) from None

    def _own_message(self, chat: Chat, message_id: Any, missing: str) -> Message:
        if not isinstance(message_id, int):
            raise bad_request("message identifier is not specified")
        m = chat.messages.get(message_id)
        if m is None or m.deleted:
            raise bad_request(missing)
        return m

    def _editable(self, p: dict[str, Any]) -> Message:
        if p.get("inline_message_id") is not None:
            raise bad_request("inline messages are not supported by the swbot sandbox")
        if p.get("chat_id") is None:
            raise bad_request("chat_id is empty")
        if p.get("message_id") is None:
            raise bad_request("message identifier is not specified")
        chat = self._chat_to_write(p["chat_id"])
        m = self._own_message(chat, p["message_id"], "message to edit not found")
        if not m.from_bot:
            raise bad_request("message can't be edited")
        if m.reply_markup and "inline_keyboard" not in m.reply_markup:
            # A message sent with a reply keyboard or ForceReply cannot be edited (TDLib can_edit_message).
            raise bad_request("message can't be edited")
        if m.contact is not None or not m.text:
            raise bad_request("there is no text in the message to edit")
        return m

    def _remember_edit(self, m: Message) -> None:
        m.edits.append(Edit(m.edit_date or m.date, m.text, m.source, m.entities, m.reply_markup))
        m.edit_date = self.now()

    # -- bot identity --------------------------------------------------------------------------

    def api_getMe(self, p: dict[str, Any]) -> Any:
        return {**self._bot_json(), "can_join_groups": True, "can_read_all_group_messages": not self.privacy_mode,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    def api_logOut(self, p: dict[str, Any]) -> Any:
        self.logged_out = True
        return True

    def api_close(self, p: dict[str, Any]) -> Any:
        self.closed = True
        return True

    # -- messages ------------------------------------------------------------------------------

    def api_sendMessage(self, p: dict[str, Any]) -> Any:
        chat = self._chat_to_write(p["chat_id"])
        parsed, source, mode = self._text(p, editing=False)
        markup = self._markup(p.get("reply_markup"))
        reply_to = self._reply_to(chat, p)
        m = self._add_message(
            chat, from_bot=True, from_id=self.bot_id, text=parsed.text, source=source, parse_mode=mode,
            entities=parsed.entities, reply_markup=markup, protect_content=bool(p.get("protect_content")),
            reply_to=reply_to,
        )
        if markup is not None:
            if "keyboard" in markup:
                chat.reply_keyboard = markup
            elif "remove_keyboard" in markup:
                chat.reply_keyboard = None
        return self._message_json(m)

    def _reply_to(self, chat: Chat, p: dict[str, Any]) -> int | None:
        rp = p.get("reply_parameters")
        if rp is None:
            return None
        if not isinstance(rp, dict) or not isinstance(rp.get("message_id"), int):
            raise bad_request("can't parse reply_parameters JSON object")
        target = chat.messages.get(rp["message_id"])
        if target is None or target.deleted:
            if rp.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        return target.message_id

    def api_editMessageText(self, p: dict[str, Any]) -> Any:
        m = self._editable(p)
        parsed, source, mode = self._text(p, editing=True)
        # No reply_markup in an edit removes the inline keyboard, as in Telegram.
        markup = self._markup(p.get("reply_markup"), inline_only=True)
        if parsed.text == m.text and parsed.entities == m.entities and markup == m.reply_markup:
            raise bad_request(NOT_MODIFIED)
        self._remember_edit(m)
        m.text, m.source, m.parse_mode, m.entities, m.reply_markup = (
            parsed.text, source, mode, parsed.entities, markup)
        return self._message_json(m)

    def api_editMessageReplyMarkup(self, p: dict[str, Any]) -> Any:
        if p.get("inline_message_id") is not None:
            raise bad_request("inline messages are not supported by the swbot sandbox")
        if p.get("chat_id") is None:
            raise bad_request("chat_id is empty")
        chat = self._chat_to_write(p["chat_id"])
        m = self._own_message(chat, p.get("message_id"), "message to edit not found")
        if not m.from_bot or (m.reply_markup and "inline_keyboard" not in m.reply_markup):
            raise bad_request("message can't be edited")
        markup = self._markup(p.get("reply_markup"), inline_only=True)
        if markup == m.reply_markup:
            raise bad_request(NOT_MODIFIED)
        self._remember_edit(m)
        m.reply_markup = markup
        return self._message_json(m)

    def _deletable(self, chat: Chat, m: Message) -> bool:
        if chat.type != "private" and not m.from_bot and chat.bot_status != "administrator":
            return False
        return self.now() - m.date < DELETE_WINDOW

    def api_deleteMessage(self, p: dict[str, Any]) -> Any:
        chat = self._chat_to_write(p["chat_id"])
        m = self._own_message(chat, p["message_id"], "message to delete not found")
        if not self._deletable(chat, m):
            raise bad_request("message can't be deleted for everyone")
        m.deleted = True
        return True

    def api_deleteMessages(self, p: dict[str, Any]) -> Any:
        chat = self._chat_to_write(p["chat_id"])
        ids = p["message_ids"]
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
            raise bad_request("message identifiers are not specified")
        if len(ids) > 100:
            raise bad_request("too many message identifiers specified")
        for message_id in ids:  # missing or undeletable ones are skipped, as documented
            m = chat.messages.get(message_id)
            if m is not None and not m.deleted and self._deletable(chat, m):
                m.deleted = True
        return True

    def api_sendChatAction(self, p: dict[str, Any]) -> Any:
        self._chat_to_write(p["chat_id"])
        if p["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def api_getChat(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p["chat_id"])
        return {**self._chat_json(chat), "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                                        "premium_subscription": False, "gifts_from_channels": False}}

    # -- files: sendPhoto, sendDocument, getFile -----------------------------------------------

    def _caption(self, p: dict[str, Any]) -> tuple[str, str | None, list[dict[str, Any]]]:
        """(plain caption, source, entities); 0-1024 characters after entity parsing."""
        source = p.get("caption")
        if source is None or source == "":
            return "", None, []
        if not isinstance(source, str):
            raise bad_request("can't parse caption")
        mode = p.get("parse_mode")
        try:
            if mode and mode.lower() == "html":
                parsed = parse_html(source, strict_ampersand=self.strict_ampersand)
            elif mode:
                raise bad_request(f"parse_mode {mode} is not supported by the swbot sandbox; use HTML")
            else:
                parsed = Parsed(source, self._entities(source, p.get("caption_entities")))
        except EntityParseError as exc:
            raise bad_request(str(exc)) from None
        parsed = trim(parsed)
        if utf16_len(parsed.text) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return parsed.text, source, parsed.entities

    def _store(self, kind: str, data: bytes, file_name: str | None, mime_type: str,
               width: int = 0, height: int = 0) -> StoredFile:
        n = len(self._files) + 1
        token = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")
        unique = base64.urlsafe_b64encode(hashlib.sha256(data).digest()[:12]).decode().rstrip("=")
        ext = mimetypes.guess_extension(mime_type) or ".bin"
        folder = "photos" if kind == "photo" else "documents"
        stored = StoredFile(
            file_id=f"{_FILE_PREFIX[kind]}{n}{token}", file_unique_id=f"AQAD{unique}", kind=kind, data=data,
            file_name=file_name, mime_type=mime_type, width=width, height=height, file_path=f"{folder}/file_{n}{ext}",
        )  # fmt: skip
        self._files[stored.file_id] = stored
        self._file_paths[stored.file_path] = stored.file_id
        return stored

    def _input_file(self, value: Any, kind: str) -> tuple[StoredFile | None, Upload | None]:
        """An InputFile or String parameter: (a stored file reused by file_id, or a new upload)."""
        if isinstance(value, Upload):
            if not value.data:
                raise bad_request("file must be non-empty")
            return None, value
        if not isinstance(value, str):
            raise bad_request(WRONG_FILE_ID)
        if value.startswith(("http://", "https://")):
            # Telegram would fetch it; the stand-in has no network (and tests must not reach one).
            raise bad_request("the swbot sandbox cannot fetch files by URL: upload the file or use a file_id")
        stored = self._files.get(value)
        if stored is None:
            raise bad_request(WRONG_FILE_ID)
        if stored.kind != kind:
            raise bad_request("type of file mismatch")
        return stored, None

    def _photo(self, upload: Upload) -> StoredFile:
        if len(upload.data) > MAX_PHOTO_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        try:
            from PIL import Image

            with Image.open(io.BytesIO(upload.data)) as image:
                width, height = image.size
                mime = Image.MIME.get(image.format or "", "image/jpeg")
        except Exception:  # not an image Pillow can read
            raise bad_request("IMAGE_PROCESS_FAILED") from None
        if width + height > MAX_PHOTO_SIDES or max(width, height) > MAX_PHOTO_RATIO * min(width, height):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        return self._store("photo", upload.data, None, mime, width, height)

    @staticmethod
    def _photo_sizes(f: StoredFile) -> list[dict[str, Any]]:
        return [{"file_id": f.file_id, "file_unique_id": f.file_unique_id, "width": f.width, "height": f.height,
                 "file_size": f.size}]

    @staticmethod
    def _document_json(f: StoredFile) -> dict[str, Any]:
        d: dict[str, Any] = {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "mime_type": f.mime_type,
                             "file_size": f.size}
        if f.file_name:
            d["file_name"] = f.file_name
        return d

    def _send_media(self, p: dict[str, Any], **media: Any) -> Any:
        chat = self._chat_to_write(p["chat_id"])
        caption, source, entities = self._caption(p)
        markup = self._markup(p.get("reply_markup"))
        m = self._add_message(
            chat, from_bot=True, from_id=self.bot_id, caption=caption, caption_source=source,
            caption_entities=entities, reply_markup=markup, protect_content=bool(p.get("protect_content")),
            reply_to=self._reply_to(chat, p), **media,
        )  # fmt: skip
        if markup is not None and "keyboard" in markup:
            chat.reply_keyboard = markup
        return self._message_json(m)

    def api_sendPhoto(self, p: dict[str, Any]) -> Any:
        self._chat_to_write(p["chat_id"])
        stored, upload = self._input_file(p["photo"], "photo")
        if upload is not None:
            stored = self._photo(upload)
        assert stored is not None
        return self._send_media(p, photo=self._photo_sizes(stored))

    def api_sendDocument(self, p: dict[str, Any]) -> Any:
        self._chat_to_write(p["chat_id"])
        stored, upload = self._input_file(p["document"], "document")
        if upload is not None:
            if len(upload.data) > MAX_UPLOAD_BYTES:
                raise ApiError(413, "Request Entity Too Large")
            name = upload.filename or "document"
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":  # what the sender left to detection
                mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
            stored = self._store("document", upload.data, name, mime)
        assert stored is not None
        return self._send_media(p, document=self._document_json(stored))

    def api_getFile(self, p: dict[str, Any]) -> Any:
        f = self._files.get(p["file_id"]) if isinstance(p.get("file_id"), str) else None
        if f is None:
            raise bad_request("invalid file_id")
        if f.size > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.size,
                "file_path": f.file_path}

    # -- callback queries ----------------------------------------------------------------------

    def api_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        q = self._queries.get(str(p["callback_query_id"]))
        if q is None or q.answer is not None or self._mono() - q.created > self.callback_query_ttl:
            raise bad_request(QUERY_TOO_OLD)
        text = p.get("text")
        if text is not None and utf16_len(text) > MAX_ANSWER_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        q.answer = CallbackAnswer(text=text or None, show_alert=bool(p.get("show_alert")), url=p.get("url"),
                                  cache_time=int(p.get("cache_time") or 0))
        return True

    # -- commands, descriptions, menu button ---------------------------------------------------

    def _scope_key(self, scope: Any) -> tuple[Any, ...]:
        if scope is None:
            return ("default",)
        if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
            raise bad_request("can't parse BotCommandScope JSON object")
        kind = scope["type"]
        if kind in SCOPES_PLAIN:
            return (kind,)
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat = self._chat(scope.get("chat_id"))
            if kind != "chat_member":
                return (kind, chat.id)
            user_id = scope.get("user_id")
            if not isinstance(user_id, int) or user_id not in self._users:
                raise bad_request("user not found")
            return (kind, chat.id, user_id)
        raise bad_request(f'unsupported bot command scope type "{kind}"')

    @staticmethod
    def _language(p: dict[str, Any]) -> str:
        lang = p.get("language_code") or ""
        if not isinstance(lang, str) or not _LANG.fullmatch(lang):
            raise bad_request(f'language code "{lang}" is invalid: use a two-letter ISO 639-1 code or ""')
        return lang

    def api_setMyCommands(self, p: dict[str, Any]) -> Any:
        commands = p["commands"]
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        clean = []
        for c in commands:
            if not isinstance(c, dict) or not isinstance(c.get("command"), str) \
                    or not _COMMAND.fullmatch(c["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
            desc = c.get("description")
            if not isinstance(desc, str) or not 1 <= len(desc.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": c["command"], "description": desc})
        key = (self._scope_key(p.get("scope")), self._language(p))
        if clean:
            self._commands[key] = clean
        else:
            self._commands.pop(key, None)
        return True

    def api_getMyCommands(self, p: dict[str, Any]) -> Any:
        key = (self._scope_key(p.get("scope")), self._language(p))
        return [dict(c) for c in self._commands.get(key, [])]

    def api_deleteMyCommands(self, p: dict[str, Any]) -> Any:
        self._commands.pop((self._scope_key(p.get("scope")), self._language(p)), None)
        return True

    def _set_text_setting(self, store: dict[str, str], p: dict[str, Any], name: str, limit: int) -> bool:
        lang = self._language(p)
        value = p.get(name) or ""
        if len(value) > limit:
            raise bad_request(f"{name.replace('_', ' ')} is too long")
        if value:
            store[lang] = value
        else:
            store.pop(lang, None)
        return True

    def api_setMyDescription(self, p: dict[str, Any]) -> Any:
        return self._set_text_setting(self._descriptions, p, "description", MAX_DESCRIPTION)

    def api_getMyDescription(self, p: dict[str, Any]) -> Any:
        lang = self._language(p)
        return {"description": self._descriptions.get(lang, self._descriptions.get("", ""))}

    def api_setMyShortDescription(self, p: dict[str, Any]) -> Any:
        return self._set_text_setting(self._short_descriptions, p, "short_description", MAX_SHORT_DESCRIPTION)

    def api_getMyShortDescription(self, p: dict[str, Any]) -> Any:
        lang = self._language(p)
        return {"short_description": self._short_descriptions.get(lang, self._short_descriptions.get("", ""))}

    def api_setChatMenuButton(self, p: dict[str, Any]) -> Any:
        button = p.get("menu_button")
        if button is not None:
            kind = button.get("type") if isinstance(button, dict) else None
            if kind not in ("commands", "web_app", "default"):
                raise bad_request("can't parse menu button JSON object")
            if kind == "web_app" and not (isinstance(button.get("text"), str)
                                          and isinstance(button.get("web_app"), dict)):
                raise bad_request("can't parse menu button JSON object")
        if p.get("chat_id") is None:
            self._default_menu_button = button
        else:
            chat = self._chat(p["chat_id"])
            if chat.type != "private":
                raise bad_request("menu button can be set only in private chats")
            chat.menu_button = button
        return True

    def api_getChatMenuButton(self, p: dict[str, Any]) -> Any:
        button = self._default_menu_button
        if p.get("chat_id") is not None:
            button = self._chat(p["chat_id"]).menu_button or button
        return dict(button) if button else {"type": "default"}

    # -- webhook -------------------------------------------------------------------------------

    def api_setWebhook(self, p: dict[str, Any]) -> Any:
        url = p.get("url") or ""
        if not url:
            return self.api_deleteWebhook(p)
        if not url.startswith(("http://", "https://")):
            # Telegram wants HTTPS on 443/80/88/8443; the stand-in also takes http for loopback tests.
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not _SECRET.fullmatch(secret):
            raise bad_request("bad webhook: secret token contains unallowed characters")
        max_connections = p.get("max_connections", 40)
        if not isinstance(max_connections, int) or not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if p.get("allowed_updates") is not None:
            self._set_allowed(p["allowed_updates"])
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {"url": url, "secret_token": secret, "max_connections": max_connections,
                         "ip_address": p.get("ip_address")}
        self._webhook_error = None
        self._start_webhook_thread()
        self._webhook_cv.notify_all()
        self._wake(self._pollers)  # a pending long poll now answers 409, as in Telegram
        return True

    def api_deleteWebhook(self, p: dict[str, Any]) -> Any:
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {}
        self._webhook_cv.notify_all()
        return True

    def api_getWebhookInfo(self, p: dict[str, Any]) -> Any:
        info: dict[str, Any] = {"url": self._webhook.get("url", ""), "has_custom_certificate": False,
                                "pending_update_count": len(self._updates)}
        if self._webhook:
            info["max_connections"] = self._webhook["max_connections"]
            if self._webhook.get("ip_address"):
                info["ip_address"] = self._webhook["ip_address"]
        if self._allowed is not None:
            info["allowed_updates"] = sorted(self._allowed)
        if self._webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    def _set_allowed(self, allowed: Any) -> None:
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise bad_request("can't parse allowed_updates JSON object")
        self._allowed = frozenset(allowed) if allowed else None

    def _start_webhook_thread(self) -> None:
        raise NotImplementedError  # provided by the core
