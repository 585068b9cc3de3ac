"""A copy of my data (/mydata, PIPL Art. 45): a PDF and a JSON file of everything held, once a day.

The day's request is claimed in its own short transaction before the files are made (so two taps,
or two instances, cannot both send), and released again if they could not be sent. The log says
that a copy went out and how many records it held, never whose or what.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from telegram import InputFile

from bot import callbacks as cb
from bot.files import datacopy
from bot.i18n import Translator
from bot.views import files as file_views
from handlers.common import Scope
from handlers.files import font_missing, render
from storage import mydata

log = logging.getLogger(__name__)


async def show(scope: Scope, state: cb.MyData | None = None) -> None:
    await scope.show(file_views.mydata(scope.ctx, bound=scope.binding is not None))


def _make(data: dict[str, Any], t: Translator, created: datetime) -> tuple[bytes, bytes]:
    return datacopy.to_pdf(data, t, created), datacopy.to_json(data, t)


async def send(scope: Scope, state: cb.MyDataSend) -> None:
    if await font_missing(scope):
        return
    now = scope.now
    earlier = await mydata.claim_copy(scope.context.db, scope.tg_id, now)
    if earlier is not None:
        scope.context.services.count("mydata_again")
        await scope.send(file_views.mydata_again(scope.ctx, earlier))  # below the files, where one looks
        return
    await scope.ack()
    try:
        data = await scope.read(mydata.collect_sync, scope.context.vault, scope.tg_id, now)
        pdf, js = await render(scope, _make, data, scope.t, now)
        pdf_name, json_name = file_views.mydata_filenames(now)
        bot, chat = scope.context.bot, scope.chat_id
        # PIPL Art. 45's copy is the person's to keep: these two files are not protected.
        await bot.send_document(
            chat, InputFile(pdf, filename=pdf_name), caption=file_views.keep_safe(scope.ctx), protect_content=False
        )
        await bot.send_document(
            chat, InputFile(js, filename=json_name), caption=file_views.mydata_sent(scope.ctx), protect_content=False
        )
    except BaseException:
        await mydata.release_copy(scope.context.db, scope.tg_id, now)
        raise
    log.info(
        "sent a copy of personal data (lists=%d, tax slips=%d, notifications=%d)",
        len(data["clearance_lists"]), len(data["tax_slips"]), len(data["notifications"]),
    )  # fmt: skip
