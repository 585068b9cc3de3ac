"""sendPhoto, sendDocument and getFile in the stand-in: uploads (multipart, in-process and over
HTTP), file_id reuse, Telegram's limits and error wording, and the download route."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from telegram import Bot, InputFile
from telegram.error import BadRequest
from telegram.ext import ApplicationBuilder

from bot.sandbox.client import SandboxClient
from bot.sandbox.core import BotApiCore
from bot.sandbox.server import SandboxServer
from tests.support.sandbox import TOKEN, in_process_app, ptb_message

USER = 601


def png(width: int, height: int, color: str = "#2b7de9") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
async def bot(core: BotApiCore) -> AsyncIterator[Bot]:
    app = in_process_app(core, read_timeout=2)
    async with app:
        SandboxClient(core, USER, "Ann")  # registers the user
        core.user_message(USER, "/start")  # opens the private chat
        yield app.bot


async def test_send_photo_upload_then_reuse_by_file_id(core: BotApiCore, bot: Bot) -> None:
    data = png(960, 540)
    photo = InputFile(data, filename="chart.png")
    sent = await bot.send_photo(USER, photo, caption="<b>2025</b> ¥1", parse_mode="HTML", protect_content=True)
    size = sent.photo[-1]
    assert (size.width, size.height, size.file_size) == (960, 540, len(data))
    assert sent.caption == "2025 ¥1" and sent.caption_entities[0].type == "bold"
    assert sent.has_protected_content
    stored = core.file(size.file_id)
    assert stored is not None and stored.data == data and stored.mime_type == "image/png"
    again = await bot.send_photo(USER, size.file_id, caption="again")
    assert again.photo[-1].file_id == size.file_id  # no second upload
    view = core.last_message(USER)
    assert view is not None and view.photo[-1]["file_id"] == size.file_id and view.caption == "again"
    upload = core.calls("sendPhoto")[0].params["photo"]
    assert repr(upload) == f"Upload('chart.png', 'image/png', {len(data)} bytes)"


async def test_photo_limits_and_errors(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=ptb_message("Bad Request: PHOTO_INVALID_DIMENSIONS")):
        await bot.send_photo(USER, InputFile(png(2100, 100), filename="wide.png"))  # ratio 21 > 20
    with pytest.raises(BadRequest, match=ptb_message("Bad Request: PHOTO_INVALID_DIMENSIONS")):
        await bot.send_photo(USER, InputFile(png(6000, 4001), filename="big.png"))  # 10 001 > 10 000
    with pytest.raises(BadRequest, match=ptb_message("Bad Request: IMAGE_PROCESS_FAILED")):
        await bot.send_photo(USER, InputFile(b"not an image", filename="x.png"))
    with pytest.raises(BadRequest, match=ptb_message("Bad Request: wrong file identifier/HTTP URL specified")):
        await bot.send_photo(USER, "AgACnope")
    with pytest.raises(BadRequest, match="cannot fetch files by url"):
        await bot.send_photo(USER, "https://example.com/a.png")
    with pytest.raises(BadRequest, match=ptb_message("Bad Request: message caption is too long")):
        await bot.send_photo(USER, InputFile(png(10, 10), filename="a.png"), caption="x" * 1025)


async def test_send_document_and_get_file(core: BotApiCore, bot: Bot) -> None:
    body = "\ufeff税单,金额\r\n1,12.50\r\n".encode()
    sent = await bot.send_document(USER, InputFile(body, filename="tax-slips-2025.csv"), caption="🧾 2025")
    doc = sent.document
    assert (doc.file_name, doc.mime_type, doc.file_size) == ("tax-slips-2025.csv", "text/csv", len(body))
    assert (await bot.send_document(USER, doc.file_id)).document.file_id == doc.file_id
    with pytest.raises(BadRequest, match=ptb_message("Bad Request: type of file mismatch")):
        await bot.send_photo(USER, doc.file_id)
    info = await bot.get_file(doc.file_id)
    assert info.file_size == len(body) and info.file_path and info.file_path.endswith("/documents/file_1.csv")
    with pytest.raises(BadRequest, match=ptb_message("Bad Request: invalid file_id")):
        await bot.get_file("BQACnope")
    editable = core.last_message(USER)
    assert editable is not None
    with pytest.raises(BadRequest, match=ptb_message("Bad Request: there is no text in the message to edit")):
        await bot.edit_message_text("x", chat_id=USER, message_id=editable.message_id)


def test_over_http_multipart_and_download(core: BotApiCore) -> None:
    """Over HTTP python-telegram-bot sends multipart/form-data; the file comes back from /file/."""
    import asyncio

    async def run(base_url: str) -> None:
        # Downloads go to …/file/bot<token>/<file_path>, as on api.telegram.org.
        app = ApplicationBuilder().token(TOKEN).base_url(base_url).base_file_url(base_url[:-3] + "file/bot").build()
        async with app:
            SandboxClient(core, USER, "Ann")
            core.user_message(USER, "/start")
            pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40  # binary: must arrive byte for byte
            sent = await app.bot.send_document(USER, InputFile(pdf, filename="export.pdf"))
            assert sent.document.mime_type == "application/pdf"
            f = await app.bot.get_file(sent.document.file_id)
            assert bytes(await f.download_as_bytearray()) == pdf
            photo = png(300, 200)
            shot = await app.bot.send_photo(USER, InputFile(photo, filename="p.png"))
            assert (shot.photo[-1].width, shot.photo[-1].height) == (300, 200)

    with SandboxServer(core) as server:
        asyncio.run(run(server.base_url))
