"""Read queries behind the views.

Each query is synchronous code on a sync `Session` (`*_sync`), so a handler runs it in one call
through `Database.run_read` — inline on SQLite, where a few indexed reads cost far less than the
thread hops of an async driver — and an async wrapper of the same name serves async sessions.

Every query takes the bound identity (its blind index) and returns nothing that is not that
identity's: the identity is part of every WHERE clause, including lookups by record id."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Select, distinct, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, joinedload, noload

from bot.domain import cbec
from bot.domain.records import (
    PAGE_SIZE,
    DateRange,
    ListDetail,
    ListExport,
    ListFilter,
    ListLine,
    ListRow,
    MonthlyConsumption,
    Page,
    QuotaOverview,
    TaxDetail,
    TaxExport,
    TaxExportRow,
    TaxFilter,
    TaxLine,
    TaxRow,
    clamp_page,
)
from storage.models import Dec5, Inventory, InventoryLine, TaxSlip

# Page rows never show goods lines: do not load them (the models load lines eagerly elsewhere).
_NO_LIST_LINES = noload(Inventory.lines)
# A detail shows them: joined into the record's own statement, one round trip instead of the
# models' second "selectin" statement (a detail tap read four statements, now two at most).
_WITH_LIST_LINES = joinedload(Inventory.lines)
# A list counts toward the quota with its dutiable value less what approved returns took back.
_COUNTED_VALUE = type_coerce(Inventory.total_value - Inventory.returned_value, Dec5())
# Drafts (appStatus 1 暂存) were never declared: they are kept, but never shown.
_DECLARED = Inventory.draft.is_(False)


def _day_bounds(column, dates: DateRange) -> list:  # type: ignore[no-untyped-def]
    conds = []
    if dates.start is not None:
        conds.append(column >= datetime.combine(dates.start, time.min))
    if dates.end is not None:
        conds.append(column < datetime.combine(dates.end + timedelta(days=1), time.min))
    return conds


def _page(session: Session, stmt: Select, page: int, size: int = PAGE_SIZE) -> tuple[list, int, int, int]:
    """One page and the total in one statement. The total is a scalar subquery of its own, which
    the indexes answer without reading the rows (COUNT(*) OVER () would read every one of a
    person's rows, hundreds of random heap reads on PostgreSQL, for a page of five). A page past
    the end is clamped to the last one, which then needs a second statement."""
    requested = max(page, 0)
    total = (
        stmt.order_by(None)
        .with_only_columns(func.count(), maintain_column_froms=True)
        .correlate(None)
        .scalar_subquery()
    )
    rows = (session.execute(stmt.add_columns(total.label("total")).limit(size).offset(requested * size))).all()
    if rows:
        count = int(rows[0].total)
        page, pages = clamp_page(requested, count, size)
        return [r[0] for r in rows], page, pages, count
    count = (session.execute(select(func.count()).select_from(stmt.order_by(None).subquery()))).scalar_one()
    page, pages = clamp_page(requested, count, size)
    if count == 0:
        return [], page, pages, 0
    rows = (session.execute(stmt.limit(size).offset(page * size))).scalars().all()
    return list(rows), page, pages, count


def _list_row(inv: Inventory, *, counted: bool = False) -> ListRow:
    """`counted`: the amount is what the list counts toward the quota (less what came back)."""
    return ListRow(
        id=inv.id,
        pre_no=inv.pre_no,
        invt_no=inv.invt_no,
        order_no=inv.order_no,
        stored_at=inv.app_time,
        decl_date=inv.decl_date,
        platform=inv.ebp_name,
        total=inv.total_value - inv.returned_value if counted else inv.total_value,
        currency=inv.currency,
        status=inv.status,
        group=inv.status_group,
        disputed=inv.disputed_at is not None,
        cancelled=inv.cancelled,
        returned=inv.returned_value > 0,
    )


# -- quota -------------------------------------------------------------------------------------------


def quota_overview_sync(session: Session, identity_key: bytes, year: int, today: date) -> QuotaOverview:
    years = set(
        (
            session.execute(
                select(distinct(Inventory.decl_year)).where(Inventory.identity_key == identity_key, _DECLARED)
            )
        ).scalars()
    )
    years.add(today.year)
    consumed, counted = (
        session.execute(
            select(func.coalesce(func.sum(_COUNTED_VALUE), 0), func.count()).where(
                Inventory.identity_key == identity_key,
                Inventory.decl_year == year,
                Inventory.counted.is_(True),
            )
        )
    ).one()
    # SUM and COALESCE keep the column type (Dec5), so the value is already in yuan.
    quota = cbec.quota_for(year, [Decimal(consumed)])
    return QuotaOverview(
        year=year,
        limit=quota.limit,
        consumed=quota.consumed,
        available=quota.available,
        counted=int(counted),
        years=tuple(sorted(years, reverse=True)),
    )


def counted_lists_sync(session: Session, identity_key: bytes, year: int, page: int) -> Page[ListRow]:
    stmt = (
        select(Inventory)
        .options(_NO_LIST_LINES)
        .where(Inventory.identity_key == identity_key, Inventory.decl_year == year, Inventory.counted.is_(True))
        .order_by(Inventory.app_time.desc(), Inventory.id.desc())
    )
    rows, page, pages, total = _page(session, stmt, page)
    return Page(tuple(_list_row(r, counted=True) for r in rows), page, pages, total)


# -- clearance lists ------------------------------------------------------------------------------------


def normalize_number(term: str) -> str:
    return "".join(term.split())


def clearance_lists_sync(session: Session, identity_key: bytes, flt: ListFilter, page: int) -> Page[ListRow]:
    stmt = select(Inventory).options(_NO_LIST_LINES).where(Inventory.identity_key == identity_key, _DECLARED)
    if flt.group is not None:
        stmt = stmt.where(Inventory.status_group == flt.group)
    stmt = stmt.where(*_day_bounds(Inventory.app_time, flt.dates))
    if flt.number:
        term = normalize_number(flt.number)
        stmt = stmt.where(
            or_(Inventory.pre_no == term.upper(), Inventory.invt_no == term.upper(), Inventory.order_no == term)
        )
    stmt = stmt.order_by(Inventory.app_time.desc(), Inventory.id.desc())
    rows, page, pages, total = _page(session, stmt, page)
    return Page(tuple(_list_row(r) for r in rows), page, pages, total)


def list_detail_sync(session: Session, identity_key: bytes, list_id: int) -> ListDetail | None:
    inv = (
        session.execute(
            select(Inventory)
            .options(_WITH_LIST_LINES)
            .where(Inventory.id == list_id, Inventory.identity_key == identity_key, _DECLARED)
        )
    ).unique().scalar_one_or_none()
    if inv is None:
        return None
    return ListDetail(
        id=inv.id,
        pre_no=inv.pre_no,
        invt_no=inv.invt_no,
        order_no=inv.order_no,
        platform=inv.ebp_name,
        platform_code=inv.ebp_code,
        company=inv.ebc_name,
        logistics_name=inv.logistics_name,
        logistics_no=inv.logistics_no,
        decl_date=inv.decl_date,
        stored_at=inv.app_time,
        status=inv.status,
        status_time=inv.status_time,
        status_info=inv.status_info,
        group=inv.status_group,
        customs_code=inv.customs_code,
        port_code=inv.port_code,
        trade_mode=inv.trade_mode,
        freight=inv.freight,
        insured_fee=inv.insured_fee,
        goods_value=inv.goods_value,
        total=inv.total_value,
        currency=inv.currency,
        disputed=inv.disputed_at is not None,
        lines=tuple(
            ListLine(
                gnum=ln.gnum, gname=ln.gname, gcode=ln.gcode, qty=ln.qty, unit=ln.unit, price=ln.price,
                total_price=ln.total_price, currency=ln.currency, country=ln.country, returned_qty=ln.returned_qty,
            )
            for ln in inv.lines
        ),
        decl_year=inv.decl_year,
        cancelled=inv.cancelled,
        cancel_state=inv.cancel_state,
        cancel_time=inv.cancel_time,
        cancel_info=inv.cancel_info,
        refund_state=inv.refund_state,
        refund_time=inv.refund_time,
        refund_info=inv.refund_info,
        returned_value=inv.returned_value,
        returned_items=inv.returned_items,
    )


# -- tax slips ---------------------------------------------------------------------------------------------


def tax_slips_sync(session: Session, identity_key: bytes, flt: TaxFilter, page: int) -> Page[TaxRow]:
    stmt = select(TaxSlip).options(noload(TaxSlip.lines)).where(TaxSlip.identity_key == identity_key)
    if flt.status is not None:
        stmt = stmt.where(TaxSlip.status == flt.status)
    stmt = stmt.where(*_day_bounds(TaxSlip.return_time, flt.dates))
    stmt = stmt.order_by(TaxSlip.return_time.desc(), TaxSlip.id.desc())
    rows, page, pages, total = _page(session, stmt, page)
    items = tuple(
        TaxRow(id=t.id, tax_no=t.tax_no, invt_no=t.invt_no, stored_at=t.return_time, total=t.total_tax, status=t.status)
        for t in rows
    )
    return Page(items, page, pages, total)


def tax_slip_detail_sync(session: Session, identity_key: bytes, tax_id: int) -> TaxDetail | None:
    slip = (
        session.execute(
            select(TaxSlip)
            .options(joinedload(TaxSlip.lines))
            .where(TaxSlip.id == tax_id, TaxSlip.identity_key == identity_key)
        )
    ).unique().scalar_one_or_none()
    if slip is None:
        return None
    inv_lines: dict[int, InventoryLine] = {}
    platform = None
    if slip.inventory_id is not None:
        inv = (
            session.execute(
                select(Inventory)
                .options(_WITH_LIST_LINES)
                .where(Inventory.id == slip.inventory_id, Inventory.identity_key == identity_key)
            )
        ).unique().scalar_one_or_none()
        if inv is not None:
            platform = inv.ebp_name
            inv_lines = {ln.gnum: ln for ln in inv.lines}
    lines = []
    for tl in slip.lines:
        src = inv_lines.get(tl.gnum)
        rates = cbec.derive_rates(
            tl.tax_price, tl.customs_tax, tl.consumption_tax, tl.value_added_tax, on=slip.return_time.date()
        )
        lines.append(
            TaxLine(
                gnum=tl.gnum,
                gcode=tl.gcode or (src.gcode if src else None),
                qty=src.qty if src else None,
                unit=src.unit if src else None,
                price=src.price if src else None,
                tax_price=tl.tax_price,
                customs_tax=tl.customs_tax,
                consumption_tax=tl.consumption_tax,
                vat=tl.value_added_tax,
                tariff_rate=rates.tariff,
                consumption_rate=rates.consumption,
                vat_rate=rates.vat,
                currency=src.currency if src else None,
            )
        )
    return TaxDetail(
        id=slip.id,
        tax_no=slip.tax_no,
        invt_no=slip.invt_no,
        order_no=slip.order_no,
        platform=platform,
        status=slip.status,
        stored_at=slip.return_time,
        ent_duty_no=slip.ent_duty_no,
        customs_tax=slip.customs_tax,
        consumption_tax=slip.consumption_tax,
        vat=slip.value_added_tax,
        total=slip.total_tax,
        lines=tuple(lines),
    )


# -- chart and exports --------------------------------------------------------------------------------------


def _year_bounds(column, year: int) -> list:  # type: ignore[no-untyped-def]
    return [column >= datetime(year, 1, 1), column < datetime(year + 1, 1, 1)]


def monthly_consumption_sync(session: Session, identity_key: bytes, year: int) -> MonthlyConsumption:
    """The counted dutiable value of a quota year by declaration month (the quota screen's lists)."""
    rows = session.execute(
        select(Inventory.decl_date, Inventory.total_value).where(
            Inventory.identity_key == identity_key, Inventory.decl_year == year, Inventory.counted.is_(True)
        )
    ).all()
    months = [Decimal(0)] * 12
    for day, value in rows:
        months[day.month - 1] += value
    return MonthlyConsumption(year=year, limit=cbec.annual_limit(year), months=tuple(months))


def export_years_sync(session: Session, identity_key: bytes, tax: bool) -> list[int]:
    """The years from the first to the last stored record: tax slips (tax) or clearance lists."""
    column, owner = (TaxSlip.return_time, TaxSlip.identity_key) if tax else (Inventory.app_time, Inventory.identity_key)
    first, last = session.execute(select(func.min(column), func.max(column)).where(owner == identity_key)).one()
    return [] if first is None else list(range(first.year, last.year + 1))


def tax_export_sync(session: Session, identity_key: bytes, year: int) -> TaxExport:
    """A year's tax slips by stored time (the list's "This year"), oldest first, with the platform."""
    stmt = (
        select(TaxSlip, Inventory.ebp_name)
        .options(noload(TaxSlip.lines))
        .outerjoin(Inventory, (Inventory.id == TaxSlip.inventory_id) & (Inventory.identity_key == identity_key))
        .where(TaxSlip.identity_key == identity_key, *_year_bounds(TaxSlip.return_time, year))
        .order_by(TaxSlip.return_time, TaxSlip.id)
    )
    rows = tuple(
        TaxExportRow(
            tax_no=t.tax_no, invt_no=t.invt_no, order_no=t.order_no, platform=platform, stored_at=t.return_time,
            status=t.status, customs_tax=t.customs_tax, consumption_tax=t.consumption_tax, vat=t.value_added_tax,
            total=t.total_tax,
        )
        for t, platform in session.execute(stmt).all()
    )
    return TaxExport(year, rows)


def clearance_export_sync(session: Session, identity_key: bytes, year: int) -> ListExport:
    """A year's clearance lists by stored time (the list's "This year"), oldest first."""
    stmt = (
        select(Inventory)
        .options(_NO_LIST_LINES)
        .where(Inventory.identity_key == identity_key, *_year_bounds(Inventory.app_time, year))
        .order_by(Inventory.app_time, Inventory.id)
    )
    rows = tuple(replace(_list_row(inv), counted=inv.counted) for inv in session.execute(stmt).scalars())
    return ListExport(year, rows)


# -- async wrappers (same queries on an AsyncSession) --------------------------------------------------------


async def quota_overview(session: AsyncSession, identity_key: bytes, year: int, today: date) -> QuotaOverview:
    return await session.run_sync(quota_overview_sync, identity_key, year, today)


async def counted_lists(session: AsyncSession, identity_key: bytes, year: int, page: int) -> Page[ListRow]:
    return await session.run_sync(counted_lists_sync, identity_key, year, page)


async def clearance_lists(session: AsyncSession, identity_key: bytes, flt: ListFilter, page: int) -> Page[ListRow]:
    return await session.run_sync(clearance_lists_sync, identity_key, flt, page)


async def list_detail(session: AsyncSession, identity_key: bytes, list_id: int) -> ListDetail | None:
    return await session.run_sync(list_detail_sync, identity_key, list_id)


async def tax_slips(session: AsyncSession, identity_key: bytes, flt: TaxFilter, page: int) -> Page[TaxRow]:
    return await session.run_sync(tax_slips_sync, identity_key, flt, page)


async def tax_slip_detail(session: AsyncSession, identity_key: bytes, tax_id: int) -> TaxDetail | None:
    return await session.run_sync(tax_slip_detail_sync, identity_key, tax_id)
