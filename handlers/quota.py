"""Annual quota and the counted lists behind it."""

from __future__ import annotations

from bot import callbacks as cb
from bot.views import quota as quota_views
from handlers.common import Scope
from storage import queries


async def show_quota(scope: Scope, state: cb.Quota) -> None:
    data = await scope.read(queries.quota_overview_sync, scope.identity_key, state.year, scope.ctx.today)
    await scope.show(quota_views.quota(scope.ctx, state, data))


async def show_details(scope: Scope, state: cb.QuotaDetails) -> None:
    page = await scope.read(queries.counted_lists_sync, scope.identity_key, state.year, state.page)
    await scope.show(quota_views.quota_details(scope.ctx, state, page))
