"""Electronic tax slips: filtered, paged list; detail; the custom-range calendar."""

from __future__ import annotations

from bot import callbacks as cb
from bot.views import common as common_views
from bot.views import tax as tax_views
from handlers.common import Scope
from handlers.errors import Expired
from storage import queries


async def show_list(scope: Scope, state: cb.TaxList) -> None:
    page = await scope.read(queries.tax_slips_sync, scope.identity_key, state.to_filter(scope.ctx.today), state.page)
    await scope.show(tax_views.tax_list(scope.ctx, state, page))


async def show_detail(scope: Scope, state: cb.TaxDetail) -> None:
    data = await scope.read(queries.tax_slip_detail_sync, scope.identity_key, state.id)
    if data is None:  # not this person's record (forged or from another binding)
        raise Expired
    await scope.show(tax_views.tax_detail(scope.ctx, state, data))


async def open_from_notice(scope: Scope, state: cb.OpenTaxFromNotice) -> None:
    """The button under a notification: the detail as a new message, the notice stays."""
    data = await scope.read(queries.tax_slip_detail_sync, scope.identity_key, state.id)
    if data is None:
        raise Expired
    await scope.send(tax_views.tax_detail(scope.ctx, cb.TaxDetail(state.id), data))


async def show_calendar(scope: Scope, state: cb.Calendar) -> None:
    """Custom date range for tax slips or clearance lists (the day buttons carry the result)."""
    await scope.show(common_views.calendar_screen(scope.ctx, state))
