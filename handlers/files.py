"""Files: the quota chart (sendPhoto) and a year's exports (sendDocument).

Rendering is CPU work (matplotlib, fpdf2): it runs in a worker thread, at most two at a time per
process, so the event loop keeps answering taps meanwhile. A chart is cached by content: the same
picture is sent again by its Telegram file_id, never drawn or uploaded twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from telegram import InputFile, Message
from telegram.error import BadRequest

from bot import callbacks as cb
from bot.domain import languages
from bot.domain.records import ListExport, TaxExport
from bot.files import chart, exports
from bot.files.cache import FileIdCache
from bot.files.fonts import FontMissing, cjk_font
from bot.views import files as file_views
from handlers.common import Scope
from storage import queries

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_RENDERS = 2  # the machine class has 2 cores


def file_ids(scope: Scope) -> FileIdCache:
    cache: FileIdCache = scope.context.application.bot_data.setdefault("file_ids", FileIdCache())
    return cache


async def render(scope: Scope, fn: Callable[..., T], *args: Any) -> T:
    """Run a renderer off the event loop (bounded per process)."""
    data = scope.context.application.bot_data
    slots: asyncio.Semaphore = data.setdefault("render_slots", asyncio.Semaphore(MAX_RENDERS))
    async with slots:
        return await asyncio.to_thread(fn, *args)


async def font_missing(scope: Scope) -> bool:
    """True (and the tap answered with why) when this machine cannot draw charts and PDFs."""
    try:
        cjk_font()
    except FontMissing as exc:
        log.error("cannot draw files: %s", exc)
        scope.context.services.count("files_unavailable")
        await scope.ack(file_views.files_unavailable(scope.ctx), alert=True)
        return True
    return False


# ---------------------------------------------------------------- chart


async def send_chart(scope: Scope, state: cb.QuotaChart) -> None:
    if await font_missing(scope):
        return
    data = await scope.read(queries.monthly_consumption_sync, scope.identity_key, state.year)
    key = chart.cache_key(data, scope.t.lang)
    cache = file_ids(scope)
    caption = file_views.chart_caption(scope.ctx, data)
    await scope.ack()
    try:
        async with cache.lock(key):  # two taps on the same chart: the second one reuses the first
            file_id = cache.get(key)
            if file_id is not None:
                try:
                    await _send_photo(scope, file_id, caption)
                    return
                except BadRequest as exc:  # the file_id is no longer valid (another bot token, …)
                    log.info("cached chart not accepted (%s): drawing it again", exc)
                    cache.forget(key)
            started = time.perf_counter()
            png = await render(scope, chart.render, data, scope.t)
            cache.renders += 1
            log.debug("chart drawn in %.0f ms (%d bytes)", (time.perf_counter() - started) * 1000, len(png))
            message = await _send_photo(scope, InputFile(png, filename=file_views.chart_filename(state.year)), caption)
            if message.photo:
                cache.put(key, message.photo[-1].file_id)
    finally:
        cache.release(key)


async def _send_photo(scope: Scope, photo: str | InputFile, caption: str) -> Message:
    return await scope.context.bot.send_photo(scope.chat_id, photo, caption=caption, protect_content=True)


async def warm_up(app: Any) -> None:
    """Load matplotlib and the font in the background at start, so the first chart a person asks
    for is drawn as fast as the next ones (`swbot run` only; tests and the sandbox draw lazily)."""
    from decimal import Decimal

    from bot.domain.records import MonthlyConsumption
    from bot.i18n import get_translator

    def draw() -> None:
        try:
            chart.render(MonthlyConsumption(2000, None, (Decimal(0),) * 12), get_translator(languages.DEFAULT))
        except FontMissing as exc:
            log.error("charts and PDFs are not available: %s", exc)

    # A plain task (the Application is not running yet); shutdown waits for it (a thread cannot be
    # cancelled), so nothing is left pending when the loop closes.
    task = asyncio.get_running_loop().create_task(asyncio.to_thread(draw))
    app.bot_data["warm_up"] = task  # bot.app.freeze_heap waits for it

    async def finish(_app: Any) -> None:
        await asyncio.wait({task})

    app.bot_data.setdefault("on_stop", []).append(finish)


# ---------------------------------------------------------------- exports


async def show_export_menu(scope: Scope, state: cb.ExportMenu) -> None:
    years = await scope.read(queries.export_years_sync, scope.identity_key, state.target == cb.EXPORT_TAX)
    await scope.show(file_views.export_menu(scope.ctx, state, years))


async def send_export(scope: Scope, state: cb.ExportFile) -> None:
    if state.fmt == cb.PDF and await font_missing(scope):
        return
    tax = state.target == cb.EXPORT_TAX
    data: TaxExport | ListExport
    if tax:
        data = await scope.read(queries.tax_export_sync, scope.identity_key, state.year)
    else:
        data = await scope.read(queries.clearance_export_sync, scope.identity_key, state.year)
    await scope.ack()
    if state.fmt == cb.CSV:
        body = await render(scope, exports.tax_csv if tax else exports.clearance_csv, data, scope.t)
    else:
        pdf = exports.tax_pdf if tax else exports.clearance_pdf
        body = await render(scope, pdf, data, scope.t, scope.holder(), scope.now)
    await scope.context.bot.send_document(
        scope.chat_id,
        InputFile(body, filename=file_views.export_filename(state)),
        caption=file_views.export_caption(scope.ctx, state, len(data.rows)),
        # Unlike screens, an export exists to be kept (saved, opened in Excel): not protected.
        protect_content=False,
    )
    log.info("sent an export (%s, %s, %d records)", state.target, state.fmt, len(data.rows))
